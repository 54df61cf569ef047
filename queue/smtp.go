package queue

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"text/template"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/triage-dev/triage/ticket"
)

const defaultMailTimeout = 60 * time.Second

// mailSink forwards the original message over SMTP or LMTP. It dials per
// ticket: intake volume is low and a fresh connection has no stale state
// to recover from.
type mailSink struct {
	name     string
	lmtp     bool
	addr     string
	network  string // tcp or unix
	tlsMode  string
	from     string
	to       []string
	username string
	password string
	tag      *template.Template // nil: subject untouched
	timeout  time.Duration
	log      *slog.Logger

	insecureSkipVerify bool
	rootCAs            *x509.CertPool // nil: system roots; tests set their own
}

func newMailSink(name string, cfg Config, baseDir string, log *slog.Logger) (*mailSink, error) {
	s := &mailSink{
		name:               name,
		lmtp:               cfg.Type == "lmtp",
		addr:               cfg.Addr,
		network:            "tcp",
		tlsMode:            mailTLS(cfg),
		from:               envelopeFrom(cfg),
		to:                 cfg.To,
		username:           cfg.Username,
		timeout:            time.Duration(cfg.Timeout),
		log:                log,
		insecureSkipVerify: cfg.InsecureSkipVerify,
	}
	if s.timeout <= 0 {
		s.timeout = defaultMailTimeout
	}
	if isUnixAddr(cfg.Addr) {
		s.network = "unix"
		s.addr = strings.TrimPrefix(cfg.Addr, "unix:")
	}
	if s.lmtp && s.tlsMode == "starttls" {
		return nil, fmt.Errorf("queue %s: lmtp supports tls implicit or none, not starttls", name)
	}
	if cfg.Username != "" {
		pw, err := readSecret(cfg.PasswordEnv, cfg.PasswordFile, baseDir)
		if err != nil {
			return nil, fmt.Errorf("queue %s: password: %w", name, err)
		}
		s.password = pw
	}
	if cfg.SubjectTag != "" {
		t, err := parseTemplate("subject_tag", cfg.SubjectTag)
		if err != nil {
			return nil, fmt.Errorf("queue %s: subject_tag: %w", name, err)
		}
		s.tag = t
	}
	if cfg.InsecureSkipVerify {
		log.Warn("queue: TLS certificate verification is off")
	}
	if s.tlsMode == "none" && !isLoopbackAddr(cfg.Addr) {
		// Allowed (LMTP to a delivery host on the LAN is common), but
		// every forwarded mail crosses the network readable.
		log.Warn("queue: mail is forwarded without TLS to a host that is not loopback; set tls: implicit if the peer offers it",
			"queue", name, "type", cfg.Type, "addr", cfg.Addr)
	}
	return s, nil
}

func (s *mailSink) Close() error { return nil }

func (s *mailSink) Send(ctx context.Context, t *ticket.Ticket) error {
	if len(t.Raw) == 0 {
		return permanent("queue %s: ticket %s has no original message to forward", s.name, t.ID)
	}
	tag := ""
	if s.tag != nil {
		b, err := execTemplate(s.tag, newTemplateData(t))
		if err != nil {
			return permanent("queue %s: subject tag: %w", s.name, err)
		}
		tag = string(b)
	}
	msg := forwardMessage(t, tag)

	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	c, err := s.connect(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	// go-smtp has no context support: closing the connection unblocks it.
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()

	err = s.transfer(c, msg)
	if err != nil && ctx.Err() != nil {
		return ctxTemporary(ctx, fmt.Sprintf("queue %s: %s %s", s.name, s.proto(), s.addr))
	}
	return err
}

func (s *mailSink) proto() string {
	if s.lmtp {
		return "lmtp"
	}
	return "smtp"
}

func (s *mailSink) tlsConfig() *tls.Config {
	host, _, _ := net.SplitHostPort(s.addr)
	return &tls.Config{
		ServerName:         host,
		MinVersion:         tls.VersionTLS12,
		RootCAs:            s.rootCAs,
		InsecureSkipVerify: s.insecureSkipVerify, //nolint:gosec // opt-in per queue, warned at start
	}
}

func (s *mailSink) connect(ctx context.Context) (*smtp.Client, error) {
	d := &net.Dialer{}
	var conn net.Conn
	var err error
	if s.tlsMode == "implicit" {
		conn, err = (&tls.Dialer{NetDialer: d, Config: s.tlsConfig()}).DialContext(ctx, s.network, s.addr)
	} else {
		conn, err = d.DialContext(ctx, s.network, s.addr)
	}
	if err != nil {
		return nil, temporary("queue %s: connect %s %s: %w", s.name, s.proto(), s.addr, err)
	}
	var c *smtp.Client
	switch {
	case s.lmtp:
		c = smtp.NewClientLMTP(conn)
	case s.tlsMode == "starttls":
		// NewClientStartTLS reads the greeting and EHLO; bound them.
		_ = conn.SetDeadline(deadline(ctx))
		c, err = smtp.NewClientStartTLS(conn, s.tlsConfig())
		if err != nil {
			_ = conn.Close()
			return nil, classifySMTP(fmt.Errorf("queue %s: starttls %s: %w", s.name, s.addr, err))
		}
		_ = conn.SetDeadline(time.Time{})
	default:
		c = smtp.NewClient(conn)
	}
	c.CommandTimeout = s.timeout
	c.SubmissionTimeout = s.timeout
	return c, nil
}

func deadline(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Time{}
}

func (s *mailSink) transfer(c *smtp.Client, msg []byte) error {
	if err := c.Hello(helloName()); err != nil && !strings.Contains(err.Error(), "Hello called after") {
		return classifySMTP(fmt.Errorf("queue %s: hello: %w", s.name, err))
	}
	if s.username != "" {
		if err := s.auth(c); err != nil {
			return err
		}
	}
	if size, ok := c.MaxMessageSize(); ok && size > 0 && len(msg) > size {
		return permanent("queue %s: message of %d bytes exceeds the server's limit of %d", s.name, len(msg), size)
	}
	var opts *smtp.MailOptions
	if !isASCII(s.from) || !allASCII(s.to) {
		opts = &smtp.MailOptions{UTF8: true}
	}
	if err := c.Mail(s.from, opts); err != nil {
		return classifySMTP(fmt.Errorf("queue %s: MAIL FROM: %w", s.name, err))
	}
	for _, rcpt := range s.to {
		if err := c.Rcpt(rcpt, nil); err != nil {
			return classifySMTP(fmt.Errorf("queue %s: RCPT TO <%s>: %w", s.name, rcpt, err))
		}
	}
	w, err := c.Data()
	if err != nil {
		return classifySMTP(fmt.Errorf("queue %s: DATA: %w", s.name, err))
	}
	if _, err := w.Write(msg); err != nil {
		return classifySMTP(fmt.Errorf("queue %s: write message: %w", s.name, err))
	}
	if err := w.Close(); err != nil {
		return classifySMTP(fmt.Errorf("queue %s: end of data: %w", s.name, err))
	}
	_ = c.Quit() // the message is accepted; a failing QUIT changes nothing
	return nil
}

// auth authenticates only over TLS or to this machine, so a password
// never crosses a network in clear.
func (s *mailSink) auth(c *smtp.Client) error {
	if _, isTLS := c.TLSConnectionState(); !isTLS && !isLoopbackAddr(s.addr) {
		return permanent("queue %s: refusing to send credentials without TLS to %s", s.name, s.addr)
	}
	var mech sasl.Client
	switch {
	case c.SupportsAuth(sasl.Plain):
		mech = sasl.NewPlainClient("", s.username, s.password)
	case c.SupportsAuth(sasl.Login):
		mech = sasl.NewLoginClient(s.username, s.password)
	default:
		return temporary("queue %s: server offers neither AUTH PLAIN nor LOGIN", s.name)
	}
	if err := c.Auth(mech); err != nil {
		// A rejected login is a configuration problem the admin can fix:
		// keep the ticket (temporary) rather than drop it.
		return temporary("queue %s: authentication as %s failed: %w", s.name, s.username, err)
	}
	return nil
}

// classifySMTP: 4xx temporary, 5xx permanent; for LMTP any recipient's 5xx
// makes the delivery permanent, else any 4xx temporary. Anything else
// (network, protocol) is temporary.
func classifySMTP(err error) *Error {
	var lm smtp.LMTPDataError
	if errors.As(err, &lm) {
		for _, se := range lm {
			if se != nil && se.Code/100 == 5 {
				return &Error{Err: err}
			}
		}
		return &Error{Temporary: true, Err: err}
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code/100 == 5 {
		return &Error{Err: err}
	}
	return &Error{Temporary: true, Err: err}
}

func helloName() string {
	if h, err := os.Hostname(); err == nil && strings.Contains(h, ".") && !strings.ContainsAny(h, " \r\n") {
		return h
	}
	return "localhost"
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func allASCII(l []string) bool {
	for _, s := range l {
		if !isASCII(s) {
			return false
		}
	}
	return true
}
