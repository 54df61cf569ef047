package rules

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/triage-dev/triage/internal/boundedfile"
	"github.com/triage-dev/triage/internal/duration"
	"github.com/triage-dev/triage/internal/fileerr"
)

// File is one named rules file for LoadFiles. Relative paths inside it
// resolve against the directory of Name.
type File struct {
	Name string
	Data []byte
}

// Load reads a rules file, or every *.yaml and *.yml file of a directory
// merged in lexical order, and compiles it. The error is always an fileerr.List
// holding every problem found.
func Load(path string) (*Set, error) {
	files, err := readRulesPath(path)
	if err != nil {
		return nil, err
	}
	return LoadFiles(files)
}

// LoadBytes compiles one rules file held in memory; name is used in
// messages and to resolve relative paths.
func LoadBytes(name string, data []byte) (*Set, error) {
	return LoadFiles([]File{{Name: name, Data: data}})
}

// maxSetBytes bounds the files of one rule set together (a directory of
// files each within maxFileSize).
const maxSetBytes = 4 * maxFileSize

// readRulesPath reads path as a file or a directory of *.yaml / *.yml
// files: regular files only, each within maxFileSize and all within
// maxSetBytes.
func readRulesPath(path string) ([]File, error) {
	names, err := RuleFiles(path)
	if err != nil {
		return nil, fileerr.List{{File: path, Line: 1, Col: 1, Msg: err.Error()}}
	}
	files := make([]File, 0, len(names))
	var errs fileerr.List
	total := 0
	for _, n := range names {
		data, err := boundedfile.Read(n, maxFileSize)
		switch {
		case errors.Is(err, boundedfile.ErrTooLarge):
			errs = append(errs, fileerr.Error{File: n, Line: 1, Col: 1, Msg: fmt.Sprintf("file is larger than %d bytes", maxFileSize)})
			continue
		case err != nil:
			errs = append(errs, fileerr.Error{File: n, Line: 1, Col: 1, Msg: fmt.Sprintf("cannot read: %v", err)})
			continue
		}
		if total += len(data); total > maxSetBytes {
			errs = append(errs, fileerr.Error{File: n, Line: 1, Col: 1, Msg: fmt.Sprintf("the rules files are larger than %d bytes together", maxSetBytes)})
			break
		}
		files = append(files, File{Name: n, Data: data})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return files, nil
}

var (
	defaultTiers      = []string{"L1", "L2", "L3"}
	defaultPriorities = []string{"P1", "P2", "P3", "P4"}
	namePattern       = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	listNamePattern   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)
	topLevelKeys      = []string{"version", "tiers", "priorities", "defaults", "sla", "calendar", "threading", "lists", "rules", "tests"}
	onceKeys          = map[string]bool{"tiers": true, "priorities": true, "defaults": true, "sla": true, "calendar": true, "threading": true}
)

// located is a YAML value with the file it came from.
type located struct {
	f   *srcFile
	key *yaml.Node
	val *yaml.Node
}

// builder turns parsed files into a Set.
type builder struct {
	diag
	set      *Set
	once     map[string]located
	lists    []located // each a `lists:` mapping, in file order
	rules    []located // each a `rules:` sequence, in file order
	tests    []located // each a `tests:` sequence, in file order
	listPos  map[string]located
	listKeys []string // list names in declaration order
	names    map[string]located
	groups   map[string]located
	// ruleCount counts the rules and groups met, against maxRules.
	ruleCount int
	// anyMailDir lifts the rule that a test's mail lies in the declaring
	// file's directory tree: set for separate test files, which only
	// `triage test` reads, never the daemon.
	anyMailDir bool
}

// LoadFiles compiles the given files as one rule set, merged in the order
// given. The error is always an fileerr.List.
func LoadFiles(files []File) (*Set, error) {
	b := &builder{
		set: &Set{
			tiers:      defaultTiers,
			priorities: defaultPriorities,
			lists:      map[string][]string{},
			ruleByName: map[string]*ruleNode{},
			calendar:   defaultCalendar(),
		},
		once:    map[string]located{},
		listPos: map[string]located{},
		names:   map[string]located{},
		groups:  map[string]located{},
	}
	if len(files) == 0 {
		return nil, fileerr.List{{File: "rules", Line: 1, Col: 1, Msg: "no rules files given"}}
	}
	contents := make([][]byte, len(files))
	for i := range files {
		f := &srcFile{name: files[i].Name, dir: filepath.Dir(files[i].Name), data: files[i].Data}
		b.set.Files = append(b.set.Files, f.name)
		contents[i] = f.data
		b.collect(f)
	}
	b.set.Version = HashFileContents(b.set.Files, contents)
	if len(b.errs) > 0 && len(b.once)+len(b.lists)+len(b.rules)+len(b.tests) == 0 {
		return nil, b.errs
	}
	b.build()
	if len(b.errs) > 0 {
		return nil, b.errs
	}
	b.set.Warnings = b.warns
	return b.set, nil
}

// collect parses one file and files its top-level sections for build.
func (b *builder) collect(f *srcFile) {
	root := b.parseYAML(f)
	if root == nil {
		return
	}
	top := b.mapping(f, root, "rules file", topLevelKeys)
	if root.Kind != yaml.MappingNode {
		return
	}
	var sawVersion bool
	for _, kv := range top {
		key := kv.key.Value
		switch {
		case key == "version":
			sawVersion = true
			v, ok := b.integer(f, kv.val, "version")
			if ok && v != 1 {
				b.errf(f, kv.val, "version: unsupported version %d (this triage reads version 1)", v)
			}
		case onceKeys[key]:
			if first, dup := b.once[key]; dup {
				b.errf(f, kv.key, "%s: may appear once across the rule files; first in %s:%d", key, first.f.name, first.key.Line)
				continue
			}
			b.once[key] = located{f, kv.key, kv.val}
		case key == "lists":
			b.lists = append(b.lists, located{f, kv.key, kv.val})
		case key == "rules":
			b.rules = append(b.rules, located{f, kv.key, kv.val})
		case key == "tests":
			b.tests = append(b.tests, located{f, kv.key, kv.val})
		}
	}
	if !sawVersion {
		b.errf(f, root, "missing version: 1")
	}
}

// build decodes every section in dependency order: declared sets, defaults,
// calendar, lists, rules, tests, then lint.
func (b *builder) build() {
	s := b.set
	if l, ok := b.once["tiers"]; ok {
		if v := b.declaredSet(l, "tiers"); v != nil {
			s.tiers = v
		}
	}
	if l, ok := b.once["priorities"]; ok {
		if v := b.declaredSet(l, "priorities"); v != nil {
			s.priorities = v
		}
	}
	if l, ok := b.once["defaults"]; ok {
		b.defaults(l)
	} else if len(b.errs) == 0 {
		b.errAt(s.Files[0], 1, 1, "missing defaults: {tier, priority, queue} must be set in one of the rule files")
	}
	s.Defaults.Action = "forward"
	if l, ok := b.once["sla"]; ok {
		b.sla(l)
	}
	if l, ok := b.once["calendar"]; ok {
		b.calendarSection(l)
	}
	s.Threading.Subject = []*regexp.Regexp{regexp.MustCompile(`\[#(\d+)\]`)}
	if l, ok := b.once["threading"]; ok {
		b.threading(l)
	}
	for _, l := range b.lists {
		b.listSection(l)
	}
	c := newCompiler(s.lists, b.listPos)
	for _, l := range b.rules {
		for _, item := range b.seq(l.f, l.val, "rules") {
			if n := b.ruleItem(c, l.f, item, nil, 0); n != nil {
				s.root = append(s.root, n)
			}
		}
	}
	for _, src := range c.sources {
		src.finish()
	}
	s.sources = c.sources
	for _, l := range b.tests {
		s.Tests = append(s.Tests, b.testItems(l.f, l.val, s)...)
	}
	b.lint()
}

func (b *builder) declaredSet(l located, what string) []string {
	vals, ok := b.strList(l.f, l.val, what, false)
	if !ok {
		return nil
	}
	if len(vals) == 0 {
		b.errf(l.f, l.val, "%s: must not be empty", what)
		return nil
	}
	seen := map[string]bool{}
	for i, v := range vals {
		if v == "" || seen[v] {
			b.errf(l.f, l.val.Content[i], "%s: empty or repeated value %q", what, v)
			return nil
		}
		seen[v] = true
	}
	return vals
}

// tier and priority check a value against the declared sets.
func (b *builder) tier(f *srcFile, n *yaml.Node, what string) (string, bool) {
	return b.declared(f, n, what, "tier", b.set.tiers)
}

func (b *builder) priority(f *srcFile, n *yaml.Node, what string) (string, bool) {
	return b.declared(f, n, what, "priority", b.set.priorities)
}

// declared decodes a string that must be one of the declared values of kind.
func (b *builder) declared(f *srcFile, n *yaml.Node, what, kind string, values []string) (string, bool) {
	v, ok := b.str(f, n, what)
	if !ok {
		return "", false
	}
	if !slices.Contains(values, v) {
		b.errf(f, n, "%s: unknown %s %q (declared: %s)", what, kind, v, strings.Join(values, ", "))
		return "", false
	}
	return v, true
}

// nonEmpty decodes a string that must not be empty.
func (b *builder) nonEmpty(f *srcFile, n *yaml.Node, what string) (string, bool) {
	v, ok := b.str(f, n, what)
	if ok && strings.TrimSpace(v) == "" {
		b.errf(f, n, "%s: must not be empty", what)
		return "", false
	}
	return v, ok
}

func (b *builder) defaults(l located) {
	d := &b.set.Defaults
	var tier, prio, queue bool
	for _, kv := range b.mapping(l.f, l.val, "defaults", []string{"tier", "priority", "queue", "runbook"}) {
		switch kv.key.Value {
		case "tier":
			d.Tier, _ = b.tier(l.f, kv.val, "defaults.tier")
			tier = true
		case "priority":
			d.Priority, _ = b.priority(l.f, kv.val, "defaults.priority")
			prio = true
		case "queue":
			d.Queue, _ = b.nonEmpty(l.f, kv.val, "defaults.queue")
			queue = true
		case "runbook":
			d.Runbook, _ = b.str(l.f, kv.val, "defaults.runbook")
		}
	}
	if l.val.Kind != yaml.MappingNode {
		return
	}
	for _, m := range []struct {
		ok   bool
		name string
	}{{tier, "tier"}, {prio, "priority"}, {queue, "queue"}} {
		if !m.ok {
			b.errf(l.f, l.val, "defaults: missing %s", m.name)
		}
	}
}

func (b *builder) sla(l located) {
	b.set.SLA = map[string]SLATarget{}
	for _, kv := range b.freeMapping(l.f, l.val, "sla") {
		tier := kv.key.Value
		if !slices.Contains(b.set.tiers, tier) {
			b.errf(l.f, kv.key, "sla: unknown tier %q (declared: %s)", tier, strings.Join(b.set.tiers, ", "))
			continue
		}
		var t SLATarget
		for _, e := range b.mapping(l.f, kv.val, "sla."+tier, []string{"response", "resolve", "clock", "update_every"}) {
			s, ok := b.str(l.f, e.val, "sla."+tier+"."+e.key.Value)
			if !ok {
				continue
			}
			if e.key.Value == "clock" {
				if s != "business" && s != "calendar" {
					b.errf(l.f, e.val, "sla.%s.clock: must be business or calendar, got %q", tier, s)
				}
				t.Business = s == "business"
				continue
			}
			dur, err := parseDays(s)
			if err != nil {
				b.errf(l.f, e.val, "sla.%s.%s: %v", tier, e.key.Value, err)
				continue
			}
			switch e.key.Value {
			case "response":
				t.Response = dur
			case "resolve":
				t.Resolve = dur
			default:
				t.UpdateEvery = dur
			}
		}
		b.set.SLA[tier] = t
	}
}

// parseDays parses an SLA target in internal/duration's syntax ("90m",
// "3d", "1d12h", "1d-1h") and requires it to be positive: the schema
// pattern cannot say "positive", so that check is the loader's alone. The
// messages are the ones this loader always gave.
func parseDays(s string) (time.Duration, error) {
	d, err := duration.Parse(s)
	switch {
	case errors.Is(err, duration.ErrSyntax):
		return 0, fmt.Errorf("invalid duration %q (use 90m, 4h, 3d, 1d12h)", strings.Trim(s, " \t\n\v\f\r"))
	case errors.Is(err, duration.ErrNegative):
		return 0, errors.New("duration must be positive")
	case err != nil:
		return 0, err // too long; the message names the value and the limit
	case d == 0:
		return 0, errors.New("duration must be positive")
	}
	return d, nil
}

func (b *builder) calendarSection(l located) {
	for _, kv := range b.mapping(l.f, l.val, "calendar", []string{"timezone", "business_hours", "holidays"}) {
		if kv.key.Value == "holidays" {
			b.holidays(l.f, kv.val)
			continue
		}
		s, ok := b.str(l.f, kv.val, "calendar."+kv.key.Value)
		if !ok {
			continue
		}
		switch kv.key.Value {
		case "timezone":
			loc, err := time.LoadLocation(s)
			if err != nil || s == "" || strings.EqualFold(s, "local") {
				b.errf(l.f, kv.val, "calendar.timezone: unknown time zone %q (use an IANA name such as Europe/Berlin or UTC)", s)
				continue
			}
			b.set.calendar.loc = loc
		case "business_hours":
			week, err := parseBusinessHours(s)
			if err != nil {
				b.errf(l.f, kv.val, "calendar.business_hours: %v", err)
				continue
			}
			b.set.calendar.week = week
		}
	}
}

// holidays reads calendar.holidays: dates (YYYY-MM-DD) on which no
// business hours run, whatever the weekday, and iCalendar files (*.ics,
// relative to the rules file) of such days.
func (b *builder) holidays(f *srcFile, n *yaml.Node) {
	dates, _ := b.strList(f, n, "calendar.holidays", false)
	if b.set.calendar.holidays == nil {
		b.set.calendar.holidays = map[string]bool{}
	}
	for i, d := range dates {
		if isHolidayFile(d) {
			if err := readHolidayFile(f.dir, d, b.set.calendar.holidays); err != nil {
				b.errf(f, n.Content[i], "calendar.holidays: %v", err)
			}
			continue
		}
		day, err := time.Parse(time.DateOnly, d)
		if err != nil {
			b.errf(f, n.Content[i], "calendar.holidays: %q is not a date (YYYY-MM-DD) nor an iCalendar file (*.ics)", d)
			continue
		}
		b.set.calendar.holidays[day.Format(time.DateOnly)] = true
	}
}

func (b *builder) threading(l located) {
	for _, kv := range b.mapping(l.f, l.val, "threading", []string{"subject", "message_id"}) {
		what := "threading." + kv.key.Value
		var res []*regexp.Regexp
		for _, item := range b.seq(l.f, kv.val, what) {
			p, ok := b.anyScalar(l.f, item, what)
			if !ok {
				continue
			}
			re, err := regexp.Compile(p)
			if err != nil {
				b.errf(l.f, item, "%s: bad regex: %v", what, regexErr(err))
				continue
			}
			if re.NumSubexp() == 0 {
				b.errf(l.f, item, "%s: pattern %q needs a capture group for the ticket number", what, p)
				continue
			}
			res = append(res, re)
		}
		if kv.key.Value == "subject" {
			b.set.Threading.Subject = res
		} else {
			b.set.Threading.MessageID = res
		}
	}
}

// regexErr shortens regexp's error to the part a person needs.
func regexErr(err error) string {
	return strings.TrimPrefix(err.Error(), "error parsing regexp: ")
}

// reservedNames are identifiers a list may not take: every Env field, every
// helper and expr's own names.
func reservedNames() map[string]bool {
	r := map[string]bool{}
	for n := range envFields {
		r[n] = true
	}
	for _, n := range slices.Concat(helperNames, exprReserved) {
		r[n] = true
	}
	return r
}

func (b *builder) listSection(l located) {
	reserved := reservedNames()
	for _, kv := range b.freeMapping(l.f, l.val, "lists") {
		name := kv.key.Value
		switch {
		case !listNamePattern.MatchString(name):
			b.errf(l.f, kv.key, "lists: name %q must be a letter followed by letters, digits or _", name)
			continue
		case reserved[name]:
			b.errf(l.f, kv.key, "lists: name %q shadows a field or function of the rule language", name)
			continue
		}
		if first, dup := b.listPos[name]; dup {
			b.errf(l.f, kv.key, "lists: duplicate list %q (first at %s:%d)", name, first.f.name, first.key.Line)
			continue
		}
		items, _ := b.strList(l.f, kv.val, "lists."+name, false)
		b.listPos[name] = located{l.f, kv.key, kv.val}
		b.listKeys = append(b.listKeys, name)
		if items == nil {
			items = []string{}
		}
		b.set.lists[name] = items
	}
}
