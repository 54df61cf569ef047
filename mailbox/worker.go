package mailbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// hardStopMargin is how long after ShutdownGrace a session that is still
// blocked on the network gets its connection closed.
const hardStopMargin = 2 * time.Second

// lateResultWait is how long, once handler contexts are cancelled, a
// stopping session still waits for handlers that honour the cancellation.
const lateResultWait = 250 * time.Millisecond

// result is a Handler's outcome for one message.
type result struct {
	uid      imap.UID
	validity uint32
	date     time.Time
	out      Outcome
}

// worker owns one watched mailbox across connections: handlers still in
// flight when a connection drops report to the next one, so no message is
// handled twice because of a reconnect.
type worker struct {
	a       *Account
	cfg     *Config
	mailbox string
	log     *slog.Logger
	hctx    context.Context // handlers' context: cancelled ShutdownGrace after Run's

	results  chan result
	jobs     chan *Message          // unbuffered: taken only by an idle handler goroutine
	inflight map[imap.UID]time.Time // uid → INTERNALDATE
	stale    int                    // in flight from before a UIDVALIDITY change
	pending  []result               // outcomes not yet applied on the server
	retry    map[imap.UID]retryInfo
	validity uint32
}

func newWorker(a *Account, mailbox string, hctx context.Context) *worker {
	return &worker{
		a:        a,
		cfg:      &a.cfg,
		mailbox:  mailbox,
		log:      a.log.With("mailbox", mailbox),
		hctx:     hctx,
		results:  make(chan result, a.cfg.Concurrency),
		jobs:     make(chan *Message),
		inflight: map[imap.UID]time.Time{},
		retry:    map[imap.UID]retryInfo{},
	}
}

func (w *worker) setState(st State) {
	w.a.update(w.mailbox, func(s *MailboxStatus) { s.State = st })
}

func (w *worker) run(ctx context.Context) {
	bo := reconnectBackOff(w.cfg)
	for ctx.Err() == nil {
		w.setState(StateConnecting)
		start := time.Now()
		healthy, err := w.session(ctx)
		w.a.update(w.mailbox, func(s *MailboxStatus) { s.Connected = false })
		if ctx.Err() != nil {
			w.connected(false, nil)
			break
		}
		if err == nil {
			err = errors.New("session ended")
		}
		w.log.Warn("imap session failed", "err", err)
		w.a.recordError(w.mailbox, err)
		w.connected(false, err)
		// A session that worked for a while resets the backoff; one that
		// fails right after login does not, so a flapping server is not
		// hammered.
		if healthy && time.Since(start) > 30*time.Second {
			bo.Reset()
		}
		w.setState(StateBackoff)
		if !sleepCtx(ctx, bo.NextBackOff()) {
			break
		}
		if ev := w.a.ev.Reconnect; ev != nil {
			ev(w.cfg.Name)
		}
	}
	// Outcomes still pending without a connection are dropped: the messages
	// stay undone and are handled again by the next run (at-least-once).
	if n := len(w.pending) + len(w.inflight); n > 0 {
		w.log.Info("stopped with outcomes not applied; they will be handled again", "count", n)
	}
	w.setState(StateStopped)
}

// session is one connection's life. healthy reports that it got as far as
// watching the mailbox.
func (w *worker) session(ctx context.Context) (healthy bool, err error) {
	s := &session{
		w:         w,
		cfg:       w.cfg,
		log:       w.log,
		newMail:   make(chan struct{}, 1),
		fetchMsgs: make(chan *fetchedMessage, maxFetches*w.cfg.BatchSize),
		fetchDone: make(chan fetchResult, maxFetches),
		applyDone: make(chan applyResult, 1),
		known:     map[imap.UID]bool{},
		noticedAt: map[imap.UID]time.Time{},
		created:   map[string]bool{},
	}
	uh := &imapclient.UnilateralDataHandler{
		// Runs on the client's reader goroutine and blocks it: only record
		// the time and signal.
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages == nil {
				return
			}
			s.noticed.CompareAndSwap(0, time.Now().UnixNano())
			select {
			case s.newMail <- struct{}{}:
			default:
			}
		},
	}
	if s.c, s.dc, err = w.a.dial(ctx, uh); err != nil {
		return false, err
	}
	hard := context.AfterFunc(ctx, func() {
		time.AfterFunc(w.cfg.ShutdownGrace+hardStopMargin, func() { _ = s.c.Close() })
	})
	defer hard()
	// Fetches wait for Buffer space at most as long as handlers run. The
	// connection closes first: fetches still in flight end with it.
	s.fetchCtx, s.cancelFetch = context.WithCancel(w.hctx)
	defer func() {
		_ = s.c.Close()
		s.release()
	}()

	sel, err := s.c.Select(w.mailbox, nil).Wait()
	if err != nil {
		return false, fmt.Errorf("select %q: %w", w.mailbox, ctxErr(ctx, err))
	}
	w.checkValidity(sel.UIDValidity)
	if err := s.configure(sel); err != nil {
		return false, err
	}
	w.a.update(w.mailbox, func(st *MailboxStatus) {
		st.Connected, st.UIDValidity, st.State = true, sel.UIDValidity, StateWorking
	})
	w.connected(true, nil)
	w.log.Info("watching mailbox", "uidvalidity", sel.UIDValidity, "messages", sel.NumMessages,
		"idle", s.hasIdle, "move", s.hasMove, "keyword", s.useKeyword)
	err = s.loop(ctx)
	if s.applying {
		// Close first so the background apply fails fast; what it could
		// not confirm stays pending for the next connection.
		_ = s.c.Close()
		_ = s.applied(<-s.applyDone) // the session already has its error
	}
	return true, err
}

// checkValidity forgets the mailbox state when the mailbox's UIDVALIDITY
// changed: its UIDs mean other messages now.
func (w *worker) checkValidity(v uint32) {
	if w.validity != 0 && v != w.validity {
		w.log.Warn("UIDVALIDITY changed: forgetting mailbox state and rescanning", "old", w.validity, "new", v)
		w.stale += len(w.inflight)
		w.inflight = map[imap.UID]time.Time{}
		w.pending = nil
		w.retry = map[imap.UID]retryInfo{}
	}
	w.validity = v
}

// connected reports the connection going up or down to the Events.
func (w *worker) connected(up bool, err error) {
	if ev := w.a.ev.Connected; ev != nil {
		ev(w.cfg.Name, w.mailbox, up, err)
	}
}

// handlerIdle is how long a handler goroutine waits for the next message
// before it exits.
const handlerIdle = time.Second

// start hands m to a handler goroutine that is waiting for work, or starts
// one. Reusing goroutines during a backlog spares each message a new
// goroutine's stack growth (about a tenth of the pipeline's CPU), while an
// idle mailbox keeps none. dispatch bounds how many run at once.
func (w *worker) start(m *Message) {
	select {
	case w.jobs <- m:
	default:
		go w.serve(m)
	}
}

// serve handles m, then further messages from start until none comes for
// handlerIdle.
func (w *worker) serve(m *Message) {
	idle := time.NewTimer(handlerIdle)
	defer idle.Stop()
	for {
		w.handle(m)
		idle.Reset(handlerIdle)
		select {
		case m = <-w.jobs:
		case <-idle.C:
			return
		}
	}
}

// handle runs the Handler for m and reports the outcome. A panic is a Retry.
func (w *worker) handle(m *Message) {
	r := result{uid: imap.UID(m.UID), validity: m.UIDValidity, date: m.InternalDate}
	defer func() {
		if p := recover(); p != nil {
			w.log.Error("handler panicked", "uid", m.UID, "panic", fmt.Sprint(p))
			r.out = Outcome{Verdict: Retry, Reason: "handler panicked"}
		}
		w.cfg.Buffer.release(m.held)
		w.results <- r
	}()
	r.out = w.a.handler(w.hctx, m)
}
