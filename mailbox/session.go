package mailbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

var errConnClosed = errors.New("connection closed")

// session is the state of one connection.
type session struct {
	w   *worker
	cfg *Config
	log *slog.Logger
	c   *imapclient.Client
	dc  *deadlineConn

	hasIdle, hasMove, hasUIDPlus bool
	useKeyword                   bool
	doneFolder                   string
	created                      map[string]bool

	newMail   chan struct{}
	noticed   atomic.Int64 // unix nanos of the first EXISTS not yet scanned for
	noticedAt map[imap.UID]time.Time

	known        map[imap.UID]bool // queued, being fetched or fetched and not dispatched
	queue        []imap.UID        // to fetch, lowest first
	ready        []*Message
	fetches      int             // FETCH commands in flight (≤ maxFetches)
	fetchCtx     context.Context // ends a fetch's wait for Buffer space
	cancelFetch  context.CancelFunc
	scanDue      bool              // new mail announced while fetching: scan once the fetches end
	fetchBatch   map[imap.UID]bool // UIDs of the fetches in flight → received
	fetchMsgs    chan *fetchedMessage
	fetchDone    chan fetchResult
	applying     bool
	applyDone    chan applyResult
	pendingSince time.Time   // when the oldest pending outcome arrived
	applyT       *time.Timer // fires applyMaxDelay after pendingSince
	lastSeen     imap.UID
	needFull     bool
	retryAt      time.Time
	retryT       *time.Timer
	warnedUID    bool
}

// loop drives one connection: scan, fetch, dispatch, apply, idle.
func (s *session) loop(ctx context.Context) error {
	w := s.w
	s.needFull = true
	keepalive := time.NewTicker(max(s.cfg.Timeout/3, 10*time.Millisecond))
	defer keepalive.Stop()
	defer s.stopRetryTimer()

	for {
		if ctx.Err() != nil {
			return s.shutdown()
		}
		s.collect()
		if s.shouldApply() {
			s.startApply()
		}
		if s.needFull && !s.applying && s.fetches == 0 {
			s.needFull, s.scanDue = false, false
			if err := s.scan(true); err != nil {
				return err
			}
			continue
		}
		if s.scanDue && s.fetches == 0 {
			s.scanDue = false
			if err := s.scan(false); err != nil {
				return err
			}
			continue
		}
		s.dispatch()
		// A scan waits for the fetches in flight rather than queue behind
		// them on the connection: a fetch may be waiting for Buffer space
		// that only dispatching the ready messages frees.
		for !s.scanDue && !s.needFull && s.fetches < maxFetches && len(s.queue) > 0 && len(s.ready)+len(s.fetchBatch) < maxFetches*s.cfg.BatchSize {
			s.startFetch()
		}

		if s.fetches > 0 || s.applying || s.needFull || s.scanDue || len(w.pending) > 0 || len(s.ready) > 0 || len(w.inflight)+w.stale > 0 {
			select {
			case r := <-w.results:
				s.accept(r)
			case ar := <-s.applyDone:
				if err := s.applied(ar); err != nil {
					return err
				}
			case fm := <-s.fetchMsgs:
				s.took(fm)
			case fr := <-s.fetchDone:
				if err := s.fetched(fr); err != nil {
					return err
				}
			case <-s.newMail:
				s.scanDue = true
			case <-s.retryC():
				s.retryFired()
			case <-s.applyC():
				// shouldApply sees the age at the top of the loop
			case <-keepalive.C:
				if s.fetches == 0 && !s.applying {
					if err := s.c.Noop().Wait(); err != nil {
						return fmt.Errorf("noop: %w", err)
					}
				}
			case <-ctx.Done():
			case <-s.c.Closed():
				return errConnClosed
			}
			continue
		}
		select { // an EXISTS that came with other responses
		case <-s.newMail:
			if err := s.scan(false); err != nil {
				return err
			}
			continue
		default:
		}
		var err error
		if s.hasIdle {
			err = s.idle(ctx)
		} else {
			err = s.poll(ctx, keepalive.C)
		}
		if err != nil {
			return err
		}
	}
}

// idle waits in IMAP IDLE for new mail, a due retry, the periodic restart or
// the stop.
func (s *session) idle(ctx context.Context) error {
	s.dc.setWindow(s.cfg.IdleRestart + s.cfg.Timeout)
	defer s.dc.setWindow(s.cfg.Timeout)
	cmd, err := s.c.Idle()
	if err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	s.w.setState(StateIdle)
	if ev := s.w.a.ev.Idle; ev != nil {
		ev(s.cfg.Name, s.w.mailbox, true)
	}
	restart := time.NewTimer(s.cfg.IdleRestart)
	defer restart.Stop()
	scan, full := false, false
	select {
	case <-s.newMail:
		scan = true
	case <-s.retryC():
		s.retryFired()
	case <-restart.C:
		full = true // periodic safety net: anything missed is picked up
	case <-ctx.Done():
	case <-s.c.Closed():
	}
	s.dc.setWindow(s.cfg.Timeout)
	closeErr := cmd.Close()
	waitErr := cmd.Wait()
	if ev := s.w.a.ev.Idle; ev != nil {
		ev(s.cfg.Name, s.w.mailbox, false)
	}
	s.w.setState(StateWorking)
	if err := errors.Join(closeErr, waitErr); err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	if full {
		s.needFull = true
	}
	if scan {
		return s.scan(false)
	}
	return nil
}

// poll waits for the next poll when the server has no IDLE.
func (s *session) poll(ctx context.Context, keepalive <-chan time.Time) error {
	s.w.setState(StatePolling)
	defer s.w.setState(StateWorking)
	t := time.NewTimer(s.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.needFull = true
			return nil
		case <-s.newMail:
			return s.scan(false)
		case <-s.retryC():
			s.retryFired()
			return nil
		case <-keepalive:
			if err := s.c.Noop().Wait(); err != nil {
				return fmt.Errorf("noop: %w", err)
			}
		case <-ctx.Done():
			return nil
		case <-s.c.Closed():
			return errConnClosed
		}
	}
}

// dispatch hands ready messages to handlers, at most Concurrency in flight.
func (s *session) dispatch() {
	w := s.w
	n := 0
	for len(s.ready) > 0 && len(w.inflight)+w.stale < s.cfg.Concurrency {
		m := s.ready[0]
		s.ready[0] = nil
		s.ready = s.ready[1:]
		uid := imap.UID(m.UID)
		delete(s.known, uid)
		w.inflight[uid] = m.InternalDate
		w.start(m)
		n++
	}
	if n > 0 {
		now := time.Now()
		inflight := len(w.inflight)
		w.a.update(w.mailbox, func(st *MailboxStatus) { st.LastMessage, st.InFlight = now, inflight })
	}
}

// accept records one handler result.
func (s *session) accept(r result) {
	w := s.w
	if r.validity != w.validity {
		w.stale--
		return
	}
	delete(w.inflight, r.uid)
	w.pending = append(w.pending, r)
}

// collect takes every result already available.
func (s *session) collect() {
	for {
		select {
		case r := <-s.w.results:
			s.accept(r)
		default:
			return
		}
	}
}

// reportBacklog publishes the undone count and the oldest known date.
func (s *session) reportBacklog() {
	w := s.w
	undone := len(s.queue) + len(s.fetchBatch) + len(s.ready) + len(w.inflight) + len(w.pending) + len(w.retry)
	var oldest time.Time
	older := func(t time.Time) {
		if !t.IsZero() && (oldest.IsZero() || t.Before(oldest)) {
			oldest = t
		}
	}
	for _, m := range s.ready {
		older(m.InternalDate)
	}
	for _, d := range w.inflight {
		older(d)
	}
	for _, r := range w.pending {
		older(r.date)
	}
	for _, ri := range w.retry {
		older(ri.date)
	}
	w.a.update(w.mailbox, func(st *MailboxStatus) { st.Undone, st.Oldest = undone, oldest })
	if ev := w.a.ev.Backlog; ev != nil {
		ev(s.cfg.Name, w.mailbox, undone, oldest)
	}
}

// release returns what the session still holds in the Buffer once its
// connection is closed: the fetches in flight end with it.
func (s *session) release() {
	s.cancelFetch()
	s.dropFetches()
	s.dropReady()
}

// shutdown stops gracefully: no new fetches or dispatches; in-flight
// handlers get until their context is cancelled (ShutdownGrace), plus a
// moment to return after that; what came back is applied; LOGOUT.
func (s *session) shutdown() error {
	w := s.w
	s.dropReady()
	s.queue = nil
	// Bounded by the connection deadlines.
	if s.dropFetches() {
		return nil
	}
	if s.applying {
		if err := s.applied(<-s.applyDone); err != nil {
			return nil
		}
	}
	keepalive := time.NewTicker(max(s.cfg.Timeout/3, 10*time.Millisecond))
	defer keepalive.Stop()
	hdone := w.hctx.Done()
	var late <-chan time.Time
wait:
	for len(w.inflight)+w.stale > 0 {
		select {
		case r := <-w.results:
			s.accept(r)
			s.collect()
			if err := s.apply(); err != nil {
				return nil // the connection is gone; the rest is handled next run
			}
		case <-keepalive.C:
			if err := s.c.Noop().Wait(); err != nil {
				return nil
			}
		case <-s.c.Closed():
			return nil
		case <-hdone:
			// Grace is over and handler contexts are cancelled: give
			// handlers that honour it a moment to report.
			hdone = nil
			late = time.After(lateResultWait)
		case <-late:
			break wait
		}
	}
	s.collect()
	if len(w.pending) > 0 {
		if err := s.apply(); err != nil {
			return nil
		}
	}
	if n := len(w.inflight); n > 0 {
		s.log.Warn("handlers did not finish within the shutdown grace; their messages stay undone", "count", n)
	}
	_ = s.c.Logout().Wait()
	return nil
}
