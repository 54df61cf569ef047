package daemon

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/triage-dev/triage/mailbox"
	"github.com/triage-dev/triage/oauth"
)

// accountEvents turns the mailbox's callbacks into metrics and a status
// snapshot. Callbacks must not block: they only touch metrics and a map.
type accountEvents struct {
	name    string
	metrics *Metrics
	filed   func(FiledMessage) // records a message quarantined unfetched; nil in tests

	mu        sync.Mutex
	mailboxes int             // watched
	up        map[string]bool // mailbox → its connection is up
	connected bool            // every watched mailbox's connection is up
	lastErr   string
	errAt     time.Time
	upSince   time.Time
	attempts  int
	idle      map[string]bool // mailbox → in IDLE; the rest comes from the mailbox layer's snapshot
	leased    bool            // the account is served under a lease
	leaseHeld bool
	oauth     *oauth.Source // nil unless triage gets the account's tokens itself
}

// setLease records whether this daemon holds the account's lease.
func (e *accountEvents) setLease(leased, held bool) {
	e.mu.Lock()
	e.leased, e.leaseHeld = leased, held
	e.mu.Unlock()
	e.metrics.LeaseHeld.WithLabelValues(e.name).Set(gauge(held))
	if !held {
		e.metrics.IMAPConnected.WithLabelValues(e.name).Set(0)
	}
}

// gauge is a yes/no gauge's value.
func gauge(on bool) float64 {
	if on {
		return 1
	}
	return 0
}

func newAccountEvents(name string, mailboxes int, m *Metrics, filed func(FiledMessage)) *accountEvents {
	m.IMAPConnected.WithLabelValues(name).Set(0)
	m.IMAPReconnects.WithLabelValues(name)
	return &accountEvents{name: name, metrics: m, filed: filed, mailboxes: max(mailboxes, 1), up: map[string]bool{}, idle: map[string]bool{}}
}

func (e *accountEvents) events() mailbox.Events {
	return mailbox.Events{
		// The account counts as connected while every watched mailbox's
		// connection is up: one mailbox failing is an account problem.
		Connected: func(account, mb string, up bool, err error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.up[mb] = up
			all := len(e.up) >= e.mailboxes && !slices.Contains(slices.Collect(maps.Values(e.up)), false)
			switch {
			case all && !e.connected:
				e.upSince = time.Now()
				e.attempts = 0
			case !up:
				e.attempts++
			}
			e.connected = all
			e.metrics.IMAPConnected.WithLabelValues(e.name).Set(gauge(all))
			if err != nil {
				e.lastErr, e.errAt = err.Error(), time.Now()
			}
		},
		Reconnect: func(account string) {
			e.metrics.IMAPReconnects.WithLabelValues(e.name).Inc()
		},
		Idle: func(account, mb string, idling bool) {
			e.mu.Lock()
			e.idle[mb] = idling
			e.mu.Unlock()
			e.metrics.IMAPIdle.WithLabelValues(e.name, mb).Set(gauge(idling))
		},
		Backlog: func(account, mb string, undone int, oldest time.Time) {
			e.metrics.Backlog.WithLabelValues(e.name, mb).Set(float64(undone))
			e.metrics.SetOldest(e.name, mb, oldest)
		},
		// Mail over max_message_bytes is quarantined by the mailbox layer
		// unfetched; the pipeline never sees it, so it is counted here.
		Oversized: func(account, mb string, uid uint32) {
			e.metrics.Quarantined.WithLabelValues(e.name, "too_large").Inc()
			if e.filed != nil {
				e.filed(FiledMessage{At: time.Now().UTC(), Mailbox: mb, UID: uid, Folder: "quarantine",
					Reason: "larger than max_message_bytes (RFC822.SIZE); not fetched"})
			}
		},
		// A message blamed for crashes is quarantined unfetched, too.
		Crashed: func(account, mb string, uid uint32) {
			e.metrics.Quarantined.WithLabelValues(e.name, "crashed").Inc()
			if e.filed != nil {
				e.filed(FiledMessage{At: time.Now().UTC(), Mailbox: mb, UID: uid, Folder: "quarantine", Reason: mailbox.CrashedReason})
			}
		},
	}
}

// AccountStatus is one account in /status.
type AccountStatus struct {
	Name      string    `json:"name"`
	Lease     string    `json:"lease,omitempty"` // held or standby, when lease: is configured
	Connected bool      `json:"connected"`
	Since     time.Time `json:"connected_since,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	ErrorAt   time.Time `json:"last_error_at,omitzero"`
	// OAuth is the built-in token refresh (oauth2 provider set).
	OAuth     *oauth.Status   `json:"oauth,omitempty"`
	Mailboxes []MailboxStatus `json:"mailboxes"`
	// Filed are the last messages put in the quarantine or failed folder,
	// newest first, with why (kept in the state store across restarts).
	Filed []FiledMessage `json:"filed"`
}

// statusFiled is how many filed messages /status lists per account.
const statusFiled = 20

func (d *Daemon) lastFiled(account string) []FiledMessage {
	filed, err := d.store.Filed(account)
	if err != nil {
		d.log.Warn("state store: filed messages not read", "account", account, "err", err)
		return []FiledMessage{}
	}
	return filed[:min(len(filed), statusFiled)]
}

// MailboxStatus is one watched mailbox in /status.
type MailboxStatus struct {
	Mailbox     string    `json:"mailbox"`
	State       string    `json:"state"`
	Connected   bool      `json:"connected"`
	Idle        bool      `json:"idle"`
	UIDValidity uint32    `json:"uidvalidity,omitempty"`
	Backlog     int       `json:"backlog"` // messages not yet done: queued, in flight, waiting to retry
	Oldest      time.Time `json:"oldest_undone,omitzero"`
	InFlight    int       `json:"in_flight"`
	LastMessage time.Time `json:"last_message,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	Done        uint64    `json:"done"`
	Quarantined uint64    `json:"quarantined"`
	Failed      uint64    `json:"failed"`
	Retried     uint64    `json:"retried"`
}

// status merges the event-fed view (connection, IDLE) with the mailbox
// layer's own snapshot (state, backlog, counts, errors).
func (e *accountEvents) status(snap mailbox.Status) AccountStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := AccountStatus{Name: e.name, Connected: e.connected, LastError: e.lastErr, ErrorAt: e.errAt, Mailboxes: []MailboxStatus{}}
	switch {
	case e.leased && e.leaseHeld:
		s.Lease = "held"
	case e.leased:
		s.Lease, s.Connected = "standby", false
	}
	if e.connected {
		s.Since = e.upSince
	}
	if e.oauth != nil {
		st := e.oauth.Status()
		s.OAuth = &st
	}
	if snap.LastError != "" && snap.LastErrorAt.After(s.ErrorAt) {
		s.LastError, s.ErrorAt = snap.LastError, snap.LastErrorAt
	}
	for _, m := range snap.Mailboxes {
		ms := MailboxStatus{
			Mailbox: m.Mailbox, State: string(m.State), Connected: m.Connected, UIDValidity: m.UIDValidity,
			Backlog: m.Undone, Oldest: m.Oldest, InFlight: m.InFlight, LastMessage: m.LastMessage,
			LastError: m.LastError, LastErrorAt: m.LastErrorAt,
			Done: m.Done, Quarantined: m.Quarantined, Failed: m.Failed, Retried: m.Retried,
		}
		ms.Idle = e.idle[m.Mailbox]
		s.Mailboxes = append(s.Mailboxes, ms)
	}
	return s
}

// ready is true when the account is connected or has not yet failed twice in
// a row (inside its first backoff).
func (e *accountEvents) ready() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.connected || e.attempts <= 1 || (e.leased && !e.leaseHeld)
}

// queueStats counts per queue for /status (the metrics carry the same).
type queueStats struct {
	mu sync.Mutex
	q  map[string]*QueueStatus
}

// QueueStatus is one queue in /status.
type QueueStatus struct {
	Sent     int64 `json:"sent"`
	Failed   int64 `json:"failed_permanent"`
	TempErrs int64 `json:"errors_temporary"`
	Retrying int64 `json:"retrying"`
}

func newQueueStats() *queueStats { return &queueStats{q: map[string]*QueueStatus{}} }

// update changes the counts of queue name.
func (s *queueStats) update(name string, f func(*QueueStatus)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.q[name]
	if !ok {
		q = &QueueStatus{}
		s.q[name] = q
	}
	f(q)
}

func (s *queueStats) snapshot() map[string]QueueStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]QueueStatus, len(s.q))
	for k, v := range s.q {
		out[k] = *v
	}
	return out
}

// queueObserver feeds both the metrics and /status from the router.
type queueObserver struct{ d *Daemon }

func (d *Daemon) queueObserver() queueObserver { return queueObserver{d: d} }

func (o queueObserver) Sent(q string, _ time.Duration) {
	o.d.queues.update(q, func(s *QueueStatus) { s.Sent++ })
	o.d.metrics.Forwarded.WithLabelValues(q).Inc()
}

func (o queueObserver) Failed(q string, temporary bool) {
	kind := "permanent"
	if temporary {
		kind = "temporary"
	}
	o.d.queues.update(q, func(s *QueueStatus) {
		if temporary {
			s.TempErrs++
		} else {
			s.Failed++
		}
	})
	o.d.metrics.ForwardErrors.WithLabelValues(q, kind).Inc()
}

func (o queueObserver) Retrying(q string, delta int) {
	o.d.queues.update(q, func(s *QueueStatus) { s.Retrying += int64(delta) })
	o.d.metrics.ForwardRetrying.WithLabelValues(q).Add(float64(delta))
}

// Status is the /status document.
type Status struct {
	Version     string                 `json:"version"`
	StartedAt   time.Time              `json:"started_at"`
	Rules       RulesStatus            `json:"rules"`
	Config      *configReloadResult    `json:"config_reload,omitempty"`
	Accounts    []AccountStatus        `json:"accounts"`
	Queues      map[string]QueueStatus `json:"queues"`
	Ready       bool                   `json:"ready"`
	NotReadyWhy []string               `json:"not_ready,omitempty"`
}

// RulesStatus is the rules part of /status.
type RulesStatus struct {
	Path        string    `json:"path"`
	Version     string    `json:"version"`
	LastReload  time.Time `json:"last_reload"`
	LastOK      bool      `json:"last_reload_ok"`
	LastErrors  []string  `json:"last_reload_errors,omitempty"`
	LastVersion string    `json:"last_reload_version,omitempty"`
}

// Status returns a snapshot for /status and /readyz.
func (d *Daemon) Status() Status {
	cfg := d.cfg.Load()
	last := d.reloader.Last()
	st := Status{
		Version:   d.opts.Version,
		StartedAt: d.started,
		Rules: RulesStatus{
			Path: cfg.Resolve(cfg.Rules), Version: d.reloader.Active().Current().Version,
			LastReload: last.At, LastOK: last.Err == nil, LastErrors: last.Errors, LastVersion: last.Version,
		},
		Config: d.configReload.Load(),
		Queues: d.queues.snapshot(),
		Ready:  true,
	}
	for name := range cfg.Queues {
		if _, ok := st.Queues[name]; !ok {
			st.Queues[name] = QueueStatus{}
		}
	}
	d.mu.Lock()
	for _, n := range slices.Sorted(maps.Keys(d.accounts)) {
		ra := d.accounts[n]
		ev := ra.events
		var snap mailbox.Status
		if acct := ra.current(); acct != nil {
			snap = acct.Status()
		} else {
			for _, mb := range ra.cfg.Mailboxes {
				snap.Mailboxes = append(snap.Mailboxes, mailbox.MailboxStatus{Mailbox: mb, State: "standby"})
			}
		}
		as := ev.status(snap)
		as.Filed = d.lastFiled(n)
		st.Accounts = append(st.Accounts, as)
		if !ev.ready() {
			st.Ready = false
			st.NotReadyWhy = append(st.NotReadyWhy, "account "+n+" is not connected")
		}
	}
	d.mu.Unlock()
	if d.reloader.Active().Current() == nil {
		st.Ready = false
		st.NotReadyWhy = append(st.NotReadyWhy, "no rules loaded")
	}
	return st
}
