package classifier

import (
	"fmt"
	"time"

	"github.com/triage-dev/triage/rules"
)

// Meta is what the mailbox side knows about a message.
type Meta struct {
	Account     string
	Mailbox     string
	UID         uint32
	UIDValidity uint32
	ReceivedAt  time.Time // zero means now
	Duplicate   bool      // the same id was handled within the dedupe window
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
	return &Classifier{ev: rules.NewEvaluator()}
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
func (c *Classifier) Classify(set *rules.Set, raw []byte, meta Meta) (*Ticket, error) {
	m, err := c.Decode(set, raw)
	if err != nil {
		return nil, err
	}
	return c.ClassifyMail(set, m, meta), nil
}

// ClassifyTrace is Classify that also records every rule evaluated, in
// the returned Decision and in the Ticket's classification.trace.
func (c *Classifier) ClassifyTrace(set *rules.Set, raw []byte, meta Meta) (*Ticket, rules.Decision, error) {
	m, err := c.Decode(set, raw)
	if err != nil {
		return nil, rules.Decision{}, err
	}
	t, d := c.ClassifyMailTrace(set, m, meta)
	return t, d, nil
}

// ClassifyMail runs set on an already decoded message.
func (c *Classifier) ClassifyMail(set *rules.Set, m *Mail, meta Meta) *Ticket {
	env, received := c.env(set, m, meta)
	d := set.Evaluate(c.evaluator(), env)
	*env = rules.Env{} // holds nothing of this message until the next
	return buildTicket(set, m, meta, received, d, false)
}

// ClassifyMailTrace is ClassifyMail with a trace.
func (c *Classifier) ClassifyMailTrace(set *rules.Set, m *Mail, meta Meta) (*Ticket, rules.Decision) {
	env, received := c.env(set, m, meta)
	d := set.EvaluateTrace(c.evaluator(), env)
	*env = rules.Env{}
	return buildTicket(set, m, meta, received, d, true), d
}

func (c *Classifier) evaluator() *rules.Evaluator {
	if c.ev == nil {
		c.ev = rules.NewEvaluator()
	}
	return c.ev
}

// env builds the rule environment of m. The calendar fields come from the
// Date header; mail without a usable Date is placed by its receipt time.
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
	if env.Date.IsZero() {
		env.Date = received
		set.ApplyCalendar(env)
		env.Date = time.Time{}
	} else {
		set.ApplyCalendar(env)
	}
	return env, received
}

// ticketBlock is a Ticket allocated together with room for what it
// usually points to (due times, a few addresses and strings), so building
// one costs a single allocation instead of up to eight.
type ticketBlock struct {
	t     Ticket
	due   [2]time.Time
	addrs [2]Address
	strs  [4]string
}

// addresses converts list, in the block's room when it fits.
func (b *ticketBlock) addresses(list []rules.Address) []Address {
	var out []Address
	if n := len(list); n <= len(b.addrs)-b.usedAddrs() {
		i := b.usedAddrs()
		out = b.addrs[i : i : i+n]
	} else {
		out = make([]Address, 0, n)
	}
	for _, a := range list {
		out = append(out, ticketAddress(a))
	}
	return out
}

func (b *ticketBlock) usedAddrs() int { return len(b.t.To) + len(b.t.Cc) }

// strings copies list, in the block's room when it fits; the copy is
// never nil.
func (b *ticketBlock) strings(list []string, used *int) []string {
	n := len(list)
	if n == 0 {
		return []string{}
	}
	if *used+n > len(b.strs) {
		return append([]string{}, list...)
	}
	out := b.strs[*used : *used+n : *used+n]
	copy(out, list)
	*used += n
	return out
}

// buildTicket assembles the Ticket document of DESIGN.md.
func buildTicket(set *rules.Set, m *Mail, meta Meta, received time.Time, d rules.Decision, trace bool) *Ticket {
	b := new(ticketBlock)
	strs := 0
	t := &b.t
	*t = Ticket{
		ID:         m.ID,
		MessageID:  m.MessageID,
		ReceivedAt: received,
		Source: Source{
			Account: meta.Account, Mailbox: meta.Mailbox,
			UID: meta.UID, UIDValidity: meta.UIDValidity,
		},
		From:        ticketAddress(m.From),
		Subject:     m.Subject,
		Body:        m.Body,
		Attachments: make([]Attachment, 0, len(m.Attachments)),
		Thread: Thread{
			InReplyTo: m.InReplyTo,
			TicketRef: m.TicketRef,
		},
		AutoReply: m.AutoReply,
		Bounce:    m.Bounce,
		List:      m.List,
		Duplicate: meta.Duplicate,
		Defects:   m.Defects,
		Class: Classification{
			Tier:         d.Tier,
			Priority:     d.Priority,
			Queue:        d.Queue,
			Runbook:      d.Runbook,
			Folder:       d.Folder,
			Action:       d.Action,
			Fields:       make(map[string]string, len(d.Fields)),
			Matched:      make([]MatchedRule, 0, len(d.Matched)),
			RulesVersion: set.Version,
		},
		Raw: m.Raw,
	}
	t.To = b.addresses(m.To)
	t.Cc = b.addresses(m.Cc)
	t.Thread.References = b.strings(m.References, &strs)
	t.Class.Tags = b.strings(d.Tags, &strs)
	if t.Class.Action == "" {
		t.Class.Action = "forward"
	}
	for _, a := range m.Attachments {
		t.Attachments = append(t.Attachments, Attachment{Name: a.Name, Type: a.Type, Size: a.Size})
	}
	for k, v := range d.Fields {
		t.Class.Fields[k] = v
	}
	for _, mr := range d.Matched {
		t.Class.Matched = append(t.Class.Matched, MatchedRule{Rule: mr.Rule, Description: mr.Description})
	}
	if target, ok := set.SLA[d.Tier]; ok {
		if target.Response > 0 {
			b.due[0] = received.Add(target.Response)
			t.Class.SLA.ResponseDue = &b.due[0]
		}
		if target.Resolve > 0 {
			b.due[1] = received.Add(target.Resolve)
			t.Class.SLA.ResolveDue = &b.due[1]
		}
	}
	if trace {
		t.Class.Trace = make([]TraceStep, 0, len(d.Trace))
		for _, e := range d.Trace {
			t.Class.Trace = append(t.Class.Trace, TraceStep{Rule: e.Rule, Group: e.Group, Matched: e.Matched, Skipped: e.Skipped, Error: e.Err})
		}
	}
	return t
}

func ticketAddress(a rules.Address) Address {
	return Address{Name: a.Name, Address: a.Address}
}
