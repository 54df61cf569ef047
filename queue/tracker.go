package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/triage-dev/triage/ticket"
)

// A tracker sink files each mail as a ticket of a help desk tracker (RT,
// Zammad, Jira) through the tracker's API. The contract every tracker sink
// keeps lives here, once, in trackerSink; each tracker only supplies a
// TrackerClient:
//
//   - exactly one ticket per mail: the triage id is looked up (state store,
//     then the tracker) before a ticket is created, and concurrent
//     deliveries of one id are coalesced in process;
//   - replies land on the ticket: the tracker's own subject tag, the
//     ticket_ref of the threading patterns, or an In-Reply-To/References id
//     that the state store maps to a tracker ticket;
//   - nothing of the mail is lost: the client gets the ticket and its
//     Content (HTML body, attachments' bytes);
//   - the decision is visible: the client gets the escalation note;
//   - refusals are never silent: a permanent *Error carries the tracker's
//     message to the failed folder; ErrRequesterRefused falls back to a
//     ticket without requester, the address in the note.

// TrackerIndex is the part of the state store tracker sinks use: which
// tracker ticket a triage id or a Message-ID went to. tracker names the
// tracker instance (its type and base URL, TrackerKey), so that queues of
// one tracker share their tickets. The daemon passes its store; a nil
// index leaves the tracker's own search as the only guard.
type TrackerIndex interface {
	// TrackerTicket returns the tracker ticket id recorded for key, a
	// triage id or a Message-ID (with its angle brackets).
	TrackerTicket(tracker, key string) (id string, ok bool, err error)
	// RecordTrackerTicket records that the mail with triageID and
	// messageID ("" when it has none) is on tracker ticket id.
	RecordTrackerTicket(tracker, triageID, messageID, id string) error
}

// ContentFunc decodes the original mail's HTML body and attachments
// (classifier.DecodeContent); the daemon passes it to the sinks.
type ContentFunc func(raw []byte) (*ticket.Content, error)

// TrackerKey names a tracker instance in the TrackerIndex: "rt
// https://rt.example.com".
func TrackerKey(typ, baseURL string) string {
	return typ + " " + strings.TrimRight(baseURL, "/")
}

// Error kinds a TrackerClient returns besides *Error.
var (
	// ErrTicketNotFound: the ticket a reply names does not exist (or the
	// tracker user cannot see it); the mail becomes a new ticket.
	ErrTicketNotFound = errors.New("tracker ticket not found")
	// ErrRequesterRefused: the tracker refuses the sender as requester
	// (RT: a non-ASCII local part); the ticket is created without one
	// and the address goes into the note.
	ErrRequesterRefused = errors.New("tracker refuses the requester")
)

// TrackerClient is one tracker's API, as the generic tracker sink uses it.
// Methods return nil, ErrTicketNotFound, ErrRequesterRefused (wrapped is
// fine) or a *Error saying whether to retry; any other error counts as
// temporary. Clients are safe for concurrent use.
type TrackerClient interface {
	// Find returns the ticket carrying triage id, "" when there is none.
	Find(ctx context.Context, triageID string) (string, error)
	// Create files m as a new ticket and returns its id.
	Create(ctx context.Context, m *TrackerMail) (string, error)
	// Reply adds m to ticket id as correspondence the requester sees
	// (RT correspond, Zammad article, Jira public comment), with its
	// attachments.
	Reply(ctx context.Context, id string, m *TrackerMail) error
	// State reads the ticket's current priority and tier, in triage's
	// terms ("P2", "L1"; "" when unknown), for escalation on reply.
	State(ctx context.Context, id string) (TrackerState, error)
	// Escalate raises the ticket's priority and/or moves it to the queue
	// of the reply's decision, as e says, and records e.Note on it.
	Escalate(ctx context.Context, id string, e Escalation) error
	// SubjectRef returns the ticket id the tracker's own subject tag
	// names (RT "[rtname #12]" → "12"), "" when there is none.
	SubjectRef(subject string) string
}

// TrackerMail is one mail as a tracker files it.
type TrackerMail struct {
	Ticket  *ticket.Ticket
	Content *ticket.Content // never nil; empty when the mail had no HTML nor attachments
	// Requester is the sender; zero when the tracker refused it (the
	// address is then in Note).
	Requester ticket.Address
	// Note is the escalation note: the decision and why (EscalationNote).
	Note string
}

// TrackerState is what escalation on reply compares.
type TrackerState struct {
	Priority string // P1..P4, "" when unknown
	Tier     string // L1..L3, "" when unknown
}

// Escalation is what a reply changes on its ticket; Ticket carries the
// reply's decision.
type Escalation struct {
	Ticket   *ticket.Ticket
	Priority bool // set the priority to the decision's
	Queue    bool // move the ticket to the decision's queue and tier
	Note     string
}

// trackerSink is the Sink of every tracker type: the contract above, over
// a TrackerClient.
type trackerSink struct {
	name    string // the queue's
	tracker string // TrackerKey
	client  TrackerClient
	index   TrackerIndex // may be nil
	content ContentFunc  // may be nil: text body only
	log     *slog.Logger
	closer  func() error
	flight  singleflight.Group
}

// newTrackerSink wraps client in the tracker contract; a sink type's open
// returns it. closer releases the client's connections.
func newTrackerSink(q sinkSpec, baseURL string, client TrackerClient, closer func() error) *trackerSink {
	return &trackerSink{
		name: q.name, tracker: TrackerKey(q.typ, baseURL), client: client,
		index: q.index, content: q.content, log: q.log, closer: closer,
	}
}

func (s *trackerSink) Close() error { return s.closer() }

// Send files t once: deliveries of one id running at the same time (the
// same mail through two lists) share one call to the tracker.
func (s *trackerSink) Send(ctx context.Context, t *ticket.Ticket) error {
	_, err, _ := s.flight.Do(t.ID, func() (any, error) {
		return nil, s.deliver(ctx, t)
	})
	return err
}

func (s *trackerSink) deliver(ctx context.Context, t *ticket.Ticket) error {
	if id, ok := s.lookup(t.ID); ok {
		s.log.Info("tracker: already filed", "ticket", t.ID, "tracker_id", id)
		return nil
	}
	m, err := s.mail(t)
	if err != nil {
		return err
	}
	if ref := s.replyTarget(t); ref != "" {
		err := s.reply(ctx, ref, m)
		if !errors.Is(err, ErrTicketNotFound) {
			return err
		}
		s.log.Warn("tracker: the ticket the reply names does not exist; filing a new ticket", "ticket", t.ID, "tracker_id", ref)
	}
	return s.create(ctx, m)
}

// lookup asks the state store; a store error only costs the fast path.
func (s *trackerSink) lookup(key string) (string, bool) {
	if s.index == nil || key == "" {
		return "", false
	}
	id, ok, err := s.index.TrackerTicket(s.tracker, key)
	if err != nil {
		s.log.Warn("tracker: state store lookup failed", "err", err)
		return "", false
	}
	return id, ok
}

func (s *trackerSink) record(t *ticket.Ticket, id string) {
	if s.index == nil {
		return
	}
	if err := s.index.RecordTrackerTicket(s.tracker, t.ID, t.MessageID, id); err != nil {
		// The tracker has the ticket; the search on the id still finds it.
		s.log.Warn("tracker: state store record failed", "ticket", t.ID, "tracker_id", id, "err", err)
	}
}

// mail builds what the client files: the ticket, its content, the note.
func (s *trackerSink) mail(t *ticket.Ticket) (*TrackerMail, error) {
	m := &TrackerMail{Ticket: t, Content: &ticket.Content{Attachments: []ticket.File{}}, Requester: t.From, Note: EscalationNote(t)}
	if s.content != nil && len(t.Raw) > 0 {
		c, err := s.content(t.Raw)
		if err != nil {
			// The daemon decoded this mail already: it cannot fail now
			// unless it is broken beyond what retrying mends.
			return nil, permanent("queue %s: decode attachments: %w", s.name, err)
		}
		m.Content = c
	}
	return m, nil
}

// replyTarget is the tracker ticket the mail answers: the tracker's own
// subject tag, the threading patterns' ticket_ref, or a mail of the thread
// that triage filed (newest reference first).
func (s *trackerSink) replyTarget(t *ticket.Ticket) string {
	if ref := s.client.SubjectRef(t.Subject); ref != "" {
		return ref
	}
	if t.Thread.TicketRef != "" {
		return t.Thread.TicketRef
	}
	if id, ok := s.lookup(t.Thread.InReplyTo); ok {
		return id
	}
	for _, mid := range slices.Backward(t.Thread.References) {
		if id, ok := s.lookup(mid); ok {
			return id
		}
	}
	return ""
}

func (s *trackerSink) reply(ctx context.Context, id string, m *TrackerMail) error {
	if err := s.client.Reply(ctx, id, m); err != nil {
		return s.classify(err, "reply to "+id)
	}
	s.record(m.Ticket, id)
	s.log.Info("tracker: reply added", "ticket", m.Ticket.ID, "tracker_id", id)
	if err := s.escalate(ctx, id, m); err != nil {
		// The reply is on the ticket: retrying would add it twice.
		s.log.Warn("tracker: escalation on reply failed", "ticket", m.Ticket.ID, "tracker_id", id, "err", err)
	}
	return nil
}

// escalate raises the ticket's priority, and moves it to the reply's queue
// when the reply's tier is higher than the ticket's: a reply never lowers
// what a person or an earlier mail set.
func (s *trackerSink) escalate(ctx context.Context, id string, m *TrackerMail) error {
	st, err := s.client.State(ctx, id)
	if err != nil {
		return fmt.Errorf("read ticket state: %w", err)
	}
	cl := m.Ticket.Class
	e := Escalation{Ticket: m.Ticket,
		Priority: rank(cl.Priority) > 0 && rank(st.Priority) > 0 && rank(cl.Priority) < rank(st.Priority),
		Queue:    rank(cl.Tier) > 0 && rank(st.Tier) > 0 && rank(cl.Tier) > rank(st.Tier),
	}
	if !e.Priority && !e.Queue {
		return nil
	}
	e.Note = "Escalated by a reply (" + m.Ticket.ID + ").\n" + m.Note
	if err := s.client.Escalate(ctx, id, e); err != nil {
		return fmt.Errorf("escalate: %w", err)
	}
	s.log.Info("tracker: escalated on reply", "ticket", m.Ticket.ID, "tracker_id", id, "priority", e.Priority, "queue", e.Queue)
	return nil
}

// rank is the number of a tier or priority ("L2" → 2, "P1" → 1), 0 when
// it has none.
func rank(level string) int {
	if len(level) != 2 || level[1] < '1' || level[1] > '9' {
		return 0
	}
	return int(level[1] - '0')
}

func (s *trackerSink) create(ctx context.Context, m *TrackerMail) error {
	t := m.Ticket
	id, err := s.client.Find(ctx, t.ID)
	if err != nil {
		return s.classify(err, "search for "+t.ID)
	}
	if id != "" {
		s.record(t, id)
		s.log.Info("tracker: ticket exists already", "ticket", t.ID, "tracker_id", id)
		return nil
	}
	id, err = s.client.Create(ctx, m)
	if errors.Is(err, ErrRequesterRefused) {
		s.log.Warn("tracker: requester refused; ticket created without it, the address is in the note",
			"ticket", t.ID, "requester", t.From.Address, "err", err)
		m.Note = "Requester refused by the tracker: " + formatAddress(m.Requester) + "\n" + m.Note
		m.Requester = ticket.Address{}
		id, err = s.client.Create(ctx, m)
	}
	if err != nil {
		return s.classify(err, "create")
	}
	s.record(t, id)
	s.log.Info("tracker: ticket created", "ticket", t.ID, "tracker_id", id)
	return nil
}

// classify wraps a client error with the queue name, keeping its class
// (ErrRequesterRefused after the fallback is permanent).
func (s *trackerSink) classify(err error, op string) error {
	if errors.Is(err, ErrRequesterRefused) || errors.Is(err, ErrTicketNotFound) {
		return permanent("queue %s: %s: %w", s.name, op, err)
	}
	qe := asError(err)
	return &Error{Temporary: qe.Temporary, RetryAfter: qe.RetryAfter, Err: fmt.Errorf("queue %s: %s: %w", s.name, op, err)}
}

// EscalationNote is the text a technician reads on the ticket: the
// decision, the rules that made it with their descriptions, the extracted
// fields and the due times, so nobody has to re-ask or re-judge.
func EscalationNote(t *ticket.Ticket) string {
	cl := t.Class
	var b strings.Builder
	fmt.Fprintf(&b, "triage: tier %s, priority %s, queue %s", cl.Tier, cl.Priority, cl.Queue)
	if cl.Runbook != "" {
		fmt.Fprintf(&b, ", runbook %s", cl.Runbook)
	}
	b.WriteString("\n")
	if len(cl.Matched) == 0 {
		b.WriteString("Why: no rule matched; the defaults apply.\n")
	} else {
		b.WriteString("Why:\n")
		for _, r := range cl.Matched {
			fmt.Fprintf(&b, "  - %s", r.Rule)
			if r.Description != "" {
				fmt.Fprintf(&b, ": %s", r.Description)
			}
			b.WriteString("\n")
		}
	}
	if len(cl.Fields) > 0 {
		b.WriteString("Fields:\n")
		for _, k := range slices.Sorted(maps.Keys(cl.Fields)) {
			fmt.Fprintf(&b, "  %s: %s\n", k, cl.Fields[k])
		}
	}
	if len(cl.Tags) > 0 {
		fmt.Fprintf(&b, "Tags: %s\n", strings.Join(cl.Tags, ", "))
	}
	if d := formatDue(cl.SLA.ResponseDue); d != "" {
		fmt.Fprintf(&b, "Response due: %s\n", d)
	}
	if d := formatDue(cl.SLA.ResolveDue); d != "" {
		fmt.Fprintf(&b, "Resolve due: %s\n", d)
	}
	fmt.Fprintf(&b, "Triage id: %s; rules version %s\n", t.ID, cl.RulesVersion)
	return b.String()
}

// formatAddress is `"Name" <addr>` with the name in UTF-8 (trackers'
// APIs take it so; an encoded word would become the name), or addr alone.
func formatAddress(a ticket.Address) string {
	if a.Name == "" {
		return a.Address
	}
	name := sanitizeHeaderText(a.Name, 200)
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(name) + `" <` + a.Address + ">"
}

// AuditReader reads back, from a tracker, the tickets triage created and
// what people did with them, for `triage audit`. A tracker sink type that
// supports audit registers one (sinkType.audit).
type AuditReader interface {
	// Tracker is the TrackerKey of the instance read: queues of one
	// tracker share one reader.
	Tracker() string
	AuditTickets(ctx context.Context, since time.Time) ([]AuditTicket, error)
}

// AuditTicket is one ticket triage created, with its routing history.
type AuditTicket struct {
	TrackerID string
	TriageID  string
	Created   time.Time
	Rules     []string // the rules that matched, as triage recorded them
	Tier      string   // the tier triage chose
	Queue     string   // the tracker queue triage chose
	Moves     []AuditMove
	Resolved  bool // resolved (or closed) in the tracker
	// FinalQueue and FinalTier are where the ticket is now.
	FinalQueue string
	FinalTier  string
}

// AuditMove is one change of queue or tier made after triage filed the
// ticket; a field that did not change is "".
type AuditMove struct {
	At                 time.Time
	By                 string
	FromQueue, ToQueue string
	FromTier, ToTier   string
}

// trackerIDLabel is the label or tag that carries the triage id in a
// tracker that has no field for it (Jira labels, Zammad tags): one word,
// as both hold no spaces.
func trackerIDLabel(id string) string { return "triage-" + strings.ToLower(id) }

// subjectRef is the ticket reference a tracker's subject tag pattern
// captures in subject (its first group), or "" (also when tag is nil).
func subjectRef(tag *regexp.Regexp, subject string) string {
	if tag == nil {
		return ""
	}
	if m := tag.FindStringSubmatch(subject); m != nil {
		return m[1]
	}
	return ""
}
