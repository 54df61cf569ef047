package queue

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/triage-dev/triage/ticket"
)

const hostileText = "a\x00b\x01\x07\b\t\n\v\f\r\x1b\x1f \x7f\"\\/<script>&amp;</script>" +
	"\u2028\u2029\u00e9\u65e5\U0001F600\xff\xfe\xc3\x28\xed\xa0\x80\xf4\x90\x80\x80\uFEFF\u0085\ufffd"

// hostileTicketLine is the JSON line of hostileTicket: encoding/json's
// defaults, which downstream parsers rely on. <, > and & are escaped (as
// \u003c, \u003e, \u0026), so are U+2028, U+2029 and control characters;
// invalid UTF-8 becomes \ufffd; other non-ASCII stays as it is.
const hostileTicketLine = `{"id":"0123456789abcdef0123456789abcdef","message_id":"\u003c20261127100000.1234@example.com\u003e",` +
	`"received_at":"2026-11-27T09:00:00Z","source":{"account":"helpdesk","mailbox":"INBOX","uid":42,"uidvalidity":7},` +
	`"from":{"name":"Ann Example","address":"ann@example.com"},"to":[{"address":"helpdesk@example.com"}],"cc":null,` +
	`"subject":` + "\"a\\u0000b\\u0001\\u0007\\b\\t\\n\\u000b\\f\\r\\u001b\\u001f \x7f\\\"\\\\/\\u003cscript\\u003e\\u0026amp;\\u003c/script\\u003e\\u2028\\u2029é日😀\\ufffd\\ufffd\\ufffd(\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\ufeff\u0085\ufffd\"" + `,` +
	`"body":"Hi,\n\nthe VPN drops every few minutes. Error 0x80070005 in the client log.\n\"quoted\" \u003ctag\u003e \u0026 done",` +
	`"attachments":null,"thread":{"in_reply_to":"","references":null,"ticket_ref":""},` +
	`"auto_reply":false,"bounce":false,"list":false,"duplicate":false,` +
	`"classification":{"tier":"L2","priority":"P2","queue":"systems","runbook":"kb/vpn","action":"forward","tags":["network"],` +
	`"fields":{"\u003ck\u003e":"\u2028\u0026","error_code":"0x80070005"},` +
	`"sla":{"response_due":"2026-11-27T10:15:00Z","resolve_due":"2026-11-27T13:00:00Z"},` +
	`"matched":[{"rule":"network","description":"VPN, DNS, wifi"},{"rule":"error-codes"}],"rules_version":""}}` + "\n"

func hostileTicket() *ticket.Ticket {
	tk := sampleTicket([]byte("raw is never encoded"))
	tk.Subject = hostileText
	tk.Class.Fields["<k>"] = "\u2028&"
	return tk
}

// TestTicketJSONBytes pins the bytes of the ticket document as the JSON
// Lines sinks write it; webhook and nats send the same document (also
// json.Marshal) without the line feed.
func TestTicketJSONBytes(t *testing.T) {
	var buf bytes.Buffer
	if err := newStdoutSink(&buf).Send(context.Background(), hostileTicket()); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != hostileTicketLine {
		t.Errorf("stdout line:\n got %q\nwant %q", got, hostileTicketLine)
	}
	path := filepath.Join(t.TempDir(), "t.jsonl")
	sink, err := newFileSink("f", path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second line reuses the first one's buffer
		if err := sink.Send(context.Background(), hostileTicket()); err != nil {
			t.Fatal(err)
		}
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != hostileTicketLine+hostileTicketLine {
		t.Errorf("file lines (%v):\n got %q\nwant %q twice", err, got, hostileTicketLine)
	}
}

// TestTicketJSONTimeOutOfRange: a time RFC 3339 cannot show is a
// permanent failure, and nothing is written.
func TestTicketJSONTimeOutOfRange(t *testing.T) {
	tk := sampleTicket(nil)
	tk.ReceivedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	if err := newStdoutSink(&buf).Send(context.Background(), tk); err == nil || Temporary(err) || buf.Len() > 0 {
		t.Errorf("stdout: err %v, wrote %q", err, buf.Bytes())
	}
	path := filepath.Join(t.TempDir(), "t.jsonl")
	sink, err := newFileSink("f", path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	if err := sink.Send(context.Background(), tk); err == nil || Temporary(err) {
		t.Errorf("file: err %v, want permanent", err)
	}
	if st, err := os.Stat(path); err != nil || st.Size() != 0 {
		t.Errorf("file: %v, %v", st, err)
	}
}

// ticketShape lists every field encoding/json sees in ticket.Ticket. The
// ticket document is the contract with downstream trackers (README "The
// ticket document"), and every JSON sink sends what encoding/json makes of
// ticket.Ticket: when the type changes, this test fails, so that the change
// to the document is a deliberate one. Update hostileTicketLine and the
// README, then this list.
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
Attachment.Inline bool expr:"inline" json:"inline,omitempty"
Attachment.ContentID string expr:"content_id" json:"content_id,omitempty"
Ticket.Thread ticket.Thread json:"thread"
Thread.InReplyTo string json:"in_reply_to"
Thread.References []string json:"references"
Thread.TicketRef string json:"ticket_ref"
Ticket.Related []string json:"related,omitempty"
Ticket.AutoReply bool json:"auto_reply"
Ticket.Bounce bool json:"bounce"
Ticket.List bool json:"list"
Ticket.Duplicate bool json:"duplicate"
Ticket.Signed bool json:"signed,omitempty"
Ticket.Signer string json:"signer,omitempty"
Ticket.Encrypted bool json:"encrypted,omitempty"
Ticket.BounceInfo *ticket.BounceInfo json:"bounce_info,omitempty"
BounceInfo.BounceRecipient ticket.BounceRecipient 
BounceRecipient.Recipient string expr:"recipient" json:"recipient"
BounceRecipient.Status string expr:"status" json:"status"
BounceRecipient.Action string expr:"action" json:"action"
BounceRecipient.Diagnostic string expr:"diagnostic" json:"diagnostic"
BounceInfo.Recipients []ticket.BounceRecipient expr:"recipients" json:"recipients"
Ticket.Invite *ticket.Invite json:"invite,omitempty"
Invite.Method string expr:"method" json:"method"
Invite.Summary string expr:"summary" json:"summary"
Invite.Start time.Time expr:"start" json:"start,omitzero"
Invite.End time.Time expr:"end" json:"end,omitzero"
Invite.Organizer ticket.Address expr:"organizer" json:"organizer"
Invite.Location string expr:"location" json:"location"
Ticket.Forwarded []ticket.Forwarded json:"forwarded,omitempty"
Forwarded.From ticket.Address expr:"from" json:"from"
Forwarded.Subject string expr:"subject" json:"subject"
Forwarded.Date string expr:"date" json:"date"
Forwarded.MessageID string expr:"message_id" json:"message_id"
Forwarded.Inline bool expr:"inline" json:"inline"
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
SLA.NextUpdateDue *time.Time json:"next_update_due,omitempty"
Classification.Problem *ticket.Problem json:"problem,omitempty"
Problem.ID string expr:"id" json:"id"
Problem.Size int expr:"size" json:"size"
Problem.FirstSeen time.Time expr:"first_seen" json:"first_seen"
Problem.Summary string expr:"summary" json:"summary"
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
		t.Fatalf("ticket.Ticket changed, and with it the document every sink sends; update hostileTicketLine, the README and ticketShape:\n%s", got)
	}
}
