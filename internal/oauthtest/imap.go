package oauthtest

import (
	"bytes"
	"errors"
	"io"
	"log"
	"maps"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"
)

// IMAP is an in-process IMAP server (go-imap's memory backend) that
// accepts only XOAUTH2 and OAUTHBEARER with a token its Server issued,
// still live, for the user logging in.
type IMAP struct {
	Addr string
	User string // the mailbox's login name

	tokens *Server
	mem    *imapmemserver.User

	mu       sync.Mutex
	logins   map[string]int // mechanism → accepted logins
	refused  []string       // why logins were refused
	sessions int
}

// memPassword logs the checked session in to the memory backend.
const memPassword = "not-used-by-clients"

// StartIMAP serves user's mailbox (INBOX) on a loopback port.
func StartIMAP(t testing.TB, tokens *Server, user string) *IMAP {
	t.Helper()
	mem := imapmemserver.New()
	u := imapmemserver.NewUser(user, memPassword)
	if err := u.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(u)
	m := &IMAP{User: user, tokens: tokens, mem: u, logins: map[string]int{}}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			m.mu.Lock()
			m.sessions++
			m.mu.Unlock()
			return &session{SessionMove: mem.NewSession().(imapserver.SessionMove), m: m}, nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}, imap.CapMove: {}, imap.CapIdle: {}},
		InsecureAuth: true, // loopback only
		Logger:       log.New(io.Discard, "", 0),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	m.Addr = ln.Addr().String()
	return m
}

// Logins returns how many logins each mechanism had accepted.
func (m *IMAP) Logins() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.logins)
}

// Refused returns why logins were refused.
func (m *IMAP) Refused() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.refused...)
}

// Sessions counts the connections accepted.
func (m *IMAP) Sessions() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sessions
}

// Append adds a message to INBOX.
func (m *IMAP) Append(t testing.TB, raw []byte) {
	t.Helper()
	c, err := imapclient.DialInsecure(m.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tok := m.tokens.appToken()
	if err := c.Authenticate(xoauth2{user: m.User, token: tok}); err != nil {
		t.Fatal(err)
	}
	cmd := c.Append("INBOX", int64(len(raw)), nil)
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

// appToken issues an app-only access token for the test's own client.
func (s *Server) appToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := s.random("at-test")
	s.access[tok] = grant{expiry: time.Now().Add(time.Hour)}
	return tok
}

type session struct {
	imapserver.SessionMove
	m *IMAP
}

func (s *session) AuthenticateMechanisms() []string { return []string{"XOAUTH2", sasl.OAuthBearer} }

func (s *session) Authenticate(mech string) (sasl.Server, error) {
	switch strings.ToUpper(mech) {
	case "XOAUTH2":
		return xoauth2Server(func(user, token string) error { return s.check("XOAUTH2", user, token) }), nil
	case sasl.OAuthBearer:
		return sasl.NewOAuthBearerServer(func(o sasl.OAuthBearerOptions) *sasl.OAuthBearerError {
			if s.check(sasl.OAuthBearer, o.Username, o.Token) != nil {
				return &sasl.OAuthBearerError{Status: "invalid_token", Schemes: "bearer"}
			}
			return nil
		}), nil
	}
	return nil, errors.New("mechanism not supported")
}

func (s *session) check(mech, user, token string) error {
	err := s.m.tokens.Check(token, user)
	if err == nil && user != s.m.User {
		err = errors.New("no such mailbox")
	}
	s.m.mu.Lock()
	switch {
	case err != nil:
		s.m.refused = append(s.m.refused, mech+": "+err.Error())
	case !strings.HasPrefix(token, "at-test-"): // not Append's own
		s.m.logins[mech]++
	}
	s.m.mu.Unlock()
	if err != nil {
		return imapserver.ErrAuthFailed
	}
	return s.SessionMove.Login(user, memPassword)
}

// xoauth2Server is the server side of XOAUTH2, which go-sasl lacks: one
// initial response "user=" U "\x01auth=Bearer " T "\x01\x01".
type xoauth2Server func(user, token string) error

func (f xoauth2Server) Next(resp []byte) ([]byte, bool, error) {
	if resp == nil {
		return []byte{}, false, nil // ask for the initial response
	}
	fields := bytes.Split(bytes.TrimSuffix(resp, []byte("\x01\x01")), []byte("\x01"))
	var user, token string
	for _, f := range fields {
		switch {
		case bytes.HasPrefix(f, []byte("user=")):
			user = string(f[len("user="):])
		case bytes.HasPrefix(f, []byte("auth=Bearer ")):
			token = string(f[len("auth=Bearer "):])
		}
	}
	if user == "" || token == "" {
		return nil, true, errors.New("malformed XOAUTH2 response")
	}
	return nil, true, f(user, token)
}

// xoauth2 is the client side for the test's own connections.
type xoauth2 struct{ user, token string }

func (c xoauth2) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + c.user + "\x01auth=Bearer " + c.token + "\x01\x01"), nil
}

func (c xoauth2) Next([]byte) ([]byte, error) { return nil, errors.New("refused") }
