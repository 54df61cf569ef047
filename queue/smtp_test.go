package queue

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-smtp"

	"github.com/triage-dev/triage/examples"
	"github.com/triage-dev/triage/internal/smtptest"
)

func TestMailForward(t *testing.T) {
	serverTLS, roots := selfSignedTLS(t)
	t.Setenv("TEST_SMTP_PASSWORD", "s3cret-pw")
	tests := []struct {
		name   string
		server smtptest.Options
		typ    string // default smtp
		cfg    SMTPConfig
		raw    string
		tag    string
	}{
		{name: "smtp plain to loopback", cfg: SMTPConfig{TLS: "none"}, raw: "vpn.eml"},
		{name: "smtp starttls with auth and tag",
			server: smtptest.Options{TLS: serverTLS, User: "triage", Password: "s3cret-pw"},
			cfg:    SMTPConfig{TLS: "starttls", SubjectTag: "[{{.Tier}}][{{.Priority}}]", credentials: credentials{Username: "triage", PasswordEnv: "TEST_SMTP_PASSWORD"}},
			raw:    "vpn.eml", tag: "[L2][P2]"},
		{name: "smtp implicit tls with auth",
			server: smtptest.Options{TLS: serverTLS, Implicit: true, User: "triage", Password: "s3cret-pw"},
			cfg:    SMTPConfig{TLS: "implicit", credentials: credentials{Username: "triage", PasswordEnv: "TEST_SMTP_PASSWORD"}},
			raw:    "encoded-subject.eml"},
		{name: "smtp auth over plain loopback",
			server: smtptest.Options{User: "triage", Password: "s3cret-pw", InsecureAuth: true},
			cfg:    SMTPConfig{TLS: "none", credentials: credentials{Username: "triage", PasswordEnv: "TEST_SMTP_PASSWORD"}},
			raw:    "no-subject.eml"},
		{name: "lmtp", server: smtptest.Options{LMTP: true},
			typ: "lmtp", cfg: SMTPConfig{SubjectTag: "[{{.Class.Tier}}]"}, raw: "vpn.eml", tag: "[L2]"},
		{name: "lmtp crlf message", server: smtptest.Options{LMTP: true},
			typ: "lmtp", raw: "encoded-subject.eml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, tt.server)
			log, logs := testLogger()
			cfg := tt.cfg
			cfg.Addr = srv.Addr
			cfg.To = StringList{"l2@tracker.test", "audit@tracker.test"}
			cfg.From = "triage@helpdesk.test"
			sink, err := New("systems", Config{Type: cmp.Or(tt.typ, "smtp"), Settings: &cfg}, t.TempDir(), log)
			if err != nil {
				t.Fatal(err)
			}
			defer sink.Close()
			sink.(*mailSink).rootCAs = roots

			raw := readMail(t, tt.raw)
			if strings.Contains(tt.name, "crlf") {
				raw = examples.ToCRLF(raw)
			}
			tk := sampleTicket(raw)
			if err := sink.Send(context.Background(), tk); err != nil {
				t.Fatalf("Send: %v", err)
			}
			msgs := srv.Messages()
			if len(msgs) != 1 {
				t.Fatalf("server got %d messages", len(msgs))
			}
			got := msgs[0]
			if got.From != "triage@helpdesk.test" || strings.Join(got.To, ",") != "l2@tracker.test,audit@tracker.test" {
				t.Errorf("envelope from %q to %v", got.From, got.To)
			}
			if tt.server.User != "" && got.User != "triage" {
				t.Errorf("not authenticated as triage (got %q)", got.User)
			}
			want := examples.ToCRLF(forwardMessage(tk, tt.tag))
			if !bytes.Equal(got.Data, want) {
				t.Errorf("received message differs:\n got %q\nwant %q", got.Data, want)
			}
			if tt.tag == "" && !bytes.HasSuffix(got.Data, examples.ToCRLF(raw)) {
				t.Error("original message not received byte for byte after the added headers")
			}
			if strings.Contains(logs.String(), "s3cret-pw") {
				t.Error("password in log")
			}
		})
	}
}

func TestMailErrorsClassified(t *testing.T) {
	code := func(c int) error {
		return &smtp.SMTPError{Code: c, EnhancedCode: smtp.EnhancedCode{c / 100, 0, 0}, Message: "test answer"}
	}
	tests := []struct {
		name          string
		lmtp          bool
		rcptErr       map[string]error
		dataErr       map[string]error
		wantTemporary bool
	}{
		{name: "smtp rcpt 450", rcptErr: map[string]error{"a@t.test": code(450)}, wantTemporary: true},
		{name: "smtp rcpt 550", rcptErr: map[string]error{"a@t.test": code(550)}},
		{name: "smtp data 452", dataErr: map[string]error{"": code(452)}, wantTemporary: true},
		{name: "smtp data 554", dataErr: map[string]error{"": code(554)}},
		{name: "lmtp one 550 one ok", lmtp: true, dataErr: map[string]error{"b@t.test": code(550)}},
		{name: "lmtp one 452 one ok", lmtp: true, dataErr: map[string]error{"a@t.test": code(452)}, wantTemporary: true},
		{name: "lmtp 452 and 550", lmtp: true, dataErr: map[string]error{"a@t.test": code(452), "b@t.test": code(550)}},
		{name: "lmtp rcpt 550", lmtp: true, rcptErr: map[string]error{"b@t.test": code(550)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.Options{LMTP: tt.lmtp})
			for k, v := range tt.rcptErr {
				srv.RefuseRcpt(k, v)
			}
			for k, v := range tt.dataErr {
				srv.RefuseData(k, v)
			}
			typ := "smtp"
			if tt.lmtp {
				typ = "lmtp"
			}
			sink, err := New("q", Config{Type: typ, Settings: &SMTPConfig{Addr: srv.Addr, TLS: "none", From: "triage@h.test", To: StringList{"a@t.test", "b@t.test"}}}, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			err = sink.Send(context.Background(), sampleTicket(readMail(t, "vpn.eml")))
			var qe *Error
			if !errors.As(err, &qe) {
				t.Fatalf("want *Error, got %v", err)
			}
			if qe.Temporary != tt.wantTemporary || Temporary(err) != tt.wantTemporary {
				t.Errorf("temporary = %v, want %v (%v)", qe.Temporary, tt.wantTemporary, err)
			}
		})
	}
}

func TestMailConnectionErrors(t *testing.T) {
	down := smtptest.Start(t, smtptest.Options{NoListen: true})
	plain := smtptest.Start(t, smtptest.Options{}) // no STARTTLS offered
	serverTLS, roots := selfSignedTLS(t)
	authSrv := smtptest.Start(t, smtptest.Options{TLS: serverTLS, User: "triage", Password: "right"})
	t.Setenv("TEST_WRONG_PW", "pw-9f3k2")
	tests := []struct {
		name string
		cfg  SMTPConfig
	}{
		{"nobody listening", SMTPConfig{Addr: down.Addr, TLS: "none"}},
		{"starttls not offered", SMTPConfig{Addr: plain.Addr, TLS: "starttls"}},
		{"tls to a plain server", SMTPConfig{Addr: plain.Addr, TLS: "implicit"}},
		{"untrusted certificate", SMTPConfig{Addr: authSrv.Addr, TLS: "starttls"}},
		{"wrong password", SMTPConfig{Addr: authSrv.Addr, TLS: "starttls", credentials: credentials{Username: "triage", PasswordEnv: "TEST_WRONG_PW"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.From, cfg.To = "triage@h.test", StringList{"a@t.test"}
			sink, err := New("q", Config{Type: "smtp", Settings: &cfg}, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.name != "untrusted certificate" {
				sink.(*mailSink).rootCAs = roots
			}
			err = sink.Send(context.Background(), sampleTicket(readMail(t, "vpn.eml")))
			if err == nil || !Temporary(err) {
				t.Fatalf("want a temporary error, got %v", err)
			}
			if strings.Contains(err.Error(), "pw-9f3k2") {
				t.Errorf("error reveals the password: %v", err)
			}
		})
	}
	if n := len(authSrv.Messages()) + len(plain.Messages()); n != 0 {
		t.Errorf("%d messages delivered despite errors", n)
	}
}

func TestMailConfigRules(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // substring of one problem; "" = valid
	}{
		{"valid", Config{Type: "smtp", Settings: &SMTPConfig{Addr: "mx.test:587", To: StringList{"a@t.test"}, From: "t@h.test"}}, ""},
		{"from defaults to username", Config{Type: "smtp", Settings: &SMTPConfig{Addr: "mx.test:587", To: StringList{"a@t.test"}, credentials: credentials{Username: "me@h.test", PasswordEnv: "X"}}}, ""},
		{"no from", Config{Type: "smtp", Settings: &SMTPConfig{Addr: "mx.test:587", To: StringList{"a@t.test"}}}, "from is required"},
		{"auth without tls to remote", Config{Type: "smtp", Settings: &SMTPConfig{Addr: "mx.test:25", TLS: "none", To: StringList{"a@t.test"}, From: "t@h.test", credentials: credentials{Username: "u", PasswordEnv: "X"}}}, "without TLS"},
		{"auth without tls to loopback", Config{Type: "smtp", Settings: &SMTPConfig{Addr: "127.0.0.1:25", TLS: "none", To: StringList{"a@t.test"}, From: "t@h.test", credentials: credentials{Username: "u", PasswordEnv: "X"}}}, ""},
		{"no password source", Config{Type: "smtp", Settings: &SMTPConfig{Addr: "mx.test:587", To: StringList{"a@t.test"}, From: "t@h.test", credentials: credentials{Username: "u"}}}, "password_env"},
		{"bad tls", Config{Type: "smtp", Settings: &SMTPConfig{Addr: "mx.test:587", To: StringList{"a@t.test"}, From: "t@h.test", TLS: "maybe"}}, "tls"},
		{"no port", Config{Type: "smtp", Settings: &SMTPConfig{Addr: "mx.test", To: StringList{"a@t.test"}, From: "t@h.test"}}, "host:port"},
		{"no to", Config{Type: "smtp", Settings: &SMTPConfig{Addr: "mx.test:25", From: "t@h.test"}}, "needs to"},
		{"injected address", Config{Type: "smtp", Settings: &SMTPConfig{Addr: "mx.test:25", From: "t@h.test", To: StringList{"a@t.test>\r\nRCPT TO:<b@x"}}}, "envelope address"},
		{"lmtp unix socket", Config{Type: "lmtp", Settings: &SMTPConfig{Addr: "/run/dovecot/lmtp", From: "t@h.test", To: StringList{"a@t.test"}}}, ""},
		{"smtp unix socket", Config{Type: "smtp", Settings: &SMTPConfig{Addr: "unix:/x", From: "t@h.test", To: StringList{"a@t.test"}}}, "only supported for lmtp"},
		{"bad tag template", Config{Type: "smtp", Settings: &SMTPConfig{Addr: "mx.test:25", From: "t@h.test", To: StringList{"a@t.test"}, SubjectTag: "[{{.Tier}"}}, "subject_tag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems := ValidateConfig("q", tt.cfg)
			if tt.want == "" {
				if len(problems) > 0 {
					t.Errorf("unexpected problems: %v", problems)
				}
				return
			}
			if !strings.Contains(strings.Join(problems, "\n"), tt.want) {
				t.Errorf("problems %v lack %q", problems, tt.want)
			}
		})
	}
}

func TestMailOutageThenRecovery(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{NoListen: true})
	log, logs := testLogger()
	cfg := Config{Type: "smtp", Retry: fastRetry(), Settings: &SMTPConfig{Addr: srv.Addr, TLS: "none", From: "triage@h.test", To: StringList{"a@t.test"}}}
	sink, err := New("helpdesk", cfg, "", log)
	if err != nil {
		t.Fatal(err)
	}
	obs := newRecordingObserver()
	r := NewRouter(map[string]Sink{"helpdesk": sink}, map[string]Config{"helpdesk": cfg}, log, obs)
	tk := sampleTicket(readMail(t, "vpn.eml"))
	tk.Class.Queue = "helpdesk"
	done := make(chan error, 1)
	go func() { done <- r.Deliver(context.Background(), tk) }()

	waitFor(t, "a logged retry", func() bool { return strings.Count(logs.String(), "will retry") >= 2 })
	srv.Listen(t)
	if err := <-done; err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("server got %d messages, want 1", n)
	}
	l := logs.String()
	for _, want := range []string{"queue=helpdesk", "ticket=" + tk.ID, "attempt=1", "next=", "connection refused", "delivered after retries"} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %q:\n%s", want, l)
		}
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.sent != 1 || obs.failed[true] < 2 || obs.retrying != 0 || obs.maxRetry != 1 {
		t.Errorf("observer: sent %d failed %v retrying %d (max %d)", obs.sent, obs.failed, obs.retrying, obs.maxRetry)
	}
}

// TestMailHostileTicketOverSMTP sends rule outputs and a subject full of
// CR, LF, NUL and 5,000-char values through a real server and parses what
// arrived.
func TestMailHostileTicketOverSMTP(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	sink, err := New("q", Config{Type: "smtp", Settings: &SMTPConfig{Addr: srv.Addr, TLS: "none", From: "t@h.test", To: StringList{"a@t.test"}, SubjectTag: "[{{.Tier}}] {{.Runbook}}"}}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	tk := sampleTicket(readMail(t, "vpn.eml"))
	tk.Class.Tier = "L2\r\nBcc: evil@example.com"
	tk.Class.Runbook = "kb/x\n\nbody-injection\x00" + strings.Repeat("R", 5000)
	tk.Class.Queue = "q\r\n.\r\nMAIL FROM:<x@y>"
	tk.Class.Tags = []string{strings.Repeat("t", 5000), "\r\nX-Evil: 1"}
	if err := sink.Send(context.Background(), tk); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("got %d messages", len(msgs))
	}
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(msgs[0].Data)))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for f := h.Fields(); f.Next(); {
		keys = append(keys, f.Key())
	}
	want := "X-Triage-Tier X-Triage-Priority X-Triage-Queue X-Triage-Runbook X-Triage-Rules X-Triage-Tags X-Triage-Ticket-Id " +
		"X-Triage-Response-Due X-Triage-Resolve-Due Return-Path Message-Id Date From To Subject Mime-Version Content-Type Content-Transfer-Encoding"
	if strings.Join(keys, " ") != want {
		t.Errorf("header set:\n got %s\nwant %s", strings.Join(keys, " "), want)
	}
	if !strings.HasPrefix(h.Get("Subject"), "[L2 Bcc: evil@example.com] kb/x body-injection RRR") {
		t.Errorf("Subject = %.80q", h.Get("Subject"))
	}
	for _, l := range bytes.Split(msgs[0].Data, []byte("\r\n")) {
		if len(l) > 998 {
			t.Errorf("line of %d octets", len(l))
		}
	}
	if !bytes.HasSuffix(msgs[0].Data, examples.ToCRLF(bytes.SplitN(readMail(t, "vpn.eml"), []byte("\n\n"), 2)[1])) {
		t.Error("body changed")
	}
}

func TestMailWarnsOfCleartextToTheNetwork(t *testing.T) {
	tests := []struct {
		name string
		typ  string
		cfg  SMTPConfig
		warn bool
	}{
		{"lmtp to a LAN host", "lmtp", SMTPConfig{Addr: "10.0.0.5:24"}, true},
		{"smtp tls none to a remote host", "smtp", SMTPConfig{Addr: "mx.test:25", TLS: "none"}, true},
		{"lmtp to loopback", "lmtp", SMTPConfig{Addr: "127.0.0.1:24"}, false},
		{"lmtp to a unix socket", "lmtp", SMTPConfig{Addr: "/run/dovecot/lmtp"}, false},
		{"lmtp over implicit TLS", "lmtp", SMTPConfig{Addr: "10.0.0.5:24", TLS: "implicit"}, false},
		{"smtp starttls", "smtp", SMTPConfig{Addr: "mx.test:587"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.From, tt.cfg.To = "t@h.test", StringList{"a@t.test"}
			log, buf := testLogger()
			if _, err := tt.cfg.open(sinkSpec{name: "q", typ: tt.typ, log: log}); err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(buf.String(), "without TLS"); got != tt.warn {
				t.Errorf("warning logged = %v, want %v; log: %s", got, tt.warn, buf.String())
			}
		})
	}
}
