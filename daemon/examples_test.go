package daemon

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/triage-dev/triage/config"
	"github.com/triage-dev/triage/queue"
	"github.com/triage-dev/triage/rules"
)

// TestExampleConfig: examples/triage.yaml loads, shows every sink type, and
// defines every queue examples/rules.yaml can produce.
func TestExampleConfig(t *testing.T) {
	path := filepath.Join("..", "examples", "triage.yaml")
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("examples/triage.yaml: %v", err)
	}
	types := map[string]bool{}
	for _, q := range cfg.Queues {
		types[q.Type] = true
	}
	for _, want := range []string{"smtp", "lmtp", "webhook", "exec", "nats", "file", "stdout", "rt"} {
		if !types[want] {
			t.Errorf("examples/triage.yaml shows no %s sink", want)
		}
	}
	set, err := rules.Load(cfg.Resolve(cfg.Rules))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range set.Queues() {
		if _, ok := cfg.Queues[q]; !ok {
			t.Errorf("examples/rules.yaml uses queue %q, not defined in examples/triage.yaml", q)
		}
	}
	for _, q := range cfg.Queues {
		if w, ok := q.Settings.(*queue.WebhookConfig); ok && w.BodyTemplate != "" {
			if _, err := os.Stat(cfg.Resolve(w.BodyTemplate)); err != nil {
				t.Errorf("template: %v", err)
			}
		}
	}
}

// TestExampleRTConfig: examples/triage-rt.yaml loads and files every queue
// the example rules produce in RT.
func TestExampleRTConfig(t *testing.T) {
	cfg, err := config.Load(filepath.Join("..", "examples", "triage-rt.yaml"))
	if err != nil {
		t.Fatalf("examples/triage-rt.yaml: %v", err)
	}
	set, err := rules.Load(cfg.Resolve(cfg.Rules))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range set.Queues() {
		if c, ok := cfg.Queues[q]; !ok || c.Type != "rt" {
			t.Errorf("examples/rules.yaml uses queue %q, which examples/triage-rt.yaml does not file in RT", q)
		}
	}
}
