package config

import (
	"strings"
	"testing"
	"time"

	detect "github.com/triage-dev/triage/problems"
)

func TestProblemsSection(t *testing.T) {
	cfg, err := Parse("triage.yaml", []byte(validConfig))
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Problems
	if !p.On() || p.Window.D() != detect.DefaultWindow || p.MinSize != detect.DefaultMinSize || p.Threshold != detect.DefaultThreshold ||
		p.MaxTracked != detect.DefaultMaxTracked || p.MaxGroups != detect.DefaultMaxGroups {
		t.Errorf("defaults: %+v", p)
	}
	cfg, err = Parse("triage.yaml", []byte(validConfig+"problems: {enabled: false, window: 30m, min_size: 5, threshold: 0.3}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Problems; p.On() || p.Window.D() != 30*time.Minute || p.MinSize != 5 || p.Threshold != 0.3 {
		t.Errorf("set: %+v", p)
	}

	tests := []struct{ yaml, want string }{
		{"problems: {window: 10s}", "triage.yaml:16:12: problems.window 10s: 1m0s to 720h0m0s"},
		{"problems: {min_size: 1}", "triage.yaml:16:12: problems.min_size 1: 2 to 10000"},
		{"problems: {threshold: 1.5}", "problems.threshold 1.5: above 0, at most 1"},
		{"problems: {max_tracked: 2000000}", "problems.max_tracked 2000000: 1 to 1000000"},
		{"problems: {max_groups: -1}", "problems.max_groups -1: 1 to 1000000"},
		{"problems: {colour: red}", `unknown key "colour"`},
	}
	for _, tt := range tests {
		_, err := Parse("triage.yaml", []byte(validConfig+tt.yaml+"\n"))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.yaml, err, tt.want)
		}
	}
}
