package classifier

import (
	"bytes"
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/triage-dev/triage/rules"
)

func TestBuildMessageRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		msg  rules.InlineMessage
		want func(*Mail) string // "" when fine
	}{
		{"utf-8 subject and body", rules.InlineMessage{
			From: "Jörg Müller <joerg@example.com>", To: []string{"helpdesk@example.com"},
			Subject: "Passwort vergessen – パスワード", Body: "Grüße,\nich bin gesperrt. " + strings.Repeat("lang ", 40) + "\nEnde",
		}, func(m *Mail) string {
			switch {
			case m.Subject != "Passwort vergessen – パスワード":
				return "subject " + m.Subject
			case m.Body != "Grüße,\nich bin gesperrt. "+strings.TrimSuffix(strings.Repeat("lang ", 40), "")+"\nEnde":
				return "body " + m.Body
			case m.From.Name != "Jörg Müller" || m.From.Address != "joerg@example.com":
				return "from " + m.From.Name
			case !m.Date.Equal(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)):
				return "date " + m.Date.String()
			case !strings.HasPrefix(m.MessageID, "<test.") || len(m.Defects) > 0:
				return "message id " + m.MessageID + " defects " + strings.Join(m.Defects, ";")
			}
			return ""
		}},
		{"headers and cc", rules.InlineMessage{
			From: "a@example.com", To: []string{"x@example.com", "y@example.com"}, Cc: []string{"z@example.com"},
			Subject: "s", Body: "b", Date: "Mon, 30 Nov 2026 22:00:00 +0000",
			Headers: map[string]string{"Auto-Submitted": "auto-replied", "X-Note": "grün", "Message-ID": "<given@x>",
				"Bad Name": "dropped", "X-Inject": "a\r\nBcc: evil@example.com"},
		}, func(m *Mail) string {
			switch {
			case !m.AutoReply:
				return "auto_reply"
			case m.Headers["X-Note"] != "grün":
				return "x-note " + m.Headers["X-Note"]
			case m.MessageID != "<given@x>":
				return "message id " + m.MessageID
			case len(m.Recipients) != 3:
				return "recipients"
			case m.Date.Hour() != 22:
				return "date"
			case m.Headers["Bcc"] != "" || m.Headers["X-Inject"] != "a Bcc: evil@example.com":
				return "header injection: " + m.Headers["X-Inject"]
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := BuildMessage(&tt.msg)
			if !bytes.Equal(raw, BuildMessage(&tt.msg)) {
				t.Error("not deterministic")
			}
			for _, line := range bytes.Split(raw, []byte("\r\n")) {
				if len(line) > 998 || bytes.IndexByte(line, '\n') >= 0 {
					t.Errorf("bad line %q", line)
				}
			}
			m, err := Decode(raw, DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if problem := tt.want(m); problem != "" {
				t.Errorf("%s\n%s", problem, raw)
			}
		})
	}
}

func TestTestEnvFor(t *testing.T) {
	// A set without threading patterns: the default ticket pattern.
	build := TestEnvFor(&rules.Set{})
	env, err := build(rules.Test{Name: "inline", Message: &rules.InlineMessage{From: "a@b.example", Subject: "[#5] x", Body: "hi"}})
	if err != nil {
		t.Fatal(err)
	}
	if env.TicketRef != "5" || env.Body != "hi" {
		t.Errorf("env = %+v", env)
	}
	env, err = build(rules.Test{Name: "file", Mail: filepath.Join("testdata", "mail", "charset-koi8-r.eml")})
	if err != nil || env.Subject != "Забыл пароль от почты" {
		t.Errorf("env %+v, err %v", env, err)
	}
	if _, err := build(rules.Test{Name: "missing", Mail: "testdata/nope.eml"}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := build(rules.Test{Name: "empty"}); err == nil {
		t.Error("no mail and no message accepted")
	}
}

// The rule-test pipeline reports which expectation failed and why, and
// nothing for an expectation that holds.
func TestRunTestsCanFail(t *testing.T) {
	set := loadTestRules(t)
	printer := &rules.InlineMessage{From: "a@example.com", Subject: "printer jam", Body: "paper stuck"}
	tests := []struct {
		name   string
		expect rules.Expect
		want   []string
	}{
		{"wrong tier", rules.Expect{Tier: "L3", Runbook: "kb/printer"}, []string{"tier: got L1, want L3"}},
		{"wrong tier and runbook", rules.Expect{Tier: "L2", Runbook: "kb/vpn"}, []string{"tier: got L1, want L2", "runbook: got kb/printer, want kb/vpn"}},
		{"holds", rules.Expect{Tier: "L1", Runbook: "kb/printer", Tags: []string{"printer"}}, nil},
	}
	for _, tt := range tests {
		res := set.RunTests([]rules.Test{{Name: tt.name, Message: printer, Expect: tt.expect}}, TestEnvFor(set))
		if len(res) != 1 {
			t.Fatalf("%s: %d results", tt.name, len(res))
		}
		if !slices.Equal(res[0].Failures, tt.want) {
			t.Errorf("%s: failures %q, want %q", tt.name, res[0].Failures, tt.want)
		}
		if m := res[0].Decision.Matched; len(m) == 0 || m[len(m)-1].Rule != "printer" {
			t.Errorf("%s: matched %+v, want the printer rule last", tt.name, m)
		}
	}
}
