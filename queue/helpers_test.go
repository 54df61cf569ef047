package queue

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/triage-dev/triage/internal/duration"
	"github.com/triage-dev/triage/internal/testkit"
	"github.com/triage-dev/triage/ticket"
)

func testLogger() (*slog.Logger, *testkit.SyncBuffer) {
	buf := &testkit.SyncBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// waitFor polls cond for up to 10 s; it fails the test if cond never
// holds. Used to sequence outages, never to assert speed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testkit.WaitFor(t, 10*time.Second, what, cond)
}

func readMail(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "mail", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sampleTicket(raw []byte) *ticket.Ticket {
	resp := time.Date(2026, 11, 27, 10, 15, 0, 0, time.UTC)
	resolve := time.Date(2026, 11, 27, 13, 0, 0, 0, time.UTC)
	return &ticket.Ticket{
		ID:         "0123456789abcdef0123456789abcdef",
		MessageID:  "<20261127100000.1234@example.com>",
		ReceivedAt: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC),
		Source:     ticket.Source{Account: "helpdesk", Mailbox: "INBOX", UID: 42, UIDValidity: 7},
		From:       ticket.Address{Name: "Ann Example", Address: "ann@example.com"},
		To:         []ticket.Address{{Address: "helpdesk@example.com"}},
		Subject:    "VPN drops every few minutes since the update this morning",
		Body:       "Hi,\n\nthe VPN drops every few minutes. Error 0x80070005 in the client log.\n\"quoted\" <tag> & done",
		Class: ticket.Classification{
			Tier: "L2", Priority: "P2", Queue: "systems", Runbook: "kb/vpn", Action: "forward",
			Tags:    []string{"network"},
			Fields:  map[string]string{"error_code": "0x80070005"},
			SLA:     ticket.SLA{ResponseDue: &resp, ResolveDue: &resolve},
			Matched: []ticket.MatchedRule{{Rule: "network", Description: "VPN, DNS, wifi"}, {Rule: "error-codes"}},
		},
		Raw: raw,
	}
}

// selfSignedTLS returns a server config for 127.0.0.1 and a pool trusting it.
func selfSignedTLS(t testing.TB) (*tls.Config, *x509.CertPool) {
	cert, pool := testkit.SelfSignedCert(t)
	return &tls.Config{Certificates: []tls.Certificate{cert}}, pool
}

// received is one message a test mail server accepted.
type received struct {
	From string
	To   []string
	Data []byte
	User string // authenticated user, if any
}

// mailServer is a real go-smtp server (SMTP or LMTP) on 127.0.0.1.
type mailServer struct {
	mu       sync.Mutex
	msgs     []received
	rcptErr  map[string]error // RCPT answer per address
	dataErr  map[string]error // LMTP per-recipient answer after DATA (or the SMTP answer under key "")
	user     string
	password string

	srv  *smtp.Server
	addr string
}

func (m *mailServer) messages() []received {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]received(nil), m.msgs...)
}

func (m *mailServer) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &mailSession{srv: m}, nil
}

type mailSession struct {
	srv  *mailServer
	from string
	to   []string
	user string
}

func (s *mailSession) Reset()        { s.from, s.to = "", nil }
func (s *mailSession) Logout() error { return nil }
func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.user != "" && s.user == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	s.from = from
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.srv.mu.Lock()
	err := s.srv.rcptErr[to]
	s.srv.mu.Unlock()
	if err != nil {
		return err
	}
	s.to = append(s.to, to)
	return nil
}

func (s *mailSession) store(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	if err := s.srv.dataErr[""]; err != nil {
		return err
	}
	s.srv.msgs = append(s.srv.msgs, received{From: s.from, To: append([]string(nil), s.to...), Data: b, User: s.user})
	return nil
}

func (s *mailSession) Data(r io.Reader) error { return s.store(r) }

func (s *mailSession) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	if err := s.store(r); err != nil {
		return err
	}
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	for _, rcpt := range s.to {
		status.SetStatus(rcpt, s.srv.dataErr[rcpt])
	}
	return nil
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.srv.user || pass != s.srv.password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		s.user = user
		return nil
	}), nil
}

type mailServerOpts struct {
	lmtp      bool
	tls       *tls.Config // STARTTLS (or implicit when implicitTLS)
	implicit  bool
	user      string
	password  string
	addr      string // listen here instead of a random port
	noListen  bool   // pick an address but do not listen yet (outage tests)
	insecAuth bool
}

// startMailServer runs a go-smtp server until the test ends.
func startMailServer(t testing.TB, o mailServerOpts) *mailServer {
	t.Helper()
	m := &mailServer{user: o.user, password: o.password, rcptErr: map[string]error{}, dataErr: map[string]error{}}
	addr := o.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if o.noListen {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		m.addr = l.Addr().String()
		_ = l.Close()
		return m
	}
	m.listen(t, addr, o)
	return m
}

func (m *mailServer) listen(t testing.TB, addr string, o mailServerOpts) {
	t.Helper()
	srv := smtp.NewServer(m)
	srv.Domain = "mx.test"
	srv.LMTP = o.lmtp
	srv.TLSConfig = o.tls
	srv.AllowInsecureAuth = o.insecAuth
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = testkit.NopLogger{}
	var l net.Listener
	var err error
	if o.implicit {
		l, err = tls.Listen("tcp", addr, o.tls)
	} else {
		l, err = net.Listen("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	m.srv, m.addr = srv, l.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, smtp.ErrServerClosed) && !strings.Contains(err.Error(), "closed") {
			t.Errorf("smtp server: %v", err)
		}
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = srv.Close()
		<-done
	})
}

// recordingObserver counts Observer calls.
type recordingObserver struct {
	mu       sync.Mutex
	sent     int
	failed   map[bool]int
	retrying int // current gauge
	maxRetry int
}

func newRecordingObserver() *recordingObserver { return &recordingObserver{failed: map[bool]int{}} }

func (o *recordingObserver) Sent(string, time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent++
}

func (o *recordingObserver) Failed(_ string, temporary bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failed[temporary]++
}

func (o *recordingObserver) Retrying(_ string, delta int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.retrying += delta
	o.maxRetry = max(o.maxRetry, o.retrying)
}

func fastRetry() RetryConfig {
	return RetryConfig{Initial: duration.Duration(10 * time.Millisecond), Max: duration.Duration(50 * time.Millisecond)}
}

// forwardMessage is the forwarded message in one piece, as the peer
// receives it.
func forwardMessage(t *ticket.Ticket, tag string) []byte {
	return bytes.Join(forwardParts(t, tag), nil)
}
