// Package daemon wires mailbox → classifier → queue: the pipeline, the state
// store, hot reload, the admin HTTP server, metrics and graceful shutdown.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/triage-dev/triage/classifier"
	"github.com/triage-dev/triage/internal/fileerr"
	"github.com/triage-dev/triage/mailbox"
	"github.com/triage-dev/triage/queue"
	"github.com/triage-dev/triage/rules"
	"github.com/triage-dev/triage/ticket"
)

// Options are the parts of a daemon that do not come from triage.yaml.
type Options struct {
	Log     *slog.Logger
	Version string // build version for /status and triage_build_info
	Commit  string
	// OnTicket, if set, is called after each message was handled (forwarded,
	// dropped or redelivered); the demo prints it, benchmarks time it.
	OnTicket func(h Handled)
	// Dial, if set, replaces net.Dial for IMAP connections (fault tests).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// DisableHTTP skips the admin server (tests that run many daemons).
	DisableHTTP bool
}

// Daemon is one running triage instance.
type Daemon struct {
	opts     Options
	log      *slog.Logger
	metrics  *Metrics
	store    *Store
	reloader *rules.Reloader

	cfg    atomic.Pointer[Config]
	router atomic.Pointer[queue.Router]
	buffer *mailbox.Buffer // fetched mail in memory, shared by every account
	queues *queueStats

	classifiers sync.Pool

	leaser *leaser // nil unless lease: is configured

	mu       sync.Mutex // guards sinks, accounts
	sinks    map[string]sinkEntry
	accounts map[string]*runningAccount
	runCtx   context.Context
	wg       sync.WaitGroup
	records  backgroundWrites // writes to the state store off the message's path

	configReload atomic.Pointer[configReloadResult]
	started      time.Time
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

// Handled is one message the pipeline finished with.
type Handled struct {
	Ticket  *ticket.Ticket
	Outcome string    // forwarded, dropped or redelivery
	Noticed time.Time // when the server's EXISTS announced it; zero for backlog mail
	At      time.Time // when the sink acknowledged it (or the drop was decided)
}

type sinkEntry struct {
	cfg  queue.Config
	sink queue.Sink
}

type runningAccount struct {
	cfg    AccountConfig
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

type configReloadResult struct {
	At  time.Time
	Err string
}

// New validates everything that can fail before any mail is touched: the
// state store, the rules (load, lint, own tests, queue names) and the sinks.
func New(cfg *Config, opts Options) (*Daemon, error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	d := &Daemon{
		opts:     opts,
		log:      opts.Log,
		metrics:  NewMetrics(),
		queues:   newQueueStats(),
		sinks:    map[string]sinkEntry{},
		accounts: map[string]*runningAccount{},
		started:  time.Now(),
	}
	d.classifiers.New = func() any { return classifier.New() }
	d.buffer = mailbox.NewBuffer(cfg.MaxBufferedBytes)
	d.metrics.observeBuffer(d.buffer)
	d.metrics.BuildInfo.WithLabelValues(opts.Version, opts.Commit).Set(1)
	d.cfg.Store(cfg)

	stateDir := cfg.StateDir
	if stateDir == "" {
		return nil, errors.New("state_dir: required")
	}
	store, err := OpenStore(cfg.Resolve(stateDir), cfg.DedupeWindow.D())
	if err != nil {
		return nil, err
	}
	d.store = store

	if err := d.buildSinks(cfg); err != nil {
		_ = store.Close()
		return nil, err
	}

	rl, err := rules.NewReloader(rules.ReloaderConfig{
		Path:     cfg.Resolve(cfg.Rules),
		Validate: d.validateRules,
		Log:      d.log,
		OnResult: d.onReload,
	})
	if err != nil {
		d.closeSinks()
		_ = store.Close()
		return nil, fmt.Errorf("rules: %w", err)
	}
	d.reloader = rl
	d.onReload(rl.Last())
	return d, nil
}

// Metrics returns the daemon's metrics (tests scrape them).
func (d *Daemon) Metrics() *Metrics { return d.metrics }

// Rules returns the active rule set holder.
func (d *Daemon) Rules() *rules.Reloader { return d.reloader }

// validateRules is what a rule set must pass before it is activated, beyond
// loading: its own tests, and every queue it can produce must exist.
func (d *Daemon) validateRules(set *rules.Set) error {
	return ValidateRuleSet(set, d.cfg.Load())
}

// queueProblems names, at the rule that sets it, every queue set can
// produce that cfg does not define.
func queueProblems(set *rules.Set, cfg *Config) fileerr.List {
	if cfg == nil {
		return nil
	}
	var problems fileerr.List
	where := "under queues: in " + cfg.Path
	if _, ok := cfg.Queues[set.Defaults.Queue]; !ok && len(set.Files) > 0 {
		problems = append(problems, fileerr.Error{File: set.Files[0], Line: 1, Col: 1,
			Msg: fmt.Sprintf("defaults: queue %q is not defined %s", set.Defaults.Queue, where)})
	}
	for _, r := range set.Rules() {
		if r.Queue == "" {
			continue
		}
		if _, ok := cfg.Queues[r.Queue]; !ok {
			problems = append(problems, fileerr.Error{File: r.File, Line: r.Line, Col: r.Col,
				Msg: fmt.Sprintf("rule %q sets queue %q, which is not defined %s", r.Name, r.Queue, where)})
		}
	}
	return problems
}

// ValidateRuleSet runs a rule set's own tests and checks its queue names
// against cfg; the daemon and reload share it. Problems are positioned at
// the rule or test that causes them.
func ValidateRuleSet(set *rules.Set, cfg *Config) error {
	problems := queueProblems(set, cfg)
	for _, r := range set.RunTests(set.Tests, classifier.TestEnvFor(set)) {
		if len(r.Failures) > 0 {
			problems = append(problems, fileerr.Error{File: r.Test.File, Line: r.Test.Line, Col: 1,
				Msg: fmt.Sprintf("test %q failed: %s", r.Test.Name, strings.Join(r.Failures, "; "))})
		}
	}
	if len(problems) > 0 {
		return problems
	}
	return nil
}

func (d *Daemon) onReload(r rules.ReloadResult) {
	switch {
	case r.Err != nil:
		d.metrics.ReloadSuccess.Set(0)
		d.metrics.ReloadsTotal.WithLabelValues("failed").Inc()
	case r.Changed:
		d.metrics.ReloadSuccess.Set(1)
		d.metrics.ReloadTimestamp.Set(float64(r.At.Unix()))
		d.metrics.ReloadsTotal.WithLabelValues("ok").Inc()
		d.metrics.SetRulesVersion(r.Version)
	default:
		d.metrics.ReloadSuccess.Set(1)
		d.metrics.ReloadsTotal.WithLabelValues("unchanged").Inc()
	}
}

// buildSinks (re)creates the sinks whose config changed and swaps in a new router.
func (d *Daemon) buildSinks(cfg *Config) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	next := map[string]sinkEntry{}
	var created []queue.Sink
	for name, qc := range cfg.Queues {
		if old, ok := d.sinks[name]; ok && reflect.DeepEqual(old.cfg, qc) {
			next[name] = old
			continue
		}
		s, err := queue.New(name, qc, cfg.Resolve("."), d.log.With("queue", name))
		if err != nil {
			for _, c := range created {
				_ = c.Close()
			}
			return fmt.Errorf("queue %q: %w", name, err)
		}
		created = append(created, s)
		next[name] = sinkEntry{cfg: qc, sink: s}
	}
	sinks := make(map[string]queue.Sink, len(next))
	for n, e := range next {
		sinks[n] = e.sink
	}
	d.router.Store(queue.NewRouter(sinks, cfg.Queues, d.log, d.queueObserver()))
	// Sinks no longer used are closed once in-flight deliveries had time to finish.
	var stale []queue.Sink
	for name, old := range d.sinks {
		if e, ok := next[name]; !ok || e.sink != old.sink {
			stale = append(stale, old.sink)
		}
	}
	d.sinks = next
	if len(stale) > 0 {
		go func() {
			time.Sleep(cfg.ShutdownTimeout.D() + time.Minute)
			for _, s := range stale {
				_ = s.Close()
			}
		}()
	}
	return nil
}

func (d *Daemon) closeSinks() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, e := range d.sinks {
		if err := e.sink.Close(); err != nil {
			d.log.Warn("close sink", "err", err)
		}
	}
	d.sinks = map[string]sinkEntry{}
}

// Run starts every account, the watcher and the admin server and blocks
// until ctx is cancelled; then it stops taking new mail, lets in-flight
// messages finish within shutdown_timeout and returns.
func (d *Daemon) Run(ctx context.Context) error {
	cfg := d.cfg.Load()
	defer d.closeSinks()
	defer d.store.Close()

	bg, cancelBG := context.WithCancel(context.Background())
	defer cancelBG()

	var httpErr chan error
	if !d.opts.DisableHTTP {
		srv, err := d.startHTTP(cfg)
		if err != nil {
			return err
		}
		httpErr = make(chan error, 1)
		go func() { httpErr <- srv.serve() }()
		defer srv.shutdown()
	}

	go d.store.RunPruner(bg, func(err error) { d.log.Warn("state prune failed", "err", err) })
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		if err := d.reloader.Watch(bg); err != nil && bg.Err() == nil {
			d.log.Error("rules watcher stopped; reload with SIGHUP or POST /-/reload", "err", err)
		}
	}()

	if cfg.Lease != nil {
		l, err := newLeaser(ctx, cfg, d.log)
		if err != nil {
			return err
		}
		defer l.close()
		d.leaser = l
	}
	d.mu.Lock()
	d.runCtx = ctx
	d.mu.Unlock()
	d.syncAccounts(cfg)
	d.log.Info("triage started", "accounts", len(cfg.Accounts), "queues", len(cfg.Queues),
		"rules_version", d.reloader.Active().Current().Version)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-hup:
			d.log.Info("SIGHUP: reloading config and rules")
			_ = d.ReloadConfig()
			d.ReloadRules(ctx)
		case err := <-httpErr:
			if err != nil {
				d.log.Error("admin http server failed", "err", err)
			}
			httpErr = nil
		}
	}
	d.log.Info("shutting down: no new mail is taken, in-flight messages finish", "deadline", cfg.ShutdownTimeout.D())
	waited := make(chan struct{})
	go func() { d.wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(cfg.ShutdownTimeout.D() + 5*time.Second):
		d.log.Warn("shutdown deadline passed with accounts still stopping")
	}
	cancelBG()
	<-watchDone
	d.records.Close()
	d.log.Info("triage stopped")
	return nil
}

// syncAccounts starts accounts that are new or changed and stops those that
// were removed or changed; unchanged ones keep their connections.
func (d *Daemon) syncAccounts(cfg *Config) {
	d.mu.Lock()
	defer d.mu.Unlock()
	want := map[string]AccountConfig{}
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
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, ok := d.accounts[name]; ok {
			continue
		}
		if err := d.startAccount(cfg, want[name]); err != nil {
			d.log.Error("account not started", "account", name, "err", err)
		}
	}
}

func (d *Daemon) startAccount(cfg *Config, a AccountConfig) error {
	ev := newAccountEvents(a.Name, len(a.Mailboxes), d.metrics)
	mc := mailbox.Config{
		Name:               a.Name,
		Addr:               a.Addr,
		TLS:                a.TLS,
		InsecureSkipVerify: a.InsecureSkipVerify,
		Username:           a.Username,
		Auth:               "plain",
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
		Buffer:             d.buffer,
		ShutdownGrace:      cfg.ShutdownTimeout.D(),
		Timeout:            a.Timeout.D(),
		RetryBackoff:       a.RetryBackoff.D(),
		ReconnectMin:       a.ReconnectMin.D(),
		ReconnectMax:       a.ReconnectMax.D(),
	}
	if a.OAuth2 != nil {
		mc.Auth = a.OAuth2.Mechanism
		name := a.Name
		mc.Secret = withExpiry(mc.Secret, func(exp time.Time) {
			d.metrics.TokenExpiry.WithLabelValues(name).Set(float64(exp.Unix()))
		})
	}
	if d.opts.Dial != nil {
		mc.Dial = d.opts.Dial
	}
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
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
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
	}()
	return nil
}

// ReloadConfig re-reads triage.yaml (SIGHUP): accounts added or removed start
// or stop, changed sinks are rebuilt; a broken file changes nothing.
func (d *Daemon) ReloadConfig() error {
	old := d.cfg.Load()
	next, err := LoadConfig(old.Path)
	if err == nil && next.Rules != old.Rules {
		err = fmt.Errorf("rules: changing the rules path needs a restart (was %q)", old.Rules)
	}
	if err == nil && next.MaxBufferedBytes != old.MaxBufferedBytes {
		err = fmt.Errorf("max_buffered_bytes: changing it needs a restart (was %d)", old.MaxBufferedBytes)
	}
	if err == nil {
		if p := queueProblems(d.reloader.Active().Current(), next); len(p) > 0 {
			err = fmt.Errorf("the new config lacks queues the active rules use:\n%w", p)
		}
	}
	if err == nil {
		err = d.buildSinks(next)
	}
	if err != nil {
		d.configReload.Store(&configReloadResult{At: time.Now(), Err: err.Error()})
		d.log.Error("config reload failed; keeping the running config", "err", err)
		return err
	}
	d.cfg.Store(next)
	d.syncAccounts(next)
	d.configReload.Store(&configReloadResult{At: time.Now()})
	d.log.Info("config reloaded", "accounts", len(next.Accounts), "queues", len(next.Queues))
	return nil
}

// ReloadRules re-reads the rules now (SIGHUP, POST /-/reload).
func (d *Daemon) ReloadRules(ctx context.Context) rules.ReloadResult {
	return d.reloader.Reload(ctx)
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
