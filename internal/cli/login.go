package cli

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/triage-dev/triage/config"
	"github.com/triage-dev/triage/daemon"
	"github.com/triage-dev/triage/mailbox"
	"github.com/triage-dev/triage/oauth"
)

const loginUsage = "login --config triage.yaml --account NAME"

// runLogin signs a person in for a delegated oauth2 account (device code,
// or a browser for Google), stores the refresh token in state_dir, then
// logs in to IMAP with it and lists the mailboxes, so the admin sees at
// once which mailbox the daemon can now read.
func runLogin(ctx context.Context, s Streams, args []string) int {
	fs := newFlagSet(s, "login", loginUsage)
	configPath := fs.String("config", "", "daemon config (required)")
	account := fs.String("account", "", "account name (required)")
	pos, code, ok := parseOrExit(fs, args)
	if !ok {
		return code
	}
	if *configPath == "" || *account == "" || len(pos) != 0 {
		return usageError(fs, "--config and --account are required, and nothing else")
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		printDaemonError(s, err)
		return exitFail
	}
	oc, a, err := daemon.OAuthConfig(cfg, *account)
	if err != nil {
		return fail(s, "login", err)
	}
	if err := oauth.Login(ctx, oc, s.Out); err != nil {
		return fail(s, "login", err)
	}
	log := slog.New(slog.NewTextHandler(s.Err, &slog.HandlerOptions{Level: slog.LevelWarn}))
	boxes, err := mailbox.ListMailboxes(ctx, daemon.MailboxConfig(cfg, a), log)
	if err != nil {
		fmt.Fprintf(s.Err, "triage login: signed in, but the IMAP login as %s failed: %v\n", a.Username, err)
		return exitFail
	}
	for i, b := range boxes {
		boxes[i] = printable(b)
	}
	fmt.Fprintf(s.Out, "ok: %s can read %s at %s as %s; mailboxes: %s\n", a.Name, strings.Join(a.Mailboxes, ", "), a.Addr, a.Username, strings.Join(boxes, ", "))
	return exitOK
}
