package cli

import (
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/triage-dev/triage/ticket"
)

// outcome is what `replay --against` compares between two rule sets.
type outcome struct {
	Tier     string `json:"tier"`
	Priority string `json:"priority"`
	Queue    string `json:"queue"`
	Action   string `json:"action"`
	Runbook  string `json:"runbook"`
}

func outcomeOf(c ticket.Classification) outcome {
	return outcome{Tier: c.Tier, Priority: c.Priority, Queue: c.Queue, Action: c.Action, Runbook: c.Runbook}
}

// change is one message the new rules decide differently.
type change struct {
	Message string  `json:"message"`
	Date    string  `json:"date"` // the Date header, RFC 3339; "" when it has none
	From    string  `json:"from"`
	Subject string  `json:"subject"`
	Old     outcome `json:"old"`
	New     outcome `json:"new"`
}

// transition counts the messages whose field went from one value to another.
type transition struct {
	Field string `json:"field"`
	From  string `json:"from"`
	To    string `json:"to"`
	Count int    `json:"count"`
}

// diffTally accumulates the changes of a replay against old rules.
type diffTally struct {
	changes []change
	counts  map[[3]string]int
}

func (d *diffTally) add(name string, date time.Time, old, cur *ticket.Ticket) {
	o, n := outcomeOf(old.Class), outcomeOf(cur.Class)
	if o == n {
		return
	}
	if d.counts == nil {
		d.counts = map[[3]string]int{}
	}
	for _, f := range [][3]string{
		{"tier", o.Tier, n.Tier}, {"priority", o.Priority, n.Priority}, {"queue", o.Queue, n.Queue},
		{"action", o.Action, n.Action}, {"runbook", o.Runbook, n.Runbook},
	} {
		if f[1] != f[2] {
			d.counts[f]++
		}
	}
	c := change{Message: name, From: cur.From.Address, Subject: cur.Subject, Old: o, New: n}
	if !date.IsZero() {
		c.Date = date.Format(time.RFC3339)
	}
	d.changes = append(d.changes, c)
}

// transitions orders the counts by field, then count (largest first).
func (d *diffTally) transitions() []transition {
	fields := map[string]int{"tier": 0, "priority": 1, "queue": 2, "action": 3, "runbook": 4}
	out := make([]transition, 0, len(d.counts))
	for k, n := range d.counts {
		out = append(out, transition{Field: k[0], From: k[1], To: k[2], Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Field != b.Field {
			return fields[a.Field] < fields[b.Field]
		}
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		return a.From+"\x00"+a.To < b.From+"\x00"+b.To
	})
	return out
}

func writeDiff(w io.Writer, oldVersion string, classified int, ts []transition, cs []change) {
	fmt.Fprintf(w, "\nchanges against rules version %s: %d of %d classified messages\n", shortVersion(oldVersion), len(cs), classified)
	if len(cs) == 0 {
		return
	}
	width := 0
	for _, t := range ts {
		width = max(width, len(t.From)+len(t.To)+2)
	}
	for _, t := range ts {
		fmt.Fprintf(w, "  %-8s %-*s %5d\n", t.Field, width, printable(t.From+"→"+t.To), t.Count)
	}
	fmt.Fprintln(w, "\nchanged messages, oldest first")
	for _, c := range cs {
		date := c.Date
		if date == "" {
			date = "(no date)"
		}
		fmt.Fprintf(w, "  %s  %s  %q  %s\n", date, printable(c.From), printable(c.Subject), describeChange(c.Old, c.New))
		fmt.Fprintf(w, "    %s\n", printable(c.Message))
	}
}

// describeChange lists the fields that differ, old → new.
func describeChange(o, n outcome) string {
	s := ""
	add := func(field, a, b string) {
		if a == b {
			return
		}
		if s != "" {
			s += ", "
		}
		s += field + " " + a + "→" + b
	}
	add("tier", o.Tier, n.Tier)
	add("priority", o.Priority, n.Priority)
	add("queue", o.Queue, n.Queue)
	add("action", o.Action, n.Action)
	add("runbook", o.Runbook, n.Runbook)
	return s
}
