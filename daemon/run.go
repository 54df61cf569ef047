package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"github.com/triage-dev/triage/config"
)

// NewLogger builds the slog logger from the config's log section.
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}

// RunOptions are the command-line overrides of `triage run`.
type RunOptions struct {
	ConfigPath string
	LogLevel   string // overrides log.level when set
	LogFormat  string // overrides log.format when set
	Version    string
	Commit     string
	LogOutput  io.Writer
}

// RunMain is `triage run`: load the config, build the daemon, run until ctx ends.
func RunMain(ctx context.Context, o RunOptions) error {
	cfg, err := config.Load(o.ConfigPath)
	if err != nil {
		return err
	}
	if o.LogLevel != "" {
		cfg.Log.Level = o.LogLevel
	}
	if o.LogFormat != "" {
		cfg.Log.Format = o.LogFormat
	}
	log, err := NewLogger(o.LogOutput, cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		return err
	}
	applyMemoryLimit(cfg.MemoryLimit, log)
	d, err := New(cfg, Options{Log: log, Version: o.Version, Commit: o.Commit, CrashReports: true})
	if err != nil {
		return err
	}
	return d.Run(ctx)
}

// applyMemoryLimit sets the runtime's soft memory limit to limit bytes for
// the process, unless GOMEMLIMIT is set (the runtime has read it). It is
// process-wide, so RunMain sets it, not New (tests run many daemons in one
// process).
func applyMemoryLimit(limit int64, log *slog.Logger) {
	if v, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		log.Info("memory limit from GOMEMLIMIT", "GOMEMLIMIT", v)
		return
	}
	debug.SetMemoryLimit(limit)
	log.Info("memory limit", "bytes", limit)
}
