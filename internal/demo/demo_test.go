package demo

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/triage-dev/triage/examples"
	"github.com/triage-dev/triage/internal/testkit"
)

// ticketLines are the lines of the demo's output that show a ticket.
func ticketLines(s *testkit.SyncBuffer) []string {
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
	var out, logs testkit.SyncBuffer
	drop := t.TempDir()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Out: &out, Log: &logs, DropDir: drop, WorkDir: t.TempDir()})
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("demo output:\n%s\nlogs:\n%s", out.String(), logs.String())
		}
	})
	testkit.WaitFor(t, 60*time.Second, "every sample mail to be handled", func() bool {
		select {
		case err := <-done:
			t.Fatalf("Run stopped early: %v", err)
		default:
		}
		return len(ticketLines(&out)) >= len(mails)
	})
	if got := len(ticketLines(&out)); got != len(mails) {
		t.Errorf("%d ticket lines for %d sample mails:\n%s", got, len(mails), out.String())
	}
	for _, want := range []string{"L3 P1 security", "drop", "L1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}

	// A FIFO named like a mail is set aside without being opened (an open
	// would block the folder's watcher, and the mail after it would never
	// arrive).
	if err := syscall.Mkfifo(filepath.Join(drop, "a-fifo.eml"), 0o644); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "the FIFO set aside", func() bool {
		_, err := os.Stat(filepath.Join(drop, "a-fifo.eml.refused"))
		return err == nil
	})

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
			t.Fatalf("Run returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not stop after cancel")
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("demo logged errors:\n%s", logs.String())
	}
}

// TestFitColumns: subjects are cut and padded to the same number of
// terminal columns whatever their script, so the rules column lines up.
func TestFitColumns(t *testing.T) {
	tests := []struct {
		name, in, want string
		cols           int
	}{
		{"ascii padded", "VPN down", "VPN down  ", 10},
		{"ascii exact", "0123456789", "0123456789", 10},
		{"ascii cut", "0123456789A", "012345678…", 10},
		{"wide padded", "三楼打印机", "三楼打印机", 10},
		{"wide cut", "三楼打印机卡纸", "三楼打印… ", 10},
		{"wide cut at an odd column", "a三楼打印机卡纸", "a三楼打印…", 10},
		{"combining marks take no column", "Cafe\u0301 ok", "Cafe\u0301 ok  ", 9},
		{"empty", "", "     ", 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fitColumns(tt.in, tt.cols)
			if got != tt.want {
				t.Errorf("fitColumns(%q, %d) = %q, want %q", tt.in, tt.cols, got, tt.want)
			}
			cols := 0
			for _, r := range got {
				cols += runeColumns(r)
			}
			if cols != tt.cols {
				t.Errorf("fitColumns(%q, %d) takes %d columns", tt.in, tt.cols, cols)
			}
		})
	}
}
