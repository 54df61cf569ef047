package config

import (
	"path/filepath"
	"testing"

	"github.com/triage-dev/triage/queue"
)

// TestTrackerExamples: the tracker configs in examples/trackers load and
// every queue opens (tokens from the environment, templates from files).
func TestTrackerExamples(t *testing.T) {
	for _, env := range []string{"ZAMMAD_TOKEN", "JIRA_TOKEN", "FRESHDESK_AUTH"} {
		t.Setenv(env, "example-secret")
	}
	for _, c := range []struct{ file, typ string }{
		{"zammad.yaml", "zammad"}, {"jira.yaml", "jira"}, {"freshdesk.yaml", "webhook"},
	} {
		t.Run(c.file, func(t *testing.T) {
			cfg, err := Load(filepath.Join("..", "examples", "trackers", c.file))
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Queues) != 4 {
				t.Fatalf("%d queues, want the four of examples/rules.yaml", len(cfg.Queues))
			}
			for name, q := range cfg.Queues {
				if q.Type != c.typ {
					t.Errorf("queue %s is %s, want %s", name, q.Type, c.typ)
				}
				s, err := queue.New(name, q, cfg.Resolve("."), nil)
				if err != nil {
					t.Fatalf("queue %s: %v", name, err)
				}
				_ = s.Close()
			}
		})
	}
}
