package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/triage-dev/triage/internal/duration"
	"github.com/triage-dev/triage/internal/fileerr"
	"github.com/triage-dev/triage/internal/testkit"
)

var updateSchema = flag.Bool("update-schema", false, "rewrite schema/*.schema.json from the Go types")

func mustRulesSchema(t *testing.T) (*jsonschema.Schema, map[string]any) {
	t.Helper()
	doc, err := RulesSchema()
	if err != nil {
		t.Fatalf("RulesSchema: %v", err)
	}
	var raw map[string]any
	if err := json.Unmarshal(doc, &raw); err != nil {
		t.Fatalf("RulesSchema output: %v", err)
	}
	return testkit.CompileSchema(t, "rules.schema.json", doc), raw
}

// propertyKeys returns the property names of the schema object at path
// ("" for the root, else a $defs name).
func propertyKeys(t *testing.T, raw map[string]any, def string) []string {
	t.Helper()
	obj := raw
	if def != "" {
		d, ok := raw["$defs"].(map[string]any)[def].(map[string]any)
		if !ok {
			t.Fatalf("$defs has no %s", def)
		}
		obj = d
	}
	props, _ := obj["properties"].(map[string]any)
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}

// probeBase is a small valid rules file with one mapping of every kind the
// loader checks with an allowed-key list.
const probeBase = `version: 1
defaults: {tier: L1, priority: P3, queue: helpdesk}
sla: {L1: {response: 15m}}
calendar: {timezone: UTC}
threading: {subject: ['\[#(\d+)\]']}
rules:
  - name: r1
    when: subject != ""
    set: {tier: L2}
  - group: g1
    rules:
      - name: r2
        when: body == "x"
tests:
  - name: t1
    message: {from: a@example.com}
    env: {hour: 3}
    expect: {tier: L2}
`

var allowedRE = regexp.MustCompile(`\(allowed: ([^)]*)\)`)

// loaderAllowedKeys inserts an unknown key into the mapping at path and
// returns the key list the loader's error message names as allowed.
func loaderAllowedKeys(t *testing.T, path []any) []string {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(probeBase), &doc); err != nil {
		t.Fatal(err)
	}
	n := doc.Content[0]
	for _, p := range path {
		switch k := p.(type) {
		case string:
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == k {
					next = n.Content[i+1]
				}
			}
			if next == nil {
				t.Fatalf("probe path %v: no key %q", path, k)
			}
			n = next
		case int:
			n = n.Content[k]
		}
	}
	n.Content = append(n.Content,
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "zz_probe"},
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: "1"})
	src, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	_, err = LoadBytes("probe.yaml", src)
	var list fileerr.List
	if !errors.As(err, &list) {
		t.Fatalf("probe %v: loader accepted an unknown key (err %v)", path, err)
	}
	for _, e := range list {
		if strings.Contains(e.Msg, `"zz_probe"`) {
			m := allowedRE.FindStringSubmatch(e.Msg)
			if m == nil {
				t.Fatalf("probe %v: no allowed list in %q", path, e.Msg)
			}
			return sortedCopy(strings.Split(m[1], ", "))
		}
	}
	t.Fatalf("probe %v: no error about zz_probe in %v", path, err)
	return nil
}

// TestRulesSchemaKeysMatchLoader proves that every closed mapping of the
// schema has exactly the keys the loader allows there, both by the
// loader's key lists and by what the loader reports for an unknown key.
func TestRulesSchemaKeysMatchLoader(t *testing.T) {
	if _, err := LoadBytes("probe.yaml", []byte(probeBase)); err != nil {
		t.Fatalf("probe base does not load: %v", err)
	}
	_, raw := mustRulesSchema(t)
	envKeys := make([]string, 0, len(envOverrides))
	for k := range envOverrides {
		envKeys = append(envKeys, k)
	}
	tests := []struct {
		def   string   // "" is the root
		path  []any    // where the loader is probed
		lists []string // the loader's package-level list, when it has one
	}{
		{"", nil, topLevelKeys},
		{"Defaults", []any{"defaults"}, nil},
		{"SLATarget", []any{"sla", "L1"}, nil},
		{"Calendar", []any{"calendar"}, nil},
		{"Threading", []any{"threading"}, nil},
		{"Rule", []any{"rules", 0}, ruleKeys},
		{"Set", []any{"rules", 0, "set"}, setKeys},
		{"Group", []any{"rules", 1}, groupKeys},
		{"Rule", []any{"rules", 1, "rules", 0}, ruleKeys},
		{"Test", []any{"tests", 0}, testKeys},
		{"Message", []any{"tests", 0, "message"}, messageKeys},
		{"TestEnv", []any{"tests", 0, "env"}, envKeys},
		{"Expect", []any{"tests", 0, "expect"}, expectKeys},
	}
	for _, tt := range tests {
		name := tt.def
		if name == "" {
			name = "root"
		}
		t.Run(name, func(t *testing.T) {
			got := propertyKeys(t, raw, tt.def)
			if want := loaderAllowedKeys(t, tt.path); !slices.Equal(got, want) {
				t.Errorf("schema keys %v, loader allows %v", got, want)
			}
			if tt.lists != nil && !slices.Equal(got, sortedCopy(tt.lists)) {
				t.Errorf("schema keys %v, loader list %v", got, sortedCopy(tt.lists))
			}
		})
	}
}

func TestTestsSchemaKeysMatchLoader(t *testing.T) {
	doc, err := TestsSchema()
	if err != nil {
		t.Fatalf("TestsSchema: %v", err)
	}
	var raw map[string]any
	if err := json.Unmarshal(doc, &raw); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "t.yaml")
	if err := os.WriteFile(path, []byte("tests: []\nzz_probe: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadTests(path)
	m := allowedRE.FindStringSubmatch(errString(err))
	if m == nil {
		t.Fatalf("LoadTests did not name the allowed keys: %v", err)
	}
	if got, want := propertyKeys(t, raw, ""), sortedCopy(strings.Split(m[1], ", ")); !slices.Equal(got, want) {
		t.Errorf("schema keys %v, loader allows %v", got, want)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// mutate applies one edit to a YAML text and fails when it changed nothing.
func mutate(t *testing.T, src, old, new string) []byte {
	t.Helper()
	out := strings.Replace(src, old, new, 1)
	if out == src {
		t.Fatalf("edit %q not found", old)
	}
	return []byte(out)
}

// TestRulesSchemaExamples validates the shipped examples and edits of them;
// the loader must agree with the schema on each edit.
func TestRulesSchemaExamples(t *testing.T) {
	sch, _ := mustRulesSchema(t)
	path := filepath.Join("..", "examples", "rules.yaml")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read example: %v", err)
	}
	if err := sch.Validate(testkit.YAMLToJSONValue(t, src)); err != nil {
		t.Fatalf("examples/rules.yaml rejected by the schema: %v", err)
	}
	s := string(src)
	tests := []struct {
		name     string
		src      []byte
		accepted bool
	}{
		{"unknown key at top level", mutate(t, s, "\nrules:\n", "\nrulez: []\nrules:\n"), false},
		{"unknown key in a rule", mutate(t, s, "    action: drop\n", "    action: drop\n    priority: P1\n"), false},
		{"unknown key in set", mutate(t, s, "set: {folder: Triage/Bounces}", "set: {folder: Triage/Bounces, colour: red}"), false},
		{"unknown key in a test", mutate(t, s, "    mail: mail/password-reset-en.eml\n", "    mail: mail/password-reset-en.eml\n    mial: a.eml\n"), false},
		{"unknown key in defaults", mutate(t, s, "runbook: kb/general-triage}", "runbook: kb/general-triage, folder: x}"), false},
		{"unknown key in a group", mutate(t, s, "    first_match: true\n", "    first_match: true\n    stop: true\n"), false},
		{"unknown key in expect", mutate(t, s, "runbook: kb/password-reset, action: forward,", "runbook: kb/password-reset, action: forward, rule: x,"), false},
		{"unknown action", mutate(t, s, "action: drop", "action: delete"), false},
		{"bad rule name", mutate(t, s, "name: bounces", "name: Bounces"), false},
		{"bad sla duration", mutate(t, s, "response: 15m", "response: 15 minutes"), false},
		{"wrong version", mutate(t, s, "version: 1", "version: 2"), false},
		{"list named like a field", mutate(t, s, "  vip: [", "  subject: [x]\n  vip: ["), false},
		{"extra tier declared", mutate(t, s, "version: 1\n", "version: 1\ntiers: [L1, L2, L3, L4]\n"), true},
		{"sla in days", mutate(t, s, "resolve: 72h", "resolve: 3d"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := sch.Validate(testkit.YAMLToJSONValue(t, tt.src))
			if (err == nil) != tt.accepted {
				t.Errorf("schema accepted=%v, want %v: %v", err == nil, tt.accepted, err)
			}
			_, lerr := LoadBytes(path, tt.src)
			if (lerr == nil) != tt.accepted {
				t.Errorf("loader accepted=%v, want %v: %v", lerr == nil, tt.accepted, lerr)
			}
		})
	}
}

// TestTestsSchemaExamples validates every separate example test file.
func TestTestsSchemaExamples(t *testing.T) {
	doc, err := TestsSchema()
	if err != nil {
		t.Fatalf("TestsSchema: %v", err)
	}
	sch := testkit.CompileSchema(t, "tests.schema.json", doc)
	files, _ := filepath.Glob(filepath.Join("..", "examples", "tests", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no examples/tests/*.yaml")
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(testkit.YAMLToJSONValue(t, src)); err != nil {
			t.Errorf("%s rejected: %v", f, err)
		}
		bad := mutate(t, string(src), "\n  - name: ", "\n  - name: x\n    mail: a.eml\n    message: {from: a@b.c}\n    expect: {tier: L1}\n  - name: ")
		if err := sch.Validate(testkit.YAMLToJSONValue(t, bad)); err == nil {
			t.Errorf("%s: a test with both mail and message was accepted", f)
		}
	}
}

// TestRulesSchemaScalars checks single values against the schema's
// definitions, in a minimal file.
func TestRulesSchemaScalars(t *testing.T) {
	sch, _ := mustRulesSchema(t)
	tests := []struct {
		name, yaml string
		ok         bool
	}{
		{"minimal", "version: 1", true},
		{"missing version", "rules: []", false},
		{"rule without when", "version: 1\nrules: [{name: a}]", false},
		{"group without rules", "version: 1\nrules: [{group: g}]", false},
		{"nested group", "version: 1\nrules: [{group: g, rules: [{group: h, rules: [{name: a, when: 'true'}]}]}]", true},
		{"when is a boolean", "version: 1\nrules: [{name: a, when: true}]", true},
		{"when is blank", "version: 1\nrules: [{name: a, when: ' '}]", false},
		{"tier from the defaults", "version: 1\nrules: [{name: a, when: x, set: {tier: L3}}]", true},
		{"declared tier", "version: 1\ntiers: [T1]\nrules: [{name: a, when: x, set: {tier: T1}}]", true},
		{"empty tier", "version: 1\nrules: [{name: a, when: x, set: {tier: ''}}]", false},
		{"empty queue", "version: 1\nrules: [{name: a, when: x, set: {queue: ''}}]", false},
		{"numeric queue", "version: 1\nrules: [{name: a, when: x, set: {queue: 42}}]", true},
		{"repeated tiers", "version: 1\ntiers: [L1, L1]", false},
		{"bad extract field", "version: 1\nrules: [{name: a, when: x, extract: {'1x': 'a'}}]", false},
		{"bad list name", "version: 1\nlists: {'my-list': [a]}", false},
		{"list of numbers", "version: 1\nlists: {codes: [404, 500]}", true},
		{"test env", "version: 1\ntests: [{name: a, message: {}, env: {weekday: sun, hour: 23, bounce: true}, expect: {}}]", true},
		{"test env hour", "version: 1\ntests: [{name: a, message: {}, env: {hour: 24}, expect: {}}]", false},
		{"test env weekday", "version: 1\ntests: [{name: a, message: {}, env: {weekday: Sunday}, expect: {}}]", false},
		{"test env unknown", "version: 1\ntests: [{name: a, message: {}, env: {subject: x}, expect: {}}]", false},
		{"test without expect", "version: 1\ntests: [{name: a, message: {}}]", false},
		{"test without mail", "version: 1\ntests: [{name: a, expect: {}}]", false},
		{"header with colon", "version: 1\ntests: [{name: a, message: {headers: {'X-A:': b}}, expect: {}}]", false},
		{"header value on two lines", "version: 1\ntests: [{name: a, message: {headers: {X-A: \"b\\nc\"}}, expect: {}}]", false},
		{"to as one address", "version: 1\ntests: [{name: a, message: {to: a@b.c}, expect: {matched: r}}]", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := sch.Validate(testkit.YAMLToJSONValue(t, []byte(tt.yaml)))
			if (err == nil) != tt.ok {
				t.Errorf("accepted=%v, want %v: %v", err == nil, tt.ok, err)
			}
		})
	}
}

// durationSamples are inputs for the duration pattern checks; valid
// means parseDays accepts them.
var durationSamples = []string{
	"15m", "1h", "72h", "3d", "1d12h", "1d-1h", "90m", "1.5h", ".5h", "1h30m", " 4h ", "1000ms", "2µs", "3650d",
	"0", "0s", "0d", "-1h", "-0s", "0d-1h", "15", "15 m", "3 d", "d", "1w", "", "abc", "1d1d", "+1h", "9999d", "1e3s",
}

// TestSLADurationPattern: the SLA schema uses the shared duration pattern
// (internal/duration proves it against duration.Parse); here the loader's
// extra "positive" rule is checked to be the only difference.
func TestSLADurationPattern(t *testing.T) {
	if got := (schemaSLADuration("")).JSONSchema().Pattern; got != duration.Pattern {
		t.Errorf("SLA pattern %q, want duration.Pattern", got)
	}
	re := regexp.MustCompile(duration.Pattern)
	for _, s := range durationSamples {
		_, err := parseDays(s)
		if err == nil && !re.MatchString(s) {
			t.Errorf("%q: loader accepts, pattern rejects", s)
		}
	}
	// The pattern is a superset only where regular expressions cannot
	// follow the loader (a positive value).
	for _, s := range []string{"15", "15 m", "3 d", "d", "1w", "", "abc", "1d1d", "1e3s", "-1h", "-0s", "9999d", "3651d"} {
		if re.MatchString(s) {
			t.Errorf("%q: pattern accepts what the loader rejects", s)
		}
	}
	for _, s := range []string{"0", "0s", "0d", "0d-1h", "1d-24h"} {
		if _, err := parseDays(s); err == nil || err.Error() != "duration must be positive" || !re.MatchString(s) {
			t.Errorf("%q: want pattern match and loader error \"duration must be positive\", got %v", s, err)
		}
	}
}

// FuzzSLADurationPattern checks that the schema never rejects a duration
// the loader accepts.
func FuzzSLADurationPattern(f *testing.F) {
	for _, s := range durationSamples {
		f.Add(s)
	}
	re := regexp.MustCompile(duration.Pattern)
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := parseDays(s); err == nil && (d <= 0 || !re.MatchString(s)) {
			t.Errorf("%q: loader accepts %v, pattern match %v", s, d, re.MatchString(s))
		}
	})
}

func TestWeekdayPattern(t *testing.T) {
	re := regexp.MustCompile(weekdayPattern)
	for _, s := range []string{"Mon", "mon", "MON", "sUn", "Sat", "Monday", "", "Mo", "Xyz"} {
		_, err := parseDay(s)
		if got := re.MatchString(s); got != (err == nil) {
			t.Errorf("%q: pattern %v, parseDay error %v", s, got, err)
		}
	}
}

// TestSchemaFilesUpToDate keeps the committed schema files equal to what
// the code generates; run with -update-schema to rewrite them.
func TestSchemaFilesUpToDate(t *testing.T) {
	for name, gen := range map[string]func() ([]byte, error){
		"rules.schema.json": RulesSchema,
		"tests.schema.json": TestsSchema,
	} {
		want, err := gen()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		path := filepath.Join("..", "schema", name)
		if _, ok := testkit.Golden(t, path, want, *updateSchema, "run go test ./rules -run TestSchemaFilesUpToDate -update-schema"); !ok {
			t.Errorf("%s is stale: run go test ./rules -run TestSchemaFilesUpToDate -update-schema", path)
		}
	}
}

// TestRulesSchemaDeterministic guards the committed files against map
// iteration order.
func TestRulesSchemaDeterministic(t *testing.T) {
	a, err := RulesSchema()
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		b, err := RulesSchema()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatal("RulesSchema output differs between calls")
		}
	}
}

// TestRulesSchemaDescribesEveryKey makes sure an editor has a description
// to show for every key.
func TestRulesSchemaDescribesEveryKey(t *testing.T) {
	_, raw := mustRulesSchema(t)
	check := func(where string, obj map[string]any) {
		props, _ := obj["properties"].(map[string]any)
		for k, v := range props {
			if d, _ := v.(map[string]any)["description"].(string); d == "" {
				t.Errorf("%s.%s has no description", where, k)
			}
		}
	}
	check("root", raw)
	for name, def := range raw["$defs"].(map[string]any) {
		check(name, def.(map[string]any))
	}
}
