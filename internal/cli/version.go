package cli

import (
	"cmp"
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
	rev, when := setting(info, "vcs.revision"), setting(info, "vcs.time")
	dirty := setting(info, "vcs.modified") == "true"
	line := fmt.Sprintf("triage %s (%s)", cmp.Or(info.Main.Version, "(devel)"), info.Main.Path)
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

// setting is the value of a build setting, "" when it is not set.
func setting(info *debug.BuildInfo, key string) string {
	for _, s := range info.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}
