package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/triage-dev/triage/classifier"
	"github.com/triage-dev/triage/mailbox"
	"github.com/triage-dev/triage/queue"
	"github.com/triage-dev/triage/ticket"
)

// Handled is one message the pipeline finished with.
type Handled struct {
	Ticket  *ticket.Ticket
	Outcome string    // forwarded, dropped or redelivery
	Noticed time.Time // when the server's EXISTS announced it; zero for backlog mail
	At      time.Time // when the sink acknowledged it (or the drop was decided)
}

// backgroundWrites runs state-store writes off the message's path and lets
// shutdown wait for them. Unlike a bare WaitGroup it tolerates a handler that
// is still running when shutdown waits (past the deadline): such a write
// runs inline and fails on the closed store, which only costs a duplicate.
type backgroundWrites struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// Go runs f in the background, or inline once Close has begun.
func (b *backgroundWrites) Go(f func()) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		f()
		return
	}
	b.wg.Add(1)
	b.mu.Unlock()
	go func() {
		defer b.wg.Done()
		f()
	}()
}

// Close waits for the writes started before it.
func (b *backgroundWrites) Close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.wg.Wait()
}

func sourceKey(m *mailbox.Message) string {
	return m.Account + "/" + m.Mailbox + "/" + strconv.FormatUint(uint64(m.UIDValidity), 10) + "/" + strconv.FormatUint(uint64(m.UID), 10)
}

// handle is the pipeline for one message. It never marks a message done that
// its sink did not acknowledge.
func (d *Daemon) handle(ctx context.Context, m *mailbox.Message) mailbox.Outcome {
	start := time.Now()
	cfg := d.cfg.Load()
	d.metrics.MessagesSeen.WithLabelValues(m.Account, m.Mailbox).Inc()
	// Attributes are collected and logged once per message: slog's With
	// formats eagerly, which cost a tenth of the pipeline's CPU.
	attrs := make([]slog.Attr, 0, 16)
	attrs = append(attrs, slog.String("account", m.Account), slog.String("mailbox", m.Mailbox), slog.Uint64("uid", uint64(m.UID)))
	logAt := func(level slog.Level, msg string, more ...slog.Attr) {
		d.log.LogAttrs(context.Background(), level, msg, slices.Concat(attrs, more)...)
	}

	if int64(len(m.Raw)) > cfg.MaxMessageBytes || m.Size > cfg.MaxMessageBytes {
		reason := fmt.Sprintf("message of %d bytes exceeds max_message_bytes %d", max(int64(len(m.Raw)), m.Size), cfg.MaxMessageBytes)
		d.metrics.Quarantined.WithLabelValues(m.Account, "too_large").Inc()
		logAt(slog.LevelWarn, "quarantined", slog.String("reason", reason))
		return mailbox.Outcome{Verdict: mailbox.Quarantine, Reason: reason}
	}

	set := d.reloader.Active().Current() // one version for the whole message
	c := d.classifiers.Get().(*classifier.Classifier)
	defer d.classifiers.Put(c)
	t0 := time.Now()
	c.Options.MaxBytes = int(cfg.MaxMessageBytes)
	mail, err := c.Decode(set, m.Raw)
	d.metrics.DecodeDuration.Observe(time.Since(t0).Seconds())
	if err != nil {
		d.metrics.Quarantined.WithLabelValues(m.Account, "unparseable").Inc()
		logAt(slog.LevelWarn, "quarantined", slog.String("id", classifier.TicketID(m.Raw)), slog.String("reason", err.Error()))
		return mailbox.Outcome{Verdict: mailbox.Quarantine, Reason: err.Error()}
	}

	// Seen before? The rules read `duplicate`; a re-fetch of the very
	// message already forwarded (a crash before it was marked done) is only
	// marked done.
	src := sourceKey(m)
	prev, seen, err := d.store.Lookup(mail.ID)
	if err != nil {
		logAt(slog.LevelError, "state store", slog.Any("err", err))
		return mailbox.Outcome{Verdict: mailbox.Retry, Reason: err.Error()}
	}
	redelivery := seen && prev.Source == src

	t1 := time.Now()
	t := c.ClassifyMail(set, mail, classifier.Meta{
		Account: m.Account, Mailbox: m.Mailbox, UID: m.UID, UIDValidity: m.UIDValidity,
		ReceivedAt: receivedAt(m), Duplicate: seen && !redelivery,
	})
	d.metrics.ClassifyDuration.Observe(time.Since(t1).Seconds())
	t.Raw = m.Raw
	cl := t.Class
	rulesApplied := make([]string, len(cl.Matched))
	for i, r := range cl.Matched {
		rulesApplied[i] = r.Rule
		d.metrics.RuleMatches.WithLabelValues(r.Rule).Inc()
	}
	attrs = append(attrs, slog.String("id", t.ID), slog.String("tier", cl.Tier), slog.String("priority", cl.Priority),
		slog.String("queue", cl.Queue), slog.String("action", cl.Action), slog.String("rules", strings.Join(rulesApplied, ",")),
		slog.String("rules_version", cl.RulesVersion))

	outcome := "forwarded"
	switch {
	case cl.Action == "drop":
		outcome = "dropped"
	case redelivery:
		// Forwarded before a crash and not yet marked done: the sink has it.
		outcome = "redelivery"
		d.metrics.Duplicates.WithLabelValues("redelivery").Inc()
	default:
		if seen {
			d.metrics.Duplicates.WithLabelValues("duplicate").Inc()
		}
		f0 := time.Now()
		err := d.router.Load().Deliver(ctx, t)
		d.metrics.ForwardDuration.WithLabelValues(cl.Queue).Observe(time.Since(f0).Seconds())
		if err != nil {
			if queue.Temporary(err) {
				logAt(slog.LevelWarn, "forward failed, will retry", slog.Any("err", err), slog.Duration("duration", time.Since(start)))
				return mailbox.Outcome{Verdict: mailbox.Retry, Reason: err.Error()}
			}
			d.metrics.FailedMessages.WithLabelValues(m.Account, cl.Queue).Inc()
			logAt(slog.LevelError, "forward rejected permanently; filed in the failed folder", slog.Any("err", err), slog.Duration("duration", time.Since(start)))
			return mailbox.Outcome{Verdict: mailbox.Failed, Reason: err.Error()}
		}
	}
	ackAt := time.Now()
	if outcome != "redelivery" {
		// Recorded in the background: the message may be marked done before
		// the record is durable. A crash in between only means the message
		// is forwarded again with the same id, which at-least-once allows
		// and downstreams de-duplicate; waiting would add an fsync to every
		// message's latency.
		d.records.Go(func() {
			if err := d.store.Record(t.ID, src); err != nil {
				logAt(slog.LevelError, "state store", slog.Any("err", err))
			}
		})
		d.metrics.Tickets.WithLabelValues(cl.Tier, cl.Priority, cl.Queue, cl.Action).Inc()
	}
	d.metrics.HandleDuration.Observe(time.Since(start).Seconds())
	if d.log.Enabled(context.Background(), slog.LevelInfo) {
		logAt(slog.LevelInfo, "handled", slog.String("outcome", outcome), slog.Duration("duration", time.Since(start)))
	}
	if !m.Noticed.IsZero() {
		d.metrics.NoticeToDone.Observe(ackAt.Sub(m.Noticed).Seconds())
	}
	if d.opts.OnTicket != nil {
		d.opts.OnTicket(Handled{Ticket: t, Outcome: outcome, Noticed: m.Noticed, At: ackAt})
	}
	return mailbox.Outcome{Verdict: mailbox.Done, Folder: cl.Folder}
}

func receivedAt(m *mailbox.Message) time.Time {
	if !m.InternalDate.IsZero() {
		return m.InternalDate.UTC()
	}
	return time.Now().UTC()
}
