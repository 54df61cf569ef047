package rules

import (
	"net/textproto"
	"time"

	"github.com/triage-dev/triage/ticket"
)

// Env is the typed environment every rule expression is compiled against and
// evaluated with. Field names (expr tags) are the contract with rule authors,
// documented in the README.
// The classifier fills the mail fields; the evaluator fills the decision
// fields (Tier … Matched) as rules apply.
type Env struct {
	Subject     string              `expr:"subject"`
	Body        string              `expr:"body"`
	Text        string              `expr:"text"`
	From        ticket.Address      `expr:"from"`
	ReplyTo     ticket.Address      `expr:"reply_to"`
	To          []ticket.Address    `expr:"to"`
	Cc          []ticket.Address    `expr:"cc"`
	Recipients  []string            `expr:"recipients"`
	Headers     map[string]string   `expr:"headers"` // canonical header name → first value, decoded
	Attachments []ticket.Attachment `expr:"attachments"`
	Size        int                 `expr:"size"`
	Date        time.Time           `expr:"date"`
	MessageID   string              `expr:"message_id"`
	InReplyTo   string              `expr:"in_reply_to"`
	References  []string            `expr:"references"`
	AutoReply   bool                `expr:"auto_reply"`
	Bounce      bool                `expr:"bounce"`
	List        bool                `expr:"list"`
	TicketRef   string              `expr:"ticket_ref"`
	Signed      bool                `expr:"signed"`
	Signer      string              `expr:"signer"`
	Encrypted   bool                `expr:"encrypted"`
	BounceInfo  ticket.BounceInfo   `expr:"bounce_info"` // zero when the mail carries no delivery status
	Invite      ticket.Invite       `expr:"invite"`      // zero when the mail carries no calendar part
	Forwarded   []ticket.Forwarded  `expr:"forwarded"`
	Duplicate   bool                `expr:"duplicate"`
	Account     string              `expr:"account"`
	Mailbox     string              `expr:"mailbox"`
	Hour        int                 `expr:"hour"`           // 0..23 in the calendar's zone, at arrival
	Weekday     string              `expr:"weekday"`        // "Mon" … "Sun" in the calendar's zone
	BusinessHrs bool                `expr:"business_hours"` // inside calendar.business_hours

	// Problem detection: the recurring problem the mail belongs to (Size
	// 0 and ID "" when none), the mails of its group and from its sender
	// within the window, this one included.
	Problem       ticket.Problem `expr:"problem"`
	SimilarRecent int            `expr:"similar_recent"`
	SenderRecent  int            `expr:"sender_recent"`

	// The decision so far, readable by later rules.
	Tier     string   `expr:"tier"`
	Priority string   `expr:"priority"`
	Queue    string   `expr:"queue"`
	Runbook  string   `expr:"runbook"`
	Action   string   `expr:"action"`
	Tags     []string `expr:"tags"`
	Matched  []string `expr:"matched"`

	// Lower-cased copies of Subject, Body and Text, filled by the evaluator
	// once per message so case-insensitive helpers need not lower a long
	// body once per rule. Not part of the rule vocabulary.
	SubjectLower string `expr:"_subject_lc"`
	BodyLower    string `expr:"_body_lc"`
	TextLower    string `expr:"_text_lc"`

	// Index is the evaluator's per-message memo of which list words occur
	// in which text, so a thousand rules do not scan a long body a thousand
	// times. Set by Evaluate; not part of the rule vocabulary.
	Index *MatchIndex `expr:"_index" json:"-"`
}

// Header returns the first value of the named header (case-insensitive), or "".
// Exposed to rules as header("Name").
func (e *Env) Header(name string) string {
	if v, ok := e.Headers[name]; ok {
		return v
	}
	return e.Headers[textproto.CanonicalMIMEHeaderKey(name)]
}
