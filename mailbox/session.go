package mailbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
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
	isolate      []imap.UID        // suspects of a crash, to fetch and handle one at a time
	alone        imap.UID          // the suspect being fetched or handled alone (0: none)
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
	idleAt       time.Time // when a session waiting only for handlers enters IDLE
}

// configure adopts what the server offers for the selected mailbox: IDLE,
// MOVE, UIDPLUS, and whether it stores the done keyword or done messages
// must be moved instead.
func (s *session) configure(sel *imap.SelectData) error {
	caps := s.c.Caps()
	s.hasIdle = caps.Has(imap.CapIdle)
	s.hasMove = caps.Has(imap.CapMove)
	s.hasUIDPlus = caps.Has(imap.CapUIDPlus)
	kw := imap.Flag(s.cfg.DoneKeyword)
	s.useKeyword = kw != "" && (hasFlag(sel.PermanentFlags, imap.FlagWildcard) || hasFlag(sel.PermanentFlags, kw))
	s.doneFolder = s.cfg.DoneMoveTo
	if kw != "" && !s.useKeyword {
		s.doneFolder = cmp.Or(s.doneFolder, DefaultDoneFolder)
		s.log.Warn("server stores no custom keywords here: marking done by moving",
			"keyword", kw, "folder", s.doneFolder)
	}
	if !s.useKeyword && strings.EqualFold(s.doneFolder, s.w.mailbox) {
		return fmt.Errorf("cannot mark done in %q: no keywords and the done folder is the mailbox itself", s.w.mailbox)
	}
	return nil
}

// loop drives one connection: scan, fetch, dispatch, apply, idle.
func (s *session) loop(ctx context.Context) error {
	s.needFull = true
	keepalive := time.NewTicker(max(s.cfg.Timeout/3, 10*time.Millisecond))
	defer keepalive.Stop()
	defer s.stopRetryTimer()

	for {
		if ctx.Err() != nil {
			s.shutdown(keepalive.C)
			return nil
		}
		s.collect()
		if s.shouldApply() {
			s.startApply()
		}
		scanned, err := s.scanIfDue()
		if err != nil {
			return err
		}
		if scanned {
			continue
		}
		s.dispatch()
		s.fetchMore()
		switch {
		case s.busy() && s.idleWhileBusy():
			err = s.idleOrAwait(ctx, keepalive.C)
		case s.busy():
			s.idleAt = time.Time{}
			err = s.await(ctx, keepalive.C, nil)
		default:
			err = s.waitForMail(ctx, keepalive.C)
		}
		if err != nil {
			return err
		}
	}
}

// scanIfDue runs the scan that is due, if nothing it must wait for is in
// flight; it reports whether it scanned.
func (s *session) scanIfDue() (bool, error) {
	switch {
	case s.needFull && !s.applying && s.fetches == 0:
		s.needFull, s.scanDue = false, false
		return true, s.scan(true)
	case s.scanDue && s.fetches == 0:
		s.scanDue = false
		return true, s.scan(false)
	}
	return false, nil
}

// fetchMore starts fetches while there is room. A scan waits for the
// fetches in flight rather than queue behind them on the connection: a
// fetch may be waiting for Buffer space that only dispatching the ready
// messages frees.
func (s *session) fetchMore() {
	if s.scanDue || s.needFull || s.startIsolated() {
		return
	}
	for !s.scanDue && !s.needFull && s.fetches < maxFetches && len(s.queue) > 0 &&
		len(s.ready)+len(s.fetchBatch) < maxFetches*s.cfg.BatchSize {
		s.startFetch()
	}
}

// busy reports whether work is under way, so that the session must not
// idle.
func (s *session) busy() bool {
	w := s.w
	return s.fetches > 0 || s.applying || s.needFull || s.scanDue ||
		len(w.pending) > 0 || len(s.ready) > 0 || len(w.inflight)+w.stale > 0
}

// idleWhileBusy reports whether the session, with work under way, only
// waits for handlers (a sink retrying for minutes, say) and has nothing to
// send the server: then it waits in IDLE, so that new mail is seen as it
// arrives rather than at the next keepalive.
func (s *session) idleWhileBusy() bool {
	return s.hasIdle && s.fetches == 0 && !s.applying && !s.needFull && !s.scanDue &&
		len(s.w.pending) == 0 && len(s.newMail) == 0
}

// idleGrace is how long a session that only waits for handlers waits for
// one of them before it enters IDLE: at the tail of a backlog results come
// every few milliseconds, and an IDLE for each would be churn.
const idleGrace = 20 * time.Millisecond

// idleOrAwait enters IDLE once the session has waited idleGrace for its
// handlers, and takes their events until then.
func (s *session) idleOrAwait(ctx context.Context, keepalive <-chan time.Time) error {
	now := time.Now()
	if s.idleAt.IsZero() {
		s.idleAt = now.Add(idleGrace)
	}
	if !now.Before(s.idleAt) {
		s.idleAt = time.Time{}
		return s.idle(ctx)
	}
	t := time.NewTimer(s.idleAt.Sub(now))
	defer t.Stop()
	return s.await(ctx, keepalive, t.C)
}

// await takes the next event of the work under way, or returns when
// wake fires (nil: never).
func (s *session) await(ctx context.Context, keepalive <-chan time.Time, wake <-chan time.Time) error {
	select {
	case <-wake:
	case r := <-s.w.results:
		s.accept(r)
		s.idleAt = time.Time{} // the grace starts again
	case ar := <-s.applyDone:
		return s.applied(ar)
	case fm := <-s.fetchMsgs:
		s.took(fm)
	case fr := <-s.fetchDone:
		return s.fetched(fr)
	case <-s.newMail:
		s.scanDue = true
	case <-s.retryC():
		s.retryFired()
	case <-s.applyC():
		// shouldApply sees the age at the top of the loop
	case <-keepalive:
		if s.fetches == 0 && !s.applying {
			return s.noop()
		}
	case <-ctx.Done():
	case <-s.c.Closed():
		return errConnClosed
	}
	return nil
}

// waitForMail waits, with nothing under way, for new mail, a due retry or
// the stop.
func (s *session) waitForMail(ctx context.Context, keepalive <-chan time.Time) error {
	select { // an EXISTS that came with other responses
	case <-s.newMail:
		return s.scan(false)
	default:
	}
	if s.hasIdle {
		return s.idle(ctx)
	}
	return s.poll(ctx, keepalive)
}

func (s *session) noop() error {
	if err := s.c.Noop().Wait(); err != nil {
		return fmt.Errorf("noop: %w", err)
	}
	return nil
}

// idle waits in IMAP IDLE for new mail, a handler's result, a due retry,
// the periodic restart or the stop.
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
	case r := <-s.w.results:
		s.accept(r) // applied once IDLE is over
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
			if err := s.noop(); err != nil {
				return err
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
	s.end(r.uid, r.validity, true)
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
	undone := len(s.queue) + len(s.isolate) + len(s.fetchBatch) + len(s.ready) + len(w.inflight) + len(w.pending) + len(w.retry)
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
// moment to return after that; what came back is applied; LOGOUT. It stops
// early once the connection is gone: the rest is handled by the next run.
func (s *session) shutdown(keepalive <-chan time.Time) {
	s.dropReady()
	s.queue, s.isolate = nil, nil
	// Bounded by the connection deadlines.
	if s.dropFetches() {
		return
	}
	if s.applying && s.applied(<-s.applyDone) != nil {
		return
	}
	if !s.awaitHandlers(keepalive) {
		return
	}
	s.collect()
	if len(s.w.pending) > 0 && s.apply() != nil {
		return
	}
	if n := len(s.w.inflight); n > 0 {
		s.log.Warn("handlers did not finish within the shutdown grace; their messages stay undone", "count", n)
	}
	_ = s.c.Logout().Wait()
}

// awaitHandlers applies the outcomes of the handlers still running as they
// come back, until none is left or the grace is over. It reports false once
// the connection is gone.
func (s *session) awaitHandlers(keepalive <-chan time.Time) bool {
	w := s.w
	hdone := w.hctx.Done()
	var late <-chan time.Time
	for len(w.inflight)+w.stale > 0 {
		select {
		case r := <-w.results:
			s.accept(r)
			s.collect()
			if s.apply() != nil {
				return false
			}
		case <-keepalive:
			if s.noop() != nil {
				return false
			}
		case <-s.c.Closed():
			return false
		case <-hdone:
			// Grace is over and handler contexts are cancelled: give
			// handlers that honour it a moment to report.
			hdone = nil
			late = time.After(lateResultWait)
		case <-late:
			return true
		}
	}
	return true
}
