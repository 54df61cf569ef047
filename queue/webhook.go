package queue

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/triage-dev/triage/internal/netaddr"
	"github.com/triage-dev/triage/ticket"
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

	// Per-request work done once: the headers every request carries,
	// keyed HMAC states.
	fixed  http.Header
	sigKey string // canonical sigHeader
	hmacs  sync.Pool
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
	s.prepare()
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

// prepare does the per-request work that does not depend on the ticket.
func (s *webhookSink) prepare() {
	s.fixed = s.headers.Clone()
	s.fixed.Set("Content-Type", s.contentType)
	s.fixed.Set("User-Agent", "triage")
	for k, v := range s.fixed {
		s.fixed[k] = v[:len(v):len(v)] // shared by requests: append must copy
	}
	s.sigKey = http.CanonicalHeaderKey(s.sigHeader)
	if s.secret != nil {
		s.hmacs.New = func() any { return hmac.New(sha256.New, s.secret) }
	}
}

// renderBody is the request body for t.
func (s *webhookSink) renderBody(t *ticket.Ticket) ([]byte, error) {
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

// signWith is the HMAC-SHA256 of body as "sha256=<hex>", from a keyed
// HMAC state, which it resets.
func signWith(m hash.Hash, body []byte) string {
	m.Reset()
	m.Write(body)
	var sum [sha256.Size]byte
	var out [len("sha256=") + 2*sha256.Size]byte
	copy(out[:], "sha256=")
	hex.Encode(out[len("sha256="):], m.Sum(sum[:0]))
	return string(out[:])
}

func (s *webhookSink) signature(body []byte) string {
	m := s.hmacs.Get().(hash.Hash)
	defer s.hmacs.Put(m)
	return signWith(m, body)
}

func (s *webhookSink) Send(ctx context.Context, t *ticket.Ticket) error {
	body, err := s.renderBody(t)
	if err != nil {
		return permanent("queue %s: %w", s.name, err)
	}
	req, err := http.NewRequestWithContext(ctx, s.method, s.url, bytes.NewReader(body))
	if err != nil {
		return permanent("queue %s: build request: %w", s.name, redactErr(err))
	}
	// Fixed headers first, then what the ticket decides: the same
	// precedence as setting them one by one on a copy of s.headers.
	h := make(http.Header, len(s.fixed)+2)
	for k, v := range s.fixed {
		h[k] = v
	}
	vals := make([]string, 0, 2) // one allocation for both values
	if id := sanitizeHeaderText(t.ID, 200); id != "" {
		vals = append(vals, id)
		h["Idempotency-Key"] = vals[0:1:1]
	}
	if s.secret != nil {
		vals = append(vals, s.signature(body))
		h[s.sigKey] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	req.Header = h
	resp, err := s.client.Do(req)
	if err != nil {
		// Trackers put tokens in webhook paths and queries (Slack, Teams):
		// errors, which are logged, name the origin only.
		return temporary("queue %s: %s: %w", s.name, s.method, originOnlyErr(err))
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// Read as much as below, so the connection can be reused; the
		// snippet is only needed for an error.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxLoggedResponse+maxDrainedResponse))
		return nil
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxLoggedResponse))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrainedResponse))

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
