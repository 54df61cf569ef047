package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/triage-dev/triage/classifier"
	"github.com/triage-dev/triage/daemon"
	"github.com/triage-dev/triage/internal/dovecottest"
	"github.com/triage-dev/triage/internal/testkit"
)

// TestRequeueTooLarge: a mail quarantined as too large is listed with its
// reason, and after max_message_bytes is raised, `triage requeue` moves it
// back and the daemon forwards it once, with the ticket id it would have had.
func TestRequeueTooLarge(t *testing.T) {
	srv := dovecottest.Start(t)
	dir := t.TempDir()
	copyExamples(t, dir)
	small := []byte("From: ann@example.com\r\nTo: helpdesk@example.com\r\nSubject: printer jam\r\nDate: Fri, 27 Nov 2026 10:00:00 +0100\r\nMessage-ID: <small@example.com>\r\n\r\nThe printer jams.\r\n")
	large := []byte("From: bob@example.com\r\nTo: helpdesk@example.com\r\nSubject: VPN log attached\r\nDate: Fri, 27 Nov 2026 10:05:00 +0100\r\nMessage-ID: <large@example.com>\r\n\r\n" +
		strings.Repeat("vpn log line: tunnel down, retrying\r\n", 200))
	srv.Deliver(t, srv.User, small)
	srv.Deliver(t, srv.User, large)
	t.Setenv("TRIAGE_TEST_IMAP_PW", srv.Password)
	account := testkit.Account{Name: "helpdesk", Addr: srv.Addr(), User: srv.User, PasswordEnv: "TRIAGE_TEST_IMAP_PW",
		ReconnectMax: 500 * time.Millisecond, Timeout: 10 * time.Second}
	httpAddr := testkit.FreeAddr(t)
	writeConfig := func(maxBytes int) string {
		return writeFile(t, filepath.Join(dir, "triage.yaml"), fmt.Sprintf("rules: rules.yaml\n%squeues:\n"+
			"  helpdesk: {type: file, path: tickets.jsonl}\n  systems: {type: file, path: tickets.jsonl}\n"+
			"  security: {type: file, path: tickets.jsonl}\n  engineering: {type: file, path: tickets.jsonl}\n"+
			"  default: {type: file, path: tickets.jsonl}\nhttp: {listen: %s}\nstate_dir: state\nmax_message_bytes: %d\n",
			account.YAML(), httpAddr, maxBytes))
	}
	tickets := filepath.Join(dir, "tickets.jsonl")

	cfg := writeConfig(2000)
	runDaemonUntil(t, cfg, "the small mail forwarded and the large one quarantined, and /status listing it", func() bool {
		return countLines(tickets) == 1 && srv.Count(t, "Triage/Quarantine") == 1 && statusLists(httpAddr, "max_message_bytes")
	})
	store, err := daemon.OpenStore(filepath.Join(dir, "state"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	filed, err := store.Filed("helpdesk")
	store.Close()
	if err != nil || len(filed) != 1 || filed[0].Folder != "quarantine" || !strings.Contains(filed[0].Reason, "max_message_bytes") || filed[0].UID == 0 {
		t.Fatalf("filed = %+v, %v; want the large mail with its reason", filed, err)
	}

	cfg = writeConfig(1 << 20)
	r := runMain(t, "", "requeue", "--config", cfg, "--account", "helpdesk", "--yes")
	if r.code != 0 || !strings.Contains(r.stdout, "1 messages in Triage/Quarantine will move to INBOX:") ||
		!strings.Contains(r.stdout, `bob@example.com  "VPN log attached"`) || !strings.HasSuffix(r.stdout, "moved 1 messages from Triage/Quarantine to INBOX\n") {
		t.Fatalf("requeue: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	runDaemonUntil(t, cfg, "the requeued mail forwarded", func() bool { return countLines(tickets) == 2 })
	if n := srv.Count(t, "Triage/Quarantine"); n != 0 {
		t.Errorf("quarantine holds %d messages, want 0", n)
	}
	ids := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(readFile(t, tickets))), "\n") {
		var tk struct{ ID string }
		if err := json.Unmarshal([]byte(l), &tk); err != nil {
			t.Fatal(err)
		}
		ids[tk.ID]++
	}
	want := classifier.TicketID(large)
	if ids[want] != 1 || len(ids) != 2 {
		t.Errorf("ticket ids %v, want the large mail's %s once", ids, want)
	}
}

// runDaemonUntil runs `triage run` until cond holds (within a minute), then
// stops it.
func runDaemonUntil(t *testing.T, cfg, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var out, errOut testkit.SyncBuffer
	wg.Add(1)
	go func() {
		defer wg.Done()
		Main(ctx, []string{"run", "--config", cfg}, nil, &out, &errOut)
	}()
	defer func() {
		cancel()
		wg.Wait()
		if t.Failed() {
			t.Logf("daemon log:\n%s", errOut.String())
		}
	}()
	testkit.WaitFor(t, time.Minute, what, cond)
}

// statusLists reports whether /status lists a filed message whose reason
// holds reason.
func statusLists(addr, reason string) bool {
	resp, err := http.Get("http://" + addr + "/status")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var st struct {
		Accounts []struct {
			Filed []daemon.FiledMessage `json:"filed"`
		} `json:"accounts"`
	}
	if json.NewDecoder(resp.Body).Decode(&st) != nil || len(st.Accounts) != 1 {
		return false
	}
	for _, f := range st.Accounts[0].Filed {
		if f.Folder == "quarantine" && f.UID > 0 && strings.Contains(f.Reason, reason) {
			return true
		}
	}
	return false
}

func countLines(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "\n")
}
