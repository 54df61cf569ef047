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
	"sync/atomic"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/triage-dev/triage/internal/netaddr"
	"github.com/triage-dev/triage/ticket"
)

func init() {
	mail := sinkType{
		doc:      "forwards the original message byte for byte, with X-Triage-* header fields added",
		timeout:  60 * time.Second,
		settings: func() Settings { return new(SMTPConfig) },
	}
	register("smtp", mail)
	register("lmtp", mail)
}

// SMTPConfig are the keys of smtp and lmtp queues.
type SMTPConfig struct {
	Addr string     `yaml:"addr,omitempty" json:"addr,omitempty" jsonschema:"required" jsonschema_description:"host:port; lmtp also a unix socket path (/run/dovecot/lmtp or unix:/run/dovecot/lmtp)."`
	To   StringList `yaml:"to,omitempty" json:"to,omitempty" jsonschema:"required" jsonschema_description:"The tracker's intake address(es)."`
	// From is the envelope sender. Trackers take the requester from the
	// header From, which is forwarded unchanged, so the envelope only needs
	// an address the relay accepts and that can receive bounces.
	From               string `yaml:"from,omitempty" json:"from,omitempty" jsonschema_description:"Envelope sender; default username when it is an address. The header From is forwarded unchanged."`
	TLS                string `yaml:"tls,omitempty" json:"tls,omitempty" jsonschema:"enum=implicit,enum=starttls,enum=none" jsonschema_description:"implicit, starttls or none; default implicit on port 465, none for lmtp, else starttls."`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify,omitempty" json:"insecure_skip_verify,omitempty" jsonschema_description:"Accept any server certificate. For tests only."`
	credentials        `yaml:",inline"`
	SubjectTag         string `yaml:"subject_tag,omitempty" json:"subject_tag,omitempty" jsonschema_description:"Go template prefixed to the subject, e.g. \"[{{.Tier}}][{{.Priority}}]\"."`
}

func (c *SMTPConfig) validate(typ string, add func(string, ...any)) {
	switch {
	case c.Addr == "":
		add("%s needs addr", typ)
	case isUnixAddr(c.Addr):
		if typ != "lmtp" {
			add("addr: a unix socket is only supported for lmtp")
		}
	default:
		if _, _, err := net.SplitHostPort(c.Addr); err != nil {
			add("addr %q: want host:port", c.Addr)
		}
	}
	if len(c.To) == 0 {
		add("%s needs to (the tracker's intake address)", typ)
	}
	for _, a := range append([]string{c.From}, c.To...) {
		if strings.ContainsAny(a, "\r\n<> \t\x00") {
			add("address %q contains characters an envelope address cannot", a)
		}
	}
	if c.envelopeFrom() == "" {
		add("from is required: the envelope sender (the tracker still reads the requester from the forwarded header From)")
	}
	switch c.TLS {
	case "", "implicit", "starttls", "none":
	default:
		add("tls %q: want implicit, starttls or none", c.TLS)
	}
	c.credentials.validate(add)
	if c.Username != "" && c.tlsMode(typ) == "none" && !isLoopbackAddr(c.Addr) {
		add("authentication without TLS is only allowed to a loopback address")
	}
	checkTemplate("subject_tag", c.SubjectTag, add)
}

// tlsMode is the effective TLS mode of an smtp or lmtp queue.
func (c *SMTPConfig) tlsMode(typ string) string {
	if c.TLS != "" {
		return c.TLS
	}
	if typ == "lmtp" {
		return "none"
	}
	if _, port, _ := net.SplitHostPort(c.Addr); port == "465" {
		return "implicit"
	}
	return "starttls"
}

// envelopeFrom is the effective envelope sender; "" when none can be chosen.
func (c *SMTPConfig) envelopeFrom() string {
	if c.From != "" {
		return c.From
	}
	if strings.Contains(c.Username, "@") {
		return c.Username
	}
	return ""
}

func isUnixAddr(a string) bool { return strings.HasPrefix(a, "/") || strings.HasPrefix(a, "unix:") }

// isLoopbackAddr reports whether host:port (or a unix socket) stays on this machine.
func isLoopbackAddr(addr string) bool {
	if isUnixAddr(addr) {
		return true
	}
	host, _, err := net.SplitHostPort(addr)
	return err == nil && netaddr.IsLoopbackHost(host)
}

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

func (c *SMTPConfig) open(q sinkSpec) (Sink, error) {
	s := &mailSink{
		name:               q.name,
		lmtp:               q.typ == "lmtp",
		addr:               c.Addr,
		network:            "tcp",
		tlsMode:            c.tlsMode(q.typ),
		from:               c.envelopeFrom(),
		to:                 c.To,
		username:           c.Username,
		timeout:            q.timeout,
		log:                q.log,
		insecureSkipVerify: c.InsecureSkipVerify,
	}
	if isUnixAddr(c.Addr) {
		s.network = "unix"
		s.addr = strings.TrimPrefix(c.Addr, "unix:")
	}
	if s.lmtp && s.tlsMode == "starttls" {
		return nil, fmt.Errorf("queue %s: lmtp supports tls implicit or none, not starttls", q.name)
	}
	var err error
	if s.password, err = c.password(q.baseDir); err != nil {
		return nil, fmt.Errorf("queue %s: password: %w", q.name, err)
	}
	if c.SubjectTag != "" {
		if s.tag, err = parseTemplate("subject_tag", c.SubjectTag); err != nil {
			return nil, fmt.Errorf("queue %s: subject_tag: %w", q.name, err)
		}
	}
	if c.InsecureSkipVerify {
		q.log.Warn("queue: TLS certificate verification is off")
	}
	if s.tlsMode == "none" && !isLoopbackAddr(c.Addr) {
		// Allowed (LMTP to a delivery host on the LAN is common), but
		// every forwarded mail crosses the network readable.
		q.log.Warn("queue: mail is forwarded without TLS to a host that is not loopback; set tls: implicit if the peer offers it",
			"queue", q.name, "type", q.typ, "addr", c.Addr)
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
	msg := forwardParts(t, tag)

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
	raw, err := d.DialContext(ctx, s.network, s.addr)
	if err != nil {
		return nil, temporary("queue %s: connect %s %s: %w", s.name, s.proto(), s.addr, err)
	}
	// The bound sits under TLS: go-smtp tells a TLS connection by its
	// type (*tls.Conn), and refusing credentials without TLS depends on it.
	var conn net.Conn = &replyLimitConn{Conn: raw}
	if s.tlsMode == "implicit" {
		tc := tls.Client(conn, s.tlsConfig())
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = raw.Close()
			return nil, temporary("queue %s: connect %s %s: %w", s.name, s.proto(), s.addr, err)
		}
		conn = tc
	}
	var c *smtp.Client
	switch {
	case s.lmtp:
		c = smtp.NewClientLMTP(conn)
	case s.tlsMode == "starttls":
		// NewClientStartTLS reads the greeting and EHLO; bound them (no
		// deadline is the zero time: none).
		until, _ := ctx.Deadline()
		_ = conn.SetDeadline(until)
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

// maxReplyBytes bounds what an SMTP or LMTP server may send in answer to
// one command: net/textproto, under go-smtp, reads a reply line, and the
// lines of a multi-line reply, whole and without a limit.
const maxReplyBytes = 1 << 20

// errReplyTooLarge is what a connection fails with past maxReplyBytes.
var errReplyTooLarge = fmt.Errorf("server reply over %d KiB", maxReplyBytes>>10)

// replyLimitConn fails the read that takes the bytes received since the
// client last wrote past maxReplyBytes, and every read and write after it:
// the reply cut short must not pass for a whole one. Under TLS it counts
// the TLS records, the server's handshake included: far below the bound.
type replyLimitConn struct {
	net.Conn
	read atomic.Int64
}

func (c *replyLimitConn) Write(p []byte) (int, error) {
	if c.read.Load() > maxReplyBytes {
		return 0, errReplyTooLarge
	}
	c.read.Store(0)
	return c.Conn.Write(p)
}

func (c *replyLimitConn) Read(p []byte) (int, error) {
	if c.read.Load() > maxReplyBytes {
		return 0, errReplyTooLarge
	}
	n, err := c.Conn.Read(p)
	if c.read.Add(int64(n)) > maxReplyBytes {
		_ = c.Conn.Close()
		return 0, errReplyTooLarge
	}
	return n, err
}

func (s *mailSink) transfer(c *smtp.Client, msg net.Buffers) error {
	if err := c.Hello(helloName()); err != nil && !strings.Contains(err.Error(), "Hello called after") {
		return classifySMTP(fmt.Errorf("queue %s: hello: %w", s.name, err))
	}
	if s.username != "" {
		if err := s.auth(c); err != nil {
			return err
		}
	}
	if size, ok := c.MaxMessageSize(); ok && size > 0 && partsLen(msg) > size {
		return permanent("queue %s: message of %d bytes exceeds the server's limit of %d", s.name, partsLen(msg), size)
	}
	var opts *smtp.MailOptions
	nonASCII := func(r rune) bool { return r >= utf8.RuneSelf }
	if strings.ContainsFunc(s.from+strings.Join(s.to, ""), nonASCII) {
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
	if _, err := msg.WriteTo(w); err != nil {
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
