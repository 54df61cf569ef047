package daemon

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/triage-dev/triage/mailbox"
)

// TestCrashCount runs the poison rule over sequences of runs: each run
// begins FETCH batches, ends some of them and stops with a crash report
// or without one (a SIGKILL from outside); the test checks what the
// journal then holds against each message.
func TestCrashCount(t *testing.T) {
	type run struct {
		begin   [][]uint32 // FETCH batches of INBOX
		other   []uint32   // a batch of another mailbox
		end     []uint32   // handlers that returned
		crashed bool       // left a crash report
	}
	tests := []struct {
		name string
		runs []run
		want map[uint32]mailbox.Suspicion
	}{
		{"killed from outside twice: nobody is blamed",
			[]run{{begin: [][]uint32{{7}}}, {begin: [][]uint32{{7}}}},
			map[uint32]mailbox.Suspicion{7: mailbox.Innocent}},
		{"alone at two crashes: quarantined",
			[]run{{begin: [][]uint32{{7}}, crashed: true}, {begin: [][]uint32{{7}}, crashed: true}},
			map[uint32]mailbox.Suspicion{7: mailbox.Crashed}},
		{"one crash: handled alone next",
			[]run{{begin: [][]uint32{{7}}, crashed: true}},
			map[uint32]mailbox.Suspicion{7: mailbox.Isolate}},
		{"batch at the first crash, alone at the second: only the poison is quarantined",
			[]run{{begin: [][]uint32{{5, 6, 7, 8}}, end: []uint32{5}, crashed: true}, {begin: [][]uint32{{6}}, end: []uint32{6}}, {begin: [][]uint32{{7}}, crashed: true}},
			map[uint32]mailbox.Suspicion{5: mailbox.Innocent, 6: mailbox.Innocent, 7: mailbox.Crashed, 8: mailbox.Innocent}},
		{"two crashes in company: still only handled alone",
			[]run{{begin: [][]uint32{{6, 7}}, crashed: true}, {begin: [][]uint32{{6, 7}}, crashed: true}},
			map[uint32]mailbox.Suspicion{6: mailbox.Isolate, 7: mailbox.Isolate}},
		{"alone in its mailbox while another mailbox works: quarantined",
			[]run{{begin: [][]uint32{{7}}, other: []uint32{7, 8}, crashed: true}, {begin: [][]uint32{{7}}, other: []uint32{9}, crashed: true}},
			map[uint32]mailbox.Suspicion{7: mailbox.Crashed}},
		{"a crash without it in flight forgives it",
			[]run{{begin: [][]uint32{{7}}, crashed: true}, {begin: [][]uint32{{8, 9}}, crashed: true}, {begin: [][]uint32{{7}}, crashed: true}},
			map[uint32]mailbox.Suspicion{7: mailbox.Isolate}},
		{"a kill from outside between two crashes neither blames nor forgives",
			[]run{{begin: [][]uint32{{7}}, crashed: true}, {begin: [][]uint32{{8}}}, {begin: [][]uint32{{7}}, crashed: true}},
			map[uint32]mailbox.Suspicion{7: mailbox.Crashed, 8: mailbox.Innocent}},
		{"its handler returned: cleared",
			[]run{{begin: [][]uint32{{7}}, crashed: true}, {begin: [][]uint32{{7}}, end: []uint32{7}, crashed: true}},
			map[uint32]mailbox.Suspicion{7: mailbox.Innocent}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			crashed := false
			for _, r := range tc.runs {
				s, err := OpenStore(dir, time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := s.countCrash(crashed); err != nil {
					t.Fatal(err)
				}
				j := &journal{account: "helpdesk", store: s, onErr: func(err error) { t.Error(err) }}
				for _, b := range r.begin {
					if err := j.Begin("INBOX", 1, b); err != nil {
						t.Fatal(err)
					}
				}
				if r.other != nil {
					if err := j.Begin("Other", 1, r.other); err != nil {
						t.Fatal(err)
					}
				}
				for _, u := range r.end {
					j.End("INBOX", 1, u, true)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				crashed = r.crashed
			}
			s, err := OpenStore(dir, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, _, err := s.countCrash(crashed); err != nil {
				t.Fatal(err)
			}
			j := &journal{account: "helpdesk", store: s}
			for uid, want := range tc.want {
				if got := j.Suspicion("INBOX", 1, uid); got != want {
					t.Errorf("uid %d: %v, want %v", uid, got, want)
				}
			}
			if got := j.Suspicion("INBOX", 2, 7); got != mailbox.Innocent {
				t.Errorf("uid 7 under another UIDVALIDITY: %v, want innocent", got)
			}
		})
	}
}

// TestCrashReportFile: the report the runtime would write is taken over
// once, kept as crash.prev.log, and the next start sees a clean run.
func TestCrashReportFile(t *testing.T) {
	dir := t.TempDir()
	if crashed, err := takeCrashReport(dir); err != nil || crashed {
		t.Fatalf("first start: crashed %v, %v", crashed, err)
	}
	if err := os.WriteFile(filepath.Join(dir, crashFile), []byte("panic: boom\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if crashed, err := takeCrashReport(dir); err != nil || !crashed {
		t.Fatalf("after a crash report: crashed %v, %v", crashed, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, lastCrashFile)); err != nil || string(b) != "panic: boom\n" {
		t.Errorf("kept report %q, %v", b, err)
	}
	if crashed, err := takeCrashReport(dir); err != nil || crashed {
		t.Fatalf("after a clean run: crashed %v, %v", crashed, err)
	}
}
