package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/triage-dev/triage/config"
	"github.com/triage-dev/triage/internal/testkit"
)

// TestLeaseFailover: two daemons watch the same account; only the lease
// holder serves it, each mail is forwarded once, and the standby takes over
// when the holder stops or loses its lease.
func TestLeaseFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	natsURL := "nats://" + testkit.StartNATS(t).Addr().String()
	leaseCfg := func(holder string) string {
		return fmt.Sprintf("lease: {url: %q, ttl: 3s, holder: %s}\n", natsURL, holder)
	}
	a := startE2E(t, leaseCfg("daemon-a"))
	// Daemon b: the same account and queues, its own state, sinks and admin port.
	b := *a
	b.httpAddr = testkit.FreeAddr(t)
	b.logs = &testkit.SyncBuffer{}
	b.cancel, b.done, b.d = nil, nil, nil
	cfgA, err := os.ReadFile(a.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfgB := strings.ReplaceAll(string(cfgA), "out/", "outb/")
	cfgB = strings.Replace(cfgB, "state_dir: state", "state_dir: state-b", 1)
	cfgB = strings.Replace(cfgB, a.httpAddr, b.httpAddr, 1)
	cfgB = strings.Replace(cfgB, "holder: daemon-a", "holder: daemon-b", 1)
	b.cfgPath = filepath.Join(a.dir, "triage-b.yaml")
	if err := os.MkdirAll(filepath.Join(a.dir, "outb"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b.cfgPath, []byte(cfgB), 0o600); err != nil {
		t.Fatal(err)
	}
	a.run()
	b.run()

	held := func(e *e2e) bool { return e.metric("triage_lease_held", map[string]string{"account": "helpdesk"}) == 1 }
	var holder, standby *e2e
	testkit.WaitFor(t, 20*time.Second, "one daemon to hold the lease", func() bool {
		ha, hb := held(a), held(&b)
		switch {
		case ha && hb:
			t.Fatal("both daemons hold the lease")
		case ha:
			holder, standby = a, &b
		case hb:
			holder, standby = &b, a
		}
		return holder != nil
	})
	if code, body := standby.get("/readyz"); code != 200 {
		t.Errorf("standby /readyz = %d %s; a healthy standby is ready", code, body)
	}
	if _, body := standby.get("/status"); !strings.Contains(body, `"lease": "standby"`) {
		t.Errorf("standby /status lacks the lease state: %s", body)
	}

	tickets := func() map[string]int {
		n := map[string]int{}
		for _, out := range []string{"out", "outb"} {
			for _, q := range []string{"helpdesk", "systems", "engineering"} {
				for _, tk := range readJSONL(t, filepath.Join(a.dir, out, q+".jsonl")) {
					n[tk.MessageID]++
				}
			}
		}
		return n
	}
	deliver := func(from, to int) {
		for i := from; i < to; i++ {
			raw := fmt.Sprintf("From: u@example.com\r\nSubject: printer %d jammed\r\nMessage-ID: <lease-%d@example.com>\r\nDate: Fri, 27 Nov 2026 10:00:00 +0100\r\n\r\njam\r\n", i, i)
			a.srv.Deliver(t, a.srv.User, []byte(raw))
		}
	}
	waitAll := func(n int, what string) {
		testkit.WaitFor(t, 30*time.Second, what, func() bool { return len(tickets()) >= n })
		for id, c := range tickets() {
			if c != 1 {
				t.Errorf("%s forwarded %d times", id, c)
			}
		}
	}
	deliver(0, 5)
	waitAll(5, "mail served by the holder")
	if got := holder.metric("triage_tickets_total", nil); got != 5 {
		t.Errorf("holder classified %v mails, want 5", got)
	}
	if got := standby.metric("triage_tickets_total", nil); got != 0 {
		t.Errorf("standby classified %v mails, want 0", got)
	}

	// Lost lease: the key is deleted behind the holder's back; its next
	// renewal fails, it stops serving, and whoever creates the key next
	// serves. Exactly one holder again, and mail still flows once.
	kv, err := testkit.JetStream(t, natsURL).KeyValue(context.Background(), config.DefaultLeaseBucket)
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(context.Background(), "account.helpdesk"); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 20*time.Second, "the old holder to notice the lost lease", func() bool {
		return strings.Contains(holder.logs.String(), "lease lost")
	})
	testkit.WaitFor(t, 20*time.Second, "a holder again", func() bool { return held(a) != held(&b) })
	deliver(5, 10)
	waitAll(10, "mail after the lost lease")

	// The holder stops: it releases the lease and the standby takes over.
	var cur, other *e2e = a, &b
	if !held(a) {
		cur, other = &b, a
	}
	cur.stop()
	testkit.WaitFor(t, 20*time.Second, "the standby to take over", func() bool { return held(other) })
	deliver(10, 15)
	waitAll(15, "mail after the takeover")
	if got := other.metric("triage_imap_connected", map[string]string{"account": "helpdesk"}); got != 1 {
		t.Errorf("new holder not connected: %v", got)
	}
}
