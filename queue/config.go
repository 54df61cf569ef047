package queue

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"text/template"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/triage-dev/triage/internal/duration"
	"github.com/triage-dev/triage/internal/netaddr"
)

// Config is one entry under `queues:` in triage.yaml. The daemon decodes it
// strictly (KnownFields), so it stays a plain struct; only the small scalar
// types below have their own UnmarshalYAML.
type Config struct {
	Type string `yaml:"type" json:"type"` // smtp | lmtp | webhook | exec | nats | file | stdout

	// smtp / lmtp. Addr is host:port; for lmtp also a unix socket path
	// ("/run/dovecot/lmtp" or "unix:/run/dovecot/lmtp").
	Addr string     `yaml:"addr,omitempty" json:"addr,omitempty"`
	To   StringList `yaml:"to,omitempty" json:"to,omitempty"`
	// From is the envelope sender. Trackers take the requester from the
	// header From, which is forwarded unchanged, so the envelope only needs
	// an address the relay accepts and that can receive bounces. Default:
	// Username when it is an address; otherwise it must be set.
	From               string `yaml:"from,omitempty" json:"from,omitempty"`
	TLS                string `yaml:"tls,omitempty" json:"tls,omitempty"` // implicit | starttls | none; default implicit on port 465, none for lmtp, else starttls
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify,omitempty" json:"insecure_skip_verify,omitempty"`
	Username           string `yaml:"username,omitempty" json:"username,omitempty"`
	PasswordEnv        string `yaml:"password_env,omitempty" json:"password_env,omitempty"`
	PasswordFile       string `yaml:"password_file,omitempty" json:"password_file,omitempty"`
	SubjectTag         string `yaml:"subject_tag,omitempty" json:"subject_tag,omitempty"` // Go template, e.g. "[{{.Tier}}][{{.Priority}}]"

	// webhook (URL is also the nats server URL list, comma-separated).
	URL string `yaml:"url,omitempty" json:"url,omitempty"`
	// URLEnv names the environment variable holding the webhook URL, for
	// URLs that are themselves the credential (Slack, Teams, …).
	URLEnv string `yaml:"url_env,omitempty" json:"url_env,omitempty"`
	Method string `yaml:"method,omitempty" json:"method,omitempty"` // default POST
	// Headers are sent as written. Secret header values come from the
	// environment instead: HeadersEnv maps header name → variable name
	// (e.g. Authorization: ZAMMAD_AUTH holding "Token token=…").
	Headers         map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	HeadersEnv      map[string]string `yaml:"headers_env,omitempty" json:"headers_env,omitempty"`
	BodyTemplate    string            `yaml:"body_template,omitempty" json:"body_template,omitempty"` // file, relative to triage.yaml; default: the ticket JSON
	ContentType     string            `yaml:"content_type,omitempty" json:"content_type,omitempty"`   // default application/json
	SecretEnv       string            `yaml:"secret_env,omitempty" json:"secret_env,omitempty"`       // HMAC-SHA256 key of the body signature
	SecretFile      string            `yaml:"secret_file,omitempty" json:"secret_file,omitempty"`
	SignatureHeader string            `yaml:"signature_header,omitempty" json:"signature_header,omitempty"` // default X-Triage-Signature
	Timeout         duration.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`                   // per attempt; default 30s webhook, 60s exec/smtp/lmtp, 10s nats

	// exec: argv, no shell.
	Command StringList `yaml:"command,omitempty" json:"command,omitempty"`

	// nats
	Subject        string     `yaml:"subject,omitempty" json:"subject,omitempty"` // template, e.g. "tickets.{{.Tier}}.{{.Queue}}"
	Stream         string     `yaml:"stream,omitempty" json:"stream,omitempty"`   // checked to exist at start
	CreateStream   bool       `yaml:"create_stream,omitempty" json:"create_stream,omitempty"`
	StreamSubjects StringList `yaml:"stream_subjects,omitempty" json:"stream_subjects,omitempty"` // for create_stream
	CredsFile      string     `yaml:"creds_file,omitempty" json:"creds_file,omitempty"`

	// file
	Path string `yaml:"path,omitempty" json:"path,omitempty"`

	Retry RetryConfig `yaml:"retry,omitempty" json:"retry,omitempty"`
}

// RetryConfig bounds the retries of temporary failures.
type RetryConfig struct {
	Initial duration.Duration `yaml:"initial,omitempty" json:"initial,omitempty"` // default 1s
	Max     duration.Duration `yaml:"max,omitempty" json:"max,omitempty"`         // default 5m; also caps a peer's Retry-After
	// GiveUpAfter 0 means never: keep retrying while the daemon runs; the
	// message stays undone on the server.
	GiveUpAfter duration.Duration `yaml:"give_up_after,omitempty" json:"give_up_after,omitempty"`
}

// Retry defaults.
const (
	DefaultRetryInitial = time.Second
	DefaultRetryMax     = 5 * time.Minute
)

func (r RetryConfig) withDefaults() RetryConfig {
	if r.Initial <= 0 {
		r.Initial = duration.Duration(DefaultRetryInitial)
	}
	if r.Max <= 0 {
		r.Max = duration.Duration(DefaultRetryMax)
	}
	if r.Max < r.Initial {
		r.Max = r.Initial
	}
	return r
}

// StringList is a list that may be written as a single string in YAML.
type StringList []string

// UnmarshalYAML accepts a scalar or a sequence of scalars.
func (l *StringList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*l = StringList{n.Value}
		return nil
	case yaml.SequenceNode:
		out := make(StringList, 0, len(n.Content))
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: list items must be strings", c.Line)
			}
			out = append(out, c.Value)
		}
		*l = out
		return nil
	}
	return fmt.Errorf("line %d: want a string or a list of strings", n.Line)
}

// ValidateConfig lists the problems of one queue entry; the config loader
// adds file:line. It checks what can be checked without the file system or
// the environment (New does those).
func ValidateConfig(name string, cfg Config) []string {
	var p []string
	add := func(format string, a ...any) { p = append(p, fmt.Sprintf(format, a...)) }
	if name == "" {
		add("queue name is empty")
	}
	if cfg.Retry.Initial < 0 || cfg.Retry.Max < 0 || cfg.Retry.GiveUpAfter < 0 {
		add("retry durations must not be negative")
	}
	if cfg.Retry.Initial > 0 && cfg.Retry.Max > 0 && cfg.Retry.Max < cfg.Retry.Initial {
		add("retry.max (%s) is below retry.initial (%s)", time.Duration(cfg.Retry.Max), time.Duration(cfg.Retry.Initial))
	}
	if cfg.Timeout < 0 {
		add("timeout must not be negative")
	}
	if cfg.PasswordEnv != "" && cfg.PasswordFile != "" {
		add("set password_env or password_file, not both")
	}
	if cfg.SecretEnv != "" && cfg.SecretFile != "" {
		add("set secret_env or secret_file, not both")
	}
	credentialProblems(cfg, add)
	switch cfg.Type {
	case "smtp", "lmtp":
		validateMailConfig(cfg, add)
	case "webhook":
		if cfg.URLEnv != "" {
			if cfg.URL != "" {
				add("set url or url_env, not both")
			}
		} else if err := checkWebhookURL(cfg.URL); err != nil {
			add("%v", err)
		}
		if cfg.Method != "" && !validMethod(cfg.Method) {
			add("method %q is not one of POST, PUT, PATCH", cfg.Method)
		}
		for h := range cfg.Headers {
			if !validHeaderName(h) {
				add("headers: %q is not a valid header name", h)
			}
		}
		for h, env := range cfg.HeadersEnv {
			if !validHeaderName(h) {
				add("headers_env: %q is not a valid header name", h)
			}
			if env == "" {
				add("headers_env: %q names no environment variable", h)
			}
		}
		if cfg.SignatureHeader != "" && !validHeaderName(cfg.SignatureHeader) {
			add("signature_header %q is not a valid header name", cfg.SignatureHeader)
		}
	case "exec":
		if len(cfg.Command) == 0 || cfg.Command[0] == "" {
			add("exec needs command (argv list)")
		}
	case "nats":
		if cfg.URL == "" {
			add("nats needs url")
		}
		if cfg.Subject == "" {
			add("nats needs subject")
		} else if _, err := parseTemplate("subject", cfg.Subject); err != nil {
			add("subject: %v", err)
		}
		if cfg.CreateStream && (cfg.Stream == "" || len(cfg.StreamSubjects) == 0) {
			add("create_stream needs stream and stream_subjects")
		}
		if cfg.Stream != "" && strings.ContainsAny(cfg.Stream, ". *>\t\r\n") {
			add("stream %q: a stream name cannot contain '.', '*', '>' or spaces", cfg.Stream)
		}
	case "file":
		if cfg.Path == "" {
			add("file needs path")
		}
	case "stdout":
	case "":
		add("type is missing (smtp, lmtp, webhook, exec, nats, file or stdout)")
	default:
		add("unknown type %q (want smtp, lmtp, webhook, exec, nats, file or stdout)", cfg.Type)
	}
	return p
}

func validateMailConfig(cfg Config, add func(string, ...any)) {
	if cfg.Addr == "" {
		add("%s needs addr", cfg.Type)
	} else if !isUnixAddr(cfg.Addr) {
		if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
			add("addr %q: want host:port", cfg.Addr)
		}
	} else if cfg.Type != "lmtp" {
		add("addr: a unix socket is only supported for lmtp")
	}
	if len(cfg.To) == 0 {
		add("%s needs to (the tracker's intake address)", cfg.Type)
	}
	for _, a := range append([]string{cfg.From}, cfg.To...) {
		if strings.ContainsAny(a, "\r\n<> \t\x00") {
			add("address %q contains characters an envelope address cannot", a)
		}
	}
	if envelopeFrom(cfg) == "" {
		add("from is required: the envelope sender (the tracker still reads the requester from the forwarded header From)")
	}
	switch cfg.TLS {
	case "", "implicit", "starttls", "none":
	default:
		add("tls %q: want implicit, starttls or none", cfg.TLS)
	}
	if cfg.Username != "" {
		if cfg.PasswordEnv == "" && cfg.PasswordFile == "" {
			add("username needs password_env or password_file")
		}
		if mailTLS(cfg) == "none" && !isLoopbackAddr(cfg.Addr) {
			add("authentication without TLS is only allowed to a loopback address")
		}
	}
	if cfg.SubjectTag != "" {
		if _, err := parseTemplate("subject_tag", cfg.SubjectTag); err != nil {
			add("subject_tag: %v", err)
		}
	}
}

func validMethod(m string) bool {
	switch m {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		return true
	}
	return false
}

func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for _, r := range h {
		if r <= ' ' || r >= 0x7f || r == ':' {
			return false
		}
	}
	return true
}

func isUnixAddr(a string) bool { return strings.HasPrefix(a, "/") || strings.HasPrefix(a, "unix:") }

// isLoopbackAddr reports whether host:port (or a unix socket) stays on this machine.
func isLoopbackAddr(addr string) bool {
	if isUnixAddr(addr) {
		return true
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	return netaddr.IsLoopbackHost(host)
}

// mailTLS is the effective TLS mode of an smtp/lmtp queue.
func mailTLS(cfg Config) string {
	if cfg.TLS != "" {
		return cfg.TLS
	}
	if cfg.Type == "lmtp" {
		return "none"
	}
	if _, port, _ := net.SplitHostPort(cfg.Addr); port == "465" {
		return "implicit"
	}
	return "starttls"
}

// envelopeFrom is the effective envelope sender; "" when none can be chosen.
func envelopeFrom(cfg Config) string {
	if cfg.From != "" {
		return cfg.From
	}
	if strings.Contains(cfg.Username, "@") {
		return cfg.Username
	}
	return ""
}

// redactErr drops a URL's password from a url parse error.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			ue.URL = u.Redacted()
		} else {
			ue.URL = "<url>"
		}
	}
	return err
}

func parseTemplate(name, text string) (*template.Template, error) {
	t, err := template.New(name).Funcs(templateFuncs()).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	return t, nil
}

// checkWebhookURL says what is wrong with a webhook URL, without repeating
// it (it may carry a token).
func checkWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return errors.New("webhook needs url or url_env")
	case err != nil:
		return fmt.Errorf("url: %w", redactErr(err))
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("url scheme must be http or https")
	case u.Host == "":
		return errors.New("url has no host")
	}
	return nil
}
