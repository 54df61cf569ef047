package daemon

import (
	"context"
	"maps"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/triage-dev/triage/config"
	"github.com/triage-dev/triage/mailbox"
	"github.com/triage-dev/triage/oauth"
)

type runningAccount struct {
	cfg    config.AccountConfig
	cancel context.CancelFunc
	done   chan struct{}
	events *accountEvents

	mu      sync.Mutex
	account *mailbox.Account // nil while standing by for the lease
}

func (ra *runningAccount) current() *mailbox.Account {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	return ra.account
}

func (ra *runningAccount) set(a *mailbox.Account) {
	ra.mu.Lock()
	ra.account = a
	ra.mu.Unlock()
}

// syncAccounts starts accounts that are new or changed and stops those that
// were removed or changed; unchanged ones keep their connections.
func (d *Daemon) syncAccounts(cfg *config.Config) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.runCtx == nil {
		return // not running yet: Run starts them from the config it loads
	}
	want := map[string]config.AccountConfig{}
	for _, a := range cfg.Accounts {
		want[a.Name] = a
	}
	for name, ra := range d.accounts {
		if a, ok := want[name]; ok && reflect.DeepEqual(a, ra.cfg) {
			continue
		}
		d.log.Info("stopping account", "account", name)
		ra.cancel()
		<-ra.done
		delete(d.accounts, name)
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if _, ok := d.accounts[name]; ok {
			continue
		}
		if err := d.startAccount(cfg, want[name]); err != nil {
			d.log.Error("account not started", "account", name, "err", err)
		}
	}
}

func (d *Daemon) startAccount(cfg *config.Config, a config.AccountConfig) error {
	ev := newAccountEvents(a.Name, len(a.Mailboxes), d.metrics, func(f FiledMessage) { d.keepFiled(a.Name, f) })
	mc := MailboxConfig(cfg, a)
	mc.Buffer = d.buffer
	name := a.Name
	setExpiry := func(exp time.Time) { d.metrics.TokenExpiry.WithLabelValues(name).Set(float64(exp.Unix())) }
	var src *oauth.Source
	switch {
	case a.OAuth2 != nil && a.OAuth2.Provider != "":
		d.metrics.OAuthRefreshFailures.WithLabelValues(name)
		oc := oauthConfig(cfg, a)
		oc.Log = d.log
		oc.OnToken = func(exp time.Time) {
			if !exp.IsZero() {
				setExpiry(exp)
			}
		}
		oc.OnFailure = func(error) { d.metrics.OAuthRefreshFailures.WithLabelValues(name).Inc() }
		var err error
		if src, err = oauth.New(oc); err != nil {
			return err
		}
		mc.Secret = src.Token
		ev.oauth = src
	case a.OAuth2 != nil:
		mc.Secret = withExpiry(mc.Secret, setExpiry)
	}
	if d.opts.Dial != nil {
		mc.Dial = d.opts.Dial
	}
	mc.Journal = &journal{account: a.Name, store: d.store, onErr: func(err error) {
		d.log.Warn("state store: in-flight record not cleared", "account", a.Name, "err", err)
	}}
	// mailbox adds the account attribute to its log lines.
	acct, err := mailbox.New(mc, d.handle, ev.events(), d.log)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(d.runCtx)
	ra := &runningAccount{cfg: a, cancel: cancel, done: make(chan struct{}), events: ev}
	d.accounts[a.Name] = ra
	serve := func(ctx context.Context) {
		if acct == nil { // a later lease: a fresh account, state and all
			fresh, err := mailbox.New(mc, d.handle, ev.events(), d.log)
			if err != nil {
				d.log.Error("account not started", "account", a.Name, "err", err)
				<-ctx.Done()
				return
			}
			acct = fresh
		}
		ra.set(acct)
		if err := acct.Run(ctx); err != nil {
			d.log.Error("account stopped", "account", a.Name, "err", err)
		}
		acct = nil
	}
	if src != nil {
		// Refreshes for as long as the account is configured, standby
		// included: a takeover then finds a token ready.
		d.wg.Go(func() { src.Run(ctx) })
	}
	d.wg.Go(func() {
		defer close(ra.done)
		if d.leaser == nil {
			serve(ctx)
			return
		}
		ev.setLease(true, false)
		d.leaser.hold(ctx, a.Name, func(held bool) {
			ev.setLease(true, held)
			if !held {
				ra.set(nil)
			}
		}, serve)
	})
	return nil
}

// MailboxConfig is the mailbox layer's view of one account of cfg, with its
// secret source; what only a running daemon has (the shared buffer, token
// expiry metrics) is added by the daemon.
func MailboxConfig(cfg *config.Config, a config.AccountConfig) mailbox.Config {
	mc := mailbox.Config{
		Name:               a.Name,
		Addr:               a.Addr,
		TLS:                a.TLS,
		InsecureSkipVerify: a.InsecureSkipVerify,
		Username:           a.Username,
		Auth:               mailbox.AuthPlain,
		Secret:             secretSource(cfg, a),
		Mailboxes:          a.Mailboxes,
		DoneKeyword:        *a.Done.Keyword,
		DoneMoveTo:         a.Done.MoveTo,
		Quarantine:         a.Quarantine,
		Failed:             a.Failed,
		PollInterval:       a.PollInterval.D(),
		IdleRestart:        a.IdleRestart.D(),
		BatchSize:          a.BatchSize,
		Concurrency:        a.Concurrency,
		MaxMessageBytes:    cfg.MaxMessageBytes,
		ShutdownGrace:      cfg.ShutdownTimeout.D(),
		Timeout:            a.Timeout.D(),
		RetryBackoff:       a.RetryBackoff.D(),
		ReconnectMin:       a.ReconnectMin.D(),
		ReconnectMax:       a.ReconnectMax.D(),
	}
	if a.OAuth2 != nil {
		mc.Auth = a.OAuth2.Mechanism
	}
	return mc
}
