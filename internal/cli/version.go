package cli

import (
	"context"
	"fmt"
	"runtime/debug"
)

func runVersion(_ context.Context, s Streams, args []string) int {
	fs := newFlagSet(s, "version", "version")
	if code, ok := parseNoArgs(fs, args); !ok {
		return code
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		fmt.Fprintln(s.Out, "triage (no build information)")
		return exitOK
	}
	fmt.Fprintln(s.Out, versionLine(info))
	return exitOK
}

// versionLine renders module version, commit and toolchain, e.g.
// "triage v1.2.0 (github.com/triage-dev/triage) commit 1a2b3c4d5e6f+dirty 2026-11-27T10:00:00Z go1.26.0".
func versionLine(info *debug.BuildInfo) string {
	version := info.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var rev, when string
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	line := fmt.Sprintf("triage %s (%s)", version, info.Main.Path)
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if dirty {
			rev += "+dirty"
		}
		line += " commit " + rev
		if when != "" {
			line += " " + when
		}
	} else {
		line += " commit unknown"
	}
	return line + " " + info.GoVersion
}
