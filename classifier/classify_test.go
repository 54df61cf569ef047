package classifier

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/triage-dev/triage/rules"
	"github.com/triage-dev/triage/ticket"
)

func loadTestRules(t testing.TB) *rules.Set {
	t.Helper()
	set, err := rules.Load(filepath.Join("testdata", "rules.yaml"))
	if err != nil {
		t.Fatalf("load rules: %v", err)
	}
	return set
}

func readMail(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "mail", name+".eml"))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// The rule set's own tests run through the real decoder, by file and inline.
func TestRuleTestsThroughDecoder(t *testing.T) {
	set := loadTestRules(t)
	if len(set.Tests) < 9 {
		t.Fatalf("only %d tests loaded", len(set.Tests))
	}
	for _, r := range set.RunTests(set.Tests, TestEnvFor(set)) {
		if len(r.Failures) > 0 {
			t.Errorf("%s: %s", r.Test.Name, strings.Join(r.Failures, "; "))
		}
	}
}

func TestClassifyTicket(t *testing.T) {
	set := loadTestRules(t)
	c := New()
	received := time.Date(2026, 11, 27, 9, 15, 0, 0, time.UTC)
	meta := Meta{Account: "helpdesk", Mailbox: "INBOX", UID: 42, UIDValidity: 7, ReceivedAt: received}
	raw := readMail(t, "charset-utf-8")
	tk, err := c.Classify(set, raw, meta)
	if err != nil {
		t.Fatal(err)
	}
	if tk.ID != TicketID(raw) || len(tk.ID) != 32 {
		t.Errorf("id = %q, TicketID = %q", tk.ID, TicketID(raw))
	}
	if tk.MessageID != "<charset-utf-8.20261127@mail.example.com>" {
		t.Errorf("message_id = %q", tk.MessageID)
	}
	if tk.Source != (ticket.Source{Account: "helpdesk", Mailbox: "INBOX", UID: 42, UIDValidity: 7}) {
		t.Errorf("source = %+v", tk.Source)
	}
	if tk.From != (ticket.Address{Name: "Ann Example", Address: "ann@example.com", Domain: "example.com"}) {
		t.Errorf("from = %+v", tk.From)
	}
	cl := tk.Class
	if cl.Tier != "L1" || cl.Priority != "P3" || cl.Queue != "helpdesk" || cl.Action != "forward" {
		t.Errorf("classification = %+v", cl)
	}
	if cl.Fields["error_code"] != "0x80070005" {
		t.Errorf("fields = %v", cl.Fields)
	}
	if cl.RulesVersion != set.Version || cl.RulesVersion == "" {
		t.Errorf("rules_version = %q, want %q", cl.RulesVersion, set.Version)
	}
	if cl.SLA.ResponseDue == nil || !cl.SLA.ResponseDue.Equal(received.Add(15*time.Minute)) ||
		cl.SLA.ResolveDue == nil || !cl.SLA.ResolveDue.Equal(received.Add(time.Hour)) {
		t.Errorf("sla = %v %v", cl.SLA.ResponseDue, cl.SLA.ResolveDue)
	}
	if string(tk.Raw) != string(raw) {
		t.Error("Raw is not the original message")
	}
	if len(tk.Attachments) != 1 || tk.Attachments[0].Name != "Протокол_ошибки.txt" {
		t.Errorf("attachments = %+v", tk.Attachments)
	}
	if cl.Trace != nil {
		t.Error("trace without ClassifyTrace")
	}
}

// The JSON document never has null where a list or map belongs.
func TestTicketJSONNoNulls(t *testing.T) {
	set := loadTestRules(t)
	tk, err := New().Classify(set, []byte("From: a@b.example\r\nSubject: x\r\n\r\nhello\r\n"), Meta{ReceivedAt: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(tk)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	class := doc["classification"].(map[string]any)
	thread := doc["thread"].(map[string]any)
	for what, v := range map[string]any{
		"to": doc["to"], "cc": doc["cc"], "attachments": doc["attachments"], "references": thread["references"],
		"tags": class["tags"], "fields": class["fields"], "matched": class["matched"],
	} {
		if v == nil {
			t.Errorf("%s is null in %s", what, b)
		}
	}
	if _, ok := doc["raw"]; ok {
		t.Error("raw bytes leak into the document")
	}
}

func TestClassifyTraceAndDecisions(t *testing.T) {
	set := loadTestRules(t)
	c := New()
	tests := []struct {
		mail            string
		tier, queue     string
		action, folder  string
		matched         []string
		tags            []string
		responseDueMins int // 0: no due time expected
	}{
		{"phishing", "L3", "security", "forward", "", []string{"security-incident"}, []string{"security"}, 60},
		{"autoreply-rfc3834", "L1", "helpdesk", "drop", "Triage/Auto", []string{"auto-replies"}, nil, 15},
		{"list-id", "L1", "helpdesk", "drop", "Triage/Auto", []string{"auto-replies"}, nil, 15},
		{"html-only", "L2", "systems", "forward", "", []string{"network"}, []string{"network"}, 60},
		{"ticket-subject", "L1", "helpdesk", "forward", "", []string{"ticket-reply", "printer"}, []string{"reply", "printer"}, 15},
		{"charset-koi8-r", "L1", "helpdesk", "forward", "", []string{"password"}, []string{"account"}, 15},
	}
	received := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.mail, func(t *testing.T) {
			tk, d, err := c.ClassifyTrace(set, readMail(t, tt.mail), Meta{ReceivedAt: received})
			if err != nil {
				t.Fatal(err)
			}
			cl := tk.Class
			if cl.Tier != tt.tier || cl.Queue != tt.queue || cl.Action != tt.action || cl.Folder != tt.folder {
				t.Errorf("got tier=%s queue=%s action=%s folder=%s", cl.Tier, cl.Queue, cl.Action, cl.Folder)
			}
			var matched []string
			for _, m := range cl.Matched {
				matched = append(matched, m.Rule)
			}
			if strings.Join(matched, ",") != strings.Join(tt.matched, ",") {
				t.Errorf("matched = %v, want %v", matched, tt.matched)
			}
			if strings.Join(cl.Tags, ",") != strings.Join(tt.tags, ",") {
				t.Errorf("tags = %v, want %v", cl.Tags, tt.tags)
			}
			if len(d.Trace) == 0 || len(cl.Trace) != len(d.Trace) {
				t.Errorf("trace: decision %d entries, ticket %d", len(d.Trace), len(cl.Trace))
			}
			if cl.SLA.ResponseDue == nil || cl.SLA.ResponseDue.Sub(received) != time.Duration(tt.responseDueMins)*time.Minute {
				t.Errorf("response_due = %v", cl.SLA.ResponseDue)
			}
		})
	}
}

func TestClassifyMetaAndCalendar(t *testing.T) {
	set := loadTestRules(t)
	now := time.Date(2026, 11, 28, 23, 30, 0, 0, time.UTC) // Sunday 00:30 in Berlin
	c := New()
	c.Now = func() time.Time { return now }
	// No Date header: the calendar falls back to the receipt time.
	raw := []byte("From: ops@example.com\r\nSubject: ransomware note on file server\r\n\r\nAll files encrypted.\r\n")
	tk, err := c.Classify(set, raw, Meta{Duplicate: true})
	if err != nil {
		t.Fatal(err)
	}
	if !tk.ReceivedAt.Equal(now) || tk.ReceivedAt.Location() != time.UTC {
		t.Errorf("received_at = %v", tk.ReceivedAt)
	}
	if !tk.Duplicate {
		t.Error("duplicate not carried")
	}
	if tk.Class.Priority != "P1" || tk.Class.Tier != "L3" {
		t.Errorf("classification = %+v", tk.Class)
	}
	m, err := Decode(raw, DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	env, _ := c.env(set, m, Meta{ReceivedAt: now, Account: "a", Mailbox: "b", Duplicate: true})
	if env.Weekday != "Sun" || env.Hour != 0 || env.BusinessHrs || !env.Date.IsZero() {
		t.Errorf("calendar from receipt: weekday=%s hour=%d business=%v date=%v", env.Weekday, env.Hour, env.BusinessHrs, env.Date)
	}
	if env.Account != "a" || env.Mailbox != "b" || !env.Duplicate {
		t.Errorf("meta not in env: %+v", env)
	}
}

func TestClassifyErrors(t *testing.T) {
	set := loadTestRules(t)
	c := New()
	c.Options.MaxBytes = 100
	if _, err := c.Classify(set, []byte("Subject: x\r\n\r\n"+strings.Repeat("a", 200)), Meta{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("err = %v, want ErrTooLarge", err)
	}
	if _, _, err := c.ClassifyTrace(set, []byte("\x00\x01\x02"), Meta{}); !errors.Is(err, ErrUnparseable) {
		t.Errorf("err = %v, want ErrUnparseable", err)
	}
}
