package queue

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/triage-dev/triage/ticket"
)

// Router sends each ticket to the sink its queue names and retries
// temporary failures with capped exponential backoff and jitter.
type Router struct {
	routes map[string]*route // by queue name
	log    *slog.Logger
	obs    Observer
}

// route is one queue: its sink, its retry settings (defaults applied) and
// how many of its deliveries are in their retry loop.
type route struct {
	sink     Sink
	retry    RetryConfig
	retrying atomic.Int32
}

// NewRouter routes to sinks by queue name; cfgs supplies each queue's retry
// settings (a missing entry gets the defaults). log and obs may be nil.
func NewRouter(sinks map[string]Sink, cfgs map[string]Config, log *slog.Logger, obs Observer) *Router {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if obs == nil {
		obs = noObserver{}
	}
	r := &Router{routes: make(map[string]*route, len(sinks)), log: log, obs: obs}
	for name, s := range sinks {
		r.routes[name] = &route{sink: s, retry: cfgs[name].Retry.withDefaults()}
	}
	return r
}

type noObserver struct{}

func (noObserver) Sent(string, time.Duration) {}
func (noObserver) Failed(string, bool)        {}
func (noObserver) Retrying(string, int)       {}

// cappedBackOff keeps the jittered wait at or below max: the library caps
// the interval before jitter, which can overshoot by the randomization factor.
type cappedBackOff struct {
	*backoff.ExponentialBackOff
	max time.Duration
}

func (b cappedBackOff) NextBackOff() time.Duration {
	return min(b.ExponentialBackOff.NextBackOff(), b.max)
}

// Deliver sends t to the sink named by t.Class.Queue. It returns nil once
// acknowledged; a permanent *Error for an unknown queue or a permanent
// failure; a temporary *Error when give_up_after elapsed or ctx ended.
func (r *Router) Deliver(ctx context.Context, t *ticket.Ticket) error {
	q := t.Class.Queue
	rt, ok := r.routes[q]
	if !ok {
		r.obs.Failed(q, false)
		return permanent("queue: ticket %s names queue %q, which is not configured", t.ID, q)
	}
	// Most deliveries succeed at once: only a failed first attempt sets
	// up the retry machinery (which allocates a dozen objects).
	start := time.Now()
	first := rt.sink.Send(ctx, t)
	if first == nil {
		r.obs.Sent(q, time.Since(start))
		return nil
	}
	return r.retry(ctx, t, q, rt, start, first)
}

// retry carries on a delivery whose first attempt, begun at start, failed
// with first. A temporary failure while retry.max_retrying deliveries of
// the queue are already retrying is returned at once, temporary: the
// mailbox retries the message from its own timer, and the handler this
// delivery would hold stays free for mail of the other queues.
func (r *Router) retry(ctx context.Context, t *ticket.Ticket, q string, rt *route, start time.Time, first error) error {
	rc := rt.retry
	if fe := asError(first); fe.Temporary {
		n := &rt.retrying
		if n.Add(1) > int32(rc.MaxRetrying) {
			n.Add(-1)
			r.obs.Failed(q, true)
			r.log.Warn("queue: delivery failed while others of the queue retry; the mailbox retries it later",
				"queue", q, "ticket", t.ID, "retrying", rc.MaxRetrying, "err", fe.Err)
			return temporary("queue %s: ticket %s: %d deliveries of the queue already retrying (retry.max_retrying): %w", q, t.ID, rc.MaxRetrying, fe.Err)
		}
		defer n.Add(-1)
	}
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = time.Duration(rc.Initial)
	bo.MaxInterval = time.Duration(rc.Max)
	bo.Multiplier = 2
	bo.RandomizationFactor = 0.3

	attempt := 0
	retrying := false
	var last *Error
	op := func() (struct{}, error) {
		attempt++
		err := first // the attempt Deliver made
		if attempt > 1 {
			err = rt.sink.Send(ctx, t)
		}
		if err == nil {
			return struct{}{}, nil
		}
		last = asError(err)
		r.obs.Failed(q, last.Temporary)
		if !last.Temporary {
			return struct{}{}, backoff.Permanent(last)
		}
		if last.RetryAfter > 0 {
			// The peer's hint wins over our schedule, up to retry.max.
			return struct{}{}, errors.Join(last, &backoff.RetryAfterError{Duration: min(last.RetryAfter, time.Duration(rc.Max))})
		}
		return struct{}{}, last
	}
	notify := func(_ error, next time.Duration) {
		if !retrying {
			retrying = true
			r.obs.Retrying(q, 1)
		}
		r.log.Warn("queue: delivery failed, will retry",
			"queue", q, "ticket", t.ID, "attempt", attempt, "err", last.Err, "next", next.Round(time.Millisecond))
	}
	_, err := backoff.Retry(ctx, op,
		backoff.WithBackOff(cappedBackOff{bo, time.Duration(rc.Max)}),
		backoff.WithNotify(notify),
		backoff.WithMaxElapsedTime(giveUpIn(time.Duration(rc.GiveUpAfter), start)))
	if retrying {
		r.obs.Retrying(q, -1)
	}
	if err == nil {
		took := time.Since(start)
		r.obs.Sent(q, took)
		if attempt > 1 {
			r.log.Info("queue: delivered after retries", "queue", q, "ticket", t.ID, "attempts", attempt, "took", took.Round(time.Millisecond))
		}
		return nil
	}
	switch {
	case last != nil && !last.Temporary:
		r.log.Error("queue: delivery failed permanently", "queue", q, "ticket", t.ID, "attempt", attempt, "err", last.Err)
		return last
	case ctx.Err() != nil:
		return temporary("queue %s: ticket %s: stopped after %d attempts: %w", q, t.ID, attempt, errors.Join(context.Cause(ctx), lastErr(last)))
	default:
		r.log.Error("queue: giving up for now", "queue", q, "ticket", t.ID, "attempts", attempt, "after", time.Since(start).Round(time.Millisecond), "err", lastErr(last))
		return temporary("queue %s: ticket %s: gave up after %d attempts in %s: %w", q, t.ID, attempt, time.Since(start).Round(time.Millisecond), lastErr(last))
	}
}

// giveUpIn is what is left of giveUpAfter (0: never give up) since start,
// for backoff.Retry, which starts its clock after the first attempt.
func giveUpIn(giveUpAfter time.Duration, start time.Time) time.Duration {
	if giveUpAfter <= 0 {
		return 0
	}
	return max(giveUpAfter-time.Since(start), 1) // 0 would mean never
}

func lastErr(e *Error) error {
	if e == nil {
		return nil
	}
	return e.Err
}

// Close closes every sink.
func (r *Router) Close() error {
	var errs []error
	for _, rt := range r.routes {
		if err := rt.sink.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
