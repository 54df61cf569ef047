package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/triage-dev/triage/config"
	"github.com/triage-dev/triage/daemon"
	"github.com/triage-dev/triage/internal/fileerr"
	"github.com/triage-dev/triage/rules"
)

func runCheck(_ context.Context, s Streams, args []string) int {
	fs := newFlagSet(s, "check", "check RULES | check --config triage.yaml")
	configPath := fs.String("config", "", "check a daemon config: every problem in it, then the rules it names against its queues")
	pos, code, ok := parseOrExit(fs, args)
	if !ok {
		return code
	}
	if *configPath != "" {
		if len(pos) != 0 {
			return usageError(fs, "--config takes no RULES: the config names them")
		}
		return checkConfig(s, *configPath)
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
	if list := fileerr.Of(err); list != nil {
		for _, e := range list {
			fmt.Fprintln(w, e.Error())
		}
		return
	}
	fmt.Fprintf(w, "triage %s: %v\n", cmd, err)
}

// checkConfig reports every problem of a daemon config, then loads the
// rules it names and checks them against its queues, as `triage run` would
// at start.
func checkConfig(s Streams, path string) int {
	cfg, err := config.Load(path)
	if err != nil {
		printDaemonError(s, err)
		return exitFail
	}
	set, ok := loadRules(s.Err, "check", cfg.Resolve(cfg.Rules))
	if !ok {
		return exitFail
	}
	if err := daemon.ValidateRuleSet(set, cfg); err != nil {
		printDaemonError(s, err)
		return exitFail
	}
	warnings, err := daemon.CheckOAuth(cfg)
	for _, w := range warnings {
		fmt.Fprintf(s.Err, "%s: warning: %s\n", path, w)
	}
	if err != nil {
		printDaemonError(s, err)
		return exitFail
	}
	fmt.Fprintf(s.Out, "ok: config %s: %d accounts, %d queues; %d rules, version %s\n",
		path, len(cfg.Accounts), len(cfg.Queues), countRules(set), set.Version)
	return exitOK
}
