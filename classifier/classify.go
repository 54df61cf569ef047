package classifier

import (
	"cmp"
	"fmt"
	"time"

	"github.com/triage-dev/triage/rules"
	"github.com/triage-dev/triage/ticket"
)

// Meta is what the mailbox side knows about a message.
type Meta struct {
	Account     string
	Mailbox     string
	UID         uint32
	UIDValidity uint32
	ReceivedAt  time.Time // arrival at the server; zero means now
	Duplicate   bool      // the same id was handled within the dedupe window

	// What problem detection found (package problems); zero without it.
	Problem       ticket.Problem // its Size is 0 when the mail belongs to none
	SimilarRecent int            // mails of its group in the window, this one included (1 without detection)
	SenderRecent  int            // mails from its sender in the window, this one included (1 without detection)
	Related       []string       // ids of the problem's earlier tickets
}

// Classifier decodes messages and runs rule sets on them. It holds one
// rules.Evaluator and so is NOT safe for concurrent use: create one per
// worker goroutine.
type Classifier struct {
	// Options bounds decoding; its Threading is replaced by each set's.
	Options DecodeOptions
	// Now stamps received_at when Meta.ReceivedAt is zero; nil is time.Now.
	Now func() time.Time

	ev  *rules.Evaluator
	dec decoder   // buffers reused from one message to the next
	ev0 rules.Env // the environment, reset for each message
}

// New returns a Classifier with default decoding bounds.
func New() *Classifier {
	return &Classifier{}
}

// Decode decodes raw with the classifier's bounds and set's threading
// patterns, for callers that want the Mail before classifying it.
func (c *Classifier) Decode(set *rules.Set, raw []byte) (*Mail, error) {
	opts := c.Options
	opts.Threading = set.Threading
	m, err := c.dec.decode(raw, opts)
	if err != nil {
		return nil, fmt.Errorf("classify: %w", err)
	}
	return m, nil
}

// Classify decodes raw, runs set on it and returns the Ticket. The error
// wraps ErrTooLarge or ErrUnparseable; such mail never reaches the rules.
func (c *Classifier) Classify(set *rules.Set, raw []byte, meta Meta) (*ticket.Ticket, error) {
	m, err := c.Decode(set, raw)
	if err != nil {
		return nil, err
	}
	return c.ClassifyMail(set, m, meta), nil
}

// ClassifyTrace is Classify that also records every rule evaluated, in
// the returned Decision and in the Ticket's classification.trace.
func (c *Classifier) ClassifyTrace(set *rules.Set, raw []byte, meta Meta) (*ticket.Ticket, rules.Decision, error) {
	m, err := c.Decode(set, raw)
	if err != nil {
		return nil, rules.Decision{}, err
	}
	t, d := c.ClassifyMailTrace(set, m, meta)
	return t, d, nil
}

// ClassifyMail runs set on an already decoded message.
func (c *Classifier) ClassifyMail(set *rules.Set, m *Mail, meta Meta) *ticket.Ticket {
	env, received := c.env(set, m, meta)
	d := set.Evaluate(c.evaluator(), env)
	*env = rules.Env{} // holds nothing of this message until the next
	return buildTicket(set, m, meta, received, d, false)
}

// ClassifyMailTrace is ClassifyMail with a trace.
func (c *Classifier) ClassifyMailTrace(set *rules.Set, m *Mail, meta Meta) (*ticket.Ticket, rules.Decision) {
	env, received := c.env(set, m, meta)
	d := set.EvaluateTrace(c.evaluator(), env)
	*env = rules.Env{}
	return buildTicket(set, m, meta, received, d, true), d
}

// evaluator builds the Classifier's evaluator on first use, so a zero
// Classifier works as well as one from New.
func (c *Classifier) evaluator() *rules.Evaluator {
	if c.ev == nil {
		c.ev = rules.NewEvaluator()
	}
	return c.ev
}

// env builds the rule environment of m. The calendar fields come from the
// arrival time.
func (c *Classifier) env(set *rules.Set, m *Mail, meta Meta) (*rules.Env, time.Time) {
	received := meta.ReceivedAt
	if received.IsZero() {
		if c.Now != nil {
			received = c.Now()
		} else {
			received = time.Now()
		}
	}
	received = received.UTC()
	// The Classifier's own Env: nothing keeps it past the evaluation.
	env := &c.ev0
	*env = rules.Env{}
	m.FillEnv(env)
	env.Account = meta.Account
	env.Mailbox = meta.Mailbox
	env.Duplicate = meta.Duplicate
	// hour, weekday and business_hours follow the arrival at the server,
	// not the Date header: senders get it wrong, and a forged one must
	// not move a mail into or out of office hours. date stays the header.
	date := env.Date
	env.Date = received
	set.ApplyCalendar(env)
	env.Date = date
	env.Problem = meta.Problem
	env.SimilarRecent = max(meta.SimilarRecent, 1)
	env.SenderRecent = max(meta.SenderRecent, 1)
	return env, received
}

// buildTicket assembles the ticket document from the decoded mail and the
// decision. The mail's and the decision's slices are shared, not copied:
// neither is changed after classification.
func buildTicket(set *rules.Set, m *Mail, meta Meta, received time.Time, d rules.Decision, trace bool) *ticket.Ticket {
	t := &ticket.Ticket{
		ID:         m.ID,
		MessageID:  m.MessageID,
		ReceivedAt: received,
		Source: ticket.Source{
			Account: meta.Account, Mailbox: meta.Mailbox,
			UID: meta.UID, UIDValidity: meta.UIDValidity,
		},
		From:        m.From,
		To:          nonNil(m.To),
		Cc:          nonNil(m.Cc),
		Subject:     m.Subject,
		Body:        m.Body,
		Attachments: nonNil(m.Attachments),
		Thread: ticket.Thread{
			InReplyTo:  m.InReplyTo,
			References: nonNil(m.References),
			TicketRef:  m.TicketRef,
		},
		Related:    meta.Related,
		AutoReply:  m.AutoReply,
		Bounce:     m.Bounce,
		List:       m.List,
		Duplicate:  meta.Duplicate,
		Signed:     m.Signed,
		Signer:     m.Signer,
		Encrypted:  m.Encrypted,
		BounceInfo: m.BounceInfo,
		Invite:     m.Invite,
		Forwarded:  m.Forwarded,
		Defects:    m.Defects,
		Class: ticket.Classification{
			Tier:         d.Tier,
			Priority:     d.Priority,
			Queue:        d.Queue,
			Runbook:      d.Runbook,
			Folder:       d.Folder,
			Action:       cmp.Or(d.Action, "forward"),
			Tags:         nonNil(d.Tags),
			Fields:       d.Fields,
			Matched:      nonNil(d.Matched),
			RulesVersion: set.Version,
		},
		Raw: m.Raw,
	}
	if t.Class.Fields == nil {
		t.Class.Fields = map[string]string{}
	}
	if meta.Problem.Size > 0 {
		p := meta.Problem
		t.Class.Problem = &p
	}
	response, resolve, update := set.Due(d.Tier, received)
	t.Class.SLA = ticket.SLA{ResponseDue: timeOrNil(response), ResolveDue: timeOrNil(resolve), NextUpdateDue: timeOrNil(update)}
	if trace {
		t.Class.Trace = d.Trace
	}
	return t
}

// timeOrNil is nil for a zero time: the ticket leaves the due time out.
func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
