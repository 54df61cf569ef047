package config

import (
	"cmp"
	"fmt"
	"time"

	"github.com/triage-dev/triage/internal/duration"
	detect "github.com/triage-dev/triage/problems"
)

// ProblemsConfig is problem detection: mail reporting the same thing
// within window is grouped, and a group of min_size mails is a problem
// (rule fields problem, similar_recent, sender_recent).
type ProblemsConfig struct {
	Enabled    *bool             `yaml:"enabled" json:"enabled"` // default true
	Window     duration.Duration `yaml:"window" json:"window"`
	MinSize    int               `yaml:"min_size" json:"min_size"`
	Threshold  float64           `yaml:"threshold" json:"threshold"`
	MaxTracked int               `yaml:"max_tracked" json:"max_tracked"`
	MaxGroups  int               `yaml:"max_groups" json:"max_groups"`
}

// Bounds of the problems keys.
const (
	MinProblemsWindow = time.Minute
	MaxProblemsWindow = 30 * 24 * time.Hour
	MaxProblemsSize   = 10_000
	MaxProblemsMails  = 1_000_000
)

// On reports whether detection runs (the default).
func (p ProblemsConfig) On() bool { return p.Enabled == nil || *p.Enabled }

// Detector returns the detector's settings.
func (p ProblemsConfig) Detector() detect.Config {
	return detect.Config{Window: p.Window.D(), MinSize: p.MinSize, Threshold: p.Threshold, MaxTracked: p.MaxTracked, MaxGroups: p.MaxGroups}
}

// applyDefaults fills the keys left out (zero) with the detector's
// defaults; a negative value stays, for validate to refuse.
func (pc *ProblemsConfig) applyDefaults() {
	d := detect.Config{}.WithDefaults()
	pc.Window = cmp.Or(pc.Window, duration.Duration(d.Window))
	pc.MinSize = cmp.Or(pc.MinSize, d.MinSize)
	pc.Threshold = cmp.Or(pc.Threshold, d.Threshold)
	pc.MaxTracked = cmp.Or(pc.MaxTracked, d.MaxTracked)
	pc.MaxGroups = cmp.Or(pc.MaxGroups, d.MaxGroups)
}

func (pc *ProblemsConfig) validate(p *problems) {
	if w := pc.Window.D(); w < MinProblemsWindow || w > MaxProblemsWindow {
		p.at(fmt.Sprintf("problems.window %v: %v to %v", w, MinProblemsWindow, MaxProblemsWindow), "problems", "window")
	}
	if pc.MinSize < 2 || pc.MinSize > MaxProblemsSize {
		p.at(fmt.Sprintf("problems.min_size %d: 2 to %d", pc.MinSize, MaxProblemsSize), "problems", "min_size")
	}
	if pc.Threshold <= 0 || pc.Threshold > 1 {
		p.at(fmt.Sprintf("problems.threshold %v: above 0, at most 1", pc.Threshold), "problems", "threshold")
	}
	if pc.MaxTracked < 1 || pc.MaxTracked > MaxProblemsMails {
		p.at(fmt.Sprintf("problems.max_tracked %d: 1 to %d", pc.MaxTracked, MaxProblemsMails), "problems", "max_tracked")
	}
	if pc.MaxGroups < 1 || pc.MaxGroups > MaxProblemsMails {
		p.at(fmt.Sprintf("problems.max_groups %d: 1 to %d", pc.MaxGroups, MaxProblemsMails), "problems", "max_groups")
	}
}
