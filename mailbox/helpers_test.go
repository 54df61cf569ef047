package mailbox

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/triage-dev/triage/internal/dovecottest"
	"github.com/triage-dev/triage/internal/testkit"
)

// testMail returns a small message whose subject carries id.
func testMail(id int, subject string) []byte {
	return fmt.Appendf(nil, "From: Ann <ann@example.com>\r\nTo: helpdesk@example.com\r\n"+
		"Subject: %s #%d\r\nMessage-ID: <%d.test@example.com>\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n\r\n"+
		"Hello, message %d.\r\n", subject, id, id, id)
}

var idRe = regexp.MustCompile(`Subject: [^\r\n]*#(\d+)`)

// mailID extracts the id testMail put in the subject (-1 if none).
func mailID(raw []byte) int {
	m := idRe.FindSubmatch(raw)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// recorder is a Handler that counts calls per mail id and answers with
// decide (Done if nil).
type recorder struct {
	mu     sync.Mutex
	calls  map[int]int
	done   map[int]bool // ids answered Done
	total  int
	decide func(ctx context.Context, m *Message, call int) Outcome
}

func newRecorder(decide func(ctx context.Context, m *Message, call int) Outcome) *recorder {
	return &recorder{calls: map[int]int{}, done: map[int]bool{}, decide: decide}
}

func (r *recorder) handle(ctx context.Context, m *Message) Outcome {
	id := mailID(m.Raw)
	r.mu.Lock()
	r.calls[id]++
	r.total++
	call := r.calls[id]
	r.mu.Unlock()
	out := Outcome{Verdict: Done}
	if r.decide != nil {
		out = r.decide(ctx, m, call)
	}
	if out.Verdict == Done {
		r.mu.Lock()
		r.done[id] = true
		r.mu.Unlock()
	}
	return out
}

func (r *recorder) snapshot() (calls map[int]int, done map[int]bool, total int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	calls, done = map[int]int{}, map[int]bool{}
	for k, v := range r.calls {
		calls[k] = v
	}
	for k, v := range r.done {
		done[k] = v
	}
	return calls, done, r.total
}

func (r *recorder) doneCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.done)
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() || os.Getenv("MAILBOX_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

// testConfig is a config for the private Dovecot with fast timings.
func testConfig(srv *dovecottest.Server) Config {
	return Config{
		Name:          "helpdesk",
		Addr:          srv.Addr(),
		TLS:           TLSNone,
		Username:      srv.User,
		Secret:        func(context.Context) (string, error) { return srv.Password, nil },
		Timeout:       10 * time.Second,
		ShutdownGrace: 2 * time.Second,
		RetryBackoff:  20 * time.Millisecond,
		ReconnectMin:  50 * time.Millisecond,
		ReconnectMax:  500 * time.Millisecond,
	}
}

// running is an Account started by start.
type running struct {
	a      *Account
	cancel context.CancelFunc
	done   chan error
}

func start(t testing.TB, cfg Config, h Handler, ev Events) *running {
	t.Helper()
	a, err := New(cfg, h, ev, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{a: a, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run and waits for it (once).
func (r *running) stop(t testing.TB) error {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return within 60s of cancel")
		return nil
	}
}

// waitFor polls cond until it holds; a bound only against hangs.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testkit.WaitFor(t, 60*time.Second, what, cond)
}

// serverState summarises a mailbox on the server by mail id.
type serverState struct {
	ids     map[int]dovecottest.Message
	triaged int
	seen    int
}

func readMailbox(t testing.TB, srv *dovecottest.Server, mailbox string) serverState {
	t.Helper()
	st := serverState{ids: map[int]dovecottest.Message{}}
	for _, m := range srv.Fetch(t, mailbox) {
		st.ids[mailID(m.Raw)] = m
		if m.HasFlag(DefaultDoneKeyword) {
			st.triaged++
		}
		if m.HasFlag(`\Seen`) {
			st.seen++
		}
	}
	return st
}
