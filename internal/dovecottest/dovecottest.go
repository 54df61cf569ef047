// Package dovecottest runs a private Dovecot 2.3 (IMAP + LMTP on loopback) for
// tests: generated config, passwd-file users, Maildir storage, all under a
// temporary directory that is removed when the test ends.
//
// Under CI=true a missing dovecot binary fails the test; otherwise it is
// skipped.
package dovecottest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	osuser "os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
	"github.com/prometheus/procfs"
)

// nobodyID is the uid/gid mail processes run as when the test runs as root:
// Dovecot refuses uid 0 for mail processes.
const nobodyID = 65534

// Option configures Start.
type Option func(*options)

type options struct {
	password string
}

// WithPassword sets the user's password, "secret" by default (tests that
// grep logs for the password need one that no log line contains by chance).
func WithPassword(password string) Option {
	return func(o *options) { o.password = password }
}

// Server is a running private Dovecot.
type Server struct {
	// User and Password are the one account's credentials.
	User, Password string

	bin      string
	dir      string
	conf     string
	imapPort int
	lmtpPort int
	uid, gid int

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	created map[string]bool // mailboxes of the default user known to exist

	seq atomic.Uint64 // unique Maildir file names
}

// ErrNoDovecot is returned by New when the dovecot binary is not installed.
var ErrNoDovecot = errors.New("dovecottest: dovecot is not installed")

// Start starts a private Dovecot and registers its shutdown with t.Cleanup.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := New(opts...)
	if errors.Is(err, ErrNoDovecot) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (required under CI=true)", err)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// New starts a private Dovecot outside any one test (e.g. from TestMain, to
// share a seeded server between benchmarks). The caller must Close it.
func New(opts ...Option) (*Server, error) {
	bin, ok := findBinary("dovecot")
	if !ok {
		return nil, ErrNoDovecot
	}
	o := options{password: "secret"}
	for _, opt := range opts {
		opt(&o)
	}

	// A short path: Dovecot's unix sockets live under base_dir and
	// sun_path is limited to 108 bytes, which long test names overflow.
	dir, err := os.MkdirTemp("", "dcv")
	if err != nil {
		return nil, fmt.Errorf("dovecottest: temp dir: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("dovecottest: chmod: %w", err)
	}
	s := &Server{
		User:     "helpdesk",
		Password: o.password,
		bin:      bin,
		dir:      dir,
		conf:     filepath.Join(dir, "dovecot.conf"),
		uid:      os.Getuid(),
		gid:      os.Getgid(),
		created:  map[string]bool{},
	}
	if s.uid == 0 {
		s.uid, s.gid = nobodyID, nobodyID
	}
	fail := func(err error) (*Server, error) {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("dovecottest: %w", err)
	}
	if s.imapPort, err = freePort(); err != nil {
		return fail(err)
	}
	for s.lmtpPort == 0 || s.lmtpPort == s.imapPort {
		if s.lmtpPort, err = freePort(); err != nil {
			return fail(err)
		}
	}
	if err := s.writeConfig(); err != nil {
		return fail(err)
	}
	if err := s.start(); err != nil {
		return fail(err)
	}
	return s, nil
}

// Close stops Dovecot and removes its directory.
func (s *Server) Close() {
	s.Stop()
	_ = os.RemoveAll(s.dir)
}

func findBinary(name string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	for _, d := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, true
		}
	}
	return "", false
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) writeConfig() error {
	mailDir := filepath.Join(s.dir, "mail")
	if err := os.MkdirAll(mailDir, 0o755); err != nil {
		return fmt.Errorf("mail dir: %w", err)
	}
	if err := os.Chown(mailDir, s.uid, s.gid); err != nil {
		return fmt.Errorf("chown mail dir: %w", err)
	}
	if strings.ContainsAny(s.Password, ":\n") {
		return fmt.Errorf("password of %s: ':' and newlines are not allowed", s.User)
	}
	pw := fmt.Sprintf("%s:{PLAIN}%s::::::\n", s.User, s.Password)
	if err := os.WriteFile(filepath.Join(s.dir, "passwd"), []byte(pw), 0o644); err != nil {
		return fmt.Errorf("passwd: %w", err)
	}
	var extra string
	if os.Getuid() != 0 {
		// Unprivileged run: every service runs as the current user.
		name := strconv.Itoa(os.Getuid())
		if u, err := osuser.LookupId(name); err == nil {
			name = u.Username
		}
		extra = fmt.Sprintf("default_login_user = %s\ndefault_internal_user = %s\n", name, name)
	}
	conf := fmt.Sprintf(`# generated by dovecottest
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
instance_name = dovecottest-%[2]d
listen = 127.0.0.1
protocols = imap lmtp
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
mail_uid = %[4]d
mail_gid = %[5]d
first_valid_uid = 1
first_valid_gid = 1
mail_max_userip_connections = 200
shutdown_clients = yes
# Test data: durability does not matter, speed does.
mail_fsync = never
lmtp_save_to_detail_mailbox = yes
lda_mailbox_autocreate = yes
recipient_delimiter = +
%[6]s
namespace inbox {
  inbox = yes
  separator = /
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%n %[1]s/passwd
}
userdb {
  driver = static
  args = uid=%[4]d gid=%[5]d home=%[1]s/mail/%%n
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[2]d
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 0
  }
  inet_listener pop3s {
    port = 0
  }
}
service submission-login {
  inet_listener submission {
    port = 0
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = %[3]d
  }
}
`, s.dir, s.imapPort, s.lmtpPort, s.uid, s.gid, extra)
	if err := os.WriteFile(s.conf, []byte(conf), 0o644); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

func (s *Server) start() error {
	out, err := os.OpenFile(filepath.Join(s.dir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "-F", "-c", s.conf)
	cmd.Stdin = nil // /dev/null: a foreground dovecot must not hold the test's stdio
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("start dovecot: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(exited)
	}()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	if err := s.waitReady(exited); err != nil {
		s.Stop()
		return fmt.Errorf("%w\n%s", err, s.Log())
	}
	return nil
}

// waitReady waits for the IMAP greeting (not just an open port: the login
// process answers before auth is ready) and for the LMTP banner.
func (s *Server) waitReady(exited <-chan struct{}) error {
	var lastErr error
	for range 400 { // 400 × ≤25 ms: dovecot normally starts in < 200 ms
		select {
		case <-exited:
			return errors.New("dovecot exited during start")
		default:
		}
		if lastErr = greeting(s.Addr(), "* OK", "ready"); lastErr == nil {
			if lastErr = greeting(s.LMTPAddr(), "220 ", ""); lastErr == nil {
				return nil
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("dovecot not ready: %w", lastErr)
}

func greeting(addr, prefix, contains string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	r := bufio.NewReader(c)
	for range 5 {
		line, err := r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("greeting from %s: %w", addr, err)
		}
		if strings.HasPrefix(line, prefix) && strings.Contains(line, contains) {
			return nil
		}
	}
	return fmt.Errorf("no greeting from %s", addr)
}

// Addr is the IMAP listener (host:port).
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.imapPort)) }

// LMTPAddr is the LMTP listener (host:port).
func (s *Server) LMTPAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.lmtpPort)) }

// Log returns Dovecot's log so far, for failure messages.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "dovecot.log"))
	o, _ := os.ReadFile(filepath.Join(s.dir, "stdout.log"))
	return string(b) + string(o)
}

// Stop stops Dovecot (its clients are disconnected: shutdown_clients = yes)
// and waits for it to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	pgid := cmd.Process.Pid
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
	// Children left behind (they share the process group we created) must
	// not outlive the test.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// Restart stops and starts Dovecot on the same ports with the same data. It
// panics if Dovecot does not come back (RestartErr returns the error).
func (s *Server) Restart() {
	if err := s.RestartErr(); err != nil {
		panic(err)
	}
}

// RestartErr is Restart returning the error.
func (s *Server) RestartErr() error {
	s.Stop()
	if err := s.start(); err != nil {
		return fmt.Errorf("dovecottest: restart: %w", err)
	}
	return nil
}

// Doveadm runs doveadm against this server and returns its stdout; a failure
// fails the test.
func (s *Server) Doveadm(t testing.TB, args ...string) string {
	t.Helper()
	out, err := s.DoveadmErr(args...)
	if err != nil {
		t.Fatalf("dovecottest: %v", err)
	}
	return out
}

// DoveadmErr is Doveadm returning the error instead of failing the test.
func (s *Server) DoveadmErr(args ...string) (string, error) {
	bin, _ := findBinary("doveadm") // none: Run fails and says so
	cmd := exec.Command(bin, append([]string{"-c", s.conf}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("doveadm %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// Deliver delivers raw to rcpt over LMTP (rcpt without a domain gets one;
// "helpdesk+Folder" files into Folder, created on demand).
func (s *Server) Deliver(t testing.TB, rcpt string, raw []byte) {
	t.Helper()
	if err := s.DeliverErr(rcpt, raw); err != nil {
		t.Fatalf("dovecottest: %v", err)
	}
}

// DeliverErr is Deliver returning the error, for use outside the test goroutine.
func (s *Server) DeliverErr(rcpt string, raw []byte) error {
	if !strings.Contains(rcpt, "@") {
		rcpt += "@test.invalid"
	}
	conn, err := net.DialTimeout("tcp", s.LMTPAddr(), 5*time.Second)
	if err != nil {
		return fmt.Errorf("lmtp dial: %w", err)
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		return fmt.Errorf("lmtp LHLO: %w", err)
	}
	if err := c.Mail("sender@test.invalid", nil); err != nil {
		return fmt.Errorf("lmtp MAIL: %w", err)
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		return fmt.Errorf("lmtp RCPT %s: %w", rcpt, err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("lmtp DATA: %w", err)
	}
	if _, err := w.Write(raw); err != nil {
		return fmt.Errorf("lmtp DATA write: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("lmtp DATA end: %w", err)
	}
	return c.Quit()
}

// maildirFlag maps IMAP system flags to Maildir info letters.
var maildirFlag = map[string]byte{
	`\draft`: 'D', `\flagged`: 'F', `\answered`: 'R', `\seen`: 'S', `\deleted`: 'T',
}

// Append stores raw in mailbox of the default user. With system flags only
// (or none) it writes the Maildir file directly, which is fast enough to seed
// 10,000 messages in seconds; Dovecot assigns UIDs at its next sync (call
// Resync to force it). Keywords go through IMAP APPEND.
func (s *Server) Append(t testing.TB, mailbox string, raw []byte, flags ...string) {
	t.Helper()
	var letters []byte
	for _, f := range flags {
		l, ok := maildirFlag[strings.ToLower(f)]
		if !ok {
			s.appendIMAP(t, mailbox, raw, flags)
			return
		}
		letters = append(letters, l)
	}
	dir := s.maildir(t, mailbox)
	n := s.seq.Add(1)
	now := time.Now()
	// S= and W= (the physical and the CRLF size) as Dovecot's own delivery
	// writes them: without W= every SEARCH LARGER or RFC822.SIZE makes
	// Dovecot read the whole file, which real mailboxes never cost.
	virtual := len(raw) + bytes.Count(raw, []byte("\n")) - bytes.Count(raw, []byte("\r\n"))
	name := fmt.Sprintf("%d.M%dP%dQ%d.dovecottest,S=%d,W=%d", now.Unix(), now.Nanosecond()/1000, os.Getpid(), n, len(raw), virtual)
	tmp := filepath.Join(dir, "tmp", name)
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		t.Fatalf("dovecottest: append: %v", err)
	}
	if err := os.Chown(tmp, s.uid, s.gid); err != nil {
		t.Fatalf("dovecottest: append: %v", err)
	}
	dst := filepath.Join(dir, "new", name)
	if len(letters) > 0 {
		slices.Sort(letters)
		dst = filepath.Join(dir, "cur", name+":2,"+string(letters))
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatalf("dovecottest: append: %v", err)
	}
}

// maildir returns mailbox's Maildir++ directory, creating the mailbox
// through doveadm the first time so that Dovecot's mailbox list knows it.
func (s *Server) maildir(t testing.TB, mailbox string) string {
	t.Helper()
	root := filepath.Join(s.dir, "mail", s.User, "Maildir")
	s.mu.Lock()
	known := s.created[mailbox]
	s.mu.Unlock()
	dir := root
	if !strings.EqualFold(mailbox, "INBOX") {
		dir = filepath.Join(root, "."+strings.ReplaceAll(mailbox, "/", "."))
	}
	if known {
		return dir
	}
	if strings.EqualFold(mailbox, "INBOX") {
		// Let Dovecot create the user's root with its own ownership.
		s.Doveadm(t, "mailbox", "status", "-u", s.User, "messages", "INBOX")
	} else if _, err := s.DoveadmErr("mailbox", "create", "-u", s.User, mailbox); err != nil {
		if _, err2 := os.Stat(dir); err2 != nil {
			t.Fatalf("dovecottest: %v", err)
		}
	}
	for _, sub := range []string{"cur", "new", "tmp"} {
		p := filepath.Join(dir, sub)
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatalf("dovecottest: %v", err)
		}
		if err := os.Chown(p, s.uid, s.gid); err != nil {
			t.Fatalf("dovecottest: %v", err)
		}
	}
	s.mu.Lock()
	s.created[mailbox] = true
	s.mu.Unlock()
	return dir
}

func (s *Server) appendIMAP(t testing.TB, mailbox string, raw []byte, flags []string) {
	t.Helper()
	c := s.clientAt(t, s.Addr())
	defer c.Close()
	_ = c.Create(mailbox, nil).Wait() // may exist
	fl := make([]imap.Flag, len(flags))
	for i, f := range flags {
		fl[i] = imap.Flag(f)
	}
	cmd := c.Append(mailbox, int64(len(raw)), &imap.AppendOptions{Flags: fl})
	if _, err := cmd.Write(raw); err != nil {
		t.Fatalf("dovecottest: append: %v", err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatalf("dovecottest: append: %v", err)
	}
	if _, err := cmd.Wait(); err != nil {
		t.Fatalf("dovecottest: append: %v", err)
	}
}

// Resync makes Dovecot assign UIDs to Maildir files written by Append.
func (s *Server) Resync(t testing.TB, mailbox string) {
	t.Helper()
	s.Doveadm(t, "force-resync", "-u", s.User, mailbox)
}

// SetUIDValidity changes mailbox's UIDVALIDITY (the UIDVALIDITY test).
func (s *Server) SetUIDValidity(t testing.TB, mailbox string, v uint32) {
	t.Helper()
	s.Doveadm(t, "mailbox", "update", "-u", s.User, "--uid-validity", strconv.FormatUint(uint64(v), 10), mailbox)
}

// Client returns an IMAP client logged in as the default user; it is closed
// when the test ends.
func (s *Server) Client(t testing.TB) *imapclient.Client {
	t.Helper()
	c := s.clientAt(t, s.Addr())
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// BareFetch is the benchmarks' baseline client: it connects to addr (the
// server, or a proxy in front of it), logs in as the default user, selects
// mailbox read-only and fetches BODY.PEEK[] of UIDs 1..n in batches, one
// after the other. It returns the client, still logged in (closed when the
// test ends), and how many messages came back.
func (s *Server) BareFetch(t testing.TB, addr, mailbox string, n, batch int) (*imapclient.Client, int) {
	t.Helper()
	c := s.clientAt(t, addr)
	t.Cleanup(func() { _ = c.Close() })
	if _, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatalf("dovecottest: select %s: %v", mailbox, err)
	}
	fetched := 0
	for lo := 1; lo <= n; lo += batch {
		var set imap.UIDSet
		set.AddRange(imap.UID(lo), imap.UID(min(lo+batch-1, n)))
		msgs, err := c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
		if err != nil {
			t.Fatalf("dovecottest: fetch: %v", err)
		}
		fetched += len(msgs)
	}
	return c, fetched
}

// clientAt returns an IMAP client connected to addr and logged in as the
// default user.
func (s *Server) clientAt(t testing.TB, addr string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatalf("dovecottest: dial: %v", err)
	}
	if err := c.Login(s.User, s.Password).Wait(); err != nil {
		c.Close()
		t.Fatalf("dovecottest: login %s: %v", s.User, err)
	}
	return c
}

// Message is a message read back by Fetch.
type Message struct {
	UID   uint32
	Flags []string // system flags and keywords, as the server reports them
	Raw   []byte
}

// HasFlag reports whether m carries flag (case-insensitive).
func (m Message) HasFlag(flag string) bool {
	return slices.ContainsFunc(m.Flags, func(f string) bool { return strings.EqualFold(f, flag) })
}

// Fetch reads every message of mailbox (read-only: EXAMINE, BODY.PEEK), in
// UID order. A mailbox that does not exist has no messages.
func (s *Server) Fetch(t testing.TB, mailbox string) []Message {
	t.Helper()
	c := s.clientAt(t, s.Addr())
	defer c.Close()
	sel, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		var ie *imap.Error
		// Dovecot 2.3 sends no [NONEXISTENT] code for a missing Maildir folder.
		if errors.As(err, &ie) && (ie.Code == imap.ResponseCodeNonExistent || strings.Contains(ie.Text, "doesn't exist")) {
			return nil
		}
		t.Fatalf("dovecottest: examine %s: %v", mailbox, err)
	}
	if sel.NumMessages == 0 {
		return nil
	}
	var all imap.UIDSet
	all.AddRange(1, 0) // 1:*
	bufs, err := c.Fetch(all, &imap.FetchOptions{
		UID: true, Flags: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}).Collect()
	if err != nil {
		t.Fatalf("dovecottest: fetch %s: %v", mailbox, err)
	}
	msgs := make([]Message, 0, len(bufs))
	for _, b := range bufs {
		m := Message{UID: uint32(b.UID)}
		for _, f := range b.Flags {
			m.Flags = append(m.Flags, string(f))
		}
		for _, sec := range b.BodySection {
			m.Raw = sec.Bytes
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// Count returns the number of messages in mailbox (0 if it does not exist).
func (s *Server) Count(t testing.TB, mailbox string) int {
	t.Helper()
	out, err := s.DoveadmErr("-f", "flow", "mailbox", "status", "-u", s.User, "messages", mailbox)
	if err != nil {
		if strings.Contains(err.Error(), "exist") {
			return 0
		}
		t.Fatalf("dovecottest: %v", err)
	}
	_, v, _ := strings.Cut(out, "messages=")
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		t.Fatalf("dovecottest: mailbox status %q: %v", out, err)
	}
	return n
}

// CountWithout returns the number of messages in mailbox that lack keyword
// (doveadm search: cheap enough to poll, unlike a full FETCH).
func (s *Server) CountWithout(t testing.TB, mailbox, keyword string) int {
	t.Helper()
	out := s.Doveadm(t, "-f", "flow", "search", "-u", s.User, "mailbox", mailbox, "UNKEYWORD", keyword)
	return strings.Count(out, "\n")
}

// CPUTime is the CPU time (user + system) Dovecot has used so far: every
// live process of its process group plus the children its master reaped.
// Benchmarks compare it with the client's to show where the cores went.
func (s *Server) CPUTime(t testing.TB) time.Duration {
	t.Helper()
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd == nil {
		t.Fatal("dovecottest: cpu time: not running")
	}
	pgid := cmd.Process.Pid
	procs, err := procfs.AllProcs()
	if err != nil {
		t.Fatalf("dovecottest: cpu time: %v", err)
	}
	var ticks int64
	for _, p := range procs {
		st, err := p.Stat()
		if err != nil || st.PGRP != pgid {
			continue // exited meanwhile, or not Dovecot's
		}
		ticks += int64(st.UTime + st.STime)
		if p.PID == pgid {
			ticks += int64(st.CUTime + st.CSTime) // the master also counts its reaped children
		}
	}
	// Linux reports clock ticks of 1/100 s (USER_HZ) on every platform Go
	// supports.
	return time.Duration(ticks) * 10 * time.Millisecond
}
