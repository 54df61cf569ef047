package netfault

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/triage-dev/triage/classifier"
	"github.com/triage-dev/triage/config"
	"github.com/triage-dev/triage/daemon"
	"github.com/triage-dev/triage/internal/dovecottest"
	"github.com/triage-dev/triage/internal/faultproxy"
	"github.com/triage-dev/triage/internal/testkit"
	"github.com/triage-dev/triage/ticket"
)

// Sink kinds a rig can forward to.
const (
	sinkFile    = "file"    // JSON Lines, written directly (no proxy)
	sinkWebhook = "webhook" // an HTTP server behind r.sink
	sinkLMTP    = "lmtp"    // Dovecot's LMTP behind r.sink, into folder trackerFolder
)

const (
	imapPassword  = "netfault-imap-pw-81c3e7"
	doneKeyword   = "$Triaged"
	trackerFolder = "Tracker"
	// accountTimeout is the daemon's per-command IMAP timeout in the suite:
	// every stall must end in a timeout and a reconnect well within a test.
	accountTimeout = 3 * time.Second
)

// rigOptions shape one scenario's daemon.
type rigOptions struct {
	sink    string
	account string // extra YAML lines for the account (indented by the rig)
	queue   string // extra YAML lines for the queue
}

// rig is one scenario: a private Dovecot, the daemon in process reaching its
// IMAP through the proxy imap, and one sink (behind the proxy sink unless it
// is a file).
type rig struct {
	t    *testing.T
	opts rigOptions
	srv  *dovecottest.Server
	imap *faultproxy.Proxy
	sink *faultproxy.Proxy // nil for the file sink
	hook *hookServer
	dir  string
	logs *testkit.SyncBuffer // the daemon's log lines

	d      *daemon.Daemon
	cancel context.CancelFunc
	done   chan error

	sent  map[string]sentMail // ticket id → the mail that carries it
	order []string            // ids in the order sent
	start time.Time

	fileOff    int64 // the file sink is read incrementally: polls stay cheap
	fileCopies []forwardedCopy
}

type sentMail struct {
	subject string
	marker  string // last line of the body: a forwarded copy without it was truncated
}

func newRig(t *testing.T, opts rigOptions) *rig {
	t.Helper()
	r := &rig{t: t, opts: opts, dir: t.TempDir(), logs: &testkit.SyncBuffer{}, sent: map[string]sentMail{}, start: time.Now()}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log (last 150 lines):\n%s", r.lastLines(150))
		}
		// NETFAULT_LOG_DIR keeps every scenario's full daemon log.
		if dir := os.Getenv("NETFAULT_LOG_DIR"); dir != "" {
			name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()) + ".log"
			if err := os.WriteFile(filepath.Join(dir, name), []byte(r.logs.String()), 0o644); err != nil {
				t.Errorf("keep log: %v", err)
			}
		}
	})
	r.srv = dovecottest.Start(t, dovecottest.WithPassword(imapPassword))
	r.imap = mustProxy(t, r.srv.Addr())

	queueName, queueYAML := "", ""
	switch opts.sink {
	case sinkFile:
		queueName, queueYAML = "tickets", "{type: file, path: out/tickets.jsonl}"
	case sinkWebhook:
		r.hook = newHookServer(t)
		r.sink = mustProxy(t, r.hook.addr())
		queueName = "hook"
		queueYAML = fmt.Sprintf("\n    type: webhook\n    url: http://%s/tickets\n    timeout: 1s\n    retry: {initial: 50ms, max: 400ms}\n", r.sink.Addr())
	case sinkLMTP:
		r.sink = mustProxy(t, r.srv.LMTPAddr())
		queueName = "tracker"
		queueYAML = fmt.Sprintf("\n    type: lmtp\n    addr: %s\n    to: %s+%s@test.invalid\n    from: triage@test.invalid\n    timeout: 3s\n    retry: {initial: 50ms, max: 400ms}\n", r.sink.Addr(), r.srv.User, trackerFolder)
	default:
		t.Fatalf("unknown sink %q", opts.sink)
	}
	if opts.queue != "" {
		queueYAML += indent(opts.queue, "    ")
	}
	rulesYAML := fmt.Sprintf(`version: 1
defaults: {tier: L1, priority: P3, queue: %s, runbook: kb/netfault}
rules:
  - name: netfault
    when: subject startsWith "netfault"
    tags: [netfault]
`, queueName)
	cfg := fmt.Sprintf(`rules: rules.yaml
accounts:
  - name: helpdesk
    addr: %s
    tls: none
    username: %s
    password_file: imap.password
    mailboxes: [INBOX]
    timeout: %s
    reconnect_min: 100ms
    reconnect_max: 1s
    retry_backoff: 200ms
%squeues:
  %s: %s
state_dir: state
problems: {enabled: false}   # expectations come from the classifier alone; detection is tested on its own
shutdown_timeout: 5s
log: {level: debug}
`, r.imap.Addr(), r.srv.User, accountTimeout, indent(opts.account, "    "), queueName, queueYAML)
	for name, content := range map[string]string{"rules.yaml": rulesYAML, "triage.yaml": cfg, "imap.password": imapPassword} {
		if err := os.WriteFile(filepath.Join(r.dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func indent(s, prefix string) string {
	if s == "" {
		return ""
	}
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(prefix + line + "\n")
	}
	return b.String()
}

func mustProxy(t *testing.T, upstream string) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.Listen(upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// run starts the daemon in process.
func (r *rig) run() {
	r.t.Helper()
	cfg, err := config.Load(filepath.Join(r.dir, "triage.yaml"))
	if err != nil {
		r.t.Fatalf("config: %v", err)
	}
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := daemon.New(cfg, daemon.Options{Log: log, Version: "netfault", DisableHTTP: true})
	if err != nil {
		r.t.Fatalf("daemon.New: %v", err)
	}
	r.d = d
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- d.Run(ctx) }()
	r.t.Cleanup(func() { r.stop() })
}

// stop stops the daemon and reports how long that took; a daemon that does
// not return within shutdown_timeout plus a margin fails the test.
func (r *rig) stop() time.Duration {
	if r.cancel == nil {
		return 0
	}
	start := time.Now()
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Errorf("daemon Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		r.t.Error("daemon did not stop within 30 s (shutdown_timeout is 5 s): hung")
	}
	return time.Since(start)
}

// newMail builds a unique message of about size bytes whose last body line
// is its marker, and records the ticket id it must arrive under.
func (r *rig) newMail(tag string, i, size int) []byte {
	r.t.Helper()
	name := fmt.Sprintf("%s-%d", tag, i)
	marker := "END netfault-" + name
	subject := fmt.Sprintf("netfault %s %d", tag, i)
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Netfault User <user%d@example.com>\r\n", i)
	b.WriteString("To: helpdesk@example.com\r\n")
	fmt.Fprintf(&b, "Subject: %s\r\n", subject)
	fmt.Fprintf(&b, "Message-ID: <%s@netfault.test>\r\n", name)
	b.WriteString("Date: Fri, 27 Nov 2026 10:00:00 +0100\r\n")
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
	for line := 0; b.Len() < size; line++ {
		fmt.Fprintf(&b, "%s line %06d: the printer on floor %d still prints only blank pages today\r\n", name, line, line%9)
	}
	b.WriteString(marker + "\r\n")
	raw := b.Bytes()
	id := classifier.TicketID(raw)
	if _, dup := r.sent[id]; dup {
		r.t.Fatalf("two test mails share ticket id %s", id)
	}
	r.sent[id] = sentMail{subject: subject, marker: marker}
	r.order = append(r.order, id)
	return raw
}

// appendMail stores a mail straight into the INBOX Maildir (a backlog).
func (r *rig) appendMail(tag string, i, size int) {
	r.t.Helper()
	r.srv.Append(r.t, "INBOX", r.newMail(tag, i, size))
}

// deliverMail delivers a mail by LMTP, straight to Dovecot (the daemon
// hears of it through IDLE, over the proxy).
func (r *rig) deliverMail(tag string, i, size int) {
	r.t.Helper()
	r.srv.Deliver(r.t, r.srv.User, r.newMail(tag, i, size))
}

// forwardedCopy is one delivery a sink received.
type forwardedCopy struct {
	id       string
	complete bool // the body ends with the mail's marker
	problem  string
}

// forwarded reads what the sink received so far.
func (r *rig) forwarded() []forwardedCopy {
	r.t.Helper()
	var out []forwardedCopy
	switch r.opts.sink {
	case sinkFile:
		var tickets []ticket.Ticket
		tickets, r.fileOff = readJSONL(r.t, filepath.Join(r.dir, "out", "tickets.jsonl"), r.fileOff)
		for _, tk := range tickets {
			r.fileCopies = append(r.fileCopies, forwardedCopy{id: tk.ID, complete: strings.Contains(tk.Body, r.sent[tk.ID].marker)})
		}
		out = append(out, r.fileCopies...)
	case sinkWebhook:
		out = r.hook.copies(r.sent)
	case sinkLMTP:
		for _, m := range r.srv.Fetch(r.t, trackerFolder) {
			msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
			if err != nil {
				out = append(out, forwardedCopy{problem: fmt.Sprintf("unreadable copy uid %d: %v", m.UID, err)})
				continue
			}
			id := msg.Header.Get("X-Triage-Ticket-Id")
			body, _ := io.ReadAll(msg.Body)
			c := forwardedCopy{id: id, complete: bytes.Contains(body, []byte(r.sent[id].marker))}
			if orig := classifier.TicketID(m.Raw); orig != id {
				// The forwarded copy keeps the original headers, so its own
				// id must be the one it is labelled with.
				c.problem = fmt.Sprintf("copy labelled %s hashes to %s", id, orig)
			}
			out = append(out, c)
		}
	}
	return out
}

// tally counts the forwarded copies by id.
func tally(copies []forwardedCopy) map[string]int {
	n := map[string]int{}
	for _, c := range copies {
		n[c.id]++
	}
	return n
}

// allForwarded reports whether every sent mail reached the sink.
func (r *rig) allForwarded() bool {
	n := tally(r.forwarded())
	for id := range r.sent {
		if n[id] == 0 {
			return false
		}
	}
	return true
}

// inboxMessage is what the checks need of a message in INBOX.
type inboxMessage struct {
	uid  imap.UID
	id   string // ticket id, from the header
	done bool
}

// inbox reads INBOX's flags and headers (read-only, never the bodies, so
// polling a large backlog stays cheap), straight from Dovecot.
func (r *rig) inbox() []inboxMessage {
	r.t.Helper()
	c, err := imapclient.DialInsecure(r.srv.Addr(), nil)
	if err != nil {
		r.t.Fatalf("inbox: dial: %v", err)
	}
	defer c.Close()
	if err := c.Login(r.srv.User, imapPassword).Wait(); err != nil {
		r.t.Fatalf("inbox: login: %v", err)
	}
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		r.t.Fatalf("inbox: examine: %v", err)
	}
	if sel.NumMessages == 0 {
		return nil
	}
	var all imap.UIDSet
	all.AddRange(1, 0)
	bufs, err := c.Fetch(all, &imap.FetchOptions{
		UID: true, Flags: true,
		BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader, Peek: true}},
	}).Collect()
	if err != nil {
		r.t.Fatalf("inbox: fetch: %v", err)
	}
	out := make([]inboxMessage, 0, len(bufs))
	for _, b := range bufs {
		m := inboxMessage{uid: b.UID}
		for _, f := range b.Flags {
			m.done = m.done || strings.EqualFold(string(f), doneKeyword)
		}
		for _, sec := range b.BodySection {
			m.id = classifier.TicketID(sec.Bytes) // from Message-ID, From, Date, Subject
		}
		out = append(out, m)
	}
	_ = c.Logout().Wait()
	return out
}

// allDone reports whether every message in INBOX carries the done keyword.
func (r *rig) allDone() bool {
	msgs := r.inbox()
	if len(msgs) != len(r.sent) {
		return false
	}
	for _, m := range msgs {
		if !m.done {
			return false
		}
	}
	return true
}

// waitDelivered waits until every mail sent so far is forwarded and marked
// done.
func (r *rig) waitDelivered(timeout time.Duration, what string) {
	r.t.Helper()
	testkit.WaitFor(r.t, timeout, what+": every mail forwarded", r.allForwarded)
	testkit.WaitFor(r.t, timeout, what+": every mail marked done", r.allDone)
}

// check verifies the delivery guarantee at this instant and returns the
// number of duplicate deliveries:
//   - every forwarded copy carries the id of a mail that was sent and is
//     complete (a duplicate is only ever a re-send under the same id);
//   - every message marked done on the server was forwarded.
func (r *rig) check(when string) (duplicates int) {
	r.t.Helper()
	inbox := r.inbox() // first: anything done now was forwarded before
	copies := r.forwarded()
	for _, c := range copies {
		switch {
		case c.problem != "":
			r.t.Errorf("%s: %s", when, c.problem)
		case r.sent[c.id] == (sentMail{}):
			r.t.Errorf("%s: the sink got ticket id %q, which no sent mail has", when, c.id)
		case !c.complete:
			r.t.Errorf("%s: ticket %s (%s) was forwarded truncated", when, c.id, r.sent[c.id].subject)
		}
	}
	n := tally(copies)
	for _, m := range inbox {
		if m.done && n[m.id] == 0 {
			r.t.Errorf("%s: uid %d (%s) is marked done but was never forwarded", when, m.uid, r.sent[m.id].subject)
		}
	}
	for _, c := range n {
		duplicates += max(c-1, 0)
	}
	return duplicates
}

// checkFinal is check plus: every mail forwarded, every message done.
func (r *rig) checkFinal() (duplicates int) {
	r.t.Helper()
	dups := r.check("at the end")
	n := tally(r.forwarded())
	for _, id := range r.order {
		if n[id] == 0 {
			r.t.Errorf("lost: %s was never forwarded", r.sent[id].subject)
		}
	}
	if !r.allDone() {
		r.t.Error("INBOX has messages not marked done at the end")
	}
	return dups
}

// servesNewMail proves the daemon still works after the faults: a fresh mail
// delivered now is forwarded and marked done.
func (r *rig) servesNewMail() {
	r.t.Helper()
	r.deliverMail("after", 0, 2000)
	r.waitDelivered(30*time.Second, "mail delivered after the faults")
}

// waitIdle waits until the mailbox sits in IMAP IDLE.
func (r *rig) waitIdle(timeout time.Duration) {
	r.t.Helper()
	testkit.WaitFor(r.t, timeout, "the INBOX to enter IDLE", func() bool {
		return r.metric("triage_imap_idle", map[string]string{"mailbox": "INBOX"}) == 1
	})
}

// metric sums the samples of a metric family whose labels include match.
func (r *rig) metric(name string, match map[string]string) float64 {
	r.t.Helper()
	fams, err := r.d.Metrics().Registry.Gather()
	if err != nil {
		r.t.Fatalf("gather metrics: %v", err)
	}
	return testkit.SumFamilies(fams, name, match)
}

// sessionFailures counts the daemon's "imap session failed" log lines.
func (r *rig) sessionFailures() int {
	return strings.Count(r.logs.String(), "msg=\"imap session failed\"")
}

// phase marks the start of a test phase in the daemon log and the test log.
func (r *rig) phase(name string) {
	r.t.Helper()
	r.t.Logf("%6.2fs phase: %s", time.Since(r.start).Seconds(), name)
	fmt.Fprintf(r.logs, "time=%s level=INFO msg=\"=== test phase\" phase=%q\n", time.Now().UTC().Format(time.RFC3339Nano), name)
}

// report logs a scenario's figures (go test -v shows them).
func (r *rig) report(faults string, duplicates int) {
	r.t.Helper()
	proxies := fmt.Sprintf("imap proxy %+v", r.imap.Stats())
	if r.sink != nil {
		proxies += fmt.Sprintf(", sink proxy %+v", r.sink.Stats())
	}
	r.t.Logf("RESULT %s: %d mails, faults: %s; imap reconnects %v, session failures %d, sink errors %v, duplicate deliveries %d (same id); %s; %s",
		r.t.Name(), len(r.sent), faults, r.metric("triage_imap_reconnects_total", nil), r.sessionFailures(),
		r.metric("triage_forward_errors_total", nil), duplicates, proxies, time.Since(r.start).Round(10*time.Millisecond))
}

// marks returns n tripwire marks from first on, step apart: each fault lands
// at another offset in the stream.
func marks(n int, first, step int64) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = first + int64(i)*step
	}
	return out
}

// readJSONL reads the tickets of a JSON Lines file from offset on and
// returns the offset after the last complete line; a line still being
// written (no newline yet) is left for the next read.
func readJSONL(t *testing.T, path string, offset int64) ([]ticket.Ticket, int64) {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, offset
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var out []ticket.Ticket
	br := bufio.NewReader(f)
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			return out, offset
		}
		var tk ticket.Ticket
		if err := json.Unmarshal(line, &tk); err != nil {
			t.Fatalf("%s: bad line at offset %d: %v", path, offset, err)
		}
		offset += int64(len(line))
		out = append(out, tk)
	}
}

// hookServer stands in for a tracker's webhook.
type hookServer struct {
	srv *httptest.Server

	mu       sync.Mutex
	bodies   map[string][]string // ticket id → the body of each delivery
	problems []string
	// afterRecord, if set, runs after a delivery was recorded and before
	// the response is written; cutting the connection there loses the
	// acknowledgement of a delivery the tracker has.
	afterRecord func()
}

func newHookServer(t *testing.T) *hookServer {
	h := &hookServer{bodies: map[string][]string{}}
	h.srv = httptest.NewServer(h)
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookServer) addr() string { return strings.TrimPrefix(h.srv.URL, "http://") }

func (h *hookServer) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var tk ticket.Ticket
	if err := json.NewDecoder(io.LimitReader(req.Body, 8<<20)).Decode(&tk); err != nil {
		// A request cut short never becomes a ticket.
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.bodies[tk.ID] = append(h.bodies[tk.ID], tk.Body)
	if key := req.Header.Get("Idempotency-Key"); key != tk.ID {
		h.problems = append(h.problems, fmt.Sprintf("ticket %s came with Idempotency-Key %q", tk.ID, key))
	}
	after := h.afterRecord
	h.mu.Unlock()
	if after != nil {
		after()
	}
	w.WriteHeader(http.StatusCreated)
}

func (h *hookServer) setAfterRecord(f func()) {
	h.mu.Lock()
	h.afterRecord = f
	h.mu.Unlock()
}

func (h *hookServer) copies(sent map[string]sentMail) []forwardedCopy {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]string, 0, len(h.bodies))
	for id := range h.bodies {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []forwardedCopy
	for _, p := range h.problems {
		out = append(out, forwardedCopy{problem: p})
	}
	for _, id := range ids {
		for _, body := range h.bodies[id] {
			out = append(out, forwardedCopy{id: id, complete: strings.Contains(body, sent[id].marker)})
		}
	}
	return out
}

// lastLines is the last n lines of the daemon's log.
func (r *rig) lastLines(n int) string {
	lines := strings.Split(strings.TrimRight(r.logs.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
