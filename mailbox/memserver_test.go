package mailbox

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"log"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"

	"github.com/triage-dev/triage/internal/testkit"
)

// memServer is go-imap's in-memory server on a loopback port.
type memServer struct {
	addr string
	user string
	pass string
	o    memOptions
}

type memOptions struct {
	caps      imap.CapSet
	tls       *tls.Config // implicit TLS listener
	startTLS  *tls.Config // STARTTLS (plain auth refused before it)
	wrapSess  func(imapserver.Session) imapserver.Session
	clientTLS *tls.Config // for the test's own client when tls or startTLS is set
}

func startMem(t testing.TB, o memOptions) *memServer {
	t.Helper()
	mem := imapmemserver.New()
	u := imapmemserver.NewUser("helpdesk", "secret")
	if err := u.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(u)
	caps := o.caps
	if caps == nil {
		caps = imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}, imap.CapMove: {}}
	}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			var s imapserver.Session = mem.NewSession()
			if o.wrapSess != nil {
				s = o.wrapSess(s)
			}
			return s, nil, nil
		},
		Caps:         caps,
		TLSConfig:    o.startTLS,
		InsecureAuth: o.startTLS == nil,
		Logger:       log.New(discard{}, "", 0),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.tls != nil {
		ln = tls.NewListener(ln, o.tls)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return &memServer{addr: ln.Addr().String(), user: "helpdesk", pass: "secret", o: o}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func (m *memServer) client(t testing.TB) *imapclient.Client {
	t.Helper()
	var (
		c   *imapclient.Client
		err error
	)
	opts := &imapclient.Options{TLSConfig: m.o.clientTLS}
	switch {
	case m.o.tls != nil:
		c, err = imapclient.DialTLS(m.addr, opts)
	case m.o.startTLS != nil:
		c, err = imapclient.DialStartTLS(m.addr, opts)
	default:
		c, err = imapclient.DialInsecure(m.addr, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(m.user, m.pass).Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

func (m *memServer) append(t testing.TB, mailbox string, raw []byte) {
	t.Helper()
	c := m.client(t)
	defer c.Close()
	cmd := c.Append(mailbox, int64(len(raw)), nil)
	if _, err := cmd.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}

// read returns mail id → flags of mailbox (nil if it does not exist).
func (m *memServer) read(t testing.TB, mailbox string) map[int][]imap.Flag {
	t.Helper()
	c := m.client(t)
	defer c.Close()
	sel, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil
	}
	out := map[int][]imap.Flag{}
	if sel.NumMessages == 0 {
		return out
	}
	var all imap.UIDSet
	all.AddRange(1, 0)
	bufs, err := c.Fetch(all, &imap.FetchOptions{Flags: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bufs {
		for _, s := range b.BodySection {
			out[mailID(s.Bytes)] = b.Flags
		}
	}
	return out
}

func (m *memServer) config() Config {
	return Config{
		Name:          "mem",
		Addr:          m.addr,
		TLS:           TLSNone,
		Username:      m.user,
		Secret:        func(context.Context) (string, error) { return m.pass, nil },
		Timeout:       5 * time.Second,
		ShutdownGrace: time.Second,
		RetryBackoff:  20 * time.Millisecond,
		ReconnectMin:  20 * time.Millisecond,
		ReconnectMax:  200 * time.Millisecond,
		PollInterval:  50 * time.Millisecond,
	}
}

// rewriteConn rewrites whole lines the server sends (tests only: it would
// also rewrite message bodies).
type rewriteConn struct {
	net.Conn
	r       *bufio.Reader
	pending []byte
	err     error
	rewrite func(line []byte) []byte
}

func (c *rewriteConn) Read(p []byte) (int, error) {
	if len(c.pending) == 0 {
		if c.err != nil {
			err := c.err
			c.err = nil
			return 0, err
		}
		line, err := c.r.ReadBytes('\n')
		c.pending, c.err = c.rewrite(line), err
		if len(c.pending) == 0 {
			c.err = nil
			return 0, err
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// rewritingDial returns a Config.Dial that applies rewrite to server lines.
func rewritingDial(rewrite func([]byte) []byte) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &rewriteConn{Conn: c, r: bufio.NewReader(c), rewrite: rewrite}, nil
	}
}

func TestPollWithoutIdleOrMove(t *testing.T) {
	m := startMem(t, memOptions{caps: imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}}})
	for i := range 3 {
		m.append(t, "INBOX", testMail(i, "early"))
	}
	m.append(t, "INBOX", testMail(9, "quarantine me"))
	cfg := m.config()
	cfg.Dial = rewritingDial(func(line []byte) []byte {
		if bytes.Contains(line, []byte("CAPABILITY")) {
			return bytes.ReplaceAll(line, []byte(" IDLE"), nil)
		}
		return line
	})
	var idled atomic.Bool
	rec := newRecorder(func(_ context.Context, msg *Message, _ int) Outcome {
		if strings.Contains(string(msg.Raw), "quarantine me") {
			return Outcome{Verdict: Quarantine, Reason: "test"}
		}
		return Outcome{Verdict: Done}
	})
	r := start(t, cfg, rec.handle, Events{Idle: func(_, _ string, on bool) {
		if on {
			idled.Store(true)
		}
	}})
	waitFor(t, "backlog", func() bool { return rec.doneCount() == 3 })
	waitFor(t, "polling", func() bool { return r.a.Status().Mailboxes[0].State == StatePolling })
	for i := 3; i < 6; i++ {
		m.append(t, "INBOX", testMail(i, "polled"))
	}
	waitFor(t, "polled mail", func() bool { return rec.doneCount() == 6 })
	waitFor(t, "applied", func() bool {
		st := r.a.Status().Mailboxes[0]
		return st.Done == 6 && st.Quarantined == 1
	})
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if idled.Load() {
		t.Error("entered IDLE on a server without IDLE")
	}
	inbox := m.read(t, "INBOX")
	if len(inbox) != 6 {
		t.Errorf("INBOX holds %d messages, want 6 (quarantined one moved by COPY+EXPUNGE)", len(inbox))
	}
	for id, flags := range inbox {
		if !hasFlag(flags, DefaultDoneKeyword) || hasFlag(flags, imap.FlagSeen) {
			t.Errorf("message %d flags %v", id, flags)
		}
	}
	if q := m.read(t, DefaultQuarantine); len(q) != 1 {
		t.Errorf("quarantine holds %d messages, want 1", len(q))
	}
}

func TestNoKeywordsMovesToDoneFolder(t *testing.T) {
	m := startMem(t, memOptions{})
	for i := range 4 {
		m.append(t, "INBOX", testMail(i, "m365"))
	}
	cfg := m.config()
	// Microsoft 365 behaviour: PERMANENTFLAGS without \*.
	cfg.Dial = rewritingDial(func(line []byte) []byte {
		if bytes.Contains(line, []byte("PERMANENTFLAGS")) {
			return bytes.ReplaceAll(line, []byte(`\*`), nil)
		}
		return line
	})
	rec := newRecorder(nil)
	r := start(t, cfg, rec.handle, Events{})
	waitFor(t, "applied", func() bool { return r.a.Status().Mailboxes[0].Done == 4 })
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if inbox := m.read(t, "INBOX"); len(inbox) != 0 {
		t.Errorf("INBOX still holds %d messages", len(inbox))
	}
	done := m.read(t, DefaultDoneFolder)
	if len(done) != 4 {
		t.Errorf("%s holds %d messages, want 4", DefaultDoneFolder, len(done))
	}
	for id, flags := range done {
		if hasFlag(flags, DefaultDoneKeyword) {
			t.Errorf("message %d got the keyword although the server stores none", id)
		}
	}
}

// blackhole lets a test make a connection silently dead.
type blackhole struct {
	mu     sync.Mutex
	conns  []*holeConn
	frozen atomic.Bool
}

type holeConn struct {
	net.Conn
	b *blackhole
}

func (c *holeConn) Read(p []byte) (int, error) {
	for {
		n, err := c.Conn.Read(p)
		if !c.b.frozen.Load() || err != nil {
			return n, err
		}
		// frozen: swallow what the server says
	}
}

func (c *holeConn) Write(p []byte) (int, error) {
	if c.b.frozen.Load() {
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (b *blackhole) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	hc := &holeConn{Conn: c, b: b}
	b.mu.Lock()
	b.conns = append(b.conns, hc)
	b.mu.Unlock()
	return hc, nil
}

func TestDeadConnectionDetected(t *testing.T) {
	m := startMem(t, memOptions{})
	cfg := m.config()
	cfg.Timeout = 200 * time.Millisecond
	cfg.IdleRestart = 200 * time.Millisecond
	var hole blackhole
	cfg.Dial = hole.dial
	var ups, idles atomic.Int32
	rec := newRecorder(nil)
	start(t, cfg, rec.handle, Events{
		Connected: func(_, _ string, up bool, _ error) {
			if up {
				ups.Add(1)
			}
		},
		Idle: func(_, _ string, on bool) {
			if on {
				idles.Add(1)
			}
		},
	})
	waitFor(t, "idle", func() bool { return idles.Load() >= 1 })
	hole.frozen.Store(true)
	waitFor(t, "the dead connection dropped", func() bool {
		hole.mu.Lock()
		defer hole.mu.Unlock()
		return len(hole.conns) >= 2 // a reconnect was dialled
	})
	hole.frozen.Store(false)
	waitFor(t, "reconnected", func() bool { return ups.Load() >= 2 })
	m.append(t, "INBOX", testMail(1, "after"))
	waitFor(t, "mail after reconnect", func() bool { return rec.doneCount() == 1 })
}

func TestAuthFailureKeepsSecretOutOfErrors(t *testing.T) {
	m := startMem(t, memOptions{})
	cfg := m.config()
	const wrong = "hunter2-wrong-password"
	cfg.Secret = func(context.Context) (string, error) { return wrong, nil }
	var lastErr atomic.Value
	r := start(t, cfg, func(context.Context, *Message) Outcome { return Outcome{Verdict: Done} }, Events{
		Connected: func(_, _ string, up bool, err error) {
			if err != nil {
				lastErr.Store(err.Error())
			}
		},
	})
	waitFor(t, "an auth error", func() bool { return r.a.Status().LastError != "" })
	st := r.a.Status()
	if !strings.Contains(st.LastError, "authentication failed") {
		t.Errorf("LastError = %q", st.LastError)
	}
	for _, s := range []string{st.LastError, st.Mailboxes[0].LastError, lastErr.Load().(string)} {
		if strings.Contains(s, wrong) {
			t.Errorf("an error reveals the secret: %q", s)
		}
	}
}

func TestTLS(t *testing.T) {
	cert, pool := testkit.SelfSignedCert(t)
	srvTLS := &tls.Config{Certificates: []tls.Certificate{cert}}
	tests := []struct {
		name     string
		mode     string
		trust    bool
		insecure bool
		wantOK   bool
	}{
		{"implicit trusted", TLSImplicit, true, false, true},
		{"implicit untrusted", TLSImplicit, false, false, false},
		{"implicit skip verify", TLSImplicit, false, true, true},
		{"starttls trusted", TLSStartTLS, true, false, true},
		{"starttls untrusted", TLSStartTLS, false, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clientTLS := &tls.Config{RootCAs: pool}
			o := memOptions{tls: srvTLS, clientTLS: clientTLS}
			if tc.mode == TLSStartTLS {
				o = memOptions{startTLS: srvTLS, clientTLS: clientTLS}
			}
			m := startMem(t, o)
			m.append(t, "INBOX", testMail(1, "tls"))
			cfg := m.config()
			cfg.TLS = tc.mode
			cfg.InsecureSkipVerify = tc.insecure
			if tc.trust {
				cfg.TLSConfig = &tls.Config{RootCAs: pool}
			}
			rec := newRecorder(nil)
			r := start(t, cfg, rec.handle, Events{})
			if tc.wantOK {
				waitFor(t, "mail over TLS", func() bool { return rec.doneCount() == 1 })
				return
			}
			waitFor(t, "a TLS error", func() bool { return r.a.Status().LastError != "" })
			if msg := r.a.Status().LastError; !strings.Contains(msg, "certificate") {
				t.Errorf("LastError = %q, want a certificate error", msg)
			}
			if rec.doneCount() != 0 {
				t.Error("mail was handled over an unverified connection")
			}
		})
	}
}

// xoauth2Session adds a server-side XOAUTH2 that checks the exact initial
// response.
type xoauth2Session struct {
	imapserver.Session
	want string
}

func (s *xoauth2Session) AuthenticateMechanisms() []string { return []string{XOAuth2} }

func (s *xoauth2Session) Authenticate(mech string) (sasl.Server, error) {
	return saslServerFunc(func(resp []byte) ([]byte, bool, error) {
		if string(resp) != s.want {
			return nil, true, imapserver.ErrAuthFailed
		}
		return nil, true, s.Session.Login("helpdesk", "secret")
	}), nil
}

type saslServerFunc func([]byte) ([]byte, bool, error)

func (f saslServerFunc) Next(resp []byte) ([]byte, bool, error) { return f(resp) }

func TestXOAuth2EndToEnd(t *testing.T) {
	const token = "ya29.token-value"
	m := startMem(t, memOptions{caps: imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}}, wrapSess: func(s imapserver.Session) imapserver.Session {
		return &xoauth2Session{Session: s, want: "user=helpdesk@example.com\x01auth=Bearer " + token + "\x01\x01"}
	}})
	m.append(t, "INBOX", testMail(1, "oauth"))
	cfg := m.config()
	cfg.Auth = AuthXOAuth2
	cfg.Username = "helpdesk@example.com"
	cfg.Secret = func(context.Context) (string, error) { return token, nil }
	rec := newRecorder(nil)
	start(t, cfg, rec.handle, Events{})
	waitFor(t, "mail after XOAUTH2", func() bool { return rec.doneCount() == 1 })
}

func TestXOAuth2Client(t *testing.T) {
	c := NewXOAuth2Client("ann@example.com", "tok")
	mech, ir, err := c.Start()
	if err != nil {
		t.Fatal(err)
	}
	if mech != "XOAUTH2" || string(ir) != "user=ann@example.com\x01auth=Bearer tok\x01\x01" {
		t.Errorf("Start() = %q, %q", mech, ir)
	}
	_, err = c.Next([]byte(`{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`))
	var xe *XOAuth2Error
	if !errors.As(err, &xe) || xe.Status != "401" {
		t.Errorf("Next(error challenge) = %v", err)
	}
	if _, err := c.Next([]byte("not json")); err == nil {
		t.Error("Next(garbage) succeeded")
	}
	for _, bad := range [][2]string{{"a\x01b", "tok"}, {"a", "t\x01ok"}} {
		if _, _, err := NewXOAuth2Client(bad[0], bad[1]).Start(); err == nil {
			t.Errorf("Start accepted %q / %q", bad[0], bad[1])
		}
	}
}
