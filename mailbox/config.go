package mailbox

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/triage-dev/triage/internal/netaddr"
)

// TLS modes.
const (
	TLSImplicit = "implicit"
	TLSStartTLS = "starttls"
	TLSNone     = "none" // loopback only
)

// Auth mechanisms.
const (
	AuthPlain       = "plain" // AUTHENTICATE PLAIN, else LOGIN
	AuthLogin       = "login" // the IMAP LOGIN command
	AuthXOAuth2     = "xoauth2"
	AuthOAuthBearer = "oauthbearer"
)

// Defaults applied by New.
const (
	DefaultMailbox      = "INBOX"
	DefaultDoneKeyword  = "$Triaged"
	DefaultDoneFolder   = "Triage/Done" // when the server stores no keywords and no DoneMoveTo is set
	DefaultQuarantine   = "Triage/Quarantine"
	DefaultFailed       = "Triage/Failed"
	DefaultPollInterval = 30 * time.Second
	// IDLE is re-issued this often: well before servers' 29-minute limit,
	// and the restart (DONE, then IDLE again, each with the command
	// timeout) is what detects a connection that died silently while idle,
	// so it also bounds how long new mail can wait on a dead connection.
	DefaultIdleRestart     = 5 * time.Minute
	DefaultBatchSize       = 100
	DefaultConcurrency     = 16
	DefaultMaxMessageBytes = 25 << 20
	DefaultShutdownGrace   = 10 * time.Second
	DefaultTimeout         = 60 * time.Second
	DefaultRetryBackoff    = 5 * time.Second
	DefaultRetryBackoffMax = 5 * time.Minute
	DefaultReconnectMin    = time.Second
	DefaultReconnectMax    = 2 * time.Minute

	// Limits of BatchSize and Concurrency.
	MaxBatchSize   = 1000
	MaxConcurrency = 256
)

// Config describes one IMAP account. Zero values take the defaults above.
type Config struct {
	Name               string
	Addr               string // host:port
	TLS                string // "implicit" (default) | "starttls" | "none" (loopback only)
	InsecureSkipVerify bool
	// TLSConfig is an optional base TLS configuration (e.g. RootCAs for a
	// private CA). ServerName defaults to Addr's host.
	TLSConfig *tls.Config
	Username  string
	Auth      string                                    // "plain" (default; LOGIN fallback) | "login" | "xoauth2" | "oauthbearer"
	Secret    func(ctx context.Context) (string, error) // password or OAuth token, called at every (re)connect

	Mailboxes   []string // default ["INBOX"]
	DoneKeyword string   // default "$Triaged"; "" with DoneMoveTo set = move only
	DoneMoveTo  string   // optional folder for Done messages
	Quarantine  string   // default "Triage/Quarantine"
	Failed      string   // default "Triage/Failed" (permanent sink rejections)

	PollInterval    time.Duration // when the server has no IDLE; default 30s
	IdleRestart     time.Duration // re-issue IDLE before the server's timeout; default 5m
	BatchSize       int           // messages per FETCH; default 100
	Concurrency     int           // handlers in flight per mailbox; default 16
	MaxMessageBytes int64         // larger messages are quarantined by RFC822.SIZE unfetched; default 25 MiB
	ShutdownGrace   time.Duration // in-flight handlers get this long after ctx is cancelled; default 10s
	// Buffer bounds the fetched mail held in memory; share one between
	// accounts for a process-wide bound. nil: bounded only by BatchSize
	// and Concurrency (times MaxMessageBytes).
	Buffer *Buffer
	// Journal, if set, records the messages in flight, so that a
	// message that crashes the process is handled alone after the restart
	// and quarantined if it crashes it again.
	Journal Journal
	// Dial replaces the TCP dialer (fault-injection tests).
	Dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	Timeout time.Duration // per-command timeout and dead-connection detection; default 60s

	RetryBackoff    time.Duration // first delay before a Retry verdict is retried; doubles; default 5s
	RetryBackoffMax time.Duration // default 5m
	ReconnectMin    time.Duration // first reconnect delay; doubles with jitter; default 1s
	ReconnectMax    time.Duration // default 2m
}

// withDefaults validates cfg and fills in defaults.
func (cfg Config) withDefaults() (Config, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	cfg.checkServer(bad)
	cfg.defaultFolders(bad)
	cfg.defaultLimits(bad)
	if err := errors.Join(errs...); err != nil {
		return cfg, fmt.Errorf("mailbox: account %q: %w", cfg.Name, err)
	}
	return cfg, nil
}

// checkServer checks how to reach and log in to the server.
func (cfg *Config) checkServer(bad func(string, ...any)) {
	if cfg.Name == "" {
		bad("name is empty")
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil || host == "" || port == "" {
		bad("addr %q: want host:port", cfg.Addr)
	}
	switch cfg.TLS {
	case "":
		cfg.TLS = TLSImplicit
	case TLSImplicit, TLSStartTLS:
	case TLSNone:
		if err == nil && !netaddr.IsLoopbackHost(host) {
			bad("tls: none is only allowed to a loopback address, not %q", host)
		}
	default:
		bad("tls %q: want implicit, starttls or none", cfg.TLS)
	}
	if cfg.Username == "" {
		bad("username is empty")
	}
	switch cfg.Auth {
	case "":
		cfg.Auth = AuthPlain
	case AuthPlain, AuthLogin, AuthXOAuth2, AuthOAuthBearer:
	default:
		bad("auth %q: want plain, login, xoauth2 or oauthbearer", cfg.Auth)
	}
	if cfg.Secret == nil {
		bad("secret source is missing")
	}
}

// defaultFolders checks the watched mailboxes, the done keyword and the
// target folders.
func (cfg *Config) defaultFolders(bad func(string, ...any)) {
	if len(cfg.Mailboxes) == 0 {
		cfg.Mailboxes = []string{DefaultMailbox}
	}
	watched := map[string]bool{}
	for _, m := range cfg.Mailboxes {
		if err := checkMailboxName(m); err != nil {
			bad("mailbox: %w", err)
		}
		k := mailboxKey(m)
		if watched[k] {
			bad("mailbox %q listed twice", m)
		}
		watched[k] = true
	}
	if cfg.DoneKeyword == "" && cfg.DoneMoveTo == "" {
		cfg.DoneKeyword = DefaultDoneKeyword
	}
	if cfg.DoneKeyword != "" {
		if err := checkKeyword(cfg.DoneKeyword); err != nil {
			bad("done keyword: %w", err)
		}
	}
	cfg.Quarantine = cmp.Or(cfg.Quarantine, DefaultQuarantine)
	cfg.Failed = cmp.Or(cfg.Failed, DefaultFailed)
	// A target folder that is also watched would feed its messages back in
	// forever. In a fixed order, so the joined error reads the same each run.
	for _, tf := range [][2]string{{"done move_to", cfg.DoneMoveTo}, {"quarantine", cfg.Quarantine}, {"failed", cfg.Failed}} {
		what, f := tf[0], tf[1]
		if f == "" {
			continue
		}
		if err := checkMailboxName(f); err != nil {
			bad("%s: %w", what, err)
		} else if watched[mailboxKey(f)] {
			bad("%s folder %q is also a watched mailbox", what, f)
		}
	}
}

// defaultLimits checks the durations and sizes.
func (cfg *Config) defaultLimits(bad func(string, ...any)) {
	orDefault(&cfg.PollInterval, DefaultPollInterval, 0, "poll interval", bad)
	orDefault(&cfg.IdleRestart, DefaultIdleRestart, 0, "idle restart", bad)
	orDefault(&cfg.ShutdownGrace, DefaultShutdownGrace, 0, "shutdown grace", bad)
	orDefault(&cfg.Timeout, DefaultTimeout, 0, "timeout", bad)
	orDefault(&cfg.RetryBackoff, DefaultRetryBackoff, 0, "retry backoff", bad)
	orDefault(&cfg.RetryBackoffMax, DefaultRetryBackoffMax, 0, "retry backoff max", bad)
	orDefault(&cfg.ReconnectMin, DefaultReconnectMin, 0, "reconnect min", bad)
	orDefault(&cfg.ReconnectMax, DefaultReconnectMax, 0, "reconnect max", bad)
	cfg.RetryBackoffMax = max(cfg.RetryBackoffMax, cfg.RetryBackoff)
	cfg.ReconnectMax = max(cfg.ReconnectMax, cfg.ReconnectMin)
	orDefault(&cfg.BatchSize, DefaultBatchSize, MaxBatchSize, "batch size", bad)
	orDefault(&cfg.Concurrency, DefaultConcurrency, MaxConcurrency, "concurrency", bad)
	orDefault(&cfg.MaxMessageBytes, DefaultMaxMessageBytes, 0, "max message bytes", bad)
}

// orDefault sets *v to def when it is zero. Otherwise it must be positive
// and, if hi is not zero, at most hi.
func orDefault[T int | int64 | time.Duration](v *T, def, hi T, name string, bad func(string, ...any)) {
	switch {
	case *v == 0:
		*v = def
	case hi != 0 && (*v < 0 || *v > hi):
		bad("%s %d: want 1..%d", name, *v, hi)
	case *v < 0:
		bad("%s is negative", name)
	}
}

// mailboxKey folds INBOX case, which IMAP treats case-insensitively.
func mailboxKey(name string) string {
	if strings.EqualFold(name, "INBOX") {
		return "INBOX"
	}
	return name
}

func checkMailboxName(name string) error {
	if name == "" {
		return errors.New("empty name")
	}
	if len(name) > 1000 {
		return errors.New("name too long")
	}
	if strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("%q contains a control character", name)
	}
	return nil
}

// checkKeyword accepts an IMAP flag-keyword (an atom): no system flags, no
// characters that would end the atom or inject syntax.
func checkKeyword(kw string) error {
	if len(kw) > 100 {
		return errors.New("keyword too long")
	}
	if strings.ContainsFunc(kw, func(r rune) bool { return r <= 0x20 || r >= 0x7f || strings.ContainsRune(`(){%*"\]`, r) }) {
		return fmt.Errorf("%q is not an IMAP keyword atom", kw)
	}
	return nil
}
