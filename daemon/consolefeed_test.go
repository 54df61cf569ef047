package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/triage-dev/triage/examples"
	"github.com/triage-dev/triage/rules"
	"github.com/triage-dev/triage/ticket"
)

func handledAt(at time.Time, tier, action string, raw int) Handled {
	t := &ticket.Ticket{Subject: "s", Body: "body", Raw: make([]byte, raw),
		Class: ticket.Classification{Tier: tier, Action: action}}
	return Handled{Ticket: t, Outcome: "forwarded", At: at}
}

func TestConsoleFeedBounds(t *testing.T) {
	now := time.Date(2026, 12, 4, 15, 30, 0, 0, time.UTC)
	tests := []struct {
		name      string
		ring      int
		raws      []int
		wantSeqs  []uint64 // newest first
		wantNoRaw []uint64 // kept without their raw bytes
	}{
		{"fewer than the ring", 4, []int{10, 10}, []uint64{2, 1}, nil},
		{"the ring overflows: the oldest go", 3, []int{10, 10, 10, 10, 10}, []uint64{5, 4, 3}, nil},
		{"a message too large to keep whole", 3, []int{10, maxRecentMessage + 1}, []uint64{2, 1}, []uint64{2}},
		{"the byte budget evicts the oldest", 100, []int{maxRecentMessage - 10, maxRecentMessage - 10, maxRecentMessage - 10,
			maxRecentMessage - 10, maxRecentMessage - 10, maxRecentMessage - 10, maxRecentMessage - 10, maxRecentMessage - 10,
			maxRecentMessage - 10, maxRecentMessage - 10, maxRecentMessage - 10, maxRecentMessage - 10, maxRecentMessage - 10,
			maxRecentMessage - 10, maxRecentMessage - 10, maxRecentMessage - 10, maxRecentMessage - 10},
			[]uint64{17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newConsoleFeed(tc.ring)
			for _, n := range tc.raws {
				f.handled(handledAt(now, "L1", "forward", n))
			}
			recent := f.recent()
			var seqs, noRaw []uint64
			for _, r := range recent {
				seqs = append(seqs, r.Seq)
				if r.Raw == nil {
					noRaw = append(noRaw, r.Seq)
				}
				if r.Ticket.Raw != nil {
					t.Errorf("record %d: the ticket still holds the raw bytes", r.Seq)
				}
			}
			if fmt.Sprint(seqs) != fmt.Sprint(tc.wantSeqs) || fmt.Sprint(noRaw) != fmt.Sprint(tc.wantNoRaw) {
				t.Errorf("kept %v (without raw %v), want %v (%v)", seqs, noRaw, tc.wantSeqs, tc.wantNoRaw)
			}
			if f.bytes > maxRecentBytes {
				t.Errorf("%d bytes kept, over %d", f.bytes, maxRecentBytes)
			}
		})
	}
}

func TestConsoleFeedHours(t *testing.T) {
	now := time.Date(2026, 12, 4, 15, 30, 0, 0, time.UTC)
	f := newConsoleFeed(10)
	f.handled(handledAt(now.Add(-25*time.Hour), "L1", "forward", 1)) // same slot as 14:xx today, then replaced
	f.handled(handledAt(now.Add(-time.Hour), "L1", "forward", 1))
	f.handled(handledAt(now.Add(-time.Hour), "L2", "forward", 1))
	f.handled(handledAt(now, "L1", "drop", 1))
	red := handledAt(now, "L3", "forward", 1)
	red.Outcome = "redelivery"
	f.handled(red)
	got := map[string]string{}
	for _, h := range f.hourly(now) {
		got[h.Start.Format("15")] = fmt.Sprintf("L1=%d L2=%d dropped=%d", h.Tiers["L1"], h.Tiers["L2"], h.Dropped)
	}
	want := map[string]string{"14": "L1=1 L2=1 dropped=0", "15": "L1=0 L2=0 dropped=1"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("hours %v, want %v", got, want)
	}
}

func TestConsoleFeedReloads(t *testing.T) {
	f := newConsoleFeed(1)
	at := time.Date(2026, 12, 4, 15, 0, 0, 0, time.UTC)
	f.reloaded(rules.ReloadResult{At: at, Version: "v1", Changed: true})
	f.reloaded(rules.ReloadResult{At: at.Add(time.Second), Version: "v1"})
	f.reloaded(rules.ReloadResult{At: at.Add(2 * time.Second), Version: "v1", Err: errors.New("x.yaml:1:1: bad"), Errors: []string{"x.yaml:1:1: bad"}})
	h := f.reloadHistory()
	if len(h) != 2 || !h[0].Refused() || h[0].Errors[0] != "x.yaml:1:1: bad" || h[1].Version != "v1" || !h[1].Changed {
		t.Errorf("history %+v", h)
	}
	for i := range maxReloadsKept + 5 {
		f.reloaded(rules.ReloadResult{At: at.Add(time.Duration(10+i) * time.Second), Version: strings.Repeat("v", i+1), Changed: true})
	}
	if h := f.reloadHistory(); len(h) != maxReloadsKept || len(h[0].Version) != maxReloadsKept+5 {
		t.Errorf("%d reloads kept, newest %q", len(h), h[0].Version)
	}
	var off *consoleFeed
	off.handled(handledAt(at, "L1", "forward", 1)) // the console off: nothing, no panic
	off.reloaded(rules.ReloadResult{})
}

// BenchmarkConsoleFeedHandled is what the console adds to each message's
// path: a copy into the ring and an hourly count, under a mutex.
func BenchmarkConsoleFeedHandled(b *testing.B) {
	f := newConsoleFeed(500)
	h := handledAt(time.Now(), "L2", "forward", 4<<10)
	b.ReportAllocs()
	for b.Loop() {
		f.handled(h)
	}
}

// TestConsoleOnOff: the admin server serves the console under / unless
// console.enabled is false, and then nothing is recorded for it.
func TestConsoleOnOff(t *testing.T) {
	for _, tc := range []struct {
		console  string
		wantCode int
		wantFeed bool
	}{
		{"", http.StatusOK, true},
		{"console: {enabled: false}\n", http.StatusNotFound, false},
	} {
		dir := t.TempDir()
		if err := examples.Extract(dir); err != nil {
			t.Fatal(err)
		}
		queues := ""
		for _, q := range []string{"helpdesk", "systems", "security", "engineering"} {
			queues += fmt.Sprintf("  %s: {type: file, path: %s.jsonl}\n", q, q)
		}
		text := "rules: rules.yaml\naccounts:\n  - {name: a, addr: 127.0.0.1:1, tls: none, username: u, password_file: pw}\n" +
			"queues:\n" + queues + "state_dir: state\n" + tc.console
		cfg, _ := loadConfigText(t, dir, text)
		d, err := New(cfg, Options{Log: slog.New(slog.DiscardHandler), DisableHTTP: true})
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		d.Handler("").ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		if rec.Code != tc.wantCode || (d.feed != nil) != tc.wantFeed {
			t.Errorf("console %q: GET / %d, feed %t; want %d, %t", tc.console, rec.Code, d.feed != nil, tc.wantCode, tc.wantFeed)
		}
		if h := d.feed.reloadHistory; tc.wantFeed && len(h()) != 1 {
			t.Errorf("reload history after the start: %+v, want the initial load", h())
		}
		_ = d.store.Close()
		d.closeSinks()
	}
}
