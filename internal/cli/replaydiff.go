package cli

import (
	"fmt"
	"io"

	"github.com/triage-dev/triage/internal/replaydiff"
)

// The compared outcome, a changed message and a transition are the
// replaydiff package's, shared with the console's playground.
type (
	change     = replaydiff.Change
	transition = replaydiff.Transition
)

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
		fmt.Fprintf(w, "  %s  %s  %q  %s\n", date, printable(c.From), printable(c.Subject), replaydiff.Describe(c.Old, c.New))
		fmt.Fprintf(w, "    %s\n", printable(c.Message))
	}
}
