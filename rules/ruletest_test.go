package rules

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/triage-dev/triage/internal/fileerr"
	"github.com/triage-dev/triage/ticket"
)

// buildInline stands in for the classifier: it turns an inline message into
// an Env without MIME decoding.
func buildInline(t Test) (*Env, error) {
	if t.Message == nil {
		return nil, errors.New("only inline messages here")
	}
	m := t.Message
	env := &Env{Subject: m.Subject, Body: m.Body, Text: m.Subject + "\n" + m.Body, Headers: map[string]string{}}
	env.From = ticket.Address{Address: m.From, Domain: domainOf(m.From)}
	for k, v := range m.Headers {
		env.Headers[k] = v
	}
	env.Date = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC) // a Friday
	if m.Date != "" {
		d, err := time.Parse(time.RFC1123Z, m.Date)
		if err != nil {
			return nil, fmt.Errorf("date: %w", err)
		}
		env.Date = d
	}
	return env, nil
}

func TestTypicalOwnTestsPass(t *testing.T) {
	s, err := Load(filepath.Join("testdata", "typical.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range s.RunTests(s.Tests, buildInline) {
		if len(r.Failures) > 0 {
			t.Errorf("%s: %v", r.Test.Name, r.Failures)
		}
	}
}

func TestRunTestsFailures(t *testing.T) {
	s := mustLoad(t, head+`rules:
  - name: pw
    when: containsAny(subject, ["password"])
    set: {tier: L1, runbook: kb/pw}
    tags: [pw]
    extract: {user: 'user (\w+)'}
  - name: off-hours
    when: not business_hours and hour == 3 and weekday == "Sun" and account == "desk" and duplicate
    set: {priority: P1}
`)
	tests := []Test{
		{Name: "all good", Message: &InlineMessage{Subject: "password for user ann"},
			Expect: Expect{Tier: "L1", Runbook: "kb/pw", Tags: []string{"pw"}, Matched: []string{"pw"}, NotMatched: []string{"off-hours"}, Fields: map[string]string{"user": "ann"}, Action: "forward"}},
		{Name: "every mismatch", Message: &InlineMessage{Subject: "printer"},
			Expect: Expect{Tier: "L3", Priority: "P1", Queue: "x", Runbook: "kb/pw", Action: "drop", Folder: "F", Tags: []string{"pw"}, Matched: []string{"pw"}, NotMatched: []string{"ghost"}, Fields: map[string]string{"user": "ann"}}},
		{Name: "env overrides win over the calendar", Message: &InlineMessage{Subject: "x"},
			Env:    map[string]any{"business_hours": false, "hour": 3, "weekday": "Sun", "account": "desk", "duplicate": true},
			Expect: Expect{Priority: "P1", Matched: []string{"off-hours"}}},
		{Name: "calendar applied before evaluation", Message: &InlineMessage{Subject: "x", Date: "Sun, 29 Nov 2026 03:00:00 +0000"},
			Env:    map[string]any{"account": "desk", "duplicate": true},
			Expect: Expect{Priority: "P1"}},
		{Name: "build fails", Mail: "/nonexistent.eml", Expect: Expect{Tier: "L1"}},
		{Name: "empty matched means none", Message: &InlineMessage{Subject: "password"}, Expect: Expect{Matched: []string{}}},
	}
	res := s.RunTests(tests, buildInline)
	want := [][]string{
		nil,
		{
			"tier: got L1, want L3", "priority: got P3, want P1", "queue: got q, want x", "runbook: got (none), want kb/pw",
			"action: got forward, want drop", "folder: got (none), want F", "tags: missing pw, got []",
			"expect names rule ghost, which the rule set does not have", "matched: got [], want [pw]", "fields.user: got (none), want ann",
		},
		nil,
		nil,
		{"cannot build the message: only inline messages here"},
		{"matched: got [pw], want []"},
	}
	for i, r := range res {
		if !reflect.DeepEqual(r.Failures, want[i]) {
			t.Errorf("%s:\n got %q\nwant %q", r.Test.Name, r.Failures, want[i])
		}
	}
	if len(res[0].Decision.Trace) != 2 {
		t.Errorf("RunTests should trace: %+v", res[0].Decision.Trace)
	}
}

func TestLoadTests(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"cases/t.yaml": `tests:
  - name: one
    mail: ../mail/a.eml
    env: {mailbox: INBOX, list: true}
    expect: {tier: X9, matched: [anything], tags: solo}
  - name: two
    message:
      from: a@b.c
      to: x@y.z
      cc: [c@d.e]
      subject: Hi
      body: "text"
      date: "Fri, 27 Nov 2026 10:00:00 +0000"
      headers: {X-Priority: "1"}
    expect: {fields: {k: v}}
`,
		"mail/a.eml": "Subject: a\n\nb\n",
		"bad.yaml":   "version: 1\ntests:\n  - name: x\n    message: {subject: a, headers: {\"Bad: name\": x, X-Inject: \"a\\r\\nBcc: evil\"}}\n    expect: {}\n  - name: x\n    message: {}\n    expect: {}\n",
	})
	tests, err := LoadTests(filepath.Join(dir, "cases", "t.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(tests) != 2 {
		t.Fatalf("tests %+v", tests)
	}
	one, two := tests[0], tests[1]
	if one.Mail != filepath.Join(dir, "mail", "a.eml") || one.Line != 2 || one.Expect.Tier != "X9" ||
		!reflect.DeepEqual(one.Expect.Tags, []string{"solo"}) || !reflect.DeepEqual(one.Env, map[string]any{"mailbox": "INBOX", "list": true}) {
		t.Errorf("one = %+v", one)
	}
	wantMsg := &InlineMessage{From: "a@b.c", To: []string{"x@y.z"}, Cc: []string{"c@d.e"}, Subject: "Hi", Body: "text",
		Date: "Fri, 27 Nov 2026 10:00:00 +0000", Headers: map[string]string{"X-Priority": "1"}}
	if !reflect.DeepEqual(two.Message, wantMsg) || two.Expect.Fields["k"] != "v" {
		t.Errorf("two = %+v %+v", two, two.Message)
	}
	_, err = LoadTests(filepath.Join(dir, "bad.yaml"))
	var list fileerr.List
	if !errors.As(err, &list) {
		t.Fatalf("err = %v", err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	want := []string{
		bad + `:1:1: test file: unknown key "version" (allowed: tests)`,
		bad + `:4:37: message.headers: header "Bad: name": name or value holds a line break, colon or space`,
		bad + `:4:53: message.headers: header "X-Inject": name or value holds a line break, colon or space`,
		bad + `:6:5: test "x": duplicate name (first at line 3)`,
	}
	var got []string
	for _, e := range list {
		got = append(got, e.Error())
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("errors\n got %q\nwant %q", got, want)
	}
	if _, err := LoadTests(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml:1:1") {
		t.Errorf("missing file: %v", err)
	}
}
