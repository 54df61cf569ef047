package smtptest

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

func TestServer(t *testing.T) {
	const body = "Subject: x\r\n\r\nhello\r\n"
	refused := &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	for _, tt := range []struct {
		name     string
		opts     Options
		setup    func(*Server)
		auth     sasl.Client
		wantCode int // 0: accepted
		wantUser string
	}{
		{name: "accepts and records"},
		{name: "rcpt refused", setup: func(s *Server) { s.RefuseRcpt("a@t.test", refused) }, wantCode: 550},
		{name: "data refused", setup: func(s *Server) { s.RefuseData("", refused) }, wantCode: 550},
		{name: "auth required", opts: Options{User: "u", Password: "p", InsecureAuth: true}, wantCode: 530},
		{name: "auth wrong password", opts: Options{User: "u", Password: "p", InsecureAuth: true}, auth: sasl.NewPlainClient("", "u", "x"), wantCode: 535},
		{name: "auth", opts: Options{User: "u", Password: "p", InsecureAuth: true}, auth: sasl.NewPlainClient("", "u", "p"), wantUser: "u"},
		{name: "size limit", opts: Options{MaxMessageBytes: 8}, wantCode: 552},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := Start(t, tt.opts)
			if tt.setup != nil {
				tt.setup(s)
			}
			err := send(s.Addr, tt.auth, body)
			msgs := s.Messages()
			if tt.wantCode != 0 {
				var se *smtp.SMTPError
				if !errors.As(err, &se) || se.Code != tt.wantCode {
					t.Fatalf("err = %v, want SMTP %d", err, tt.wantCode)
				}
				if len(msgs) != 0 {
					t.Fatalf("recorded %d messages of a refused send", len(msgs))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) != 1 || msgs[0].From != "f@h.test" || strings.Join(msgs[0].To, ",") != "a@t.test" ||
				string(msgs[0].Data) != body || msgs[0].User != tt.wantUser {
				t.Fatalf("recorded %+v", msgs)
			}
		})
	}
}

// send sends body from f@h.test to a@t.test over plain SMTP.
func send(addr string, auth sasl.Client, body string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if auth != nil {
		if err := c.Auth(auth); err != nil {
			return err
		}
	}
	return c.SendMail("f@h.test", []string{"a@t.test"}, strings.NewReader(body))
}

func TestLMTPPerRecipient(t *testing.T) {
	s := Start(t, Options{LMTP: true})
	s.RefuseData("b@t.test", &smtp.SMTPError{Code: 452, Message: "over quota"})
	conn, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("f@h.test", nil); err != nil {
		t.Fatal(err)
	}
	for _, rcpt := range []string{"a@t.test", "b@t.test"} {
		if err := c.Rcpt(rcpt, nil); err != nil {
			t.Fatal(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("Subject: x\r\n\r\nhello\r\n")); err != nil {
		t.Fatal(err)
	}
	_, err = w.CloseWithLMTPResponse()
	var lerr smtp.LMTPDataError
	if !errors.As(err, &lerr) {
		t.Fatalf("err = %v, want an LMTPDataError", err)
	}
	got := map[string]int{}
	for rcpt, e := range lerr {
		got[rcpt] = e.Code
	}
	if _, ok := got["a@t.test"]; ok || got["b@t.test"] != 452 {
		t.Fatalf("refusals %v, want b 452 only", got)
	}
	if n := len(s.Messages()); n != 1 {
		t.Fatalf("%d messages recorded, want 1", n)
	}
}
