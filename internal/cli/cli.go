// Package cli implements the triage command line: subcommand dispatch, flag
// parsing and the rule author's tools (check, test, explain, replay,
// version). cmd/triage only wires it to the process.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/triage-dev/triage/classifier"
)

// Streams are the standard streams a command reads and writes.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// Command is one subcommand. Run receives the arguments after the
// subcommand's name and returns the process exit code: 0 success, 1
// failure, 2 usage error.
type Command struct {
	Usage   string // synopsis after "triage ", e.g. "check RULES"
	Summary string // one line for the command list
	Run     func(ctx context.Context, s Streams, args []string) int
}

// Exit codes shared by every subcommand.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// Commands returns the built-in subcommands. Callers may add their own
// (the daemon's run and demo) to the returned map before passing it to Run.
func Commands() map[string]Command {
	return map[string]Command{
		"check": {
			Usage:   "check RULES | check --config triage.yaml",
			Summary: "validate a rules file or directory, or a daemon config and its rules; every error as file:line:col",
			Run:     runCheck,
		},
		"test": {
			Usage:   "test [-v] [--coverage] RULES [TESTFILE...]",
			Summary: "run the rule tests of RULES and of each TESTFILE",
			Run:     runTest,
		},
		"explain": {
			Usage:   "explain --rules RULES [--json] MAIL...",
			Summary: "classify .eml files (- for stdin) and show every rule evaluated",
			Run:     runExplain,
		},
		"replay": {
			Usage:   "replay --rules RULES [--json] [--against OLD_RULES [--fail-on-change]] [--tickets FILE] SOURCE",
			Summary: "classify a Maildir, an mbox or a folder of .eml; print the distribution",
			Run:     runReplay,
		},
		"version": {
			Usage:   "version",
			Summary: "print the module version and VCS commit",
			Run:     runVersion,
		},
	}
}

// Main runs the built-in commands; it is what cmd/triage calls.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmds := Commands()
	for name, c := range daemonCommands() {
		cmds[name] = c
	}
	return Run(ctx, cmds, args, stdin, stdout, stderr)
}

// Run dispatches args[0] to the named command in cmds.
func Run(ctx context.Context, cmds map[string]Command, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	s := Streams{In: stdin, Out: stdout, Err: stderr}
	if len(args) == 0 {
		printUsage(stderr, cmds)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if c, ok := cmds[args[1]]; ok {
				// A command prints its own flags when asked for help.
				return c.Run(ctx, s, []string{"-h"})
			}
			fmt.Fprintf(stderr, "triage help: unknown command %q\n", args[1])
			return exitUsage
		}
		printUsage(stdout, cmds)
		return exitOK
	}
	c, ok := cmds[name]
	if !ok {
		fmt.Fprintf(stderr, "triage: unknown command %q\n\n", name)
		printUsage(stderr, cmds)
		return exitUsage
	}
	return c.Run(ctx, s, args[1:])
}

func printUsage(w io.Writer, cmds map[string]Command) {
	fmt.Fprintln(w, "triage classifies help-desk mail with YAML rules.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage:")
	for _, n := range slices.Sorted(maps.Keys(cmds)) {
		c := cmds[n]
		fmt.Fprintf(w, "  triage %s\n      %s\n", c.Usage, c.Summary)
	}
	fmt.Fprintln(w, "  triage help [COMMAND]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "RULES is a rules file or a directory of *.yaml files merged in lexical order.")
}

// newFlagSet returns a FlagSet that reports to s.Err with the command's
// synopsis.
// mailFlags are the flags of explain and replay, which classify mail as the
// daemon would for one mailbox.
type mailFlags struct{ rules, account, mailbox *string }

func addMailFlags(fs *flag.FlagSet) mailFlags {
	return mailFlags{
		rules:   fs.String("rules", "", "rules file or directory (required)"),
		account: fs.String("account", "", "account name the rules read as the account field"),
		mailbox: fs.String("mailbox", "INBOX", "mailbox name the rules read as the mailbox field"),
	}
}

// meta is the mailbox the rules see the mail in.
func (f mailFlags) meta() classifier.Meta {
	return classifier.Meta{Account: *f.account, Mailbox: *f.mailbox}
}

func newFlagSet(s Streams, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(s.Err)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: triage %s\n", usage)
		if hasFlags(fs) {
			fs.PrintDefaults()
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	has := false
	fs.VisitAll(func(*flag.Flag) { has = true })
	return has
}

// parseArgs parses flags anywhere among args (the standard flag package
// stops at the first positional argument, but people type
// `triage explain mail.eml --json`). "--" ends flag parsing. It returns the
// positional arguments in order.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		if len(rest) == 0 {
			return positional, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// parseOrExit parses args and turns a flag error into an exit code: 0 for
// -h, 2 otherwise (the flag package already printed the problem). ok
// reports whether the command should go on.
func parseOrExit(fs *flag.FlagSet, args []string) (positional []string, code int, ok bool) {
	positional, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil, exitOK, false
	}
	if err != nil {
		return nil, exitUsage, false
	}
	return positional, exitOK, true
}

// parseNoArgs is parseOrExit for a command that takes no positional
// arguments: one is a usage error.
func parseNoArgs(fs *flag.FlagSet, args []string) (code int, ok bool) {
	pos, code, ok := parseOrExit(fs, args)
	if !ok || len(pos) == 0 {
		return code, ok
	}
	if hasFlags(fs) {
		return usageError(fs, "takes no positional arguments"), false
	}
	return usageError(fs, "takes no arguments"), false
}

// fail prints a command's error and returns exitFail.
func fail(s Streams, cmd string, err error) int {
	fmt.Fprintf(s.Err, "triage %s: %v\n", cmd, err)
	return exitFail
}

// usageError prints msg and the command's synopsis, and returns exitUsage.
func usageError(fs *flag.FlagSet, msg string) int {
	fmt.Fprintf(fs.Output(), "triage %s: %s\n", fs.Name(), msg)
	fs.Usage()
	return exitUsage
}

// printable makes text from a mail safe to show on a terminal: control
// characters (escape sequences, carriage returns) are shown escaped, never
// interpreted.
func printable(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t':
			b.WriteByte(' ')
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069):
			// C0/C1 controls and bidi overrides could rewrite what the
			// reader sees; show them as escapes.
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
