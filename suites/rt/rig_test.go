package rt

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/triage-dev/triage/classifier"
	"github.com/triage-dev/triage/examples"
	"github.com/triage-dev/triage/internal/dovecottest"
	"github.com/triage-dev/triage/internal/testkit"
	"github.com/triage-dev/triage/rules"
	"github.com/triage-dev/triage/ticket"
)

// rtQueueOf maps the example rules' queues to RT queues; RT has no
// "Engineering" queue, so RT refuses that queue's mail.
var rtQueueOf = map[string]string{"helpdesk": "General", "systems": "Systems", "security": "Security", "engineering": "Engineering"}

// rtPriority is the rt sink's default priority map.
var rtPriority = map[string]string{"P1": "90", "P2": "70", "P3": "50", "P4": "20"}

// rig is RT, a private Dovecot, the example rules and a triage.yaml that
// files every queue in RT.
type rig struct {
	rt    *rtServer
	srv   *dovecottest.Server
	dir   string
	cfg   string
	set   *rules.Set
	run   string // makes this run's Message-IDs unique in the shared RT
	procs []*triageProc
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{rt: startRT(t), dir: t.TempDir(), run: fmt.Sprintf("%x", time.Now().UnixNano())}
	r.srv = dovecottest.Start(t, dovecottest.WithPassword("rt-suite-imap"))
	if err := examples.Extract(r.dir); err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load(filepath.Join(r.dir, "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r.set = set
	var q strings.Builder
	for _, name := range []string{"helpdesk", "systems", "security", "engineering"} {
		fmt.Fprintf(&q, "  %s: {type: rt, url: %q, token_env: %s, rtname: %s, queue: %s, custom_fields: {Runbook: \"{{.Runbook}}\"}, timeout: 5m, retry: {initial: 200ms, max: 2s}}\n",
			name, r.rt.url, tokenEnv, rtName, rtQueueOf[name])
	}
	account := testkit.Account{Name: "helpdesk", Addr: r.srv.Addr(), User: r.srv.User, PasswordEnv: imapPassEnv,
		ReconnectMax: 500 * time.Millisecond, Timeout: 10 * time.Second}.YAML()
	// RT's standalone server answers one request at a time: more mails in
	// flight only wait in its queue.
	account += "    concurrency: 4\n"
	cfg := fmt.Sprintf("rules: rules.yaml\n%squeues:\n%shttp: {listen: %s}\nstate_dir: state\nshutdown_timeout: 3s\nlog: {level: info}\n",
		account, q.String(), testkit.FreeAddr(t))
	r.cfg = filepath.Join(r.dir, "triage.yaml")
	if err := os.WriteFile(r.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

// sample is one mail and what triage makes of it.
type sample struct {
	name    string
	raw     []byte
	tk      *ticket.Ticket
	content *ticket.Content
}

// sample builds a mail with this run's Message-ID and classifies it.
func (r *rig) sample(t *testing.T, name string, raw []byte, msgID string) sample {
	t.Helper()
	raw = testkit.WithMessageID(raw, "<"+msgID+"."+r.run+"@rt.test>")
	tk, err := classifier.New().Classify(r.set, raw, classifier.Meta{Account: "helpdesk", Mailbox: "INBOX"})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	c, err := classifier.DecodeContent(raw)
	if err != nil {
		t.Fatal(err)
	}
	return sample{name: name, raw: raw, tk: tk, content: c}
}

// triageProc is one `triage run`.
type triageProc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	log    string
}

// start runs the daemon, its log in the rig's directory.
func (r *rig) start(t *testing.T) *triageProc {
	t.Helper()
	logPath := filepath.Join(r.dir, fmt.Sprintf("triage-%d.log", len(r.procs)))
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(triageBin, "run", "--config", r.cfg)
	cmd.Env = append(os.Environ(), tokenEnv+"="+r.rt.token, imapPassEnv+"="+r.srv.Password, "GORACE=atexit_sleep_ms=0")
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &triageProc{cmd: cmd, exited: make(chan struct{}), log: logPath}
	go func() { _ = cmd.Wait(); f.Close(); close(p.exited) }()
	r.procs = append(r.procs, p)
	t.Cleanup(func() { p.signal(syscall.SIGKILL) })
	return p
}

func (p *triageProc) signal(sig syscall.Signal) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	<-p.exited
}

// logs is every daemon log of the rig so far.
func (r *rig) logs(t *testing.T) string {
	t.Helper()
	var b bytes.Buffer
	for _, p := range r.procs {
		data, err := os.ReadFile(p.log)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	return b.String()
}

// count is how many log lines of the rig's daemons contain s.
func (r *rig) count(t *testing.T, s string) int {
	return strings.Count(r.logs(t), s)
}

// tail is the end of the logs, for failure messages.
func (r *rig) tail(t *testing.T) string {
	l := r.logs(t)
	lines := strings.Split(strings.TrimRight(l, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-30):], "\n")
}

// waitDrained waits until the INBOX holds no undone mail and the failed
// folder holds failed messages.
func (r *rig) waitDrained(t *testing.T, failed int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		undone := r.srv.CountWithout(t, "INBOX", doneKeyword)
		f := r.srv.Count(t, "Triage/Failed")
		if undone == 0 && f >= failed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %d INBOX messages not done, %d failed of %d; daemon log:\n%s", limit, undone, f, failed, r.tail(t))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// deliver delivers mails over LMTP (the server stamps the arrival time).
func (r *rig) deliver(t *testing.T, mails ...sample) {
	t.Helper()
	for _, m := range mails {
		r.srv.Deliver(t, "helpdesk", m.raw)
	}
}
