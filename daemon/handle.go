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
	"github.com/triage-dev/triage/config"
	"github.com/triage-dev/triage/internal/clip"
	"github.com/triage-dev/triage/mailbox"
	"github.com/triage-dev/triage/queue"
	"github.com/triage-dev/triage/rules"
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
	b.wg.Go(f)
	b.mu.Unlock()
}

// Wait waits for the writes started so far; a write started meanwhile waits
// for it (holding the lock keeps Add and Wait apart).
func (b *backgroundWrites) Wait() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.wg.Wait()
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

// handle is the pipeline for one message: quarantine what is too large or
// does not decode, look the id up in the state store, classify, deliver,
// then record and mark the outcome. It never marks a message done that its
// sink did not acknowledge.
func (d *Daemon) handle(ctx context.Context, m *mailbox.Message) mailbox.Outcome {
	p := inFlight{Message: m, cfg: d.cfg.Load(), start: time.Now()}
	out := d.steps(ctx, &p)
	if out.Verdict == mailbox.Quarantine || out.Verdict == mailbox.Failed {
		d.recordFiled(&p, out)
	}
	return out
}

// steps runs the pipeline's steps on one message.
func (d *Daemon) steps(ctx context.Context, p *inFlight) mailbox.Outcome {
	m := p.Message
	d.metrics.MessagesSeen.WithLabelValues(m.Account, m.Mailbox).Inc()
	// Attributes are collected and logged once per message: slog's With
	// formats eagerly, which cost a tenth of the pipeline's CPU.
	p.attrs = make([]slog.Attr, 0, 16)
	p.attrs = append(p.attrs, slog.String("account", m.Account), slog.String("mailbox", m.Mailbox), slog.Uint64("uid", uint64(m.UID)))

	if out, stop := d.quarantineTooLarge(p); stop {
		return out
	}
	set := d.reloader.Active().Current() // one version for the whole message
	c := d.classifiers.Get().(*classifier.Classifier)
	defer d.classifiers.Put(c)
	mail, out, stop := d.decode(p, c, set)
	if stop {
		return out
	}
	p.mail = mail
	seen, redelivery, out, stop := d.dedupe(p, mail.ID)
	if stop {
		return out
	}
	t := d.classify(p, c, set, mail, seen && !redelivery)
	outcome, out, stop := d.deliver(ctx, p, t, seen, redelivery)
	if stop {
		return out
	}
	return d.done(p, t, outcome)
}

// recordFiled keeps a quarantined or failed message, with the reason, in
// the state store for /status and `triage requeue`.
func (d *Daemon) recordFiled(p *inFlight, out mailbox.Outcome) {
	f := FiledMessage{At: time.Now().UTC(), Mailbox: p.Mailbox, UID: p.UID, UIDValidity: p.UIDValidity,
		Folder: "quarantine", Reason: clip.Hint(out.Reason, 300)}
	if out.Verdict == mailbox.Failed {
		f.Folder = "failed"
	}
	switch {
	case p.mail != nil:
		f.ID, f.From, f.Subject = p.mail.ID, p.mail.From.Address, clip.Hint(p.mail.Subject, 200)
		if !p.mail.Date.IsZero() {
			f.Date = p.mail.Date.Format(time.RFC3339)
		}
	case len(p.Raw) > 0:
		f.ID = classifier.TicketID(p.Raw)
	}
	d.keepFiled(p.Account, f)
}

// keepFiled writes a filed message to the state store off the caller's
// path (the pipeline, or the mailbox loop for mail quarantined unfetched).
func (d *Daemon) keepFiled(account string, f FiledMessage) {
	d.store.RecordFiledLater(account, f, func(err error) {
		d.log.Warn("state store: filed message not recorded", "account", account, "uid", f.UID, "err", err)
	})
}

// inFlight is one message on its way through handle, with what every step
// reads and logs.
type inFlight struct {
	*mailbox.Message
	cfg    *config.Config // one config for the whole message
	start  time.Time
	source string           // account/mailbox/uidvalidity/uid, kept beside the id in the state store
	mail   *classifier.Mail // once decoded
	attrs  []slog.Attr      // logged with every line about the message
}

// logAt logs one line about the message with its attributes and more.
func (d *Daemon) logAt(p *inFlight, level slog.Level, msg string, more ...slog.Attr) {
	logAttrs(d.log, p.attrs, level, msg, more...)
}

func logAttrs(log *slog.Logger, attrs []slog.Attr, level slog.Level, msg string, more ...slog.Attr) {
	log.LogAttrs(context.Background(), level, msg, slices.Concat(attrs, more)...)
}

// quarantineTooLarge stops a message larger than max_message_bytes.
func (d *Daemon) quarantineTooLarge(p *inFlight) (mailbox.Outcome, bool) {
	limit := p.cfg.MaxMessageBytes
	if int64(len(p.Raw)) <= limit && p.Size <= limit {
		return mailbox.Outcome{}, false
	}
	reason := fmt.Sprintf("message of %d bytes exceeds max_message_bytes %d", max(int64(len(p.Raw)), p.Size), limit)
	d.metrics.Quarantined.WithLabelValues(p.Account, "too_large").Inc()
	d.logAt(p, slog.LevelWarn, "quarantined", slog.String("reason", reason))
	return mailbox.Outcome{Verdict: mailbox.Quarantine, Reason: reason}, true
}

// decode parses the message, or stops it for quarantine when it does not parse.
func (d *Daemon) decode(p *inFlight, c *classifier.Classifier, set *rules.Set) (*classifier.Mail, mailbox.Outcome, bool) {
	t0 := time.Now()
	c.Options.MaxBytes = int(p.cfg.MaxMessageBytes)
	mail, err := c.Decode(set, p.Raw)
	d.metrics.DecodeDuration.Observe(time.Since(t0).Seconds())
	if err != nil {
		d.metrics.Quarantined.WithLabelValues(p.Account, "unparseable").Inc()
		d.logAt(p, slog.LevelWarn, "quarantined", slog.String("id", classifier.TicketID(p.Raw)), slog.String("reason", err.Error()))
		return nil, mailbox.Outcome{Verdict: mailbox.Quarantine, Reason: err.Error()}, true
	}
	return mail, mailbox.Outcome{}, false
}

// dedupe asks the state store whether the id was handled before: seen means
// the rules read `duplicate`; redelivery means it is a re-fetch of the very
// message already forwarded (a crash before it was marked done), which is
// only marked done. A store that cannot answer stops the message for retry.
func (d *Daemon) dedupe(p *inFlight, id string) (seen, redelivery bool, out mailbox.Outcome, stop bool) {
	prev, seen, err := d.store.Lookup(id)
	if err != nil {
		d.logAt(p, slog.LevelError, "state store", slog.Any("err", err))
		return false, false, mailbox.Outcome{Verdict: mailbox.Retry, Reason: err.Error()}, true
	}
	p.source = sourceKey(p.Message)
	return seen, seen && prev.Source == p.source, mailbox.Outcome{}, false
}

// classify runs the rules on the decoded mail and adds the classification
// to the message's log attributes.
func (d *Daemon) classify(p *inFlight, c *classifier.Classifier, set *rules.Set, mail *classifier.Mail, duplicate bool) *ticket.Ticket {
	t1 := time.Now()
	meta := classifier.Meta{
		Account: p.Account, Mailbox: p.Mailbox, UID: p.UID, UIDValidity: p.UIDValidity,
		ReceivedAt: receivedAt(p.Message), Duplicate: duplicate,
	}
	d.observeProblem(mail, &meta)
	t := c.ClassifyMail(set, mail, meta)
	d.metrics.ClassifyDuration.Observe(time.Since(t1).Seconds())
	t.Raw = p.Raw
	cl := t.Class
	rulesApplied := make([]string, len(cl.Matched))
	for i, r := range cl.Matched {
		rulesApplied[i] = r.Rule
		d.metrics.RuleMatches.WithLabelValues(r.Rule).Inc()
	}
	p.attrs = append(p.attrs, slog.String("id", t.ID), slog.String("tier", cl.Tier), slog.String("priority", cl.Priority),
		slog.String("queue", cl.Queue), slog.String("action", cl.Action), slog.String("rules", strings.Join(rulesApplied, ",")),
		slog.String("rules_version", cl.RulesVersion))
	return t
}

// deliver hands the ticket to its queue's sink unless the rules drop it or
// the sink has it already (a redelivery). It returns the outcome
// (forwarded, dropped or redelivery), or stops the message: for retry when
// the sink failed temporarily, to the failed folder when it refused for good.
func (d *Daemon) deliver(ctx context.Context, p *inFlight, t *ticket.Ticket, seen, redelivery bool) (string, mailbox.Outcome, bool) {
	cl := t.Class
	switch {
	case cl.Action == "drop":
		return "dropped", mailbox.Outcome{}, false
	case redelivery:
		// Forwarded before a crash and not yet marked done: the sink has it.
		d.metrics.Duplicates.WithLabelValues("redelivery").Inc()
		return "redelivery", mailbox.Outcome{}, false
	}
	if seen {
		d.metrics.Duplicates.WithLabelValues("duplicate").Inc()
	}
	f0 := time.Now()
	err := d.router.Load().Deliver(ctx, t)
	d.metrics.ForwardDuration.WithLabelValues(cl.Queue).Observe(time.Since(f0).Seconds())
	switch {
	case err == nil:
		return "forwarded", mailbox.Outcome{}, false
	case queue.Temporary(err):
		d.logAt(p, slog.LevelWarn, "forward failed, will retry", slog.Any("err", err), slog.Duration("duration", time.Since(p.start)))
		return "", mailbox.Outcome{Verdict: mailbox.Retry, Reason: err.Error()}, true
	}
	d.metrics.FailedMessages.WithLabelValues(p.Account, cl.Queue).Inc()
	d.logAt(p, slog.LevelError, "forward rejected permanently; filed in the failed folder", slog.Any("err", err), slog.Duration("duration", time.Since(p.start)))
	return "", mailbox.Outcome{Verdict: mailbox.Failed, Reason: err.Error()}, true
}

// done records the handled id (unless it was a redelivery, already
// recorded), counts and logs the outcome, reports it to Options.OnTicket and
// marks the message done.
func (d *Daemon) done(p *inFlight, t *ticket.Ticket, outcome string) mailbox.Outcome {
	ackAt := time.Now()
	cl := t.Class
	if outcome != "redelivery" {
		// Recorded in the background, batched with the other writes: the
		// message may be marked done before the record is durable. A crash
		// in between only means the message is forwarded again with the
		// same id, which at-least-once allows and downstreams de-duplicate;
		// waiting would add an fsync to every message's latency.
		attrs := p.attrs
		d.store.RecordLater(t.ID, p.source, func(err error) {
			logAttrs(d.log, attrs, slog.LevelError, "state store", slog.Any("err", err))
		})
		d.metrics.Tickets.WithLabelValues(cl.Tier, cl.Priority, cl.Queue, cl.Action).Inc()
	}
	d.metrics.HandleDuration.Observe(time.Since(p.start).Seconds())
	if d.log.Enabled(context.Background(), slog.LevelInfo) {
		d.logAt(p, slog.LevelInfo, "handled", slog.String("outcome", outcome), slog.Duration("duration", time.Since(p.start)))
	}
	if !p.Noticed.IsZero() {
		d.metrics.NoticeToDone.Observe(ackAt.Sub(p.Noticed).Seconds())
	}
	h := Handled{Ticket: t, Outcome: outcome, Noticed: p.Noticed, At: ackAt}
	d.feed.handled(h)
	if d.opts.OnTicket != nil {
		d.opts.OnTicket(h)
	}
	return mailbox.Outcome{Verdict: mailbox.Done, Folder: cl.Folder}
}

func receivedAt(m *mailbox.Message) time.Time {
	if !m.InternalDate.IsZero() {
		return m.InternalDate.UTC()
	}
	return time.Now().UTC()
}
