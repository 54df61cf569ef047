package queue

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/triage-dev/triage/classifier"
	"github.com/triage-dev/triage/internal/netaddr"
)

const (
	defaultWebhookTimeout  = 30 * time.Second
	defaultSignatureHeader = "X-Triage-Signature"
	maxLoggedResponse      = 512      // response body octets kept in an error
	maxDrainedResponse     = 64 << 10 // read so the connection can be reused
)

// webhookSink calls an HTTP endpoint with the ticket JSON or a body rendered
// from a template (a tracker's own API).
type webhookSink struct {
	name        string
	url         string
	method      string
	contentType string
	headers     http.Header
	body        *template.Template // nil: the ticket document
	secret      []byte             // nil: no signature
	sigHeader   string
	client      *http.Client
	log         *slog.Logger
}

func newWebhookSink(name string, cfg Config, baseDir string, log *slog.Logger) (*webhookSink, error) {
	s := &webhookSink{
		name:        name,
		url:         cfg.URL,
		method:      cfg.Method,
		contentType: cfg.ContentType,
		headers:     http.Header{},
		sigHeader:   cfg.SignatureHeader,
		log:         log,
	}
	if cfg.URLEnv != "" {
		u, err := readSecret(cfg.URLEnv, "", baseDir)
		if err != nil {
			return nil, fmt.Errorf("queue %s: url_env: %w", name, err)
		}
		if err := checkWebhookURL(u); err != nil {
			return nil, fmt.Errorf("queue %s: url from %s: %w", name, cfg.URLEnv, err)
		}
		// The check ValidateConfig makes for a url in the YAML.
		if pu, _ := url.Parse(u); pu.Scheme == "http" && len(cfg.HeadersEnv) > 0 && !netaddr.IsLoopbackHost(pu.Hostname()) {
			return nil, fmt.Errorf("queue %s: headers_env would send secrets over plain http to %s: use https", name, pu.Hostname())
		}
		s.url = u
	}
	if s.method == "" {
		s.method = http.MethodPost
	}
	if s.contentType == "" {
		s.contentType = "application/json"
	}
	if s.sigHeader == "" {
		s.sigHeader = defaultSignatureHeader
	}
	timeout := time.Duration(cfg.Timeout)
	if timeout <= 0 {
		timeout = defaultWebhookTimeout
	}
	// A transport of its own: the default keeps 2 idle connections per
	// host, so concurrent deliveries to one tracker would dial for almost
	// every ticket.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 64
	s.client = &http.Client{
		Transport: transport,
		Timeout:   timeout,
		// A redirect would resend the body, and custom secret headers, to
		// wherever the peer points: report it so the url gets fixed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	for k, v := range cfg.Headers {
		if !httpguts.ValidHeaderFieldValue(v) {
			return nil, fmt.Errorf("queue %s: header %s: value contains characters a header cannot", name, k)
		}
		s.headers.Set(k, v)
	}
	for k, env := range cfg.HeadersEnv {
		v, err := readSecret(env, "", baseDir)
		if err != nil {
			return nil, fmt.Errorf("queue %s: header %s: %w", name, k, err)
		}
		if !httpguts.ValidHeaderFieldValue(v) {
			return nil, fmt.Errorf("queue %s: header %s: value of %s contains characters a header cannot", name, k, env)
		}
		s.headers.Set(k, v)
	}
	if cfg.SecretEnv != "" || cfg.SecretFile != "" {
		v, err := readSecret(cfg.SecretEnv, cfg.SecretFile, baseDir)
		if err != nil {
			return nil, fmt.Errorf("queue %s: signature secret: %w", name, err)
		}
		s.secret = []byte(v)
	}
	if cfg.BodyTemplate != "" {
		p := resolvePath(baseDir, cfg.BodyTemplate)
		text, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("queue %s: body_template: %w", name, err)
		}
		t, err := parseTemplate(filepath.Base(p), string(text))
		if err != nil {
			return nil, fmt.Errorf("queue %s: body_template %s: %w", name, p, err)
		}
		s.body = t
	}
	return s, nil
}

func (s *webhookSink) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

// renderBody is the request body for t.
func (s *webhookSink) renderBody(t *classifier.Ticket) ([]byte, error) {
	if s.body == nil {
		b, err := json.Marshal(t)
		if err != nil {
			return nil, fmt.Errorf("encode ticket: %w", err)
		}
		return b, nil
	}
	b, err := execTemplate(s.body, newTemplateData(t))
	if err != nil {
		return nil, err
	}
	if strings.Contains(s.contentType, "json") && !json.Valid(b) {
		return nil, fmt.Errorf("template %s rendered invalid JSON (use {{json .Field}} for values)", s.body.Name())
	}
	return b, nil
}

// sign is the HMAC-SHA256 of body as "sha256=<hex>".
func sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func (s *webhookSink) Send(ctx context.Context, t *classifier.Ticket) error {
	body, err := s.renderBody(t)
	if err != nil {
		return permanent("queue %s: %w", s.name, err)
	}
	req, err := http.NewRequestWithContext(ctx, s.method, s.url, bytes.NewReader(body))
	if err != nil {
		return permanent("queue %s: build request: %w", s.name, redactErr(err))
	}
	req.Header = s.headers.Clone()
	req.Header.Set("Content-Type", s.contentType)
	req.Header.Set("User-Agent", "triage")
	if id := sanitizeHeaderText(t.ID, 200); id != "" {
		req.Header.Set("Idempotency-Key", id)
	}
	if s.secret != nil {
		req.Header.Set(s.sigHeader, sign(s.secret, body))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		// Trackers put tokens in webhook paths and queries (Slack, Teams):
		// errors, which are logged, name the origin only.
		return temporary("queue %s: %s: %w", s.name, s.method, originOnlyErr(err))
	}
	defer func() { _ = resp.Body.Close() }()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxLoggedResponse))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrainedResponse))

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	e := fmt.Errorf("queue %s: %s answered %s: %s", s.name, s.method, resp.Status, sanitizeHeaderText(string(snippet), maxLoggedResponse))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout:
		return &Error{Temporary: true, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), Err: e}
	default:
		return &Error{Err: e}
	}
}

// parseRetryAfter reads Retry-After as seconds or an HTTP date; 0 if absent
// or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(24*time.Hour/time.Second) {
			n = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(n) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		if d := at.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
