package crash

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/triage-dev/triage/internal/dovecottest"
	"github.com/triage-dev/triage/internal/testkit"
	"github.com/triage-dev/triage/ticket"
)

// slowHook is a tracker's webhook that takes delay per ticket and, once
// stalled, holds every new request until the client gives up, without
// acknowledging it.
type slowHook struct {
	delay time.Duration

	mu       sync.Mutex
	stall    bool
	stalled  int
	acked    map[string]int             // ticket id → 2xx answers
	byMsgID  map[string]map[string]bool // Message-ID → ticket ids
	problems []string
}

func newSlowHook(delay time.Duration) *slowHook {
	return &slowHook{delay: delay, acked: map[string]int{}, byMsgID: map[string]map[string]bool{}}
}

func (h *slowHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var tk ticket.Ticket
	if err := json.NewDecoder(io.LimitReader(r.Body, 4<<20)).Decode(&tk); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	if key := r.Header.Get("Idempotency-Key"); key != tk.ID {
		h.problems = append(h.problems, fmt.Sprintf("ticket %s came with Idempotency-Key %q", tk.ID, key))
	}
	if want := "/tickets/" + tk.Class.Queue; r.URL.Path != want {
		h.problems = append(h.problems, fmt.Sprintf("ticket %s of queue %s posted to %s", tk.ID, tk.Class.Queue, r.URL.Path))
	}
	stall := h.stall
	if stall {
		h.stalled++
	}
	h.mu.Unlock()
	if stall {
		<-r.Context().Done() // the daemon gave up (shutdown deadline) or died
		return
	}
	select {
	case <-time.After(h.delay):
	case <-r.Context().Done():
		return
	}
	h.mu.Lock()
	h.acked[tk.ID]++
	if h.byMsgID[tk.MessageID] == nil {
		h.byMsgID[tk.MessageID] = map[string]bool{}
	}
	h.byMsgID[tk.MessageID][tk.ID] = true
	h.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
}

func (h *slowHook) setStall(on bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stall = on
}

func (h *slowHook) stalledCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stalled
}

// ackedIDs is a copy of the acknowledged ticket ids.
func (h *slowHook) ackedIDs() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]int, len(h.acked))
	for k, v := range h.acked {
		out[k] = v
	}
	return out
}

func sigtermConfig(t *testing.T, dir string, srv *dovecottest.Server, hookURL string) string {
	t.Helper()
	var queues string
	for _, q := range []string{"helpdesk", "systems", "security", "engineering"} {
		queues += fmt.Sprintf("  %s: {type: webhook, url: \"%s/tickets/%s\", retry: {initial: 50ms, max: 200ms}}\n", q, hookURL, q)
	}
	cfg := fmt.Sprintf(`rules: rules.yaml
%squeues:
%shttp: {listen: %s}
state_dir: state
shutdown_timeout: %s
log: {level: info}
`, accountYAML(srv), queues, testkit.FreeAddr(t), shutdownTimeout)
	path := filepath.Join(dir, "triage.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestSIGTERMMidBacklog stops a real daemon with SIGTERM while it drains a
// backlog into a slow webhook, with some deliveries stuck past the
// shutdown deadline: the process exits 0 in time, nothing is marked done
// that the webhook did not acknowledge, and a restart handles the rest with
// stable ids.
func TestSIGTERMMidBacklog(t *testing.T) {
	n := 1000
	if fullSize() {
		n = 5000
	}
	rnd := seeded(t)
	srv := dovecottest.Start(t, dovecottest.WithPassword("sigterm-imap-pw-3f9d1b7e5a"))
	dir := t.TempDir()
	writeExamples(t, dir)
	mails := backlog(t, filepath.Join(dir, "rules.yaml"), "sigterm", n, 100)
	seed(t, srv, mails)
	byKey := map[string]*mail{}
	forwards := 0
	for i := range mails {
		byKey[mails[i].key] = &mails[i]
		if mails[i].action == "forward" {
			forwards++
		}
	}
	// 10 ms per ticket and 4 handlers: ~400 tickets/s, so the backlog
	// takes seconds and the signal lands in the middle of it.
	hook := newSlowHook(10 * time.Millisecond)
	hs := httptest.NewServer(hook)
	t.Cleanup(hs.Close)
	cfg := sigtermConfig(t, dir, srv, hs.URL)
	env := []string{crashPasswordEnv + "=" + srv.Password}

	logs := []string{filepath.Join(dir, "run-1.log")}
	p := startTriage(t, cfg, logs[0], env...)
	k := int64(100 + rnd.IntN(n/3))
	testkit.WaitFor(t, 60*time.Second, fmt.Sprintf("%d messages handled", k), func() bool {
		select {
		case <-p.exited:
			t.Fatalf("triage exited by itself (%v):\n%s", p.err, p.log.lastLines())
		default:
		}
		return p.handled.Load() >= k
	})
	// From now on the tracker hangs: the handlers in flight at SIGTERM
	// outlive shutdown_timeout and must be cut off, not marked done.
	hook.setStall(true)
	testkit.WaitFor(t, 10*time.Second, "a stalled webhook request", func() bool { return hook.stalledCount() > 0 })
	handledAtTerm := p.handled.Load()
	took := p.terminate(t, shutdownTimeout+exitMargin)
	if p.err != nil {
		t.Errorf("exit after SIGTERM: %v (want status 0):\n%s", p.err, p.log.lastLines())
	}
	left := undone(t, srv, doneKeyword)
	t.Logf("SIGTERM after %d handled messages with %d webhook requests stalled; exit 0 took %v (shutdown_timeout %v); %d INBOX messages left undone",
		handledAtTerm, hook.stalledCount(), took.Round(time.Millisecond), shutdownTimeout, left)
	if left == 0 {
		t.Fatal("the backlog was finished before SIGTERM: the test proves nothing (slow the webhook down)")
	}

	// Nothing marked done that the webhook did not acknowledge.
	acked := hook.ackedIDs()
	early := 0
	for _, m := range srv.Fetch(t, "INBOX") {
		if !m.HasFlag(doneKeyword) {
			continue
		}
		want := byKey[mailKey(m.Raw)]
		if want == nil {
			t.Errorf("unknown message uid %d in INBOX", m.UID)
			continue
		}
		if want.action == "forward" && acked[want.id] == 0 {
			early++
			if early <= 5 {
				t.Errorf("%s (uid %d, ticket %s) is marked done but the webhook never acknowledged it", want.key, m.UID, want.id)
			}
		}
	}
	if early > 0 {
		t.Fatalf("%d messages marked done before their sink acknowledged them", early)
	}

	// Restart with a healthy tracker: the rest is handled.
	hook.setStall(false)
	logs = append(logs, filepath.Join(dir, "run-2.log"))
	p = startTriage(t, cfg, logs[1], env...)
	quarantined := 0
	for _, m := range mails {
		if m.action == "quarantine" {
			quarantined++
		}
	}
	testkit.WaitFor(t, 3*time.Minute, "the rest of the backlog", func() bool {
		select {
		case <-p.exited:
			t.Fatalf("triage exited by itself (%v):\n%s", p.err, p.log.lastLines())
		default:
		}
		return undone(t, srv, doneKeyword) == 0 && srv.Count(t, "Triage/Quarantine") >= quarantined
	})
	took2 := p.terminate(t, shutdownTimeout+exitMargin)
	if p.err != nil {
		t.Errorf("second run: exit after SIGTERM: %v (want status 0):\n%s", p.err, p.log.lastLines())
	}

	// Each forwarded mail acknowledged at least once, every copy of one
	// Message-ID under one ticket id, nothing else forwarded.
	acked = hook.ackedIDs()
	posts, dups := 0, 0
	for _, m := range mails {
		c := acked[m.id]
		delete(acked, m.id)
		switch {
		case m.action == "forward" && c == 0:
			t.Errorf("LOST: %s (ticket %s, queue %s) never reached the webhook", m.key, m.id, m.queue)
		case m.action != "forward" && c > 0:
			t.Errorf("%s (%s) reached the webhook", m.key, m.action)
		}
		posts += c
		if c > 1 {
			dups += c - 1
		}
	}
	for id := range acked {
		t.Errorf("the webhook acknowledged ticket %s, which is no backlog message's id", id)
	}
	hook.mu.Lock()
	for mid, ids := range hook.byMsgID {
		if len(ids) != 1 {
			t.Errorf("Message-ID %s was forwarded under %d ticket ids", mid, len(ids))
		}
	}
	for _, p := range hook.problems {
		t.Error(p)
	}
	hook.mu.Unlock()

	st := readServer(t, srv, serverFolders, doneKeyword)
	if st.total != n {
		t.Errorf("the server holds %d messages, want %d", st.total, n)
	}
	for _, m := range mails {
		locs := st.where[m.key]
		want := map[string]string{"forward": "INBOX+done", "drop": m.folder, "quarantine": "Triage/Quarantine"}[m.action]
		if len(locs) != 1 || (locs[0] != want && !(m.action == "drop" && locs[0] == "INBOX+done")) {
			t.Errorf("%s (%s) is in %v, want %s", m.key, m.action, locs, want)
		}
	}
	if races := grepLogs(t, logs, "DATA RACE"); len(races) > 0 {
		t.Errorf("the daemon reported data races:\n%v", races)
	}
	t.Logf("FIGURES messages=%d forwarded=%d webhook_acks=%d duplicates=%d first_exit=%v second_exit=%v",
		n, forwards, posts, dups, took.Round(time.Millisecond), took2.Round(time.Millisecond))
}
