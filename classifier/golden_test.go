package classifier

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/triage-dev/triage/internal/testkit"
	"github.com/triage-dev/triage/rules"
	"github.com/triage-dev/triage/ticket"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the decoder's output")

// testThreading is the threading section of the example rules.
func testThreading() rules.Threading {
	return rules.Threading{
		MessageID: []*regexp.Regexp{regexp.MustCompile(`<ticket\.(\d+)\.[^@>]*@helpdesk\.example\.com>`)},
	}
}

// goldenMail is what a golden file records of a decoded mail.
type goldenMail struct {
	Error       string              `json:"error,omitempty"`
	ID          string              `json:"id,omitempty"`
	Subject     string              `json:"subject"`
	From        ticket.Address      `json:"from"`
	ReplyTo     ticket.Address      `json:"reply_to"`
	To          []ticket.Address    `json:"to"`
	Cc          []ticket.Address    `json:"cc"`
	Date        string              `json:"date"`
	MessageID   string              `json:"message_id"`
	InReplyTo   string              `json:"in_reply_to"`
	References  []string            `json:"references"`
	Attachments []ticket.Attachment `json:"attachments"`
	AutoReply   bool                `json:"auto_reply"`
	Bounce      bool                `json:"bounce"`
	List        bool                `json:"list"`
	TicketRef   string              `json:"ticket_ref"`
	Signed      bool                `json:"signed,omitempty"`
	Signer      string              `json:"signer,omitempty"`
	Encrypted   bool                `json:"encrypted,omitempty"`
	BounceInfo  *ticket.BounceInfo  `json:"bounce_info,omitempty"`
	Invite      *ticket.Invite      `json:"invite,omitempty"`
	Forwarded   []ticket.Forwarded  `json:"forwarded,omitempty"`
	Defects     []string            `json:"defects"`
	Body        string              `json:"body"`
}

func toGolden(m *Mail, err error) goldenMail {
	if err != nil {
		return goldenMail{Error: err.Error()}
	}
	g := goldenMail{
		ID: m.ID, Subject: m.Subject, From: m.From, ReplyTo: m.ReplyTo, To: m.To, Cc: m.Cc,
		MessageID: m.MessageID, InReplyTo: m.InReplyTo, References: m.References,
		Attachments: m.Attachments, AutoReply: m.AutoReply, Bounce: m.Bounce, List: m.List,
		TicketRef: m.TicketRef, Defects: m.Defects, Body: m.Body,
		Signed: m.Signed, Signer: m.Signer, Encrypted: m.Encrypted,
		BounceInfo: m.BounceInfo, Invite: m.Invite, Forwarded: m.Forwarded,
	}
	if !m.Date.IsZero() {
		g.Date = m.Date.Format(time.RFC3339)
	}
	if g.Defects == nil {
		g.Defects = []string{}
	}
	return g
}

// expectation is what gen_mail.py knows about a sample independently of
// the decoder: the text it encoded.
type expectation struct {
	Subject      *string        `json:"subject"`
	From         *string        `json:"from"`
	Body         []string       `json:"body"`
	BodyExcludes []string       `json:"body_excludes"`
	Attachments  []string       `json:"attachments"`
	Sizes        map[string]int `json:"sizes"`
	AutoReply    *bool          `json:"auto_reply"`
	Bounce       *bool          `json:"bounce"`
	List         *bool          `json:"list"`
	TicketRef    *string        `json:"ticket_ref"`
	Defects      *bool          `json:"defects"`
	Error        string         `json:"error"`

	Signed            *bool    `json:"signed"`
	Signer            string   `json:"signer"`
	Encrypted         *bool    `json:"encrypted"`
	BounceRecipients  []string `json:"bounce_recipients"`
	BounceStatus      string   `json:"bounce_status"`
	Forwarded         []string `json:"forwarded"`          // From addresses
	ForwardedSubjects []string `json:"forwarded_subjects"` // in order
	InviteSummary     string   `json:"invite_summary"`
	InviteStart       string   `json:"invite_start"` // RFC 3339
	InviteMethod      string   `json:"invite_method"`
	Inline            []string `json:"inline"` // names of the inline attachments
}

func loadExpectations(t *testing.T) map[string]expectation {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "mail", "expect.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exp map[string]expectation
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	return exp
}

func sampleMails(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "mail", "*.eml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample mail: %v", err)
	}
	return files
}

func TestGolden(t *testing.T) {
	expectations := loadExpectations(t)
	files := sampleMails(t)
	if len(files) < 25 {
		t.Fatalf("only %d sample mails", len(files))
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".eml")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Decode(raw, DecodeOptions{Threading: testThreading()})
			got := toGolden(m, err)

			exp, ok := expectations[name]
			if !ok {
				t.Fatalf("no expectation for %s in expect.json", name)
			}
			checkExpectation(t, exp, m, err)

			goldenFile := filepath.Join("testdata", "golden", name+".json")
			var doc any = got
			if got.Error != "" {
				doc = map[string]string{"error": got.Error}
			}
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false) // keep <message-ids> readable
			enc.SetIndent("", "  ")
			if err := enc.Encode(doc); err != nil {
				t.Fatal(err)
			}
			gotJSON := buf.Bytes()
			if want, ok := testkit.Golden(t, goldenFile, gotJSON, *update, "run go test -run TestGolden -update"); !ok {
				t.Errorf("decoded mail differs from %s:\n got: %s\nwant: %s", goldenFile, gotJSON, want)
			}
		})
	}
}

func checkExpectation(t *testing.T, exp expectation, m *Mail, err error) {
	t.Helper()
	if exp.Error != "" {
		if !errors.Is(err, ErrUnparseable) {
			t.Fatalf("error = %v, want ErrUnparseable", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if exp.Subject != nil && m.Subject != *exp.Subject {
		t.Errorf("subject = %q, want %q", m.Subject, *exp.Subject)
	}
	if exp.From != nil && m.From.Address != *exp.From {
		t.Errorf("from = %q, want %q", m.From.Address, *exp.From)
	}
	checkContent(t, exp, m)
	checkFlags(t, exp, m)
	checkFormats(t, exp, m)
}

// checkFormats checks what the decoder read from S/MIME, PGP/MIME, delivery
// status, calendar and forwarded parts, and the inline attachments.
func checkFormats(t *testing.T, exp expectation, m *Mail) {
	t.Helper()
	checkBool(t, "signed", exp.Signed, m.Signed)
	checkBool(t, "encrypted", exp.Encrypted, m.Encrypted)
	if exp.Signed == nil && m.Signed || exp.Encrypted == nil && m.Encrypted {
		t.Errorf("unexpected signed=%v encrypted=%v", m.Signed, m.Encrypted)
	}
	if m.Signer != exp.Signer {
		t.Errorf("signer = %q, want %q", m.Signer, exp.Signer)
	}
	checkBounce(t, exp, m)
	checkForwarded(t, exp, m)
	checkInvite(t, exp, m)
	checkInline(t, exp, m)
}

// checkBounce checks the delivery status read from a bounce.
func checkBounce(t *testing.T, exp expectation, m *Mail) {
	t.Helper()
	var recipients []string
	status := ""
	if m.BounceInfo != nil {
		status = m.BounceInfo.Status
		for _, r := range m.BounceInfo.Recipients {
			recipients = append(recipients, r.Recipient)
		}
	}
	if strings.Join(recipients, "|") != strings.Join(exp.BounceRecipients, "|") || status != exp.BounceStatus {
		t.Errorf("bounce recipients %q status %q, want %q %q", recipients, status, exp.BounceRecipients, exp.BounceStatus)
	}
}

// checkForwarded checks the forwarded messages' senders and subjects.
func checkForwarded(t *testing.T, exp expectation, m *Mail) {
	t.Helper()
	if exp.Forwarded != nil || exp.ForwardedSubjects != nil {
		var from, subjects []string
		for _, f := range m.Forwarded {
			from = append(from, f.From.Address)
			subjects = append(subjects, f.Subject)
		}
		if strings.Join(from, "|") != strings.Join(exp.Forwarded, "|") {
			t.Errorf("forwarded from %q, want %q", from, exp.Forwarded)
		}
		if exp.ForwardedSubjects != nil && strings.Join(subjects, "|") != strings.Join(exp.ForwardedSubjects, "|") {
			t.Errorf("forwarded subjects %q, want %q", subjects, exp.ForwardedSubjects)
		}
	}
}

// checkInvite checks the calendar invitation.
func checkInvite(t *testing.T, exp expectation, m *Mail) {
	t.Helper()
	switch {
	case exp.InviteSummary == "" && m.Invite != nil:
		t.Errorf("unexpected invite %+v", *m.Invite)
	case exp.InviteSummary != "" && m.Invite == nil:
		t.Errorf("no invite, want %q", exp.InviteSummary)
	case m.Invite != nil:
		if m.Invite.Summary != exp.InviteSummary || m.Invite.Method != exp.InviteMethod ||
			m.Invite.Start.Format(time.RFC3339) != exp.InviteStart {
			t.Errorf("invite %q %q %s, want %q %q %s", m.Invite.Method, m.Invite.Summary, m.Invite.Start.Format(time.RFC3339),
				exp.InviteMethod, exp.InviteSummary, exp.InviteStart)
		}
	}
}

// checkInline checks which attachments are inline.
func checkInline(t *testing.T, exp expectation, m *Mail) {
	t.Helper()
	if exp.Inline != nil {
		var inline []string
		for _, a := range m.Attachments {
			if a.Inline {
				inline = append(inline, a.Name)
			}
		}
		if strings.Join(inline, "|") != strings.Join(exp.Inline, "|") {
			t.Errorf("inline attachments %q, want %q", inline, exp.Inline)
		}
	}
}

// checkContent checks the body and the attachments.
func checkContent(t *testing.T, exp expectation, m *Mail) {
	t.Helper()
	for _, phrase := range exp.Body {
		if !strings.Contains(m.Body, phrase) {
			t.Errorf("body lacks %q:\n%s", phrase, m.Body)
		}
	}
	for _, phrase := range exp.BodyExcludes {
		if strings.Contains(m.Body, phrase) {
			t.Errorf("body contains %q:\n%s", phrase, m.Body)
		}
	}
	if exp.Attachments != nil {
		var names []string
		for _, a := range m.Attachments {
			names = append(names, a.Name)
		}
		if strings.Join(names, "|") != strings.Join(exp.Attachments, "|") {
			t.Errorf("attachments = %q, want %q", names, exp.Attachments)
		}
	}
	for name, size := range exp.Sizes {
		for _, a := range m.Attachments {
			if a.Name == name && a.Size != size {
				t.Errorf("attachment %s size = %d, want %d", name, a.Size, size)
			}
		}
	}
}

// checkFlags checks the detected flags, the ticket reference and whether
// there are defects.
func checkFlags(t *testing.T, exp expectation, m *Mail) {
	t.Helper()
	checkBool(t, "auto_reply", exp.AutoReply, m.AutoReply)
	checkBool(t, "bounce", exp.Bounce, m.Bounce)
	checkBool(t, "list", exp.List, m.List)
	want := ""
	if exp.TicketRef != nil {
		want = *exp.TicketRef
	}
	if m.TicketRef != want {
		t.Errorf("ticket_ref = %q, want %q", m.TicketRef, want)
	}
	if exp.Defects != nil && *exp.Defects != (len(m.Defects) > 0) {
		t.Errorf("defects = %q, want some: %v", m.Defects, *exp.Defects)
	}
	// Flags default to false; a sample that sets none must not trip any.
	if exp.AutoReply == nil && m.AutoReply || exp.Bounce == nil && m.Bounce || exp.List == nil && m.List {
		t.Errorf("unexpected flag: auto_reply=%v bounce=%v list=%v", m.AutoReply, m.Bounce, m.List)
	}
	if exp.Defects == nil && len(m.Defects) > 0 {
		t.Errorf("unexpected defects on a well-formed mail: %q", m.Defects)
	}
}

func checkBool(t *testing.T, field string, want *bool, got bool) {
	t.Helper()
	if want != nil && *want != got {
		t.Errorf("%s = %v, want %v", field, got, *want)
	}
}
