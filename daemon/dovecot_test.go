package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/triage-dev/triage/classifier"
	"github.com/triage-dev/triage/config"
	"github.com/triage-dev/triage/examples"
	"github.com/triage-dev/triage/internal/dovecottest"
	"github.com/triage-dev/triage/internal/testkit"
	"github.com/triage-dev/triage/rules"
	"github.com/triage-dev/triage/ticket"
)

// e2e is one daemon under test against a private Dovecot.
type e2e struct {
	t        *testing.T
	srv      *dovecottest.Server
	dir      string
	cfgPath  string
	httpAddr string
	logs     *testkit.SyncBuffer
	d        *Daemon
	cancel   context.CancelFunc
	done     chan error
	hook     *hookRecorder
}

// hookRecorder is a real HTTP server standing in for a tracker's webhook.
type hookRecorder struct {
	mu     sync.Mutex
	bodies map[string]int // ticket id → deliveries
	auth   []string
	fail   bool // 503: temporary
	reject bool // 422: permanent
}

func (h *hookRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fail {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	if h.reject {
		http.Error(w, "queue does not accept this requester", http.StatusUnprocessableEntity)
		return
	}
	var t ticket.Ticket
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&t); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.bodies[t.ID]++
	h.auth = append(h.auth, r.Header.Get("Authorization"))
	w.WriteHeader(http.StatusCreated)
}

func (h *hookRecorder) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, c := range h.bodies {
		n += c
	}
	return n
}

const (
	e2ePasswordEnv = "TRIAGE_TEST_IMAP_PASSWORD"
	e2eTokenEnv    = "TRIAGE_TEST_HOOK_TOKEN"
	e2eToken       = "hook-token-7f3a9c1e5b"
	e2eAdminToken  = "admin-token-2b8d4e6f0a"
)

// startE2E starts Dovecot, a webhook server and writes a config that sends
// the example rules' security queue to the webhook and the rest to files.
func startE2E(t *testing.T, extraConfig string) *e2e {
	t.Helper()
	srv := dovecottest.Start(t, dovecottest.WithPassword("imap-pw-5c1e9a7d3f"))
	dir := t.TempDir()
	if err := examples.Extract(dir); err != nil {
		t.Fatal(err)
	}
	hook := &hookRecorder{bodies: map[string]int{}}
	hs := httptest.NewServer(hook)
	t.Cleanup(hs.Close)
	t.Setenv(e2ePasswordEnv, srv.Password)
	t.Setenv(e2eTokenEnv, "Bearer "+e2eToken)
	t.Setenv("TRIAGE_TEST_ADMIN_TOKEN", e2eAdminToken)
	e := &e2e{t: t, srv: srv, dir: dir, hook: hook, httpAddr: testkit.FreeAddr(t), logs: &testkit.SyncBuffer{}}
	account := testkit.Account{Name: "helpdesk", Addr: srv.Addr(), User: srv.User, PasswordEnv: e2ePasswordEnv,
		ReconnectMax: 500 * time.Millisecond, Timeout: 10 * time.Second}
	cfg := fmt.Sprintf(`rules: rules.yaml
%squeues:
  helpdesk: {type: file, path: out/helpdesk.jsonl}
  systems: {type: file, path: out/systems.jsonl}
  engineering: {type: file, path: out/engineering.jsonl}
  security:
    type: webhook
    url: %s/tickets
    headers_env: {Authorization: %s}
    retry: {initial: 50ms, max: 200ms}
http: {listen: %s, token_env: TRIAGE_TEST_ADMIN_TOKEN}
state_dir: state
problems: {enabled: false}   # expectations come from the classifier alone; detection is tested on its own
log: {level: debug}
%s`, account.YAML(), hs.URL, e2eTokenEnv, e.httpAddr, extraConfig)
	e.cfgPath = filepath.Join(dir, "triage.yaml")
	if err := os.MkdirAll(filepath.Join(dir, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *e2e) run() {
	e.t.Helper()
	cfg, err := config.Load(e.cfgPath)
	if err != nil {
		e.t.Fatalf("config: %v", err)
	}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := New(cfg, Options{Log: log, Version: "test"})
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	e.d = d
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.done = make(chan error, 1)
	go func() { e.done <- d.Run(ctx) }()
	e.t.Cleanup(e.stop)
	testkit.WaitFor(e.t, 10*time.Second, "the admin server", func() bool {
		code, _ := e.getNoAuth("/healthz")
		return code == http.StatusOK
	})
}

func (e *e2e) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	e.cancel = nil
	select {
	case err := <-e.done:
		if err != nil {
			e.t.Errorf("Run: %v", err)
		}
	case <-time.After(40 * time.Second):
		e.t.Error("daemon did not stop within 40s")
	}
}

func (e *e2e) get(path string) (int, string) {
	return testkit.AdminRequest(http.MethodGet, e.httpAddr, path, e2eAdminToken)
}

// metric scrapes /metrics and sums each family's samples whose labels
// include every pair in match.
func (e *e2e) metric(name string, match map[string]string) float64 {
	e.t.Helper()
	return testkit.AdminMetric(e.t, e.httpAddr, e2eAdminToken, name, match)
}

// readJSONL reads the tickets of a JSON Lines sink file. Tests poll it while
// the daemon appends, so a last line without its newline is one being
// written and is left for the next read; every complete line must parse.
func readJSONL(t *testing.T, path string) []ticket.Ticket {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []ticket.Ticket
	for len(data) > 0 {
		line, rest, complete := bytes.Cut(data, []byte("\n"))
		if !complete {
			break
		}
		var tk ticket.Ticket
		if err := json.Unmarshal(line, &tk); err != nil {
			t.Fatalf("%s: bad line: %v", path, err)
		}
		out = append(out, tk)
		data = rest
	}
	return out
}

// expected classifies every example mail directly: the daemon must reach
// the same decisions.
func expected(t *testing.T, rulesPath string, mails [][]byte) map[string]*ticket.Ticket {
	t.Helper()
	set, err := rules.Load(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	c := classifier.New()
	out := map[string]*ticket.Ticket{}
	for _, raw := range mails {
		tk, err := c.Classify(set, raw, classifier.Meta{})
		if err != nil {
			t.Fatalf("classify: %v", err)
		}
		out[tk.ID] = tk
	}
	return out
}

func exampleMails(t testing.TB) [][]byte {
	t.Helper()
	mails, err := examples.Mails()
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]byte, len(mails))
	for i, m := range mails {
		out[i] = m.Raw
	}
	return out
}

// TestDaemonDovecot runs the whole daemon against a private Dovecot: the
// backlog of example mail, mail delivered by LMTP while in IDLE, metrics,
// /status, /readyz across a Dovecot outage, a bad rules edit, and no secret
// in any log line. The steps run in order on one daemon.
func TestDaemonDovecot(t *testing.T) {
	e := startE2E(t, "")
	mails := exampleMails(t)
	want := expected(t, filepath.Join(e.dir, "rules.yaml"), mails)
	for _, raw := range mails {
		e.srv.Append(t, "INBOX", raw)
	}
	e.run()

	e.waitBacklogHandled(want)
	e.checkForwardedOnce(want)
	// Dropped mail is filed in the rule's folder, the rest stays in INBOX marked done.
	if got := len(e.srv.Fetch(t, "INBOX")); got != len(mails)-droppedWithFolder(want) {
		t.Errorf("INBOX holds %d messages, want %d", got, len(mails)-droppedWithFolder(want))
	}
	e.checkBacklogMetrics(want, len(mails))
	e.checkIdleDelivery()
	e.checkStatus(len(mails))
	e.checkRulesEdits()
	e.checkDovecotOutage()

	e.stop()
	e.checkLogs()
}

// sinkTickets reads the tickets of the file queues, by queue.
func (e *e2e) sinkTickets() map[string][]ticket.Ticket {
	e.t.Helper()
	got := map[string][]ticket.Ticket{}
	for _, q := range []string{"helpdesk", "systems", "engineering"} {
		got[q] = readJSONL(e.t, filepath.Join(e.dir, "out", q+".jsonl"))
	}
	return got
}

// forwardedTotal counts the tickets in every sink, the webhook included.
func (e *e2e) forwardedTotal() int {
	e.t.Helper()
	n := e.hook.count()
	for _, l := range e.sinkTickets() {
		n += len(l)
	}
	return n
}

// waitBacklogHandled waits for every forwarded example mail to reach a sink
// and for the INBOX to be marked done.
func (e *e2e) waitBacklogHandled(want map[string]*ticket.Ticket) {
	e.t.Helper()
	forwarded := 0
	for _, tk := range want {
		if tk.Class.Action == "forward" {
			forwarded++
		}
	}
	testkit.WaitFor(e.t, 60*time.Second, "every forwarded example mail in a sink", func() bool { return e.forwardedTotal() >= forwarded })
	testkit.WaitFor(e.t, 30*time.Second, "the INBOX to be marked done", func() bool {
		for _, m := range e.srv.Fetch(e.t, "INBOX") {
			if !m.HasFlag("$Triaged") {
				return false
			}
		}
		return true
	})
}

// checkForwardedOnce: each forwarded mail exactly once, in the queue the
// rules chose; no dropped mail in a sink.
func (e *e2e) checkForwardedOnce(want map[string]*ticket.Ticket) {
	t := e.t
	t.Helper()
	seen := map[string]int{}
	for q, list := range e.sinkTickets() {
		for _, tk := range list {
			seen[tk.ID]++
			e.checkFileTicket(q, tk, want[tk.ID])
		}
	}
	e.hook.mu.Lock()
	for id, n := range e.hook.bodies {
		seen[id] += n
		if w := want[id]; w == nil || w.Class.Queue != "security" {
			t.Errorf("webhook got ticket %s not meant for security", id)
		}
	}
	for _, a := range e.hook.auth {
		if a != "Bearer "+e2eToken {
			t.Errorf("webhook Authorization = %q", a)
		}
	}
	e.hook.mu.Unlock()
	for id, w := range want {
		switch {
		case w.Class.Action == "forward" && seen[id] != 1:
			t.Errorf("%q forwarded %d times, want once", w.Subject, seen[id])
		case w.Class.Action == "drop" && seen[id] != 0:
			t.Errorf("dropped %q reached a sink", w.Subject)
		}
	}
}

// checkFileTicket compares a ticket found in queue q's file with the one
// classified directly (w, nil when none was expected).
func (e *e2e) checkFileTicket(q string, tk ticket.Ticket, w *ticket.Ticket) {
	t := e.t
	t.Helper()
	if w == nil {
		t.Errorf("unexpected ticket %s %q", tk.ID, tk.Subject)
		return
	}
	if w.Class.Queue != q || w.Class.Tier != tk.Class.Tier || w.Class.Action != "forward" {
		t.Errorf("ticket %q in %s as %s/%s, want %s/%s/%s", tk.Subject, q, tk.Class.Tier, tk.Class.Action, w.Class.Queue, w.Class.Tier, w.Class.Action)
	}
	if tk.Source.Account != "helpdesk" || tk.Source.Mailbox != "INBOX" || tk.Source.UID == 0 || tk.Class.RulesVersion == "" {
		t.Errorf("ticket %q lacks source or rules_version: %+v %q", tk.Subject, tk.Source, tk.Class.RulesVersion)
	}
}

// wantMetric checks one metric's value.
func (e *e2e) wantMetric(name string, match map[string]string, want float64) {
	e.t.Helper()
	if got := e.metric(name, match); got != want {
		e.t.Errorf("%s%v = %v, want %v", name, match, got, want)
	}
}

// checkBacklogMetrics: the metrics moved by the right amounts for the
// backlog of mails messages.
func (e *e2e) checkBacklogMetrics(want map[string]*ticket.Ticket, mails int) {
	t := e.t
	t.Helper()
	n := float64(mails)
	dropped := 0
	byTier := map[string]int{}
	ruleHits := map[string]int{}
	for _, w := range want {
		if w.Class.Action == "drop" {
			dropped++
		}
		byTier[w.Class.Tier]++
		for _, m := range w.Class.Matched {
			ruleHits[m.Rule]++
		}
	}
	e.wantMetric("triage_messages_seen_total", map[string]string{"account": "helpdesk", "mailbox": "INBOX"}, n)
	e.wantMetric("triage_tickets_total", nil, n)
	e.wantMetric("triage_tickets_total", map[string]string{"action": "drop"}, float64(dropped))
	for tier, c := range byTier {
		e.wantMetric("triage_tickets_total", map[string]string{"tier": tier}, float64(c))
	}
	for rule, c := range ruleHits {
		e.wantMetric("triage_rule_matches_total", map[string]string{"rule": rule}, float64(c))
	}
	for q, list := range e.sinkTickets() {
		e.wantMetric("triage_forwarded_total", map[string]string{"queue": q}, float64(len(list)))
	}
	e.wantMetric("triage_decode_duration_seconds", nil, n)
	e.wantMetric("triage_imap_connected", map[string]string{"account": "helpdesk"}, 1)
	e.wantMetric("triage_rules_reload_success", nil, 1)
	e.wantMetric("triage_mail_buffer_limit_bytes", nil, 128<<20) // the default
	testkit.WaitFor(t, 10*time.Second, "the buffer emptied", func() bool {
		return e.metric("triage_mail_buffered_bytes", nil) == 0
	})
}

// checkIdleDelivery: mail delivered by LMTP while the daemon sits in IDLE
// is forwarded.
func (e *e2e) checkIdleDelivery() {
	t := e.t
	t.Helper()
	testkit.WaitFor(t, 10*time.Second, "IDLE", func() bool {
		return e.metric("triage_imap_idle", map[string]string{"account": "helpdesk", "mailbox": "INBOX"}) == 1
	})
	before := e.forwardedTotal()
	for i := range 5 {
		raw := fmt.Sprintf("From: Eve <eve@example.com>\r\nTo: helpdesk@example.com\r\nSubject: printer %d is jammed\r\nMessage-ID: <lmtp-%d@example.com>\r\nDate: Fri, 27 Nov 2026 10:00:00 +0100\r\n\r\nPaper jam.\r\n", i, i)
		e.srv.Deliver(t, e.srv.User, []byte(raw))
	}
	testkit.WaitFor(t, 20*time.Second, "LMTP-delivered mail forwarded", func() bool { return e.forwardedTotal() >= before+5 })
}

// checkStatus: /status needs the token and shows the account, its mailbox
// and the queues.
func (e *e2e) checkStatus(mails int) {
	t := e.t
	t.Helper()
	if code, _ := e.getNoAuth("/status"); code != http.StatusUnauthorized {
		t.Errorf("/status without token = %d, want 401", code)
	}
	if code, _ := e.getNoAuth("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d", code)
	}
	code, body := e.get("/status")
	if code != http.StatusOK || !strings.Contains(body, `"connected": true`) || !strings.Contains(body, e.d.reloader.Active().Current().Version) {
		t.Errorf("/status = %d %s", code, body)
	}
	var st Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("/status is not JSON: %v", err)
	}
	if len(st.Accounts) != 1 || len(st.Accounts[0].Mailboxes) != 1 {
		t.Fatalf("/status accounts = %+v", st.Accounts)
	}
	if mb := st.Accounts[0].Mailboxes[0]; mb.Mailbox != "INBOX" || mb.State == "" || mb.Done < uint64(mails) || mb.Backlog != 0 || mb.LastMessage.IsZero() {
		t.Errorf("/status INBOX = %+v", mb)
	}
	if q := st.Queues["security"]; q.Sent == 0 {
		t.Errorf("/status queue security = %+v", q)
	}
}

// checkRulesEdits: a bad rules edit is refused, shown in /status, and the
// old rules keep serving; a good edit through POST /-/reload answers with
// the new version.
func (e *e2e) checkRulesEdits() {
	t := e.t
	t.Helper()
	good := e.d.reloader.Active().Current().Version
	rulesPath := filepath.Join(e.dir, "rules.yaml")
	orig, _ := os.ReadFile(rulesPath)
	if err := os.WriteFile(rulesPath, append(append([]byte{}, orig...), []byte("\n  - name: broken\n    when: subject +\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "the bad edit in /status", func() bool {
		_, body := e.get("/status")
		return strings.Contains(body, `"last_reload_ok": false`) && strings.Contains(body, "rules.yaml:")
	})
	if v := e.d.reloader.Active().Current().Version; v != good {
		t.Errorf("active rules changed to %s after a bad edit", v)
	}
	if got := e.metric("triage_rules_reload_success", nil); got != 0 {
		t.Errorf("triage_rules_reload_success after a bad edit = %v", got)
	}
	if code, body := e.post("/-/reload"); code != http.StatusUnprocessableEntity || !strings.Contains(body, "rules.yaml:") {
		t.Errorf("POST /-/reload of a bad edit = %d %s; want 422 with the errors", code, body)
	}
	edited := strings.Replace(string(orig), "version: 1", "version: 1\n# edited", 1)
	if err := os.WriteFile(rulesPath, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	code, body := e.post("/-/reload")
	if v := e.d.reloader.Active().Current().Version; code != http.StatusOK || v == good || !strings.Contains(body, v) {
		t.Errorf("POST /-/reload of a good edit = %d %s; active %s", code, body, v)
	}
	if err := os.WriteFile(rulesPath, orig, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkDovecotOutage: /readyz flips while Dovecot is down and back when it
// returns, and a mail after the restart is still handled.
func (e *e2e) checkDovecotOutage() {
	t := e.t
	t.Helper()
	if code, body := e.get("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d %s", code, body)
	}
	e.srv.Stop()
	testkit.WaitFor(t, 30*time.Second, "/readyz to fail with Dovecot down", func() bool {
		code, _ := e.get("/readyz")
		return code == http.StatusServiceUnavailable
	})
	e.srv.Restart()
	testkit.WaitFor(t, 30*time.Second, "/readyz to recover", func() bool {
		code, _ := e.get("/readyz")
		return code == http.StatusOK
	})
	if got := e.metric("triage_imap_reconnects_total", map[string]string{"account": "helpdesk"}); got < 1 {
		t.Errorf("triage_imap_reconnects_total = %v, want ≥ 1", got)
	}
	before := e.forwardedTotal()
	e.srv.Deliver(t, e.srv.User, []byte("From: Eve <eve@example.com>\r\nSubject: printer after restart\r\nMessage-ID: <after-restart@example.com>\r\n\r\njam\r\n"))
	testkit.WaitFor(t, 30*time.Second, "mail after the Dovecot restart", func() bool { return e.forwardedTotal() >= before+1 })
}

// checkLogs: no secret in any log line (the run logged at debug level), and
// a line per message.
func (e *e2e) checkLogs() {
	t := e.t
	t.Helper()
	logs := e.logs.String()
	for _, secret := range []string{e.srv.Password, e2eToken, e2eAdminToken} {
		if strings.Contains(logs, secret) {
			t.Errorf("a secret (%d chars) appears in the logs", len(secret))
		}
	}
	if !strings.Contains(logs, "msg=handled") || !strings.Contains(logs, "tier=") {
		t.Errorf("no per-message log line:\n%.2000s", logs)
	}
}

func (e *e2e) post(path string) (int, string) {
	return testkit.AdminRequest(http.MethodPost, e.httpAddr, path, e2eAdminToken)
}

func (e *e2e) getNoAuth(path string) (int, string) {
	return testkit.AdminRequest(http.MethodGet, e.httpAddr, path, "")
}

func droppedWithFolder(want map[string]*ticket.Ticket) int {
	n := 0
	for _, w := range want {
		if w.Class.Action == "drop" && w.Class.Folder != "" {
			n++
		}
	}
	return n
}
