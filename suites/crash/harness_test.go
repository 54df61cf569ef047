package crash

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// triageBin is the `triage` binary built once for this test binary.
var triageBin string

func TestMain(m *testing.M) {
	os.Exit(testkit.RunWithTriage(m, testkit.RaceEnabled, &triageBin, "crashhook"))
}

// seeded returns the test's random source; TRIAGE_SEED replays a run.
func seeded(t *testing.T) *rand.Rand {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TRIAGE_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("TRIAGE_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with TRIAGE_SEED=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// writeExamples copies the example rules and the mail their tests read
// into dir (the daemon refuses rules whose own tests fail).
func writeExamples(t *testing.T, dir string) {
	t.Helper()
	err := examples.Extract(dir)
	if err != nil {
		t.Fatalf("write examples: %v", err)
	}
}

// mail is one generated backlog message and what the rules make of it.
type mail struct {
	key    string // Message-ID, or the garbage marker of an unparseable mail
	raw    []byte
	id     string // ticket id
	queue  string
	action string // forward | drop | quarantine
	folder string // where a dropped mail is filed
}

// exampleMails reads examples/mail/*.eml with CRLF line ends.
func exampleMails(t *testing.T) [][]byte {
	t.Helper()
	mails, err := examples.Mails()
	if err != nil || len(mails) == 0 {
		t.Fatalf("example mail: %d files, %v", len(mails), err)
	}
	out := make([][]byte, len(mails))
	for i, m := range mails {
		out[i] = m.Raw
	}
	return out
}

// backlog generates n distinct mails: the example mails in turn, each copy
// with its own Message-ID, plus every unparseableEvery-th mail a message
// without any header field (0: none). Each is classified with the rules in
// rulesPath, which the daemon must agree with.
func backlog(t *testing.T, rulesPath, prefix string, n, unparseableEvery int) []mail {
	t.Helper()
	set, err := rules.Load(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	c := classifier.New()
	ex := exampleMails(t)
	out := make([]mail, 0, n)
	ids := map[string]bool{}
	for i := range n {
		var m mail
		if unparseableEvery > 0 && i%unparseableEvery == unparseableEvery-1 {
			m.key = fmt.Sprintf("%s-garbage-%05d", prefix, i)
			m.raw = fmt.Appendf(nil, "%s this scanner output has no header at all\r\n\r\n%s\r\n", m.key, strings.Repeat("x", i%200))
			m.id = classifier.TicketID(m.raw)
			m.action = "quarantine"
			if _, err := c.Decode(set, m.raw); !errors.Is(err, classifier.ErrUnparseable) {
				t.Fatalf("mail %d meant to be unparseable decodes: %v", i, err)
			}
		} else {
			m.key = fmt.Sprintf("<%s.%05d.%d@crash.example.com>", prefix, i, i%len(ex))
			m.raw = testkit.WithMessageID(ex[i%len(ex)], m.key)
			tk, err := c.Classify(set, m.raw, classifier.Meta{Account: "helpdesk", Mailbox: "INBOX"})
			if err != nil {
				t.Fatalf("classify mail %d: %v", i, err)
			}
			m.id, m.queue, m.action, m.folder = tk.ID, tk.Class.Queue, tk.Class.Action, tk.Class.Folder
			if tk.MessageID != m.key {
				t.Fatalf("mail %d: Message-ID %q, want %q", i, tk.MessageID, m.key)
			}
		}
		if ids[m.id] {
			t.Fatalf("mail %d: ticket id %s is not distinct", i, m.id)
		}
		ids[m.id] = true
		out = append(out, m)
	}
	return out
}

// seed stores the backlog in the INBOX (direct Maildir writes) and makes
// Dovecot assign UIDs.
func seed(t *testing.T, srv *dovecottest.Server, mails []mail) {
	t.Helper()
	for _, m := range mails {
		srv.Append(t, "INBOX", m.raw)
	}
	srv.Resync(t, "INBOX")
	if got := srv.Count(t, "INBOX"); got != len(mails) {
		t.Fatalf("INBOX holds %d messages after seeding, want %d", got, len(mails))
	}
}

// mailKey names a message read back from the server: its Message-ID, or
// the garbage marker on the first line of an unparseable one.
func mailKey(raw []byte) string {
	end := bytes.Index(raw, []byte("\r\n\r\n"))
	if end < 0 {
		end = len(raw)
	}
	for _, line := range bytes.Split(raw[:end], []byte("\r\n")) {
		if len(line) > 11 && strings.EqualFold(string(line[:11]), "message-id:") {
			return strings.TrimSpace(string(line[11:]))
		}
	}
	first, _, _ := bytes.Cut(raw, []byte(" "))
	return string(first)
}

// serverState is where every message sits on the server at the end.
type serverState struct {
	// where maps a mail key to the folders holding it ("INBOX" with the
	// done keyword is "INBOX+done").
	where map[string][]string
	total int
}

// readServer reads where every message sits on the server, in every
// folder a message can end up in, and fails t unless the server holds as
// many messages as the backlog.
func (r *rig) readServer(t *testing.T) serverState {
	t.Helper()
	st := serverState{where: map[string][]string{}}
	for _, f := range serverFolders {
		for _, m := range r.srv.Fetch(t, f) {
			loc := f
			if f == "INBOX" && m.HasFlag(doneKeyword) {
				loc += "+done"
			}
			k := mailKey(m.Raw)
			st.where[k] = append(st.where[k], loc)
			st.total++
		}
	}
	if st.total != len(r.mails) {
		t.Errorf("the server holds %d messages, want %d (a message was copied or lost)", st.total, len(r.mails))
	}
	return st
}

// rig is a private Dovecot whose INBOX holds a generated backlog, and the
// directory that holds the daemon's config, the example rules and the logs
// of its runs.
type rig struct {
	srv   *dovecottest.Server
	dir   string
	mails []mail
	byKey map[string]*mail // by mail key
	cfg   string           // path of triage.yaml, once written
	env   []string         // the daemon's extra environment
	logs  []string         // log files of the runs so far
}

// newRig starts Dovecot with the IMAP password password and seeds n
// backlog mails named after prefix, every 100th of them unparseable.
func newRig(t *testing.T, password, prefix string, n int) *rig {
	t.Helper()
	srv := dovecottest.Start(t, dovecottest.WithPassword(password))
	r := &rig{srv: srv, dir: t.TempDir(), byKey: map[string]*mail{}, env: []string{crashPasswordEnv + "=" + srv.Password}}
	writeExamples(t, r.dir)
	r.mails = backlog(t, filepath.Join(r.dir, "rules.yaml"), prefix, n, 100)
	seed(t, srv, r.mails)
	for i := range r.mails {
		r.byKey[r.mails[i].key] = &r.mails[i]
	}
	return r
}

// writeConfig writes cfg as the rig's triage.yaml.
func (r *rig) writeConfig(t *testing.T, cfg string) {
	t.Helper()
	r.cfg = filepath.Join(r.dir, "triage.yaml")
	if err := os.WriteFile(r.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// start runs the daemon on the rig's config, logging to the file logName
// in the rig's directory.
func (r *rig) start(t *testing.T, logName string) *proc {
	t.Helper()
	logPath := filepath.Join(r.dir, logName)
	r.logs = append(r.logs, logPath)
	return startTriage(t, r.cfg, logPath, r.env...)
}

// undone counts INBOX messages without the done keyword.
func (r *rig) undone(t *testing.T) int {
	t.Helper()
	return r.srv.CountWithout(t, "INBOX", doneKeyword)
}

// count returns how many backlog mails the rules give action.
func (r *rig) count(action string) int {
	n := 0
	for _, m := range r.mails {
		if m.action == action {
			n++
		}
	}
	return n
}

// drained reports whether every INBOX message is marked done and every
// unparseable mail is in the quarantine folder.
func (r *rig) drained(t *testing.T) bool {
	t.Helper()
	return r.undone(t) == 0 && r.srv.Count(t, "Triage/Quarantine") >= r.count("quarantine")
}

// doneUnacked is the delivery guarantee at one moment: it returns how many
// INBOX messages that the rules forward are marked done though acked is
// false for their ticket id, with an error for each of the first five
// (notAcked says what did not happen). A message of no backlog mail in the
// INBOX is an error too. when names the moment in the errors.
func (r *rig) doneUnacked(t *testing.T, acked func(id string) bool, when, notAcked string) int {
	t.Helper()
	early := 0
	for _, m := range r.srv.Fetch(t, "INBOX") {
		if !m.HasFlag(doneKeyword) {
			continue
		}
		k := mailKey(m.Raw)
		want, ok := r.byKey[k]
		if !ok {
			t.Errorf("%s: unknown message %q (uid %d) in INBOX", when, k, m.UID)
			continue
		}
		if want.action == "forward" && !acked(want.id) {
			early++
			if early <= 5 {
				t.Errorf("%s: %s (uid %d, ticket %s, queue %s) is marked done but %s", when, k, m.UID, want.id, want.queue, notAcked)
			}
		}
	}
	return early
}

// checkNoRaces fails t if a daemon log reports a data race.
func checkNoRaces(t *testing.T, logs []string) {
	t.Helper()
	if races := grepLogs(t, logs, "DATA RACE"); len(races) > 0 {
		t.Errorf("the daemon reported data races:\n%s", strings.Join(races, "\n"))
	}
}

// checkOneTicketPerMessageID fails t for every Message-ID that a sink
// received under more than one ticket id (byMsgID: Message-ID → ticket ids).
func checkOneTicketPerMessageID(t *testing.T, byMsgID map[string]map[string]bool) {
	t.Helper()
	for mid, ids := range byMsgID {
		if len(ids) != 1 {
			t.Errorf("Message-ID %s was forwarded under %d ticket ids", mid, len(ids))
		}
	}
}

// sinkEntry is one forwarded ticket as a sink received it.
type sinkEntry struct {
	ID        string
	MessageID string
	Queue     string
	UID       uint32
}

// readJSONL reads a file sink strictly: a torn or corrupt line is an error
// (a consumer of the file would choke on it too).
func readJSONL(t *testing.T, path string) []sinkEntry {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []sinkEntry
	off := 0
	for len(b) > 0 {
		line, rest, found := bytes.Cut(b, []byte("\n"))
		if !found {
			t.Errorf("%s: offset %d: last line has no newline (torn write): %.120q", path, off, line)
			break
		}
		var tk ticket.Ticket
		if err := json.Unmarshal(line, &tk); err != nil {
			t.Errorf("%s: offset %d: corrupt line (%v): %.200q", path, off, err, line)
		} else {
			out = append(out, sinkEntry{ID: tk.ID, MessageID: tk.MessageID, Queue: tk.Class.Queue, UID: tk.Source.UID})
		}
		off += len(line) + 1
		b = rest
	}
	return out
}

// proc is one `triage run` process.
type proc struct {
	cmd     *exec.Cmd
	started time.Time
	handled atomic.Int64 // "handled" log lines so far
	exited  chan struct{}
	err     error // Wait's result, valid once exited is closed
	log     *lineCounter
}

// startTriage runs `triage run --config cfg` with extra environment; its
// stderr goes to logPath.
func startTriage(t *testing.T, cfg, logPath string, env ...string) *proc {
	t.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{exited: make(chan struct{})}
	p.log = &lineCounter{w: f, match: []byte("msg=handled"), n: &p.handled, spoke: make(chan struct{})}
	cmd := exec.Command(triageBin, "run", "--config", cfg)
	cmd.Env = append(os.Environ(), env...)
	// A race-enabled binary sleeps 1 s at exit by default; exit times are measured.
	cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0")
	cmd.Stdout = p.log
	cmd.Stderr = p.log
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start triage: %v", err)
	}
	p.cmd, p.started = cmd, time.Now()
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.exited)
	}()
	// Never outlive the test, whatever happens to it.
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// failIfExited stops the test if the process has exited; what names the
// run in the message.
func (p *proc) failIfExited(t *testing.T, what string) {
	t.Helper()
	select {
	case <-p.exited:
		t.Fatalf("%s: triage exited by itself (%v):\n%s", what, p.err, p.log.lastLines())
	default:
	}
}

// sleep waits d, stopping the test at once if the process exits meanwhile;
// what names the run in the message.
func (p *proc) sleep(t *testing.T, d time.Duration, what string) {
	t.Helper()
	select {
	case <-p.exited:
		t.Fatalf("%s: triage exited by itself (%v):\n%s", what, p.err, p.log.lastLines())
	case <-time.After(d):
	}
}

// kill SIGKILLs the process and waits for it.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("SIGKILL: %v", err)
	}
	<-p.exited
}

// terminate sends SIGTERM and waits at most limit for the exit; it returns
// how long the exit took. It first waits for the process's first output:
// triage installs its SIGTERM handler before it logs anything, and a signal
// that comes sooner kills it outright.
func (p *proc) terminate(t *testing.T, limit time.Duration) time.Duration {
	t.Helper()
	select {
	case <-p.log.spoke:
	case <-p.exited:
	case <-time.After(limit):
		t.Fatalf("triage wrote nothing within %v of its start", limit)
	}
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-p.exited:
	case <-time.After(limit):
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Fatalf("triage did not exit within %v of SIGTERM", limit)
	}
	return time.Since(start)
}

// lineCounter copies a process's output to w and counts the lines that
// contain match (os/exec calls Write from one goroutine).
type lineCounter struct {
	w       io.Writer
	match   []byte
	n       *atomic.Int64
	spoke   chan struct{} // closed at the first output
	mu      sync.Mutex
	partial []byte
	tail    []string // last lines, for failure messages
}

func (c *lineCounter) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.spoke:
	default:
		close(c.spoke)
	}
	data := append(c.partial, b...)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		line := data[:i]
		if bytes.Contains(line, c.match) {
			c.n.Add(1)
		}
		if len(c.tail) == 40 {
			c.tail = c.tail[1:]
		}
		c.tail = append(c.tail, string(line))
		data = data[i+1:]
	}
	c.partial = append(c.partial[:0], data...)
	return c.w.Write(b)
}

// lastLines returns the process's last log lines.
func (c *lineCounter) lastLines() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.tail, "\n")
}

// grepLogs returns the log lines of every file in paths that contain s.
func grepLogs(t *testing.T, paths []string, s string) []string {
	t.Helper()
	var out []string
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			if strings.Contains(sc.Text(), s) {
				out = append(out, filepath.Base(p)+": "+sc.Text())
			}
		}
		f.Close()
	}
	return out
}

// ctxT is a context bounded for one test step.
func ctxT(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
