package daemon

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestReloadMetricsCountEachLoadOnce: the initial rules load counts once
// in triage_rules_reloads_total and in the console's reload history, and
// a reload of unchanged rules counts as unchanged.
func TestReloadMetricsCountEachLoadOnce(t *testing.T) {
	d, _ := problemsDaemon(t)
	count := func(result string) float64 {
		return testutil.ToFloat64(d.metrics.ReloadsTotal.WithLabelValues(result))
	}
	if ok, hist := count("ok"), len(d.feed.reloadHistory()); ok != 1 || hist != 1 {
		t.Errorf("after start: reloads_total{ok} = %v, console history %d; want 1 and 1", ok, hist)
	}
	if r := d.ReloadRules(context.Background()); r.Err != nil || r.Changed {
		t.Fatalf("reload of unchanged rules: %+v", r)
	}
	if ok, unchanged := count("ok"), count("unchanged"); ok != 1 || unchanged != 1 {
		t.Errorf("after an unchanged reload: ok %v, unchanged %v; want 1 and 1", ok, unchanged)
	}
}
