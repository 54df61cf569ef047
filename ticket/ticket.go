// Package ticket holds the ticket document every sink receives and the small
// types it shares with the rule environment (addresses, attachments, matched
// rules, trace steps). It knows nothing of parsing, rules or delivery: rules,
// classifier and queue all import it, and it imports none of them.
package ticket

import "time"

// Ticket is the document every sink receives; its JSON form is the contract
// with downstream trackers (README "Ticket document").
type Ticket struct {
	ID          string         `json:"id"`
	MessageID   string         `json:"message_id"`
	ReceivedAt  time.Time      `json:"received_at"`
	Source      Source         `json:"source"`
	From        Address        `json:"from"`
	To          []Address      `json:"to"`
	Cc          []Address      `json:"cc"`
	Subject     string         `json:"subject"`
	Body        string         `json:"body"`
	Attachments []Attachment   `json:"attachments"`
	Thread      Thread         `json:"thread"`
	Related     []string       `json:"related,omitempty"` // ids of the earlier tickets of the same problem, newest first
	AutoReply   bool           `json:"auto_reply"`
	Bounce      bool           `json:"bounce"`
	List        bool           `json:"list"`
	Duplicate   bool           `json:"duplicate"`
	Signed      bool           `json:"signed,omitempty"`      // S/MIME or PGP/MIME signature present (not verified)
	Signer      string         `json:"signer,omitempty"`      // the S/MIME signer certificate's address
	Encrypted   bool           `json:"encrypted,omitempty"`   // S/MIME enveloped or PGP/MIME encrypted: body unreadable
	BounceInfo  *BounceInfo    `json:"bounce_info,omitempty"` // from a delivery status notification
	Invite      *Invite        `json:"invite,omitempty"`      // from the first text/calendar part
	Forwarded   []Forwarded    `json:"forwarded,omitempty"`   // forwarded messages, attached or inline
	Defects     []string       `json:"defects,omitempty"`     // what the decoder had to repair
	Class       Classification `json:"classification"`

	// Raw is the original message, for sinks that forward it byte for byte.
	Raw []byte `json:"-"`
}

// Address is one mailbox of a From, Reply-To, To or Cc header. Domain is
// for rules only; the ticket document carries name and address.
type Address struct {
	Name    string `expr:"name" json:"name,omitempty"`
	Address string `expr:"address" json:"address"`
	Domain  string `expr:"domain" json:"-"`
}

// Attachment describes one attached part; its content is never exposed to rules.
// Inline parts are shown in the message (Content-Disposition inline, or an
// image the HTML refers to by cid:): a signature logo or a pasted screenshot,
// rather than a file the sender attached.
type Attachment struct {
	Name      string `expr:"name" json:"name"`
	Type      string `expr:"type" json:"type"`
	Size      int    `expr:"size" json:"size"`
	Inline    bool   `expr:"inline" json:"inline,omitempty"`
	ContentID string `expr:"content_id" json:"content_id,omitempty"` // without the angle brackets
}

// BounceInfo is what a delivery status notification (RFC 3464) says: the
// first recipient it reports, and in Recipients every one, the first
// included.
type BounceInfo struct {
	BounceRecipient
	Recipients []BounceRecipient `expr:"recipients" json:"recipients"`
}

// BounceRecipient is one per-recipient block of a delivery status notification.
type BounceRecipient struct {
	Recipient  string `expr:"recipient" json:"recipient"`
	Status     string `expr:"status" json:"status"`         // e.g. "5.1.1"
	Action     string `expr:"action" json:"action"`         // failed, delayed, delivered, relayed, expanded
	Diagnostic string `expr:"diagnostic" json:"diagnostic"` // e.g. "smtp; 550 5.1.1 user unknown"
}

// Invite is the first event of a calendar part (text/calendar). Start and
// End are zero when absent or unreadable.
type Invite struct {
	Method    string    `expr:"method" json:"method"` // REQUEST, CANCEL, REPLY, PUBLISH, …
	Summary   string    `expr:"summary" json:"summary"`
	Start     time.Time `expr:"start" json:"start,omitzero"`
	End       time.Time `expr:"end" json:"end,omitzero"`
	Organizer Address   `expr:"organizer" json:"organizer"`
	Location  string    `expr:"location" json:"location"`
}

// Forwarded is one forwarded message: an attached message/rfc822 part or a
// forwarded block quoted in the body. Date is RFC 3339 when it could be
// read, else as the forwarding client wrote it; MessageID is empty for an
// inline block.
type Forwarded struct {
	From      Address `expr:"from" json:"from"`
	Subject   string  `expr:"subject" json:"subject"`
	Date      string  `expr:"date" json:"date"`
	MessageID string  `expr:"message_id" json:"message_id"`
	Inline    bool    `expr:"inline" json:"inline"` // quoted in the body rather than attached
}

// Source says where the message was read.
type Source struct {
	Account     string `json:"account,omitempty"`
	Mailbox     string `json:"mailbox,omitempty"`
	UID         uint32 `json:"uid,omitempty"`
	UIDValidity uint32 `json:"uidvalidity,omitempty"`
}

// Thread carries the threading information of the message.
type Thread struct {
	InReplyTo  string   `json:"in_reply_to"`
	References []string `json:"references"`
	TicketRef  string   `json:"ticket_ref"`
}

// Classification is the decision the rules reached.
type Classification struct {
	Tier         string            `json:"tier"`
	Priority     string            `json:"priority"`
	Queue        string            `json:"queue"`
	Runbook      string            `json:"runbook"`
	Folder       string            `json:"folder,omitempty"`
	Action       string            `json:"action"`
	Tags         []string          `json:"tags"`
	Fields       map[string]string `json:"fields"`
	SLA          SLA               `json:"sla"`
	Problem      *Problem          `json:"problem,omitempty"` // the recurring problem it belongs to, if any
	Matched      []MatchedRule     `json:"matched"`
	RulesVersion string            `json:"rules_version"`
	Trace        []TraceStep       `json:"trace,omitempty"` // only from ClassifyTrace
}

// SLA holds due times computed from the rule set's sla targets; zero when none.
type SLA struct {
	ResponseDue   *time.Time `json:"response_due,omitempty"`
	ResolveDue    *time.Time `json:"resolve_due,omitempty"`
	NextUpdateDue *time.Time `json:"next_update_due,omitempty"` // the first status update, when the tier asks for them
}

// Problem is a group of tickets reporting the same thing within the
// detection window: rules read it as `problem`, tickets carry it as
// classification.problem.
type Problem struct {
	ID        string    `expr:"id" json:"id"`
	Size      int       `expr:"size" json:"size"` // tickets in the window, this one included; 0 when none
	FirstSeen time.Time `expr:"first_seen" json:"first_seen"`
	Summary   string    `expr:"summary" json:"summary"` // the group's most common words
}

// MatchedRule is one rule that applied, in order.
type MatchedRule struct {
	Rule        string `json:"rule"`
	Description string `json:"description,omitempty"`
}

// TraceStep is one rule or group guard considered while classifying; the
// classification carries them only when asked for (explain).
type TraceStep struct {
	Rule    string `json:"rule"`            // rule name, or "group:<name>" for a group guard
	Group   string `json:"group,omitempty"` // enclosing group name, if any
	Matched bool   `json:"matched"`
	Skipped string `json:"skipped,omitempty"` // why it was not evaluated ("stopped", "group guard false", …)
	Error   string `json:"error,omitempty"`   // runtime error; the rule counts as not matched
}

// Content is what a tracker needs of a mail beyond the ticket document: the
// HTML body as sent and every attachment's bytes. Rules never see it; the
// classifier's decoder fills it only when asked (KeepContent), for sinks
// that file the mail as a ticket of their own.
type Content struct {
	HTML        string // the first text/html part, as UTF-8; "" when none
	Attachments []File // in the order of Ticket.Attachments
}

// File is one attachment with its decoded bytes.
type File struct {
	Attachment
	Data []byte
}
