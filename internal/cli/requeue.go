package cli

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/triage-dev/triage/config"
	"github.com/triage-dev/triage/daemon"
	"github.com/triage-dev/triage/mailbox"
)

const requeueUsage = "requeue --config triage.yaml --account A [--mailbox M] [--from quarantine|failed] [--yes] [UID...]"

// runRequeue moves mail from an account's quarantine (or failed) folder back
// to a watched mailbox, with the done keyword cleared, so a running daemon
// handles it again with its current rules and sinks. Without UIDs it moves
// the whole folder, after listing it and asking, unless --yes.
func runRequeue(ctx context.Context, s Streams, args []string) int {
	fs := newFlagSet(s, "requeue", requeueUsage)
	configPath := fs.String("config", "", "daemon config (required)")
	account := fs.String("account", "", "account name (required)")
	mailboxName := fs.String("mailbox", "", "watched mailbox to move the mail to (default: the account's first)")
	from := fs.String("from", "quarantine", "the folder to take the mail from: quarantine or failed")
	yes := fs.Bool("yes", false, "do not ask before moving a whole folder")
	pos, code, ok := parseOrExit(fs, args)
	if !ok {
		return code
	}
	switch {
	case *configPath == "" || *account == "":
		return usageError(fs, "--config and --account are required")
	case *from != "quarantine" && *from != "failed":
		return usageError(fs, "--from is quarantine or failed")
	}
	uids := make([]uint32, 0, len(pos))
	for _, p := range pos {
		u, err := strconv.ParseUint(p, 10, 32)
		if err != nil || u == 0 {
			return usageError(fs, fmt.Sprintf("%q is not a UID", p))
		}
		uids = append(uids, uint32(u))
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		printDaemonError(s, err)
		return exitFail
	}
	mc, folder, to, err := daemon.RequeueTarget(cfg, *account, *mailboxName, *from)
	if err != nil {
		return fail(s, "requeue", err)
	}
	log := slog.New(slog.NewTextHandler(s.Err, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if len(uids) == 0 {
		if proceed, err := confirmWholeFolder(ctx, s, mc, folder, to, *yes, log); err != nil {
			return fail(s, "requeue", err)
		} else if !proceed {
			return exitOK
		}
	}
	n, err := mailbox.Requeue(ctx, mc, folder, to, uids, log)
	if err != nil {
		return fail(s, "requeue", err)
	}
	fmt.Fprintf(s.Out, "moved %d messages from %s to %s\n", n, printable(folder), printable(to))
	return exitOK
}

// confirmWholeFolder lists the folder and asks before moving all of it.
func confirmWholeFolder(ctx context.Context, s Streams, mc mailbox.Config, folder, to string, yes bool, log *slog.Logger) (bool, error) {
	msgs, err := mailbox.ListFolder(ctx, mc, folder, log)
	if err != nil {
		return false, err
	}
	fmt.Fprintf(s.Out, "%d messages in %s will move to %s:\n", len(msgs), printable(folder), printable(to))
	for _, m := range msgs {
		fmt.Fprintf(s.Out, "  uid %d  %s  %s  %q  %d bytes\n", m.UID, m.Date.Format("2006-01-02 15:04"), printable(m.From), printable(m.Subject), m.Size)
	}
	if yes || len(msgs) == 0 {
		return len(msgs) > 0, nil
	}
	fmt.Fprint(s.Out, "move them? [y/N] ")
	answer, _ := bufio.NewReader(s.In).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
		fmt.Fprintln(s.Out, "nothing moved")
		return false, nil
	}
	return true, nil
}
