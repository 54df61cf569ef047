package daemon

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/triage-dev/triage/classifier"
	"github.com/triage-dev/triage/config"
	"github.com/triage-dev/triage/internal/fileerr"
	"github.com/triage-dev/triage/rules"
)

// configReloadResult is the outcome of the last config reload, for /status.
type configReloadResult struct {
	At  time.Time
	Err string
}

// validateRules is what a rule set must pass before it is activated, beyond
// loading: its own tests, and every queue it can produce must exist.
func (d *Daemon) validateRules(set *rules.Set) error {
	return ValidateRuleSet(set, d.cfg.Load())
}

// queueProblems names, at the rule that sets it, every queue set can
// produce that cfg does not define.
func queueProblems(set *rules.Set, cfg *config.Config) fileerr.List {
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
func ValidateRuleSet(set *rules.Set, cfg *config.Config) error {
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

// reloadErrors are the error lines of a failed reload (one that was
// cancelled has no lines of its own), nil for one that did not fail.
func reloadErrors(r rules.ReloadResult) []string {
	if r.Err == nil || len(r.Errors) > 0 {
		return r.Errors
	}
	return []string{r.Err.Error()}
}

func (d *Daemon) onReload(r rules.ReloadResult) {
	d.feed.reloaded(r)
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

// ReloadConfig re-reads triage.yaml (SIGHUP): accounts added or removed start
// or stop, changed sinks are rebuilt, changed problems settings take effect;
// a broken file changes nothing.
func (d *Daemon) ReloadConfig() error {
	old := d.cfg.Load()
	next, err := config.Load(old.Path)
	if err == nil && next.Rules != old.Rules {
		err = fmt.Errorf("rules: changing the rules path needs a restart (was %q)", old.Rules)
	}
	if err == nil && next.MaxBufferedBytes != old.MaxBufferedBytes {
		err = fmt.Errorf("max_buffered_bytes: changing it needs a restart (was %d)", old.MaxBufferedBytes)
	}
	if err == nil && next.MemoryLimit != old.MemoryLimit {
		err = fmt.Errorf("memory_limit: changing it needs a restart (was %d)", old.MemoryLimit)
	}
	if err == nil {
		if p := queueProblems(d.reloader.Active().Current(), next); len(p) > 0 {
			err = fmt.Errorf("the new config lacks queues the active rules use:\n%w", p)
		}
	}
	// Problem detection with changed settings starts again from the state
	// store, as at a restart (a mail handled while it is read joins the old
	// detector only); it is built before anything is swapped so a failure
	// changes nothing.
	problemsChanged := err == nil && !reflect.DeepEqual(next.Problems, old.Problems)
	var ps *problemState
	if problemsChanged {
		d.records.Wait()
		ps, err = newProblemState(next.Problems, d.store)
	}
	if err == nil {
		err = d.buildSinks(next)
	}
	if err != nil {
		d.configReload.Store(&configReloadResult{At: time.Now(), Err: err.Error()})
		d.log.Error("config reload failed; keeping the running config", "err", err)
		return err
	}
	if problemsChanged {
		d.problems.Store(ps)
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
