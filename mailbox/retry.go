package mailbox

import (
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/emersion/go-imap/v2"
)

type retryInfo struct {
	backoff   *backoff.ExponentialBackOff
	notBefore time.Time
	date      time.Time
}

// doubling is an exponential backoff (factor 2) from first to at most
// maxInterval, each delay jittered by ±jitter of it.
func doubling(first, maxInterval time.Duration, jitter float64) *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{
		InitialInterval: first, MaxInterval: maxInterval, Multiplier: 2, RandomizationFactor: jitter,
	}
}

// reconnectBackOff draws the n-th reconnect delay uniformly from [d/2, d],
// d = ReconnectMin·2ⁿ⁻¹ capped at ReconnectMax, so that mailboxes which lost
// the same server do not come back in step. The library jitters around its
// interval, so the interval runs at ¾d with a jitter of ⅓.
func reconnectBackOff(cfg *Config) *backoff.ExponentialBackOff {
	return doubling(max(cfg.ReconnectMin*3/4, 1), max(cfg.ReconnectMax*3/4, 1), 1.0/3)
}

// retryBackOff spaces the retries of one message: RetryBackoff doubling up
// to RetryBackoffMax, ±20% so that a batch refused together spreads out.
func (w *worker) retryBackOff() *backoff.ExponentialBackOff {
	return doubling(w.cfg.RetryBackoff, w.cfg.RetryBackoffMax, 0.2)
}

// scheduleRetry leaves uid undone and makes the next full scan after a
// backoff pick it up again.
func (s *session) scheduleRetry(uid imap.UID, date time.Time) {
	w := s.w
	ri := w.retry[uid]
	if ri.backoff == nil {
		ri.backoff = w.retryBackOff()
	}
	ri.notBefore = time.Now().Add(ri.backoff.NextBackOff())
	if !date.IsZero() {
		ri.date = date
	}
	w.retry[uid] = ri
	s.armRetry(ri.notBefore)
}

func (s *session) armRetry(at time.Time) {
	if !s.retryAt.IsZero() && !at.Before(s.retryAt) {
		return
	}
	s.stopRetryTimer()
	s.retryAt = at
	s.retryT = time.NewTimer(time.Until(at))
}

func (s *session) stopRetryTimer() {
	if s.retryT != nil {
		s.retryT.Stop()
		s.retryT = nil
	}
	s.retryAt = time.Time{}
}

// retryC fires when the earliest retry is due (nil channel: never).
func (s *session) retryC() <-chan time.Time {
	if s.retryT == nil {
		return nil
	}
	return s.retryT.C
}

func (s *session) retryFired() {
	s.retryT, s.retryAt = nil, time.Time{}
	s.needFull = true
}
