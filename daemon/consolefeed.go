package daemon

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/triage-dev/triage/config"
	"github.com/triage-dev/triage/console"
	"github.com/triage-dev/triage/internal/clip"
	"github.com/triage-dev/triage/mailbox"
	"github.com/triage-dev/triage/rules"
	"github.com/triage-dev/triage/ticket"
)

// Bounds of what the console feed keeps in memory.
const (
	// maxRecentBytes bounds the raw mail and bodies the ring keeps; the
	// oldest entries go first past it.
	maxRecentBytes = 64 << 20
	// maxRecentMessage is the largest message kept whole; a larger one is
	// kept without its raw bytes (no trace, no replay) and a cut body.
	maxRecentMessage = 4 << 20
	// keptBody is how much of a too-large message's body is kept.
	keptBody = 16 << 10
	// maxReloadsKept bounds the reload history.
	maxReloadsKept = 50
)

// consoleFeed records for the web console what nothing else keeps: the
// last handled messages, mail per hour of the last day by tier, and the
// recent rules reloads. Recording a message copies the ticket into a
// preallocated slot under a mutex: nothing is encoded, traced or (in the
// usual case) allocated on the message's path.
type consoleFeed struct {
	mu      sync.Mutex
	ring    []feedEntry
	head    int // the next slot written
	n       int // slots in use
	seq     uint64
	bytes   int64
	hours   [24]feedHour
	reloads []console.Reload // oldest first
}

type feedEntry struct {
	seq     uint64
	at      time.Time
	outcome string
	t       ticket.Ticket // Raw is the message as fetched, or nil
	size    int64
}

type feedHour struct {
	start   time.Time
	tiers   map[string]int
	dropped int
}

func newConsoleFeed(recent int) *consoleFeed {
	if recent <= 0 {
		recent = config.DefaultConsoleRecent
	}
	return &consoleFeed{ring: make([]feedEntry, recent)}
}

// handled records one handled message; a nil feed (console off) records
// nothing.
func (f *consoleFeed) handled(h Handled) {
	if f == nil {
		return
	}
	t := *h.Ticket
	size := int64(len(t.Raw) + len(t.Body))
	if size > maxRecentMessage {
		t.Raw, t.Body = nil, strings.Clone(clip.Hint(t.Body, keptBody))
		size = int64(len(t.Body))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	if f.n == len(f.ring) {
		f.evictOldest()
	}
	for f.n > 0 && f.bytes+size > maxRecentBytes {
		f.evictOldest()
	}
	f.ring[f.head] = feedEntry{seq: f.seq, at: h.At, outcome: h.Outcome, t: t, size: size}
	f.head = (f.head + 1) % len(f.ring)
	f.n++
	f.bytes += size
	if h.Outcome == "redelivery" {
		return
	}
	start := h.At.UTC().Truncate(time.Hour)
	slot := &f.hours[start.Unix()/3600%24]
	if !slot.start.Equal(start) {
		*slot = feedHour{start: start, tiers: map[string]int{}}
	}
	if t.Class.Action == "drop" {
		slot.dropped++
	} else {
		slot.tiers[t.Class.Tier]++
	}
}

// evictOldest frees the oldest slot; the caller holds mu.
func (f *consoleFeed) evictOldest() {
	i := (f.head - f.n + len(f.ring)) % len(f.ring)
	f.bytes -= f.ring[i].size
	f.ring[i] = feedEntry{}
	f.n--
}

func (f *consoleFeed) reloaded(r rules.ReloadResult) {
	if f == nil || !r.Changed && r.Err == nil {
		return // a trigger that found the rules unchanged is not history
	}
	rl := console.Reload{At: r.At, Version: r.Version, Changed: r.Changed, Errors: reloadErrors(r)}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reloads) == maxReloadsKept {
		f.reloads = append(f.reloads[:0], f.reloads[1:]...)
	}
	f.reloads = append(f.reloads, rl)
}

func (f *consoleFeed) recent() []console.Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]console.Record, 0, f.n)
	for k := 1; k <= f.n; k++ {
		e := &f.ring[(f.head-k+len(f.ring))%len(f.ring)]
		rec := console.Record{Seq: e.seq, At: e.at, Outcome: e.outcome, Ticket: e.t, Raw: e.t.Raw}
		rec.Ticket.Raw = nil
		out = append(out, rec)
	}
	return out
}

func (f *consoleFeed) hourly(now time.Time) []console.Hour {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []console.Hour
	for _, h := range f.hours {
		if h.start.IsZero() || now.Sub(h.start) >= 24*time.Hour {
			continue
		}
		out = append(out, console.Hour{Start: h.start, Tiers: maps.Clone(h.tiers), Dropped: h.dropped})
	}
	return out
}

func (f *consoleFeed) reloadHistory() []console.Reload {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := append(make([]console.Reload, 0, len(f.reloads)), f.reloads...)
	slices.Reverse(out)
	return out
}

// consoleSource is the daemon as the console sees it.
type consoleSource struct{ d *Daemon }

func (s consoleSource) Recent() []console.Record  { return s.d.feed.recent() }
func (s consoleSource) Reloads() []console.Reload { return s.d.feed.reloadHistory() }
func (s consoleSource) Rules() *rules.Set         { return s.d.reloader.Active().Current() }
func (s consoleSource) RulesPath() string {
	cfg := s.d.cfg.Load()
	return cfg.Resolve(cfg.Rules)
}

func (s consoleSource) Reload(ctx context.Context) rules.ReloadResult { return s.d.ReloadRules(ctx) }

// Gate is the reload's gate on rules in memory: what rules.Load does on
// files, then the daemon's own validation.
func (s consoleSource) Gate(files []rules.File) (*rules.Set, error) {
	set, err := rules.LoadFiles(files)
	if err != nil {
		return nil, err
	}
	return set, ValidateRuleSet(set, s.d.cfg.Load())
}

// Requeue moves an account's quarantine or failed folder back to its
// first watched mailbox, as `triage requeue` does.
func (s consoleSource) Requeue(ctx context.Context, account, folder string) (int, error) {
	mc, from, to, err := RequeueTarget(s.d.cfg.Load(), account, "", folder)
	if err != nil {
		return 0, err
	}
	return mailbox.Requeue(ctx, mc, from, to, nil, s.d.log)
}

// RuleHits reads the rule match counter the pipeline already keeps.
func (s consoleSource) RuleHits() map[string]int64 {
	hits := map[string]int64{}
	families, err := s.d.metrics.Registry.Gather()
	if err != nil {
		return hits
	}
	for _, mf := range families {
		if mf.GetName() != "triage_rule_matches_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "rule" {
					hits[l.GetValue()] = int64(m.GetCounter().GetValue())
				}
			}
		}
	}
	return hits
}

func (s consoleSource) Snapshot() console.Snapshot {
	st := s.d.Status()
	cfg := s.d.cfg.Load()
	snap := console.Snapshot{Version: st.Version, StartedAt: st.StartedAt, Hours: s.d.feed.hourly(time.Now()),
		MaxMessageBytes: cfg.MaxMessageBytes, ProblemsOpen: s.openProblems()}
	for _, a := range st.Accounts {
		for _, m := range a.Mailboxes {
			snap.Mailboxes = append(snap.Mailboxes, console.Mailbox{Account: a.Name, Mailbox: m.Mailbox, State: m.State,
				Connected: m.Connected, Idle: m.Idle, Backlog: m.Backlog, Oldest: m.Oldest, LastError: m.LastError})
		}
		for _, f := range a.Filed {
			snap.Filed = append(snap.Filed, console.Filed{Account: a.Name, Mailbox: f.Mailbox, Folder: f.Folder, UID: f.UID,
				At: f.At, From: f.From, Subject: f.Subject, Reason: f.Reason})
		}
	}
	for _, q := range slices.Sorted(maps.Keys(st.Queues)) {
		v := st.Queues[q]
		snap.Sinks = append(snap.Sinks, console.Sink{Queue: q, Sent: v.Sent, Retrying: v.Retrying, Failing: v.TempErrs, Failed: v.Failed})
	}
	return snap
}

// consoleHandler is the web console, or nil when the config turns it off.
func (d *Daemon) consoleHandler(token string) http.Handler {
	cfg := d.cfg.Load()
	if !cfg.Console.On() || d.feed == nil {
		return nil
	}
	c, err := console.New(consoleSource{d: d}, console.Options{Token: token, AllowEdit: cfg.Console.AllowEdit, Config: cfg.Path, Log: d.log})
	if err != nil {
		d.log.Error("console not served", "err", err)
		return nil
	}
	return c.Handler()
}
