// Package replaydiff owns comparing what two rule sets decide on the same
// mail: the outcome compared (tier, priority, queue, action, runbook), each
// changed message, and the per-field transitions counted over a replay.
// `triage replay --against` and the console's playground both use it; it
// knows nothing of where the mail comes from or how it is classified.
package replaydiff

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/triage-dev/triage/ticket"
)

// Outcome is what a replay compares between two rule sets.
type Outcome struct {
	Tier     string `json:"tier"`
	Priority string `json:"priority"`
	Queue    string `json:"queue"`
	Action   string `json:"action"`
	Runbook  string `json:"runbook"`
}

// OutcomeOf is the compared part of a classification.
func OutcomeOf(c ticket.Classification) Outcome {
	return Outcome{Tier: c.Tier, Priority: c.Priority, Queue: c.Queue, Action: c.Action, Runbook: c.Runbook}
}

// Change is one message the new rules decide differently.
type Change struct {
	Message string  `json:"message"`
	Date    string  `json:"date"` // the Date header, RFC 3339; "" when it has none
	From    string  `json:"from"`
	Subject string  `json:"subject"`
	Old     Outcome `json:"old"`
	New     Outcome `json:"new"`
}

// Transition counts the messages whose field went from one value to another.
type Transition struct {
	Field string `json:"field"`
	From  string `json:"from"`
	To    string `json:"to"`
	Count int    `json:"count"`
}

// Tally accumulates the changes of a replay against old rules.
type Tally struct {
	Changes []Change
	counts  map[[3]string]int
}

// Add compares one message's old and new tickets and keeps it when they differ.
func (d *Tally) Add(name string, date time.Time, old, cur *ticket.Ticket) {
	o, n := OutcomeOf(old.Class), OutcomeOf(cur.Class)
	if o == n {
		return
	}
	if d.counts == nil {
		d.counts = map[[3]string]int{}
	}
	for _, f := range diffs(o, n) {
		d.counts[f]++
	}
	c := Change{Message: name, From: cur.From.Address, Subject: cur.Subject, Old: o, New: n}
	if !date.IsZero() {
		c.Date = date.Format(time.RFC3339)
	}
	d.Changes = append(d.Changes, c)
}

// Transitions orders the counts by field, then count (largest first).
func (d *Tally) Transitions() []Transition {
	fields := map[string]int{"tier": 0, "priority": 1, "queue": 2, "action": 3, "runbook": 4}
	out := make([]Transition, 0, len(d.counts))
	for k, n := range d.counts {
		out = append(out, Transition{Field: k[0], From: k[1], To: k[2], Count: n})
	}
	slices.SortFunc(out, func(a, b Transition) int {
		return cmp.Or(cmp.Compare(fields[a.Field], fields[b.Field]), cmp.Compare(b.Count, a.Count),
			cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To))
	})
	return out
}

// Describe lists the fields that differ, old → new.
func Describe(o, n Outcome) string {
	var parts []string
	for _, f := range diffs(o, n) {
		parts = append(parts, f[0]+" "+f[1]+"→"+f[2])
	}
	return strings.Join(parts, ", ")
}

// diffs lists the fields that differ as {field, old, new}, in the order
// Transitions sorts them.
func diffs(o, n Outcome) [][3]string {
	var out [][3]string
	for _, f := range [][3]string{
		{"tier", o.Tier, n.Tier}, {"priority", o.Priority, n.Priority}, {"queue", o.Queue, n.Queue},
		{"action", o.Action, n.Action}, {"runbook", o.Runbook, n.Runbook},
	} {
		if f[1] != f[2] {
			out = append(out, f)
		}
	}
	return out
}
