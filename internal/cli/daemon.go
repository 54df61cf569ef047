package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/triage-dev/triage/config"
	"github.com/triage-dev/triage/daemon"
	"github.com/triage-dev/triage/internal/demo"
	"github.com/triage-dev/triage/internal/fileerr"
	"github.com/triage-dev/triage/rules"
)

// daemonCommands are the subcommands that run the daemon.
func daemonCommands() map[string]Command {
	return map[string]Command{
		"run": {
			Usage:   "run --config triage.yaml [--log-level LEVEL] [--log-format text|json]",
			Summary: "run the daemon: watch IMAP, classify, forward",
			Run:     runDaemon,
		},
		"demo": {
			Usage:   "demo [--drop DIR]",
			Summary: "run the daemon against an in-memory IMAP server seeded with the example mail",
			Run:     runDemo,
		},
		"requeue": {
			Usage:   requeueUsage,
			Summary: "move quarantined or failed mail back to its watched mailbox, to be handled again",
			Run:     runRequeue,
		},
		"login": {
			Usage:   loginUsage,
			Summary: "sign in a delegated oauth2 account (device code or browser) and store its refresh token in state_dir",
			Run:     runLogin,
		},
		"audit": {
			Usage:   auditUsage,
			Summary: "read back from the tracker the tickets triage filed: per rule and tier, re-routed, bouncing, resolved where triage put them",
			Run:     runAudit,
		},
		"schema": {
			Usage:   "schema rules|tests|config",
			Summary: "print the JSON Schema of the rules file or the daemon config",
			Run:     runSchema,
		},
	}
}

func buildVersion() (version, commit string) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)", ""
	}
	return cmp.Or(info.Main.Version, "(devel)"), setting(info, "vcs.revision")
}

func runDaemon(ctx context.Context, s Streams, args []string) int {
	fs := newFlagSet(s, "run", "run --config triage.yaml")
	configPath := fs.String("config", "triage.yaml", "daemon config file")
	level := fs.String("log-level", "", "override log.level (debug, info, warn, error)")
	format := fs.String("log-format", "", "override log.format (text, json)")
	if code, ok := parseNoArgs(fs, args); !ok {
		return code
	}
	version, commit := buildVersion()
	err := daemon.RunMain(ctx, daemon.RunOptions{
		ConfigPath: *configPath, LogLevel: *level, LogFormat: *format,
		Version: version, Commit: commit, LogOutput: s.Err,
	})
	if err != nil {
		printDaemonError(s, err)
		return exitFail
	}
	return exitOK
}

// printDaemonError prints positioned config and rules errors one per line.
func printDaemonError(s Streams, err error) {
	var list fileerr.List
	switch {
	case errors.As(err, &list):
		// A config's problems come back bare; the rules' wrapped in what
		// was being loaded.
		if _, bare := err.(fileerr.List); !bare {
			fmt.Fprintln(s.Err, "triage: the rules do not load:")
		}
		for _, e := range list {
			fmt.Fprintln(s.Err, printable(e.Error()))
		}
	default:
		fmt.Fprintf(s.Err, "triage: %s\n", printable(err.Error()))
	}
}

func runDemo(ctx context.Context, s Streams, args []string) int {
	fs := newFlagSet(s, "demo", "demo [--drop DIR]")
	drop := fs.String("drop", "", "folder watched for .eml files to deliver (default: a temp folder, printed at start)")
	if code, ok := parseNoArgs(fs, args); !ok {
		return code
	}
	if err := demo.Run(ctx, demo.Options{Out: s.Out, Log: s.Err, DropDir: *drop}); err != nil {
		printDaemonError(s, err)
		return exitFail
	}
	return exitOK
}

func runSchema(_ context.Context, s Streams, args []string) int {
	fs := newFlagSet(s, "schema", "schema rules|tests|config")
	pos, code, ok := parseOrExit(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return usageError(fs, "want one argument: rules, tests or config")
	}
	schema, ok := map[string]func() ([]byte, error){"rules": rules.RulesSchema, "tests": rules.TestsSchema, "config": config.Schema}[pos[0]]
	if !ok {
		return usageError(fs, fmt.Sprintf("unknown schema %q: want rules, tests or config", pos[0]))
	}
	out, err := schema()
	if err != nil {
		return fail(s, "schema", err)
	}
	_, _ = s.Out.Write(out)
	return exitOK
}
