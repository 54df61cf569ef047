// Package audit turns the tickets triage filed in a tracker, read back with
// what people did to them, into the report of `triage audit`: per rule and
// per tier, how many tickets a person moved to another queue or tier
// (re-routed), moved more than once (bouncing), and resolved where triage
// put them, with the L1 resolution share the tiered model measures a desk
// by. It knows no tracker: the readers (queue.AuditReader) do.
package audit

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/triage-dev/triage/queue"
)

// Counts are the figures of one rule or tier.
type Counts struct {
	Tickets  int `json:"tickets"`
	Rerouted int `json:"rerouted"` // moved to another queue or tier by a person
	Bouncing int `json:"bouncing"` // moved more than once
	Resolved int `json:"resolved"`
	// ResolvedInTier: resolved without having been moved, i.e. in the
	// queue and tier triage chose.
	ResolvedInTier int `json:"resolved_in_tier"`
	// ResolvedInTierShare is ResolvedInTier / Resolved (0 when none resolved).
	ResolvedInTierShare float64 `json:"resolved_in_tier_share"`
}

// Line is the counts of one rule or tier.
type Line struct {
	Name string `json:"name"`
	Counts
}

// Report is what `triage audit` prints.
type Report struct {
	Since   time.Time `json:"since"`
	Tickets int       `json:"tickets"`
	Rules   []Line    `json:"rules"` // "(no rule)" for tickets of the defaults
	Tiers   []Line    `json:"tiers"` // by the tier triage chose
	// L1ResolutionShare is the share of all resolved tickets resolved at
	// L1 without a move (healthy desks: 0.65 to 0.80).
	L1ResolutionShare float64 `json:"l1_resolution_share"`
	// Moves lists the re-routed tickets, for a closer look.
	Moves []Moved `json:"moves"`
}

// Moved is one re-routed ticket.
type Moved struct {
	Tracker   string   `json:"tracker"`
	TrackerID string   `json:"tracker_id"`
	Rules     []string `json:"rules"`
	Tier      string   `json:"tier"`
	Queue     string   `json:"queue"`
	Path      []string `json:"path"` // queues and tiers it went through, in order
}

// NoRule names the tickets no rule matched.
const NoRule = "(no rule)"

// Ticket is one ticket read from a tracker.
type Ticket struct {
	Tracker string // queue.AuditReader.Tracker
	queue.AuditTicket
}

// Build computes the report; a ticket read through two readers of one
// tracker counts once.
func Build(since time.Time, tickets []Ticket) Report {
	r := Report{Since: since, Rules: []Line{}, Tiers: []Line{}, Moves: []Moved{}}
	rules, tiers := map[string]*Counts{}, map[string]*Counts{}
	seen := map[string]bool{}
	resolved, resolvedL1 := 0, 0
	for _, t := range tickets {
		key := t.Tracker + "\x00" + t.TrackerID
		if seen[key] {
			continue
		}
		seen[key] = true
		r.Tickets++
		names := t.Rules
		if len(names) == 0 {
			names = []string{NoRule}
		}
		lines := []*Counts{at(tiers, cmp.Or(t.Tier, "?"))}
		for _, n := range names {
			lines = append(lines, at(rules, n))
		}
		moved := len(t.Moves) > 0
		inTier := t.Resolved && !moved
		for _, c := range lines {
			c.Tickets++
			c.Rerouted += b2i(moved)
			c.Bouncing += b2i(len(t.Moves) > 1)
			c.Resolved += b2i(t.Resolved)
			c.ResolvedInTier += b2i(inTier)
		}
		if t.Resolved {
			resolved++
			resolvedL1 += b2i(inTier && t.Tier == "L1")
		}
		if moved {
			r.Moves = append(r.Moves, moves(t))
		}
	}
	r.Rules, r.Tiers = lines(rules), lines(tiers)
	if resolved > 0 {
		r.L1ResolutionShare = float64(resolvedL1) / float64(resolved)
	}
	return r
}

func moves(t Ticket) Moved {
	m := Moved{Tracker: t.Tracker, TrackerID: t.TrackerID, Rules: t.Rules, Tier: t.Tier, Queue: t.Queue}
	if m.Rules == nil {
		m.Rules = []string{}
	}
	for _, mv := range t.Moves {
		step := []string{}
		if mv.ToQueue != "" {
			step = append(step, "queue "+mv.FromQueue+" → "+mv.ToQueue)
		}
		if mv.ToTier != "" {
			step = append(step, "tier "+mv.FromTier+" → "+mv.ToTier)
		}
		by := ""
		if mv.By != "" {
			by = " by " + mv.By
		}
		m.Path = append(m.Path, strings.Join(step, ", ")+by)
	}
	return m
}

func at(m map[string]*Counts, name string) *Counts {
	if m[name] == nil {
		m[name] = &Counts{}
	}
	return m[name]
}

func lines(m map[string]*Counts) []Line {
	out := make([]Line, 0, len(m))
	for name, c := range m {
		if c.Resolved > 0 {
			c.ResolvedInTierShare = float64(c.ResolvedInTier) / float64(c.Resolved)
		}
		out = append(out, Line{Name: name, Counts: *c})
	}
	slices.SortFunc(out, func(a, b Line) int {
		return cmp.Or(cmp.Compare(b.Rerouted, a.Rerouted), strings.Compare(a.Name, b.Name))
	})
	return out
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
