package queue

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/triage-dev/triage/ticket"
)

// checkTicketJSON fails unless encodeTicket gives json.Marshal's bytes (or
// fails exactly when it does).
func checkTicketJSON(t *testing.T, tk *ticket.Ticket) {
	t.Helper()
	want, werr := json.Marshal(tk)
	got, gerr := encodeTicket([]byte("prefix"), tk)
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("encoding/json error %v, encodeTicket error %v", werr, gerr)
	}
	if werr != nil {
		if werr.Error() != gerr.Error() {
			t.Fatalf("error %q, want %q", gerr, werr)
		}
		return
	}
	if !bytes.HasPrefix(got, []byte("prefix")) {
		t.Fatalf("dst not kept: %q", got)
	}
	if got = got[len("prefix"):]; !bytes.Equal(got, want) {
		t.Fatalf("encodeTicket differs from encoding/json:\n got %s\nwant %s", got, want)
	}
}

const hostileText = "a\x00b\x01\x07\b\t\n\v\f\r\x1b\x1f \x7f\"\\/<script>&amp;</script>" +
	"\u2028\u2029\u00e9\u65e5\U0001F600\xff\xfe\xc3\x28\xed\xa0\x80\xf4\x90\x80\x80\uFEFF\u0085\ufffd"

func TestTicketJSONMatchesEncodingJSON(t *testing.T) {
	resp := time.Date(2026, 11, 27, 10, 15, 0, 123456789, time.FixedZone("CET", 3600))
	many := map[string]string{}
	for i := 0; i < 20; i++ {
		many[fmt.Sprintf("k%02d<%c>", 20-i, 'a'+i)] = hostileText[i:]
	}
	cases := map[string]func(*ticket.Ticket){
		"zero":   func(tk *ticket.Ticket) { *tk = ticket.Ticket{} },
		"sample": func(*ticket.Ticket) {},
		"empty collections": func(tk *ticket.Ticket) {
			tk.To, tk.Cc, tk.Attachments, tk.Defects = []ticket.Address{}, []ticket.Address{}, []ticket.Attachment{}, []string{}
			tk.Thread.References = []string{}
			tk.Class.Tags, tk.Class.Fields, tk.Class.Matched, tk.Class.Trace = []string{}, map[string]string{}, []ticket.MatchedRule{}, []ticket.TraceStep{}
		},
		"hostile strings": func(tk *ticket.Ticket) {
			tk.ID, tk.MessageID, tk.Subject, tk.Body = hostileText, hostileText, hostileText, strings.Repeat(hostileText, 50)
			tk.From = ticket.Address{Name: hostileText, Address: hostileText}
			tk.Cc = []ticket.Address{{Address: hostileText}, {Name: "x"}}
			tk.Source = ticket.Source{Mailbox: hostileText, UIDValidity: 1<<32 - 1}
			tk.Attachments = []ticket.Attachment{{Name: hostileText, Type: "a/b", Size: -1}, {Size: 1 << 40}}
			tk.Thread = ticket.Thread{InReplyTo: hostileText, References: []string{hostileText, ""}, TicketRef: "12"}
			tk.AutoReply, tk.Bounce, tk.List, tk.Duplicate = true, true, true, true
			tk.Defects = []string{hostileText}
			tk.Class.Folder = hostileText
			tk.Class.Fields = many
			tk.Class.RulesVersion = hostileText
			tk.Class.Matched = append(tk.Class.Matched, ticket.MatchedRule{Rule: hostileText, Description: hostileText})
			tk.Class.Trace = []ticket.TraceStep{
				{Rule: "a"}, {Rule: "b", Group: "g", Matched: true},
				{Rule: hostileText, Group: hostileText, Skipped: hostileText, Error: hostileText},
			}
		},
		"only resolve due": func(tk *ticket.Ticket) { tk.Class.SLA.ResponseDue = nil },
		"only response due": func(tk *ticket.Ticket) {
			tk.Class.SLA = ticket.SLA{ResponseDue: &resp}
			tk.ReceivedAt = resp
		},
		"source partly empty": func(tk *ticket.Ticket) { tk.Source = ticket.Source{UID: 3} },
		"year out of range":   func(tk *ticket.Ticket) { tk.ReceivedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"due out of range": func(tk *ticket.Ticket) {
			bad := time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)
			tk.Class.SLA.ResolveDue = &bad
		},
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			tk := sampleTicket([]byte("raw is never encoded"))
			mod(tk)
			checkTicketJSON(t, tk)
		})
	}
}

// ticketShape lists every field encoding/json sees in ticket.Ticket,
// as appendTicketJSON encodes it. When the Ticket type changes this test
// fails: update appendTicketJSON, its test cases, then this list.
const ticketShape = `Ticket.ID string json:"id"
Ticket.MessageID string json:"message_id"
Ticket.ReceivedAt time.Time json:"received_at"
Ticket.Source ticket.Source json:"source"
Source.Account string json:"account,omitempty"
Source.Mailbox string json:"mailbox,omitempty"
Source.UID uint32 json:"uid,omitempty"
Source.UIDValidity uint32 json:"uidvalidity,omitempty"
Ticket.From ticket.Address json:"from"
Address.Name string expr:"name" json:"name,omitempty"
Address.Address string expr:"address" json:"address"
Address.Domain string expr:"domain" json:"-"
Ticket.To []ticket.Address json:"to"
Ticket.Cc []ticket.Address json:"cc"
Ticket.Subject string json:"subject"
Ticket.Body string json:"body"
Ticket.Attachments []ticket.Attachment json:"attachments"
Attachment.Name string expr:"name" json:"name"
Attachment.Type string expr:"type" json:"type"
Attachment.Size int expr:"size" json:"size"
Ticket.Thread ticket.Thread json:"thread"
Thread.InReplyTo string json:"in_reply_to"
Thread.References []string json:"references"
Thread.TicketRef string json:"ticket_ref"
Ticket.AutoReply bool json:"auto_reply"
Ticket.Bounce bool json:"bounce"
Ticket.List bool json:"list"
Ticket.Duplicate bool json:"duplicate"
Ticket.Defects []string json:"defects,omitempty"
Ticket.Class ticket.Classification json:"classification"
Classification.Tier string json:"tier"
Classification.Priority string json:"priority"
Classification.Queue string json:"queue"
Classification.Runbook string json:"runbook"
Classification.Folder string json:"folder,omitempty"
Classification.Action string json:"action"
Classification.Tags []string json:"tags"
Classification.Fields map[string]string json:"fields"
Classification.SLA ticket.SLA json:"sla"
SLA.ResponseDue *time.Time json:"response_due,omitempty"
SLA.ResolveDue *time.Time json:"resolve_due,omitempty"
Classification.Matched []ticket.MatchedRule json:"matched"
MatchedRule.Rule string json:"rule"
MatchedRule.Description string json:"description,omitempty"
Classification.RulesVersion string json:"rules_version"
Classification.Trace []ticket.TraceStep json:"trace,omitempty"
TraceStep.Rule string json:"rule"
TraceStep.Group string json:"group,omitempty"
TraceStep.Matched bool json:"matched"
TraceStep.Skipped string json:"skipped,omitempty"
TraceStep.Error string json:"error,omitempty"
Ticket.Raw []uint8 json:"-"`

func TestTicketJSONCoversEveryField(t *testing.T) {
	var lines []string
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(rt reflect.Type) {
		seen[rt] = true
		for i := 0; i < rt.NumField(); i++ {
			f := rt.Field(i)
			lines = append(lines, fmt.Sprintf("%s.%s %s %s", rt.Name(), f.Name, f.Type, f.Tag))
			ft := f.Type
			for ft.Kind() == reflect.Slice || ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft.PkgPath() == rt.PkgPath() && !seen[ft] {
				walk(ft)
			}
		}
	}
	walk(reflect.TypeFor[ticket.Ticket]())
	if got := strings.Join(lines, "\n"); got != ticketShape {
		t.Fatalf("ticket.Ticket changed; update appendTicketJSON (ticketjson.go) and ticketShape:\n%s", got)
	}
}

func FuzzTicketJSON(f *testing.F) {
	f.Add("id", "subject", "body", "k", "v", int64(0), 0)
	f.Add(hostileText, hostileText[3:], "\u2028<&>", "\xff", "\x00", int64(-1<<62), 7)
	f.Fuzz(func(t *testing.T, id, subject, body, key, val string, unix int64, n int) {
		tk := sampleTicket(nil)
		tk.ID, tk.Subject, tk.Body = id, subject, body
		tk.From.Name = key
		tk.Class.Fields = map[string]string{key: val, val: key, "z": subject}
		tk.ReceivedAt = time.Unix(unix%(1<<40), int64(n)).In(time.FixedZone("x", n%50000))
		tk.Thread.References = []string{val, id}
		if n%3 == 0 {
			tk.Class.Trace = []ticket.TraceStep{{Rule: key, Error: val, Matched: n%2 == 0}}
			tk.Defects = []string{body}
		}
		checkTicketJSON(t, tk)
	})
}

// FuzzCleanHeaderText checks sanitizeHeaderText's shortcut: text it passes
// through unchanged is text the full sanitizer would not change.
func FuzzCleanHeaderText(f *testing.F) {
	for _, s := range []string{"", "0123456789abcdef", "a b", "a  b", " a", "a ", "a\tb", "é", "~\x7f", strings.Repeat("x", 300)} {
		f.Add(s, 200)
	}
	f.Fuzz(func(t *testing.T, s string, limit int) {
		limit = 1 + int(uint(limit)%1000)
		if isCleanHeaderText(s, limit) {
			if got := cleanHeaderText(s, limit); got != s {
				t.Fatalf("shortcut kept %q, sanitizer gives %q", s, got)
			}
		}
		if got, want := sanitizeHeaderText(s, limit), cleanHeaderText(s, limit); got != want {
			t.Fatalf("sanitizeHeaderText(%q) = %q, want %q", s, got, want)
		}
	})
}
