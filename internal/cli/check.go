package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/triage-dev/triage/internal/fileerr"
	"github.com/triage-dev/triage/rules"
)

func runCheck(_ context.Context, s Streams, args []string) int {
	fs := newFlagSet(s, "check", "check RULES")
	pos, code, ok := parseOrExit(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return usageError(fs, "want exactly one RULES file or directory")
	}
	set, ok := loadRules(s.Err, "check", pos[0])
	if !ok {
		return exitFail
	}
	fmt.Fprintf(s.Out, "ok: %d rules, version %s\n", countRules(set), set.Version)
	return exitOK
}

// countRules counts the rules of set, not the groups that hold them.
func countRules(set *rules.Set) int {
	n := 0
	for _, r := range set.Rules() {
		if !r.IsGroup {
			n++
		}
	}
	return n
}

// loadRules loads a rule set, printing every load error (file:line:col:
// message, one per line) or, on success, every lint warning to w. ok is
// false when the set could not be loaded.
func loadRules(w io.Writer, cmd, path string) (*rules.Set, bool) {
	set, err := rules.Load(path)
	if err != nil {
		printLoadError(w, cmd, err)
		return nil, false
	}
	for _, warn := range set.Warnings {
		fmt.Fprintf(w, "%s:%d:%d: warning: %s\n", warn.File, warn.Line, warn.Col, warn.Msg)
	}
	return set, true
}

func printLoadError(w io.Writer, cmd string, err error) {
	var list fileerr.List
	if errors.As(err, &list) && len(list) > 0 {
		for _, e := range list {
			fmt.Fprintln(w, e.Error())
		}
		return
	}
	var one fileerr.Error
	if errors.As(err, &one) {
		fmt.Fprintln(w, one.Error())
		return
	}
	fmt.Fprintf(w, "triage %s: %v\n", cmd, err)
}
