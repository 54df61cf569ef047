package daemon

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/triage-dev/triage/examples"
	"github.com/triage-dev/triage/internal/testkit"
)

// syncBuffer collects the demo's output and logs.
type syncBuffer struct{ testkit.SyncBuffer }

func (s *syncBuffer) ticketLines() []string {
	var out []string
	for _, l := range strings.Split(s.String(), "\n") {
		if strings.Contains(l, "rules=") {
			out = append(out, l)
		}
	}
	return out
}

func TestDemo(t *testing.T) {
	mails, err := fs.Glob(examples.Files, "mail/*.eml")
	if err != nil || len(mails) < 30 {
		t.Fatalf("example mail: %d files, %v", len(mails), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, logs syncBuffer
	drop := t.TempDir()
	done := make(chan error, 1)
	go func() {
		done <- Demo(ctx, DemoOptions{Out: &out, Log: &logs, DropDir: drop, WorkDir: t.TempDir()})
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("demo output:\n%s\nlogs:\n%s", out.String(), logs.String())
		}
	})
	testkit.WaitFor(t, 60*time.Second, "every sample mail to be handled", func() bool {
		select {
		case err := <-done:
			t.Fatalf("Demo stopped early: %v", err)
		default:
		}
		return len(out.ticketLines()) >= len(mails)
	})
	if got := len(out.ticketLines()); got != len(mails) {
		t.Errorf("%d ticket lines for %d sample mails:\n%s", got, len(mails), out.String())
	}
	for _, want := range []string{"L3 P1 security", "drop", "L1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}

	// A mail dropped into the folder shows up as a ticket.
	raw := "From: Dana <dana@example.com>\r\nTo: helpdesk@example.com\r\nSubject: printer on floor 3 jams again\r\n" +
		"Message-ID: <drop-1@example.com>\r\nDate: Fri, 27 Nov 2026 10:00:00 +0100\r\n\r\nThe printer jams on every page.\r\n"
	if err := os.WriteFile(filepath.Join(drop, "new.eml"), []byte(raw), 0o644); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "the dropped mail's ticket", func() bool {
		return strings.Contains(out.String(), "printer on floor 3 jams again")
	})
	t.Logf("demo output:\n%s", out.String())
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Demo returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Demo did not stop after cancel")
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("demo logged errors:\n%s", logs.String())
	}
}
