package crash

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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

// sigtermConfig is triage.yaml for the SIGTERM suite: every queue posts to
// the webhook at hookURL.
func sigtermConfig(t *testing.T, srv *dovecottest.Server, hookURL string) string {
	t.Helper()
	var queues string
	for _, q := range []string{"helpdesk", "systems", "security", "engineering"} {
		queues += fmt.Sprintf("  %s: {type: webhook, url: \"%s/tickets/%s\", retry: {initial: 50ms, max: 200ms}}\n", q, hookURL, q)
	}
	return fmt.Sprintf(`rules: rules.yaml
%squeues:
%shttp: {listen: %s}
state_dir: state
problems: {enabled: false}   # expectations come from the classifier alone; detection is tested on its own
shutdown_timeout: %s
log: {level: info}
`, accountYAML(srv), queues, testkit.FreeAddr(t), shutdownTimeout)
}

// sigtermRun is the SIGTERM suite's rig with the webhook its daemon posts
// to.
type sigtermRun struct {
	*rig
	hook *slowHook
}

// TestSIGTERMMidBacklog stops a real daemon with SIGTERM while it drains a
// backlog into a slow webhook, with some deliveries stuck past the
// shutdown deadline: the process exits 0 in time, nothing is marked done
// that the webhook did not acknowledge, and a restart handles the rest with
// stable ids.
func TestSIGTERMMidBacklog(t *testing.T) {
	n := 1000
	if testkit.FullSize() {
		n = 5000
	}
	rnd := seeded(t)
	s := &sigtermRun{rig: newRig(t, "sigterm-imap-pw-3f9d1b7e5a", "sigterm", n)}
	// 10 ms per ticket and 4 handlers: ~400 tickets/s, so the backlog
	// takes seconds and the signal lands in the middle of it.
	s.hook = newSlowHook(10 * time.Millisecond)
	hs := httptest.NewServer(s.hook)
	t.Cleanup(hs.Close)
	s.writeConfig(t, sigtermConfig(t, s.srv, hs.URL))

	took := s.interrupt(t, int64(100+rnd.IntN(n/3)))
	s.checkNothingDoneEarly(t)
	took2 := s.finish(t)

	posts, dups := s.checkWebhook(t)
	s.checkServer(t)
	checkNoRaces(t, s.logs)
	t.Logf("FIGURES messages=%d forwarded=%d webhook_acks=%d duplicates=%d first_exit=%v second_exit=%v",
		n, s.count("forward"), posts, dups, took.Round(time.Millisecond), took2.Round(time.Millisecond))
}

// interrupt is the first run: once it has handled k messages the tracker
// hangs, so the handlers in flight at SIGTERM outlive shutdown_timeout and
// must be cut off, not marked done. It returns how long the exit took and
// stops the test if the backlog was finished before SIGTERM.
func (s *sigtermRun) interrupt(t *testing.T, k int64) time.Duration {
	t.Helper()
	p := s.start(t, "run-1.log")
	testkit.WaitFor(t, 60*time.Second, fmt.Sprintf("%d messages handled", k), func() bool {
		p.failIfExited(t, "first run")
		return p.handled.Load() >= k
	})
	s.hook.setStall(true)
	testkit.WaitFor(t, 10*time.Second, "a stalled webhook request", func() bool { return s.hook.stalledCount() > 0 })
	handledAtTerm := p.handled.Load()
	took := p.terminate(t, shutdownTimeout+exitMargin)
	if p.err != nil {
		t.Errorf("exit after SIGTERM: %v (want status 0):\n%s", p.err, p.log.lastLines())
	}
	left := s.undone(t)
	t.Logf("SIGTERM after %d handled messages with %d webhook requests stalled; exit 0 took %v (shutdown_timeout %v); %d INBOX messages left undone",
		handledAtTerm, s.hook.stalledCount(), took.Round(time.Millisecond), shutdownTimeout, left)
	if left == 0 {
		t.Fatal("the backlog was finished before SIGTERM: the test proves nothing (slow the webhook down)")
	}
	return took
}

// checkNothingDoneEarly stops the test if a message is marked done that the
// webhook did not acknowledge.
func (s *sigtermRun) checkNothingDoneEarly(t *testing.T) {
	t.Helper()
	acked := s.hook.ackedIDs()
	early := s.doneUnacked(t, func(id string) bool { return acked[id] > 0 }, "after SIGTERM", "the webhook never acknowledged it")
	if early > 0 {
		t.Fatalf("%d messages marked done before their sink acknowledged them", early)
	}
}

// finish restarts the daemon with a healthy tracker, waits until it has
// handled the rest of the backlog and stops it; it returns how long the
// exit took.
func (s *sigtermRun) finish(t *testing.T) time.Duration {
	t.Helper()
	s.hook.setStall(false)
	p := s.start(t, "run-2.log")
	testkit.WaitFor(t, 3*time.Minute, "the rest of the backlog", func() bool {
		p.failIfExited(t, "second run")
		return s.drained(t)
	})
	took := p.terminate(t, shutdownTimeout+exitMargin)
	if p.err != nil {
		t.Errorf("second run: exit after SIGTERM: %v (want status 0):\n%s", p.err, p.log.lastLines())
	}
	return took
}

// checkWebhook checks that each forwarded mail was acknowledged at least
// once, every copy of one Message-ID under one ticket id, nothing else
// forwarded, and every request well addressed. It returns the number of
// acknowledged posts and of duplicates among them.
func (s *sigtermRun) checkWebhook(t *testing.T) (posts, dups int) {
	t.Helper()
	acked := s.hook.ackedIDs()
	for _, m := range s.mails {
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
	s.hook.mu.Lock()
	defer s.hook.mu.Unlock()
	checkOneTicketPerMessageID(t, s.hook.byMsgID)
	for _, p := range s.hook.problems {
		t.Error(p)
	}
	return posts, dups
}

// checkServer checks that the server holds each message exactly once,
// where the rules put it: a dropped mail may also be left marked done in
// the INBOX.
func (s *sigtermRun) checkServer(t *testing.T) {
	t.Helper()
	st := s.readServer(t)
	for _, m := range s.mails {
		locs := st.where[m.key]
		want := map[string]string{"forward": "INBOX+done", "drop": m.folder, "quarantine": "Triage/Quarantine"}[m.action]
		if len(locs) != 1 || (locs[0] != want && !(m.action == "drop" && locs[0] == "INBOX+done")) {
			t.Errorf("%s (%s) is in %v, want %s", m.key, m.action, locs, want)
		}
	}
}
