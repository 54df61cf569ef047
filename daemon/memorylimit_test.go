package daemon

import (
	"log/slog"
	"runtime/debug"
	"strings"
	"testing"
)

// TestApplyMemoryLimit: `triage run` sets the runtime's soft memory limit
// from memory_limit, unless GOMEMLIMIT is set, which wins. (The limit is
// the process's; the test puts the old one back.)
func TestApplyMemoryLimit(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	log := slog.New(slog.DiscardHandler)

	applyMemoryLimit(300<<20, log)
	if got := debug.SetMemoryLimit(-1); got != 300<<20 {
		t.Errorf("limit %d after memory_limit 300 MiB", got)
	}

	t.Setenv("GOMEMLIMIT", "off")
	applyMemoryLimit(100<<20, log)
	if got := debug.SetMemoryLimit(-1); got != 300<<20 {
		t.Errorf("limit %d with GOMEMLIMIT set; want it left as the runtime had it", got)
	}
}

// TestReloadRefusesMemoryLimitChange: the limit is set once at start, so a
// config reload that changes it is refused, as one changing
// max_buffered_bytes is, and the running config stays.
func TestReloadRefusesMemoryLimitChange(t *testing.T) {
	d, dir := problemsDaemon(t)
	if err := configReloader(t, d, dir)("memory_limit: 1073741824\n"); err == nil || !strings.Contains(err.Error(), "memory_limit: changing it needs a restart") {
		t.Errorf("reload changing memory_limit: %v", err)
	}
	if got := d.cfg.Load().MemoryLimit; got == 1<<30 {
		t.Error("the refused config became the running one")
	}
}
