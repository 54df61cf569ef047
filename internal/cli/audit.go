package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/triage-dev/triage/config"
	"github.com/triage-dev/triage/internal/audit"
	"github.com/triage-dev/triage/internal/duration"
	"github.com/triage-dev/triage/queue"
)

const auditUsage = "audit --config triage.yaml [--since 30d] [--json]"

// runAudit reads back from the trackers the tickets triage filed and
// reports, per rule and per tier, what the desk corrected.
func runAudit(ctx context.Context, s Streams, args []string) int {
	fs := newFlagSet(s, "audit", auditUsage)
	configPath := fs.String("config", "", "daemon config (required)")
	sinceFlag := fs.String("since", "30d", "how far back: tickets created since then")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	pos, code, ok := parseOrExit(fs, args)
	if !ok {
		return code
	}
	if *configPath == "" || len(pos) > 0 {
		return usageError(fs, "--config is required and there are no arguments")
	}
	back, err := duration.Parse(*sinceFlag)
	if err != nil || back <= 0 {
		return usageError(fs, fmt.Sprintf("--since %q is not a positive duration (e.g. 30d)", *sinceFlag))
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		printDaemonError(s, err)
		return exitFail
	}
	since := time.Now().Add(-back)
	tickets, err := readAudit(ctx, cfg, since, slog.New(slog.NewTextHandler(s.Err, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return fail(s, "audit", err)
	}
	r := audit.Build(since, tickets)
	if *asJSON {
		enc := json.NewEncoder(s.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return fail(s, "audit", err)
		}
		return exitOK
	}
	if err := printAudit(s.Out, r); err != nil {
		return fail(s, "audit", err)
	}
	return exitOK
}

// readAudit reads every tracker the config's queues file into, once each.
func readAudit(ctx context.Context, cfg *config.Config, since time.Time, log *slog.Logger) ([]audit.Ticket, error) {
	var out []audit.Ticket
	read := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(cfg.Queues)) {
		r, err := queue.NewAuditReader(name, cfg.Queues[name], cfg.Resolve("."), log)
		if errors.Is(err, queue.ErrNoAudit) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if read[r.Tracker()] {
			continue
		}
		read[r.Tracker()] = true
		ts, err := r.AuditTickets(ctx, since)
		if err != nil {
			return nil, fmt.Errorf("queue %s: %w", name, err)
		}
		for _, t := range ts {
			out = append(out, audit.Ticket{Tracker: r.Tracker(), AuditTicket: t})
		}
	}
	if len(read) == 0 {
		return nil, errors.New("no queue of this config is a tracker triage can read back (type rt)")
	}
	return out, nil
}

// printAudit writes the report as tables; tracker values are shown with
// control characters escaped.
func printAudit(w io.Writer, r audit.Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%d tickets since %s\n\n", r.Tickets, r.Since.Format(time.DateOnly))
	for _, sec := range []struct {
		title string
		lines []audit.Line
	}{{"RULE", r.Rules}, {"TIER", r.Tiers}} {
		fmt.Fprintf(tw, "%s\tTICKETS\tRE-ROUTED\tBOUNCING\tRESOLVED\tIN CHOSEN TIER\n", sec.title)
		for _, l := range sec.lines {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d (%.0f%%)\n", printable(l.Name), l.Tickets, l.Rerouted, l.Bouncing, l.Resolved, l.ResolvedInTier, 100*l.ResolvedInTierShare)
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintf(tw, "L1 resolution share: %.0f%% of resolved tickets\n", 100*r.L1ResolutionShare)
	if len(r.Moves) > 0 {
		fmt.Fprintln(tw, "\nre-routed tickets:")
		for _, m := range r.Moves {
			fmt.Fprintf(tw, "  #%s (%s; %s %s): %s\n", printable(m.TrackerID), printable(strings.Join(m.Rules, ",")),
				printable(m.Tier), printable(m.Queue), printable(strings.Join(m.Path, "; ")))
		}
	}
	return tw.Flush()
}
