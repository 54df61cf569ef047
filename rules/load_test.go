package rules

import (
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/triage-dev/triage/internal/fileerr"
)

// head is the smallest valid preamble; the lines after it start at line 3.
const head = "version: 1\ndefaults: {tier: L1, priority: P3, queue: q}\n"

func loadErrs(t *testing.T, src string) []string {
	t.Helper()
	_, err := LoadBytes("r.yaml", []byte(src))
	if err == nil {
		return nil
	}
	var list fileerr.List
	if !errors.As(err, &list) {
		t.Fatalf("error is %T, not fileerr.List: %v", err, err)
	}
	out := make([]string, len(list))
	for i, e := range list {
		if e.Line < 1 || e.Col < 1 {
			t.Errorf("error without position: %v", e)
		}
		out[i] = e.Error()
	}
	return out
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"empty file", "", []string{"r.yaml:1:1: empty file: expected a mapping with version: 1"}},
		{"only comments", "# nothing\n", []string{"r.yaml:1:1: empty file: expected a mapping with version: 1"}},
		{"binary garbage", "\x00\x01\x02", []string{"r.yaml:1:1: YAML syntax: control characters are not allowed"}},
		{"syntax error", "version: 1\nrules: [\n", []string{"r.yaml:2:1: YAML syntax: did not find expected node content"}},
		{"not a mapping", "- a\n- b\n", []string{"r.yaml:1:1: rules file: expected a mapping, got a list"}},
		{"two documents", head + "---\nversion: 1\n", []string{"r.yaml:4:1: a rules file holds one YAML document; found another"}},
		{"missing version", "defaults: {tier: L1, priority: P3, queue: q}\n", []string{"r.yaml:1:1: missing version: 1"}},
		{"wrong version", "version: 2\ndefaults: {tier: L1, priority: P3, queue: q}\n", []string{"r.yaml:1:10: version: unsupported version 2 (this triage reads version 1)"}},
		{"version not int", "version: one\ndefaults: {tier: L1, priority: P3, queue: q}\n", []string{"r.yaml:1:10: version: expected an integer, got a string"}},
		{"unknown top key", head + "rule: []\n", []string{`r.yaml:3:1: rules file: unknown key "rule" (allowed: version, tiers, priorities, defaults, sla, calendar, threading, lists, rules, tests)`}},
		{"duplicate top key", head + "version: 1\n", []string{`r.yaml:3:1: rules file: duplicate key "version" (first at line 1)`}},
		{"missing defaults", "version: 1\n", []string{"r.yaml:1:1: missing defaults: {tier, priority, queue} must be set in one of the rule files"}},
		{"defaults incomplete", "version: 1\ndefaults: {tier: L1}\n", []string{"r.yaml:2:11: defaults: missing priority", "r.yaml:2:11: defaults: missing queue"}},
		{"defaults bad tier", "version: 1\ndefaults: {tier: L7, priority: P9, queue: q}\n", []string{`r.yaml:2:18: defaults.tier: unknown tier "L7" (declared: L1, L2, L3)`, `r.yaml:2:32: defaults.priority: unknown priority "P9" (declared: P1, P2, P3, P4)`}},
		{"defaults unknown key", "version: 1\ndefaults: {tier: L1, priority: P3, queue: q, folder: x}\n", []string{`r.yaml:2:46: defaults: unknown key "folder" (allowed: tier, priority, queue, runbook)`}},
		{"alias", "version: 1\ndefaults: &d {tier: L1, priority: P3, queue: q}\nlists: {a: *d}\n", []string{"r.yaml:3:12: YAML aliases are not supported"}},
		{"sla bad", head + "sla:\n  L1: {response: 15x, resolve: -1h}\n  L5: {response: 1h}\n  L2: {respond: 1h}\n", []string{
			`r.yaml:4:18: sla.L1.response: invalid duration "15x" (use 90m, 4h, 3d, 1d12h)`,
			"r.yaml:4:32: sla.L1.resolve: duration must be positive",
			`r.yaml:5:3: sla: unknown tier "L5" (declared: L1, L2, L3)`,
			`r.yaml:6:8: sla.L2: unknown key "respond" (allowed: response, resolve, clock, update_every)`}},
		{"calendar bad", head + "calendar: {timezone: Mars/Olympus, business_hours: \"Mon-Fri 8-18\"}\n", []string{
			`r.yaml:3:22: calendar.timezone: unknown time zone "Mars/Olympus" (use an IANA name such as Europe/Berlin or UTC)`,
			`r.yaml:3:52: calendar.business_hours: "8": expected HH:MM`}},
		{"calendar bad day", head + "calendar: {business_hours: \"Mon-Fry 08:00-18:00\"}\n", []string{
			`r.yaml:3:28: calendar.business_hours: unknown day "Fry" (use Mon, Tue, Wed, Thu, Fri, Sat, Sun)`}},
		{"calendar end before start", head + "calendar: {business_hours: \"Mon 18:00-08:00\"}\n", []string{
			`r.yaml:3:28: calendar.business_hours: "18:00-08:00": the end must be after the start`}},
		{"threading", head + "threading:\n  subject: ['\\[#\\d+\\]', '(']\n  body: []\n", []string{
			`r.yaml:5:3: threading: unknown key "body" (allowed: subject, message_id)`,
			`r.yaml:4:13: threading.subject: pattern "\\[#\\d+\\]" needs a capture group for the ticket number`,
			"r.yaml:4:25: threading.subject: bad regex: missing closing ): `(`"}},
		{"once keys across files? same file twice", head + "sla: {}\nsla: {}\n", []string{`r.yaml:4:1: rules file: duplicate key "sla" (first at line 3)`}},
		{"list shadows field", head + "lists:\n  subject: [a]\n  containsAny: [b]\n  len: [c]\n  _x: [d]\n  ok_list: [e]\n", []string{
			`r.yaml:4:3: lists: name "subject" shadows a field or function of the rule language`,
			`r.yaml:5:3: lists: name "containsAny" shadows a field or function of the rule language`,
			`r.yaml:6:3: lists: name "len" shadows a field or function of the rule language`,
			`r.yaml:7:3: lists: name "_x" must be a letter followed by letters, digits or _`}},
		{"list not a list", head + "lists:\n  a: x\n  b: [{c: d}]\n", []string{
			"r.yaml:4:6: lists.a: expected a list, got a string",
			"r.yaml:5:7: lists.b item: expected a string, got a mapping"}},
		{"rules not a list", head + "rules: {a: b}\n", []string{"r.yaml:3:8: rules: expected a list, got a mapping"}},
		{"rule not a mapping", head + "rules:\n  - just text\n", []string{"r.yaml:4:5: rules: each item must be a mapping (a rule or a group), got a string"}},
		{"rule missing name and when", head + "rules:\n  - description: x\n", []string{`r.yaml:4:5: rule: missing name`, `r.yaml:4:5: rule "": missing when`}},
		{"rule bad name", head + "rules:\n  - name: Bad_Name\n    when: true\n", []string{`r.yaml:4:11: name: "Bad_Name" must match [a-z0-9][a-z0-9-]*`}},
		{"rule unknown key", head + "rules:\n  - name: a\n    when: true\n    then: x\n", []string{`r.yaml:6:5: rule: unknown key "then" (allowed: name, description, when, action, set, tags, extract, stop)`}},
		{"rule duplicate key", head + "rules:\n  - name: a\n    when: true\n    when: false\n", []string{`r.yaml:6:5: rule: duplicate key "when" (first at line 5)`}},
		{"rule duplicate name", head + "rules:\n  - name: a\n    when: true\n  - name: a\n    when: false\n", []string{`r.yaml:6:5: rule "a": duplicate name (first at r.yaml:4)`}},
		{"rule wrong types", head + "rules:\n  - name: a\n    when: true\n    stop: maybe\n    tags: x\n    set: [L1]\n    action: reject\n", []string{
			"r.yaml:6:11: stop: expected true or false, got a string",
			"r.yaml:7:11: tags: expected a list, got a string",
			"r.yaml:8:10: set: expected a mapping, got a list",
			`r.yaml:9:13: action: must be forward or drop, got "reject"`}},
		{"set bad values", head + "rules:\n  - name: a\n    when: true\n    set: {tier: L4, priority: high, queue: \"\", color: red}\n", []string{
			`r.yaml:6:48: set: unknown key "color" (allowed: tier, priority, queue, runbook, folder)`,
			`r.yaml:6:17: set.tier: unknown tier "L4" (declared: L1, L2, L3)`,
			`r.yaml:6:31: set.priority: unknown priority "high" (declared: P1, P2, P3, P4)`,
			"r.yaml:6:44: set.queue: must not be empty"}},
		{"extract bad", head + "rules:\n  - name: a\n    when: true\n    extract: {code: \"(\", 9x: a}\n", []string{
			"r.yaml:6:21: extract.code: bad regex: missing closing ): `(`",
			`r.yaml:6:26: extract: field name "9x" must be a letter followed by letters, digits, _ . or -`}},
		{"group problems", head + "rules:\n  - group: g\n    first_match: yes please\n  - group: g\n    rules: []\n", []string{
			"r.yaml:5:18: first_match: expected true or false, got a string",
			`r.yaml:4:5: group "g": missing rules`,
			`r.yaml:6:12: group "g": duplicate name (first at r.yaml:4)`}},
		{"when empty", head + "rules:\n  - name: a\n    when: \"  \"\n", []string{"r.yaml:5:11: when: empty expression"}},
		{"when null", head + "rules:\n  - name: a\n    when:\n", []string{"r.yaml:5:10: when: expected a string, got null"}},
		{"when unknown name", head + "rules:\n  - name: a\n    when: subject == 'x' and sender == 'y'\n", []string{"r.yaml:5:30: when: unknown name sender"}},
		{"when not bool", head + "rules:\n  - name: a\n    when: subject\n", []string{"r.yaml:5:11: when: expected bool, but got string"}},
		{"when type error double quoted", head + "rules:\n  - name: a\n    when: \"size + 'x' > 1\"\n", []string{"r.yaml:5:17: when: invalid operation: + (mismatched types int and string)"}},
		{"when syntax error", head + "rules:\n  - name: a\n    when: subject == \n", []string{"r.yaml:5:20: when: unexpected token EOF"}},
		{"when literal block", head + "rules:\n  - name: a\n    when: |\n      auto_reply or\n        size > \"big\"\n", []string{"r.yaml:7:14: when: invalid operation: > (mismatched types int and string)"}},
		{"when folded block falls back to start", head + "rules:\n  - name: a\n    when: >\n      auto_reply or\n      nope\n", []string{"r.yaml:5:11: when: unknown name nope"}},
		{"when forbidden names", head + "rules:\n  - name: a\n    when: _body_lc == '' or $env.x == 1\n", []string{
			`r.yaml:5:11: when: name "_body_lc" is not available in rules`,
			`r.yaml:5:29: when: name "$env" is not available in rules`}},
		{"helper wrong types", head + "rules:\n  - name: a\n    when: containsAny(subject, 3)\n", []string{"r.yaml:5:32: when: cannot use int as argument (type []interface {}) to call containsAny "}},
		{"non-string list items", head + "rules:\n  - name: a\n    when: matchesAny(subject, [1, 2])\n  - name: b\n    when: containsAll(body, ['x', nil])\n",
			[]string{"r.yaml:5:32: when: matchesAny: list items must be strings, got a number", "r.yaml:7:35: when: containsAll: list items must be strings, got nil"}},
		{"matchesAny bad inline regex", head + "rules:\n  - name: a\n    when: matchesAny(subject, ['ok', '(('])\n", []string{"r.yaml:5:31: when: matchesAny: bad regex \"((\": missing closing ): `((`"}},
		{"matchesAny bad list regex", head + "lists:\n  pats: ['a', 'b[']\nrules:\n  - name: a\n    when: matchesAny(subject, pats)\n  - name: b\n    when: matchesAny(body, pats)\n", []string{
			"r.yaml:4:15: lists.pats: bad regex \"b[\" (used by matchesAny): missing closing ]: `[`",
			`r.yaml:9:28: when: matchesAny: list "pats" holds a bad regex`}},
		{"tests problems", head + "rules:\n  - name: a\n    when: true\ntests:\n  - name: t\n    message: {subject: x, sender: y}\n    expect: {tier: L9, matched: [b]}\n    env: {hour: 25, weekday: Funday, color: red}\n  - name: u\n    mail: missing.eml\n    expect: {}\n  - name: v\n    expect: {}\n", []string{
			`r.yaml:8:27: message: unknown key "sender" (allowed: from, to, cc, subject, body, date, headers)`,
			`r.yaml:9:20: expect.tier: unknown tier "L9" (declared: L1, L2, L3)`,
			`r.yaml:9:34: expect.matched: no rule named "b"`,
			"r.yaml:10:17: env.hour: must be 0 to 23",
			`r.yaml:10:30: env.weekday: unknown day "Funday" (use Mon, Tue, Wed, Thu, Fri, Sat, Sun)`,
			`r.yaml:10:38: env: "color" cannot be set by a test (allowed: account, auto_reply, bounce, business_hours, duplicate, encrypted, hour, list, mailbox, problem_size, sender_recent, signed, signer, similar_recent, ticket_ref, weekday)`,
			"r.yaml:12:11: mail: cannot read " + mustAbs("missing.eml"),
			`r.yaml:14:5: test "v": missing mail or message`}},
		{"declared tiers", "version: 1\ntiers: [T1, T2]\ndefaults: {tier: L1, priority: P3, queue: q}\n", []string{`r.yaml:3:18: defaults.tier: unknown tier "L1" (declared: T1, T2)`}},
		{"declared tiers repeated", "version: 1\ntiers: [T1, T1]\ndefaults: {tier: T1, priority: P3, queue: q}\n", []string{`r.yaml:2:13: tiers: empty or repeated value "T1"`, `r.yaml:3:18: defaults.tier: unknown tier "T1" (declared: L1, L2, L3)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := loadErrs(t, tt.src)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		panic(err)
	}
	return a
}
