// Package daemon runs triage: it wires mailbox → classifier → queue into the
// per-message pipeline, and owns the admin HTTP server, the metrics, the
// state store of handled ids and of the messages in flight (poison-message
// quarantine), failover leases, hot reload of rules and
// config, and graceful shutdown. It must not know MIME parsing (classifier),
// rule syntax (rules), a sink's protocol (queue) or how triage.yaml is read
// and checked (config).
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/triage-dev/triage/classifier"
	"github.com/triage-dev/triage/config"
	"github.com/triage-dev/triage/mailbox"
	"github.com/triage-dev/triage/queue"
	"github.com/triage-dev/triage/rules"
)

// Options are the parts of a daemon that do not come from triage.yaml.
type Options struct {
	Log     *slog.Logger
	Version string // build version for /status and triage_build_info
	Commit  string
	// OnTicket, if set, is called after each message was handled (forwarded,
	// dropped or redelivered); the demo prints it, benchmarks time it.
	OnTicket func(h Handled)
	// CrashReports has the Go runtime write a crash report to the state
	// directory, which the next start reads to find the messages that were
	// in flight when the process crashed (see poison.go). The setting is
	// process-wide: `triage run` sets it, tests that run several daemons
	// in one process do not.
	CrashReports bool
	// Dial, if set, replaces net.Dial for IMAP connections (fault tests).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// DisableHTTP skips the admin server (tests that run many daemons).
	DisableHTTP bool
	// OnHTTP, if set, is told the admin server's address once it listens.
	OnHTTP func(addr net.Addr)
}

// Daemon is one running triage instance.
type Daemon struct {
	opts           Options
	log            *slog.Logger
	metrics        *Metrics
	store          *Store
	problems       atomic.Pointer[problemState] // nil when problems.enabled is false; a config reload swaps it
	problemMetrics problemMetrics
	reloader       *rules.Reloader

	cfg    atomic.Pointer[config.Config]
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
	feed         *consoleFeed // nil when the console is off
}

// New validates everything that can fail before any mail is touched: the
// state store, the rules (load, lint, own tests, queue names) and the sinks.
func New(cfg *config.Config, opts Options) (*Daemon, error) {
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
	if cfg.Console.On() {
		d.feed = newConsoleFeed(cfg.Console.Recent)
	}
	d.classifiers.New = func() any { return classifier.New() }
	d.buffer = mailbox.NewBuffer(cfg.MaxBufferedBytes)
	d.buffer.CountOverhead(queue.ForwardOverhead)
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
	ps, err := newProblemState(cfg.Problems, store)
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	d.problems.Store(ps)
	d.problemMetrics = newProblemMetrics(d.metrics, &d.problems)

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
	d.reloader = rl // its initial load already reported through onReload
	return d, nil
}

// Metrics returns the daemon's metrics (tests scrape them).
func (d *Daemon) Metrics() *Metrics { return d.metrics }

// Rules returns the active rule set holder.
func (d *Daemon) Rules() *rules.Reloader { return d.reloader }

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
	// Before any mailbox starts: its sessions ask the journal about each
	// message.
	if err := d.countCrash(cfg.Resolve(cfg.StateDir)); err != nil {
		return err
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

// countCrash reads the previous run's crash report, if any, and turns the
// messages it left in flight into suspects.
func (d *Daemon) countCrash(stateDir string) error {
	crashed := false
	if d.opts.CrashReports {
		var err error
		if crashed, err = takeCrashReport(stateDir); err != nil {
			return err
		}
	}
	inflight, condemned, err := d.store.countCrash(crashed)
	if err != nil {
		return err
	}
	if crashed {
		d.log.Error("the previous run crashed; messages it had in flight are handled alone, those that crashed it twice are quarantined",
			"report", filepath.Join(stateDir, lastCrashFile), "in_flight", inflight, "to_quarantine", condemned)
	}
	return nil
}
