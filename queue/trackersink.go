package queue

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"golang.org/x/sync/singleflight"

	"github.com/triage-dev/triage/ticket"
)

// trackerClient is what a tracker sink needs of one tracker's API. A ref
// names a ticket the way the client reads it back.
type trackerClient interface {
	// find looks up the ticket made for a triage id.
	find(ctx context.Context, id string) (ref string, found bool, err error)
	// resolve finds the ticket a mail's ticket_ref names.
	resolve(ctx context.Context, ticketRef string) (ref string, found bool, err error)
	create(ctx context.Context, t *ticket.Ticket, atts []mailAttachment) (ref string, err error)
	reply(ctx context.Context, ref string, t *ticket.Ticket, atts []mailAttachment) error
	// note adds an internal note (the decision explained) to a ticket.
	note(ctx context.Context, ref, text string) error
	close()
}

// restTrackerSink delivers tickets to a tracker through its client: a
// reply onto the ticket its ticket_ref names, else one ticket per triage
// id (looked up before it is created; concurrent deliveries of one id
// share one attempt).
type restTrackerSink struct {
	name   string
	client trackerClient
	log    *slog.Logger
	flight singleflight.Group
}

func newTrackerSink(q sinkSpec, c trackerClient) *restTrackerSink {
	return &restTrackerSink{name: q.name, client: c, log: q.log}
}

func (s *restTrackerSink) Close() error {
	s.client.close()
	return nil
}

func (s *restTrackerSink) Send(ctx context.Context, t *ticket.Ticket) error {
	_, err, _ := s.flight.Do(t.ID, func() (any, error) { return nil, s.deliver(ctx, t) })
	return err
}

func (s *restTrackerSink) deliver(ctx context.Context, t *ticket.Ticket) error {
	atts, attErr := attachmentsOf(t)
	if attErr != nil {
		s.log.Warn("attachments not taken from the mail", "id", t.ID, "err", attErr)
	}
	if t.Thread.TicketRef != "" {
		ref, found, err := s.client.resolve(ctx, t.Thread.TicketRef)
		if err != nil {
			return err
		}
		if found {
			return s.client.reply(ctx, ref, t, atts)
		}
	}
	ref, found, err := s.client.find(ctx, t.ID)
	if err != nil {
		return err
	}
	if found {
		s.log.Info("ticket already in the tracker", "id", t.ID, "ticket", ref)
		return nil
	}
	if ref, err = s.client.create(ctx, t, atts); err != nil {
		return err
	}
	note := decisionNote(t)
	if attErr != nil {
		note += fmt.Sprintf("\nAttachments of the mail could not be taken over: %v\n", attErr)
	}
	if err := s.client.note(ctx, ref, note); err != nil {
		s.log.Warn("decision note not added", "id", t.ID, "ticket", ref, "err", err)
	}
	return nil
}

// decisionNote explains triage's decision to the technician: tier,
// priority, queue, runbook, the rules that matched with their
// descriptions, extracted fields and due times.
func decisionNote(t *ticket.Ticket) string {
	var b strings.Builder
	c := t.Class
	fmt.Fprintf(&b, "triage: tier %s, priority %s, queue %s", c.Tier, c.Priority, c.Queue)
	if c.Runbook != "" {
		fmt.Fprintf(&b, ", runbook %s", c.Runbook)
	}
	b.WriteString("\n")
	if len(c.Matched) == 0 {
		b.WriteString("Why: no rule matched; the defaults apply.\n")
	}
	for _, m := range c.Matched {
		if m.Description != "" {
			fmt.Fprintf(&b, "Rule %s: %s\n", m.Rule, m.Description)
		} else {
			fmt.Fprintf(&b, "Rule %s\n", m.Rule)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c.Fields)) {
		fmt.Fprintf(&b, "Field %s: %s\n", k, c.Fields[k])
	}
	if d := formatDue(c.SLA.ResponseDue); d != "" {
		fmt.Fprintf(&b, "Response due: %s\n", d)
	}
	if d := formatDue(c.SLA.ResolveDue); d != "" {
		fmt.Fprintf(&b, "Resolve due: %s\n", d)
	}
	fmt.Fprintf(&b, "Triage id: %s", t.ID)
	if c.RulesVersion != "" {
		fmt.Fprintf(&b, ", rules version %s", c.RulesVersion)
	}
	b.WriteString("\n")
	return b.String()
}
