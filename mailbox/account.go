package mailbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
)

// Account watches the mailboxes of one IMAP account: one goroutine and one
// connection per mailbox.
type Account struct {
	cfg     Config
	handler Handler
	ev      Events
	log     *slog.Logger

	mu      sync.Mutex
	running bool
	status  Status
	boxes   map[string]*MailboxStatus
}

// New validates cfg, applies defaults and returns an Account ready to Run.
func New(cfg Config, h Handler, ev Events, log *slog.Logger) (*Account, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, fmt.Errorf("mailbox: account %q: handler is nil", cfg.Name)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Account{
		cfg:     cfg,
		handler: h,
		ev:      ev,
		log:     log.With("account", cfg.Name),
		status:  Status{Account: cfg.Name},
		boxes:   map[string]*MailboxStatus{},
	}
	if cfg.InsecureSkipVerify && cfg.TLS != TLSNone {
		// Opt-in only; anyone on the path can then read the password.
		a.log.Warn("mailbox: TLS certificate verification is off (insecure_skip_verify)")
	}
	a.status.Mailboxes = make([]MailboxStatus, len(cfg.Mailboxes))
	for i, m := range cfg.Mailboxes {
		a.status.Mailboxes[i] = MailboxStatus{Mailbox: m, State: StateStopped}
		a.boxes[m] = &a.status.Mailboxes[i]
	}
	return a, nil
}

// Config returns the effective configuration (defaults applied).
func (a *Account) Config() Config { return a.cfg }

// Run watches every mailbox until ctx is cancelled, then stops gracefully:
// no new fetches, in-flight handlers get ShutdownGrace (then their context is
// cancelled), outcomes that came back are applied, LOGOUT. It returns nil
// after a graceful stop. Run may be called again after it returned.
func (a *Account) Run(ctx context.Context) error {
	a.mu.Lock()
	if a.running {
		a.mu.Unlock()
		return fmt.Errorf("mailbox: account %q is already running", a.cfg.Name)
	}
	a.running = true
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.running = false
		a.mu.Unlock()
	}()

	// Handlers must outlive ctx by ShutdownGrace: their context is separate.
	hctx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()
	stopTimer := context.AfterFunc(ctx, func() {
		time.AfterFunc(a.cfg.ShutdownGrace, cancelHandlers)
	})
	defer stopTimer()

	var wg sync.WaitGroup
	for _, m := range a.cfg.Mailboxes {
		w := newWorker(a, m, hctx)
		wg.Go(func() { w.run(ctx) })
	}
	wg.Wait()
	return nil
}

// Status returns a snapshot.
func (a *Account) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.status
	s.Mailboxes = append([]MailboxStatus(nil), a.status.Mailboxes...)
	return s
}

// update mutates one mailbox's status under the lock.
func (a *Account) update(mailbox string, f func(*MailboxStatus)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if b := a.boxes[mailbox]; b != nil {
		f(b)
	}
}

func (a *Account) recordError(mailbox string, err error) {
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.status.LastError, a.status.LastErrorAt = err.Error(), now
	if b := a.boxes[mailbox]; b != nil {
		b.LastError, b.LastErrorAt = err.Error(), now
	}
}

// sleepCtx waits d or until ctx ends; it reports whether the full d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// isConnErr reports whether err means the connection is unusable, as opposed
// to a NO or BAD answer to one command.
func isConnErr(err error) bool {
	if err == nil {
		return false
	}
	var ie *imap.Error
	return !errors.As(err, &ie)
}
