package mailbox

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/triage-dev/triage/internal/dovecottest"
)

func seed(t testing.TB, srv *dovecottest.Server, mailbox string, n int) {
	t.Helper()
	for i := range n {
		srv.Append(t, mailbox, testMail(i, "backlog"))
	}
	srv.Resync(t, mailbox)
}

func TestBacklogDrained(t *testing.T) {
	const n = 1000
	tests := []struct {
		name     string
		keyword  string
		moveTo   string
		wantLeft int // messages left in INBOX
	}{
		{name: "keyword", wantLeft: n},
		{name: "move-only", keyword: "", moveTo: "Archive/Done", wantLeft: 0},
		{name: "keyword-and-move", keyword: "$Triaged", moveTo: "Archive/Done", wantLeft: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := dovecottest.Start(t)
			seed(t, srv, "INBOX", n)
			rec := newRecorder(nil)
			cfg := testConfig(srv)
			cfg.DoneKeyword, cfg.DoneMoveTo = tc.keyword, tc.moveTo
			r := start(t, cfg, rec.handle, Events{})
			waitFor(t, "all handled", func() bool { return rec.doneCount() == n })
			waitFor(t, "outcomes applied", func() bool {
				st := r.a.Status().Mailboxes[0]
				return st.Done == n && st.Undone == 0
			})
			if err := r.stop(t); err != nil {
				t.Fatalf("Run: %v", err)
			}

			calls, _, total := rec.snapshot()
			if total != n {
				t.Errorf("handler called %d times for %d messages", total, n)
			}
			for id, c := range calls {
				if c != 1 {
					t.Errorf("message %d handled %d times", id, c)
				}
			}
			inbox := readMailbox(t, srv, "INBOX")
			if len(inbox.ids) != tc.wantLeft {
				t.Errorf("INBOX holds %d messages, want %d", len(inbox.ids), tc.wantLeft)
			}
			if tc.moveTo == "" && inbox.triaged != n {
				t.Errorf("%d of %d messages carry %s", inbox.triaged, n, DefaultDoneKeyword)
			}
			if inbox.seen != 0 {
				t.Errorf("%d messages were marked \\Seen", inbox.seen)
			}
			if tc.moveTo != "" {
				moved := readMailbox(t, srv, tc.moveTo)
				if len(moved.ids) != n {
					t.Errorf("%s holds %d messages, want %d", tc.moveTo, len(moved.ids), n)
				}
				if moved.seen != 0 {
					t.Errorf("%d moved messages were marked \\Seen", moved.seen)
				}
				// A moved message is marked done by the move alone (a
				// keyword stored before the move would, after a crash
				// between the two commands, mark it done unfiled).
				if moved.triaged != 0 {
					t.Errorf("%d moved messages carry the keyword, want 0", moved.triaged)
				}
			}
		})
	}
}

func TestIdleDeliveries(t *testing.T) {
	const n = 50
	srv := dovecottest.Start(t)
	var idling atomic.Bool
	rec := newRecorder(nil)
	r := start(t, testConfig(srv), rec.handle, Events{
		Idle: func(_, _ string, on bool) { idling.Store(on) },
	})
	waitFor(t, "IDLE", idling.Load)
	for i := range n {
		srv.Deliver(t, "helpdesk", testMail(i, "live"))
	}
	waitFor(t, "all delivered mail handled", func() bool { return rec.doneCount() == n })
	waitFor(t, "outcomes applied", func() bool { return r.a.Status().Mailboxes[0].Done == n })
	calls, _, _ := rec.snapshot()
	for id, c := range calls {
		if c != 1 {
			t.Errorf("message %d handled %d times", id, c)
		}
	}
	if st := readMailbox(t, srv, "INBOX"); st.triaged != n || st.seen != 0 {
		t.Errorf("INBOX: %d triaged, %d seen; want %d, 0", st.triaged, st.seen, n)
	}
}

func TestServerRestartMidRun(t *testing.T) {
	const n = 300
	srv := dovecottest.Start(t)
	seed(t, srv, "INBOX", n)
	var reconnects atomic.Int32
	rec := newRecorder(func(ctx context.Context, m *Message, call int) Outcome {
		select {
		case <-time.After(10 * time.Millisecond): // a sink that takes a moment
		case <-ctx.Done():
			return Outcome{Verdict: Retry, Reason: "stopping"}
		}
		return Outcome{Verdict: Done}
	})
	cfg := testConfig(srv)
	cfg.Concurrency = 2
	cfg.BatchSize = 20
	r := start(t, cfg, rec.handle, Events{Reconnect: func(string) { reconnects.Add(1) }})
	waitFor(t, "some progress", func() bool { return rec.doneCount() >= 50 })
	srv.Restart()
	if d := rec.doneCount(); d == n {
		t.Fatal("the backlog was drained before the restart; the test proves nothing")
	}
	waitFor(t, "all handled after the restart", func() bool { return rec.doneCount() == n })
	waitFor(t, "all marked done", func() bool { return readMailbox(t, srv, "INBOX").triaged == n })
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if reconnects.Load() == 0 {
		t.Error("no reconnect was reported")
	}
	calls, _, _ := rec.snapshot()
	dups := 0
	for _, c := range calls {
		if c > 1 {
			dups++
		}
	}
	t.Logf("reconnects=%d messages handled more than once=%d (allowed: at-least-once)", reconnects.Load(), dups)
}

func TestRetryUntilDone(t *testing.T) {
	const n, retries = 5, 3
	srv := dovecottest.Start(t)
	seed(t, srv, "INBOX", n)
	var sawUndoneWhileRetrying atomic.Bool
	rec := newRecorder(func(_ context.Context, m *Message, call int) Outcome {
		if call <= retries {
			return Outcome{Verdict: Retry, Reason: "sink unavailable"}
		}
		return Outcome{Verdict: Done}
	})
	cfg := testConfig(srv)
	cfg.RetryBackoff = 50 * time.Millisecond
	cfg.RetryBackoffMax = 100 * time.Millisecond
	r := start(t, cfg, rec.handle, Events{})
	// While every answer so far was Retry nothing may be marked done.
	waitFor(t, "first retries", func() bool {
		calls, _, _ := rec.snapshot()
		return len(calls) == n
	})
	if st := readMailbox(t, srv, "INBOX"); st.triaged != 0 {
		calls, done, _ := rec.snapshot()
		if len(done) == 0 {
			t.Fatalf("%d messages marked done before any Done outcome (calls %v)", st.triaged, calls)
		}
	} else {
		sawUndoneWhileRetrying.Store(true)
	}
	waitFor(t, "done after retries", func() bool { return r.a.Status().Mailboxes[0].Done == n })
	calls, _, _ := rec.snapshot()
	for id, c := range calls {
		if c != retries+1 {
			t.Errorf("message %d handled %d times, want %d", id, c, retries+1)
		}
	}
	if st := readMailbox(t, srv, "INBOX"); st.triaged != n {
		t.Errorf("%d messages marked done, want %d", st.triaged, n)
	}
	if st := r.a.Status().Mailboxes[0]; st.Retried != n*retries {
		t.Errorf("status reports %d retries, want %d", st.Retried, n*retries)
	}
	if !sawUndoneWhileRetrying.Load() {
		t.Log("could not observe the retrying window (handler outran the check)")
	}
}

func TestVerdictFolders(t *testing.T) {
	srv := dovecottest.Start(t)
	subjects := map[string]int{"quarantine": 10, "failed": 20, "filed": 30, "done": 40}
	for s, id := range subjects {
		srv.Append(t, "INBOX", testMail(id, s))
	}
	big := append(testMail(50, "huge"), []byte(strings.Repeat("x", 5000)+"\r\n")...)
	srv.Append(t, "INBOX", big)
	srv.Resync(t, "INBOX")

	rec := newRecorder(func(_ context.Context, m *Message, _ int) Outcome {
		raw := string(m.Raw)
		switch {
		case strings.Contains(raw, "Subject: quarantine"):
			return Outcome{Verdict: Quarantine, Reason: "unparseable"}
		case strings.Contains(raw, "Subject: failed"):
			return Outcome{Verdict: Failed, Reason: "sink rejected"}
		case strings.Contains(raw, "Subject: filed"):
			return Outcome{Verdict: Done, Folder: "Triage/Auto"}
		}
		return Outcome{Verdict: Done}
	})
	cfg := testConfig(srv)
	cfg.MaxMessageBytes = 2000
	r := start(t, cfg, rec.handle, Events{})
	waitFor(t, "all outcomes applied", func() bool {
		st := r.a.Status().Mailboxes[0]
		return st.Done == 2 && st.Quarantined == 2 && st.Failed == 1
	})
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	calls, _, _ := rec.snapshot()
	if calls[50] != 0 {
		t.Error("the oversized message reached the handler")
	}
	check := func(mailbox string, ids ...int) {
		t.Helper()
		st := readMailbox(t, srv, mailbox)
		if len(st.ids) != len(ids) {
			t.Errorf("%s holds %d messages, want %v", mailbox, len(st.ids), ids)
		}
		for _, id := range ids {
			if _, ok := st.ids[id]; !ok {
				t.Errorf("%s lacks message %d", mailbox, id)
			}
		}
	}
	check("INBOX", 40)
	check(DefaultQuarantine, 10, 50)
	check(DefaultFailed, 20)
	check("Triage/Auto", 30)
	if st := readMailbox(t, srv, "Triage/Auto"); st.triaged != 0 {
		t.Error("a Done message filed in a folder carries the done keyword; the move alone marks it done")
	}
}

func TestUIDValidityChange(t *testing.T) {
	srv := dovecottest.Start(t)
	seed(t, srv, "INBOX", 20)
	rec := newRecorder(nil)
	r := start(t, testConfig(srv), rec.handle, Events{})
	waitFor(t, "backlog done", func() bool { return r.a.Status().Mailboxes[0].Done == 20 })
	old := r.a.Status().Mailboxes[0].UIDValidity

	srv.SetUIDValidity(t, "INBOX", old+1000)
	for i := 100; i < 110; i++ {
		srv.Deliver(t, "helpdesk", testMail(i, "after"))
	}
	// A restart forces the reconnect that sees the new UIDVALIDITY even if
	// the server kept the session.
	srv.Restart()
	for i := 110; i < 120; i++ {
		srv.Deliver(t, "helpdesk", testMail(i, "after restart"))
	}
	waitFor(t, "everything done", func() bool { return readMailbox(t, srv, "INBOX").triaged == 40 })
	waitFor(t, "new UIDVALIDITY seen", func() bool { return r.a.Status().Mailboxes[0].UIDValidity == old+1000 })
	calls, _, _ := rec.snapshot()
	if len(calls) != 40 {
		t.Errorf("%d distinct messages handled, want 40", len(calls))
	}
}

func TestShutdownMidBacklog(t *testing.T) {
	const n = 200
	srv := dovecottest.Start(t)
	seed(t, srv, "INBOX", n)
	slow := func(ctx context.Context, m *Message, _ int) Outcome {
		select {
		case <-time.After(20 * time.Millisecond):
			return Outcome{Verdict: Done}
		case <-ctx.Done():
			return Outcome{Verdict: Retry, Reason: "cancelled"}
		}
	}
	rec := newRecorder(slow)
	cfg := testConfig(srv)
	cfg.ShutdownGrace = time.Second
	r := start(t, cfg, rec.handle, Events{})
	waitFor(t, "some progress", func() bool { return rec.doneCount() >= 20 })
	stopAt := time.Now()
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	// Generous bound: ShutdownGrace plus the margins of a loaded machine.
	if took := time.Since(stopAt); took > cfg.ShutdownGrace+hardStopMargin+2*time.Second {
		t.Errorf("Run took %v to return after cancel (grace %v)", took, cfg.ShutdownGrace)
	}
	_, done, _ := rec.snapshot()
	st := readMailbox(t, srv, "INBOX")
	for id, m := range st.ids {
		if m.HasFlag(DefaultDoneKeyword) && !done[id] {
			t.Errorf("message %d marked done without a Done outcome", id)
		}
	}
	if st.triaged == n {
		t.Fatal("everything was done before the stop; the test proves nothing")
	}
	t.Logf("after stop: %d of %d done on the server, %d Done outcomes", st.triaged, n, len(done))

	// A new run handles the rest.
	rec2 := newRecorder(nil)
	r2 := start(t, testConfig(srv), rec2.handle, Events{})
	waitFor(t, "rest handled", func() bool { return readMailbox(t, srv, "INBOX").triaged == n })
	_ = r2.stop(t)
	_, done2, _ := rec2.snapshot()
	for id := range st.ids {
		if !done[id] && !done2[id] {
			t.Errorf("message %d was never handled Done", id)
		}
	}
}

func TestShutdownStuckHandler(t *testing.T) {
	srv := dovecottest.Start(t)
	seed(t, srv, "INBOX", 3)
	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{}, 3)
	rec := newRecorder(func(context.Context, *Message, int) Outcome {
		started <- struct{}{}
		<-release // ignores its context
		return Outcome{Verdict: Done}
	})
	cfg := testConfig(srv)
	cfg.ShutdownGrace = 300 * time.Millisecond
	r := start(t, cfg, rec.handle, Events{})
	<-started
	stopAt := time.Now()
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(stopAt); took > cfg.ShutdownGrace+hardStopMargin+2*time.Second {
		t.Errorf("Run took %v with a stuck handler (grace %v)", took, cfg.ShutdownGrace)
	}
	if st := readMailbox(t, srv, "INBOX"); st.triaged != 0 {
		t.Errorf("%d messages marked done, none was Done", st.triaged)
	}
}

// TestNewMailWhileRetrying delivers mail one by one while one message's
// handler is stuck (a sink retrying for minutes) and another waits for its
// retry: each new mail must be handled while both still wait. The
// keepalive and the retry are minutes away, so only a session that watches
// for new mail (IDLE) while handlers run passes within waitFor's bound.
func TestNewMailWhileRetrying(t *testing.T) {
	const n = 5
	srv := dovecottest.Start(t)
	release := make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	rec := newRecorder(func(ctx context.Context, m *Message, _ int) Outcome {
		switch mailID(m.Raw) {
		case 1000: // stuck in its sink's retries
			select {
			case <-release:
			case <-ctx.Done():
			}
			return Outcome{Verdict: Retry, Reason: "sink down"}
		case 1001: // refused at every attempt
			return Outcome{Verdict: Retry, Reason: "sink down"}
		}
		return Outcome{Verdict: Done}
	})
	var idling atomic.Bool
	cfg := testConfig(srv)
	cfg.Timeout = 10 * time.Minute // no keepalive NOOP during the test
	cfg.RetryBackoff = 10 * time.Minute
	r := start(t, cfg, rec.handle, Events{Idle: func(_, _ string, on bool) { idling.Store(on) }})
	waitFor(t, "IDLE", idling.Load)
	srv.Deliver(t, "helpdesk", testMail(1000, "stuck"))
	srv.Deliver(t, "helpdesk", testMail(1001, "refused"))
	waitFor(t, "both failing messages handled", func() bool {
		calls, _, _ := rec.snapshot()
		return calls[1000] == 1 && calls[1001] == 1
	})
	waitFor(t, "the refused message's retry pending", func() bool { return r.a.Status().Mailboxes[0].Retried == 1 })
	for i := range n {
		srv.Deliver(t, "helpdesk", testMail(i, "live"))
		waitFor(t, fmt.Sprintf("new mail %d handled while the others retry", i), func() bool {
			return r.a.Status().Mailboxes[0].Done == uint64(i+1)
		})
	}
	calls, done, _ := rec.snapshot()
	if calls[1000] != 1 || calls[1001] != 1 || done[1000] || done[1001] {
		t.Errorf("the failing messages: calls %d and %d, done %v and %v; want one attempt each, neither done",
			calls[1000], calls[1001], done[1000], done[1001])
	}
	if st := readMailbox(t, srv, "INBOX"); st.triaged != n {
		t.Errorf("INBOX: %d marked done, want %d", st.triaged, n)
	}
	releaseOnce.Do(func() { close(release) })
}
