package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/triage-dev/triage/mailbox"
)

// TestReloadAppliesProblemsSettings: a config reload (SIGHUP) changes
// problem detection like a restart would: the groups are rebuilt from the
// state store with the new settings, detection can be turned off and on
// again, and a rejected value changes nothing.
func TestReloadAppliesProblemsSettings(t *testing.T) {
	d, dir := problemsDaemon(t)
	reload := configReloader(t, d, dir)
	arrival := time.Now().UTC()
	uid := uint32(0)
	report := func() (size int, problem string) {
		t.Helper()
		uid++
		raw := fmt.Sprintf("From: user%d@example.com\r\nTo: helpdesk@example.com\r\nSubject: Printer PRN-3OG-01 offline\r\nMessage-ID: <r%d@example.com>\r\nDate: Fri, 04 Dec 2026 10:00:00 +0100\r\n\r\nThe printer PRN-3OG-01 on the 3rd floor is offline.\r\n", uid, uid)
		if out := d.handle(context.Background(), &mailbox.Message{Account: "t", Mailbox: "INBOX", UID: uid, UIDValidity: 1,
			InternalDate: arrival.Add(time.Duration(uid) * time.Minute), Size: int64(len(raw)), Raw: []byte(raw)}); out.Verdict != mailbox.Done {
			t.Fatalf("report %d: %v %s", uid, out.Verdict, out.Reason)
		}
		tickets := readJSONL(t, filepath.Join(dir, "out.jsonl"))
		last := tickets[len(tickets)-1]
		if last.Class.Problem == nil {
			return 0, ""
		}
		return last.Class.Problem.Size, last.Class.Problem.ID
	}

	for range 3 {
		report()
	}
	if got := testutil.ToFloat64(d.problemMetrics.open); got != 1 {
		t.Fatalf("before the reload: %v open problems, want 1", got)
	}

	// min_size 5: the three reports restored from the store and the fourth
	// are not a problem yet; the fifth is.
	if err := reload("problems: {min_size: 5}\n"); err != nil {
		t.Fatal(err)
	}
	if size, id := report(); size != 0 || id != "" {
		t.Errorf("4th report with min_size 5: problem %q of %d, want none", id, size)
	}
	if size, _ := report(); size != 5 {
		t.Errorf("5th report with min_size 5: problem of %d, want 5 (restored from the store)", size)
	}

	// A value the config rejects keeps the running settings.
	if err := reload("problems: {min_size: 5, window: 1s}\n"); err == nil || !strings.Contains(err.Error(), "window") {
		t.Errorf("reload with window 1s: %v, want an error naming window", err)
	}
	if size, _ := report(); size != 6 {
		t.Errorf("after the rejected reload: problem of %d, want 6", size)
	}

	// Off: no problem on the ticket, the gauge reads 0; on again: the
	// groups come back from the store.
	if err := reload("problems: {enabled: false}\n"); err != nil {
		t.Fatal(err)
	}
	if size, id := report(); size != 0 || id != "" || d.problems.Load() != nil {
		t.Errorf("detection off: problem %q of %d, want none", id, size)
	}
	if got := testutil.ToFloat64(d.problemMetrics.open); got != 0 {
		t.Errorf("detection off: %v open problems, want 0", got)
	}
	if err := reload("problems: {min_size: 3}\n"); err != nil {
		t.Fatal(err)
	}
	// The report handled while detection was off was not recorded.
	if size, _ := report(); size != 7 {
		t.Errorf("detection on again: problem of %d, want 7 (6 restored from the store and this one)", size)
	}
}

// configReloader returns a function that reloads d's config (dir's
// triage.yaml) with extra appended to it as it was at the call.
func configReloader(t *testing.T, d *Daemon, dir string) func(extra string) error {
	t.Helper()
	path := filepath.Join(dir, "triage.yaml")
	base, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return func(extra string) error {
		t.Helper()
		if err := os.WriteFile(path, append(slices.Clone(base), extra...), 0o600); err != nil {
			t.Fatal(err)
		}
		return d.ReloadConfig()
	}
}
