package rules

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/triage-dev/triage/internal/boundedfile"
	"github.com/triage-dev/triage/internal/clip"
	"go.yaml.in/yaml/v3"
)

var (
	testKeys    = []string{"name", "mail", "message", "env", "expect"}
	messageKeys = []string{"from", "to", "cc", "subject", "body", "date", "headers"}
	expectKeys  = []string{"tier", "priority", "queue", "runbook", "action", "folder", "tags", "matched", "not_matched", "fields"}
)

// envOverrides are the Env fields a test may set directly, by expr name,
// with the kind of value each takes.
var envOverrides = map[string]string{
	"account": "string", "mailbox": "string", "ticket_ref": "string", "weekday": "weekday",
	"duplicate": "bool", "list": "bool", "auto_reply": "bool", "bounce": "bool", "business_hours": "bool",
	"hour": "hour", "signed": "bool", "encrypted": "bool", "signer": "string",
	"similar_recent": "count", "sender_recent": "count", "problem_size": "count",
}

// LoadTests reads a separate test file (or a directory of *.yaml / *.yml
// test files) whose only top-level key is `tests:`, with the same item
// schema and strictness as a rules file's tests. The error is always an
// fileerr.List. Tier and priority values and rule names are not checked
// against a rule set here; RunTests reports mismatches as failures.
func LoadTests(path string) ([]Test, error) {
	files, err := readRulesPath(path)
	if err != nil {
		return nil, err
	}
	b := &builder{set: &Set{}, anyMailDir: true}
	var tests []Test
	for i := range files {
		f := &srcFile{name: files[i].Name, dir: filepath.Dir(files[i].Name), data: files[i].Data}
		root := b.parseYAML(f)
		if root == nil {
			continue
		}
		for _, kv := range b.mapping(f, root, "test file", []string{"tests"}) {
			tests = append(tests, b.testItems(f, kv.val, nil)...)
		}
		if root.Kind == yaml.MappingNode && !b.hasKey(root, "tests") {
			b.errf(f, root, "test file: missing tests")
		}
	}
	if len(b.errs) > 0 {
		return nil, b.errs
	}
	return tests, nil
}

// testItems decodes a `tests:` list. With a set, expected tiers,
// priorities and rule names are checked against it.
func (b *builder) testItems(f *srcFile, n *yaml.Node, s *Set) []Test {
	var out []Test
	seen := map[string]int{}
	for _, item := range b.seq(f, n, "tests") {
		t, ok := b.testItem(f, item, s)
		if line, dup := seen[t.Name]; dup && t.Name != "" {
			b.errf(f, item, "test %q: duplicate name (first at line %d)", t.Name, line)
			continue
		}
		seen[t.Name] = t.Line
		if ok {
			out = append(out, t)
		}
	}
	return out
}

func (b *builder) testItem(f *srcFile, n *yaml.Node, s *Set) (Test, bool) {
	t := Test{File: f.name, Line: n.Line}
	before := len(b.errs)
	var sawMail, sawMessage, sawExpect bool
	for _, kv := range b.mapping(f, n, "test", testKeys) {
		switch kv.key.Value {
		case "name":
			t.Name, _ = b.nonEmpty(f, kv.val, "test name")
		case "mail":
			sawMail = true
			p, ok := b.nonEmpty(f, kv.val, "mail")
			if !ok {
				continue
			}
			p, err := testMailPath(f.dir, p, b.anyMailDir)
			if err != nil {
				b.errf(f, kv.val, "mail: %v", err)
				continue
			}
			t.Mail = p
		case "message":
			sawMessage = true
			t.Message = b.inlineMessage(f, kv.val)
		case "env":
			t.Env = b.testEnv(f, kv.val)
		case "expect":
			sawExpect = true
			b.expect(f, kv.val, &t.Expect, s)
		}
	}
	if n.Kind != yaml.MappingNode {
		return t, false
	}
	switch {
	case t.Name == "" && !b.hasKey(n, "name"):
		b.errf(f, n, "test: missing name")
	case sawMail && sawMessage:
		b.errf(f, n, "test %q: give mail or message, not both", t.Name)
	case !sawMail && !sawMessage:
		b.errf(f, n, "test %q: missing mail or message", t.Name)
	case !sawExpect:
		b.errf(f, n, "test %q: missing expect", t.Name)
	}
	return t, len(b.errs) == before
}

func (b *builder) inlineMessage(f *srcFile, n *yaml.Node) *InlineMessage {
	m := &InlineMessage{}
	for _, kv := range b.mapping(f, n, "message", messageKeys) {
		what := "message." + kv.key.Value
		switch kv.key.Value {
		case "from":
			m.From, _ = b.str(f, kv.val, what)
		case "to":
			m.To, _ = b.strList(f, kv.val, what, true)
		case "cc":
			m.Cc, _ = b.strList(f, kv.val, what, true)
		case "subject":
			m.Subject, _ = b.anyScalar(f, kv.val, what)
		case "body":
			m.Body, _ = b.anyScalar(f, kv.val, what)
		case "date":
			m.Date, _ = b.str(f, kv.val, what)
		case "headers":
			m.Headers = map[string]string{}
			for _, h := range b.freeMapping(f, kv.val, what) {
				v, ok := b.anyScalar(f, h.val, what+"."+h.key.Value)
				if !ok {
					continue
				}
				if strings.ContainsAny(h.key.Value, ":\r\n \t") || strings.ContainsAny(v, "\r\n") {
					b.errf(f, h.key, "%s: header %q: name or value holds a line break, colon or space", what, h.key.Value)
					continue
				}
				m.Headers[h.key.Value] = v
			}
		}
	}
	return m
}

func (b *builder) testEnv(f *srcFile, n *yaml.Node) map[string]any {
	out := map[string]any{}
	for _, kv := range b.freeMapping(f, n, "env") {
		name := kv.key.Value
		kind, ok := envOverrides[name]
		if !ok {
			b.errf(f, kv.key, "env: %q cannot be set by a test (allowed: %s)", name, strings.Join(slices.Sorted(maps.Keys(envOverrides)), ", "))
			continue
		}
		what := "env." + name
		switch kind {
		case "string":
			if v, ok := b.str(f, kv.val, what); ok {
				out[name] = v
			}
		case "bool":
			if v, ok := b.boolean(f, kv.val, what); ok {
				out[name] = v
			}
		case "hour", "count":
			top := 23
			if kind == "count" {
				top = 1_000_000
			}
			if v, ok := b.integer(f, kv.val, what); ok {
				if v < 0 || v > top {
					b.errf(f, kv.val, "%s: must be 0 to %d", what, top)
					continue
				}
				out[name] = v
			}
		case "weekday":
			if v, ok := b.str(f, kv.val, what); ok {
				d, err := parseDay(v)
				if err != nil {
					b.errf(f, kv.val, "%s: %v", what, err)
					continue
				}
				out[name] = weekdayNames[d]
			}
		}
	}
	return out
}

func (b *builder) expect(f *srcFile, n *yaml.Node, e *Expect, s *Set) {
	var d Decision // the keys a rule's set has too
	for _, kv := range b.mapping(f, n, "expect", expectKeys) {
		what := "expect." + kv.key.Value
		if b.decisionKey(f, kv, what, &d, s != nil) {
			continue
		}
		switch kv.key.Value {
		case "action":
			if a, ok := b.str(f, kv.val, what); ok {
				if a != "forward" && a != "drop" {
					b.errf(f, kv.val, "%s: must be forward or drop, got %q", what, a)
				}
				e.Action = a
			}
		case "tags":
			e.Tags, _ = b.strList(f, kv.val, what, true)
		case "matched", "not_matched":
			names, _ := b.strList(f, kv.val, what, true)
			if s != nil && kv.val.Kind == yaml.SequenceNode {
				for i, name := range names {
					if _, ok := b.names[name]; !ok {
						b.errf(f, kv.val.Content[i], "%s: no rule named %q", what, name)
					}
				}
			}
			if names == nil {
				names = []string{}
			}
			if kv.key.Value == "matched" {
				e.Matched = names
			} else {
				e.NotMatched = names
			}
		case "fields":
			e.Fields = map[string]string{}
			for _, fv := range b.freeMapping(f, kv.val, what) {
				if v, ok := b.anyScalar(f, fv.val, what+"."+fv.key.Value); ok {
					e.Fields[fv.key.Value] = v
				}
			}
		}
	}
	e.Tier, e.Priority, e.Queue, e.Runbook, e.Folder = d.Tier, d.Priority, d.Queue, d.Runbook, d.Folder
}

// RunTests runs rule tests. build turns a Test into an Env (the classifier
// decodes Mail or Message). RunTests then applies the calendar from the
// Env's Date, then the test's env overrides, so an override of hour or
// business_hours wins, and evaluates with a trace.
func (s *Set) RunTests(tests []Test, build func(Test) (*Env, error)) []TestResult {
	ev := NewEvaluator()
	out := make([]TestResult, 0, len(tests))
	for _, t := range tests {
		r := TestResult{Test: t}
		env, err := build(t)
		if err != nil || env == nil {
			if err == nil {
				err = fmt.Errorf("no environment")
			}
			r.Failures = append(r.Failures, fmt.Sprintf("cannot build the message: %v", err))
			out = append(out, r)
			continue
		}
		s.ApplyCalendar(env)
		// A test mail is alone in its window unless the test says otherwise.
		env.SimilarRecent, env.SenderRecent = max(env.SimilarRecent, 1), max(env.SenderRecent, 1)
		applyOverrides(env, t.Env)
		r.Decision = s.EvaluateTrace(ev, env)
		r.Failures = s.compare(t.Expect, r.Decision)
		// A rule that runs out of budget on a test mail would do so on
		// real mail: the set is not activated.
		for _, step := range r.Decision.Trace {
			if strings.Contains(step.Error, "budget exceeded") {
				r.Failures = append(r.Failures, fmt.Sprintf("rule %s: %s", step.Rule, step.Error))
			}
		}
		out = append(out, r)
	}
	return out
}

// applyOverrides sets the Env fields a test names (envOverrides) to its
// values; problem_size also gives the mail a problem to belong to.
func applyOverrides(env *Env, o map[string]any) {
	fields := reflect.ValueOf(env).Elem()
	for name, f := range envFields {
		v, set := o[name]
		if _, allowed := envOverrides[name]; !set || !allowed {
			continue
		}
		val := reflect.ValueOf(v)
		if !val.IsValid() || val.Type() != f.Type {
			val = reflect.Zero(f.Type) // a value of another type leaves the field zero
		}
		fields.FieldByIndex(f.Index).Set(val)
	}
	if size, set := o["problem_size"]; set {
		env.Problem.Size, _ = size.(int)
		if env.Problem.Size > 0 {
			env.Problem.ID, env.Problem.Summary = "p-test", "test problem"
		}
	}
}

// compare returns one failure per mismatch between e and d.
func (s *Set) compare(e Expect, d Decision) []string {
	var fails []string
	check := func(what, got, want string) {
		if want != "" && got != want {
			fails = append(fails, fmt.Sprintf("%s: got %s, want %s", what, orNone(got), want))
		}
	}
	check("tier", d.Tier, e.Tier)
	check("priority", d.Priority, e.Priority)
	check("queue", d.Queue, e.Queue)
	check("runbook", d.Runbook, e.Runbook)
	check("action", d.Action, e.Action)
	check("folder", d.Folder, e.Folder)
	for _, t := range e.Tags {
		if !slices.Contains(d.Tags, t) {
			fails = append(fails, fmt.Sprintf("tags: missing %s, got [%s]", t, strings.Join(d.Tags, ", ")))
		}
	}
	got := make([]string, len(d.Matched))
	for i, m := range d.Matched {
		got[i] = m.Rule
	}
	for _, name := range slices.Concat(e.Matched, e.NotMatched) {
		if _, ok := s.ruleByName[name]; !ok {
			fails = append(fails, fmt.Sprintf("expect names rule %s, which the rule set does not have", name))
		}
	}
	if e.Matched != nil && strings.Join(got, "\x00") != strings.Join(e.Matched, "\x00") {
		fails = append(fails, fmt.Sprintf("matched: got [%s], want [%s]", strings.Join(got, ", "), strings.Join(e.Matched, ", ")))
	}
	for _, name := range e.NotMatched {
		if slices.Contains(got, name) {
			fails = append(fails, fmt.Sprintf("not_matched: %s matched", name))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(e.Fields)) {
		// An empty field name can never be extracted; it was never checked.
		if gotV, ok := d.Fields[k]; k != "" && (!ok || gotV != e.Fields[k]) {
			// Extracted text is the mail's: a few characters say which
			// value it was without printing a file into the log.
			fails = append(fails, fmt.Sprintf("fields.%s: got %s, want %s", k, orNone(clip.Hint(d.Fields[k], 8)), clip.Hint(e.Fields[k], 8)))
		}
	}
	return fails
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// Uncovered lists the rules (not groups) that no result matched, in file
// order: the rules no test exercises, where a typo or a dead condition
// hides.
func (s *Set) Uncovered(results []TestResult) []RuleInfo {
	hit := map[string]bool{}
	for _, r := range results {
		for _, m := range r.Decision.Matched {
			hit[m.Rule] = true
		}
	}
	var out []RuleInfo
	for _, info := range s.ruleInfo {
		if !info.IsGroup && !hit[info.Name] {
			out = append(out, info)
		}
	}
	return out
}

// MaxTestMailBytes bounds a test's mail file, as max_message_bytes bounds
// a fetched message by default.
const MaxTestMailBytes = 25 << 20

// testMailPath resolves a test's mail: path against the directory of the
// file that declares it. The mail must be a regular file of at most
// MaxTestMailBytes and, unless anyDir, stay inside that directory's tree
// (after symbolic links): a rules editor must not make the daemon read
// /dev/zero or a secret on reload.
func testMailPath(dir, p string, anyDir bool) (string, error) {
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("cannot read %s", p)
	}
	if !anyDir {
		root, err := filepath.Abs(dir)
		if err == nil {
			root, err = filepath.EvalSymlinks(root)
		}
		if err != nil {
			return "", fmt.Errorf("cannot resolve %s: %w", dir, err)
		}
		if rel, err := filepath.Rel(root, real); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return "", fmt.Errorf("%s is outside %s: test mail must sit in the rules directory's tree", p, dir)
		}
	}
	st, err := os.Stat(real)
	switch {
	case err != nil:
		return "", fmt.Errorf("cannot read %s", p)
	case !st.Mode().IsRegular():
		return "", fmt.Errorf("%s is not a regular file", p)
	case st.Size() > MaxTestMailBytes:
		return "", fmt.Errorf("%s is larger than %d MiB", p, MaxTestMailBytes>>20)
	}
	return real, nil
}

// ReadTestMail reads a test's mail file as testMailPath allowed it,
// checking again at read time that it is a regular file within the limit
// (it may have been replaced since the rules were loaded).
func ReadTestMail(path string) ([]byte, error) {
	raw, err := boundedfile.Read(path, MaxTestMailBytes)
	switch {
	case errors.Is(err, boundedfile.ErrNotRegular):
		return nil, fmt.Errorf("%s is not a regular file", path)
	case errors.Is(err, boundedfile.ErrTooLarge):
		return nil, fmt.Errorf("%s is larger than %d MiB", path, MaxTestMailBytes>>20)
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return raw, nil
}
