package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/triage-dev/triage/examples"
	"github.com/triage-dev/triage/mailbox"
	"github.com/triage-dev/triage/ticket"
)

// TestHandleDetectsProblemsAndStorms runs the pipeline with the example
// rules and detection on: three reports of one printer from three people
// make a problem (the third ticket carries it and the two before as
// related), and the fifth mail of one sender is filed as a storm.
func TestHandleDetectsProblemsAndStorms(t *testing.T) {
	d, dir := problemsDaemon(t)
	arrival := time.Now().UTC()
	uid := uint32(0)
	handle := func(from, subject, body string) mailbox.Outcome {
		uid++
		raw := fmt.Sprintf("From: %s\r\nTo: helpdesk@example.com\r\nSubject: %s\r\nMessage-ID: <h%d@example.com>\r\nDate: Fri, 04 Dec 2026 10:00:00 +0100\r\n\r\n%s\r\n", from, subject, uid, body)
		return d.handle(context.Background(), &mailbox.Message{Account: "t", Mailbox: "INBOX", UID: uid, UIDValidity: 1,
			InternalDate: arrival.Add(time.Duration(uid) * time.Minute), Size: int64(len(raw)), Raw: []byte(raw)})
	}
	for _, from := range []string{"ann@example.com", "bob@example.com", "cleo@example.com"} {
		if out := handle(from, "Printer PRN-3OG-01 offline", "The printer PRN-3OG-01 on the 3rd floor is offline."); out.Verdict != mailbox.Done {
			t.Fatalf("%s: %v %s", from, out.Verdict, out.Reason)
		}
	}
	var outs []mailbox.Outcome
	for i := range 5 {
		outs = append(outs, handle("nagios@monitor.example.com", fmt.Sprintf("PROBLEM %d: db02 disk full", i), "db02 /var is full"))
	}
	d.records.Close() // the file sink wrote synchronously; this waits for the store
	tickets := readJSONL(t, filepath.Join(dir, "out.jsonl"))
	if len(tickets) != 7 {
		t.Fatalf("%d tickets forwarded, want 7 (3 reports, 4 alerts before the storm rule)", len(tickets))
	}
	third := tickets[2]
	if third.Class.Problem == nil || third.Class.Problem.Size != 3 || len(third.Related) != 2 || third.Related[0] != tickets[1].ID {
		t.Errorf("third report: problem %+v related %v; want size 3 and the two before, newest first", third.Class.Problem, third.Related)
	}
	if tickets[1].Class.Problem != nil {
		t.Errorf("second report already in a problem: %+v", tickets[1].Class.Problem)
	}
	if outs[4].Folder != "Triage/Storm" {
		t.Errorf("fifth alert filed in %q, want Triage/Storm", outs[4].Folder)
	}
	if got := testutil.ToFloat64(d.problemMetrics.open); got != 2 {
		t.Errorf("triage_problems_open = %v, want 2 (the printer and the alerts)", got)
	}
	// Counted: the printer's third report and the 3rd to 5th alert.
	if got := testutil.ToFloat64(d.problemMetrics.tickets); got != 4 {
		t.Errorf("triage_problem_tickets_total = %v, want 4", got)
	}
	checkConsoleProblems(t, d, tickets)
}

// problemsDaemon is a daemon over the example rules with detection on
// and every queue a JSON Lines file in its directory, closed at the end.
func problemsDaemon(t *testing.T) (*Daemon, string) {
	t.Helper()
	dir := t.TempDir()
	if err := examples.Extract(dir); err != nil {
		t.Fatal(err)
	}
	cfgText := `rules: rules.yaml
accounts:
  - {name: t, addr: "127.0.0.1:1", tls: none, username: u, password_env: UNUSED}
queues:
  helpdesk: {type: file, path: out.jsonl}
  systems: {type: file, path: out.jsonl}
  security: {type: file, path: out.jsonl}
  engineering: {type: file, path: out.jsonl}
state_dir: state
log: {level: warn}
`
	cfg, _ := loadConfigText(t, dir, cfgText)
	d, err := New(cfg, Options{Log: slog.New(slog.DiscardHandler), DisableHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.records.Close()
		d.closeSinks()
		_ = d.store.Close()
	})
	return d, dir
}

// checkConsoleProblems: the console's Problems page reads the same two
// problems, largest first, with the ticket ids it links to.
func checkConsoleProblems(t *testing.T, d *Daemon, tickets []ticket.Ticket) {
	t.Helper()
	if n := (consoleSource{d: d}).Snapshot().ProblemsOpen; n != 2 {
		t.Errorf("console snapshot: %d open problems, want 2", n)
	}
	open := consoleSource{d: d}.Problems()
	if len(open) != 2 || open[0].Size != 5 || open[1].Size != 3 {
		t.Fatalf("console problems: %+v, want the alerts (5) then the printer (3)", open)
	}
	printer := open[1]
	if len(printer.Tickets) != 3 || printer.Summary == "" || !printer.FirstSeen.Equal(printer.Tickets[0].At) || !printer.LastSeen.Equal(printer.Tickets[2].At) {
		t.Errorf("printer problem: %+v", printer)
	}
	for i, pt := range printer.Tickets {
		if pt.ID != tickets[i].ID || pt.Subject != "Printer PRN-3OG-01 offline" {
			t.Errorf("printer problem's ticket %d: %+v, want id %s", i, pt, tickets[i].ID)
		}
	}
}
