// Package smtptest runs a recording SMTP or LMTP server (go-smtp) on
// 127.0.0.1 for tests: it keeps every message it accepts and answers RCPT
// and DATA the way a test asks. It is stopped when the test ends. It knows
// nothing of triage's sinks; production code must not import it.
package smtptest

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/triage-dev/triage/internal/testkit"
)

// Message is one message the server accepted.
type Message struct {
	From string
	To   []string
	Data []byte
	User string // authenticated user, if any
}

// Options configure a Server; the zero value is a plain SMTP server on a
// random port without authentication.
type Options struct {
	LMTP         bool
	TLS          *tls.Config // STARTTLS, or implicit TLS with Implicit
	Implicit     bool
	User         string // with Password: AUTH PLAIN required before MAIL
	Password     string
	InsecureAuth bool // allow AUTH without TLS
	NoListen     bool // pick an address but do not listen until Listen (outage tests)
	// MaxMessageBytes is the SIZE limit; 0 is go-smtp's default.
	MaxMessageBytes int64
}

// Server is a running go-smtp server and what it accepted.
type Server struct {
	Addr string
	opts Options

	mu      sync.Mutex
	msgs    []Message
	rcptErr map[string]error // RCPT answer per address
	dataErr map[string]error // LMTP answer per recipient after DATA, or the SMTP answer under ""
}

// Start runs a server until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	s := &Server{opts: o, rcptErr: map[string]error{}, dataErr: map[string]error{}}
	if o.NoListen {
		s.Addr = testkit.FreeAddr(t)
		return s
	}
	s.listen(t, "127.0.0.1:0")
	return s
}

// Listen starts serving on Addr, for a server started with NoListen.
func (s *Server) Listen(t testing.TB) {
	t.Helper()
	s.listen(t, s.Addr)
}

// Messages returns the messages accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// RefuseRcpt makes RCPT TO addr answer err.
func (s *Server) RefuseRcpt(addr string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcptErr[addr] = err
}

// RefuseData makes the answer after DATA err: for LMTP the answer for
// recipient rcpt, for SMTP the answer when rcpt is "".
func (s *Server) RefuseData(rcpt string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dataErr[rcpt] = err
}

func (s *Server) listen(t testing.TB, addr string) {
	t.Helper()
	srv := smtp.NewServer(s)
	srv.Domain = "mx.test"
	srv.LMTP = s.opts.LMTP
	srv.TLSConfig = s.opts.TLS
	srv.AllowInsecureAuth = s.opts.InsecureAuth
	if s.opts.MaxMessageBytes > 0 {
		srv.MaxMessageBytes = s.opts.MaxMessageBytes
	}
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.ErrorLog = testkit.NopLogger{}
	var l net.Listener
	var err error
	if s.opts.Implicit {
		l, err = tls.Listen("tcp", addr, s.opts.TLS)
	} else {
		l, err = net.Listen("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = l.Addr().String()
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

// NewSession is smtp.Backend's.
func (s *Server) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &session{srv: s}, nil
}

type session struct {
	srv  *Server
	from string
	to   []string
	user string
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.opts.User != "" && s.user == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.srv.mu.Lock()
	err := s.srv.rcptErr[to]
	s.srv.mu.Unlock()
	if err != nil {
		return err
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	if err := s.srv.dataErr[""]; err != nil {
		return err
	}
	s.srv.msgs = append(s.srv.msgs, Message{From: s.from, To: append([]string(nil), s.to...), Data: b, User: s.user})
	return nil
}

func (s *session) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	if err := s.Data(r); err != nil {
		return err
	}
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	for _, rcpt := range s.to {
		status.SetStatus(rcpt, s.srv.dataErr[rcpt])
	}
	return nil
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.srv.opts.User || pass != s.srv.opts.Password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		s.user = user
		return nil
	}), nil
}
