package queue

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/invopop/jsonschema"
	"golang.org/x/net/http/httpguts"

	"github.com/triage-dev/triage/internal/boundedfile"
	"github.com/triage-dev/triage/internal/netaddr"
	"github.com/triage-dev/triage/ticket"
)

const (
	defaultSignatureHeader = "X-Triage-Signature"
	maxLoggedResponse      = 512      // response body octets kept in an error
	maxDrainedResponse     = 64 << 10 // read so the connection can be reused
)

func init() {
	register("webhook", sinkType{
		doc:      "calls an HTTP endpoint with the ticket JSON or a body rendered from a template",
		timeout:  30 * time.Second,
		settings: func() Settings { return new(WebhookConfig) },
	})
}

// WebhookConfig are the keys of a webhook queue.
type WebhookConfig struct {
	URL string `yaml:"url,omitempty" json:"url,omitempty" jsonschema:"oneof_required=url" jsonschema_description:"http(s) URL."`
	// URLEnv names the environment variable holding the URL, for URLs that
	// are themselves the credential (Slack, Teams, …).
	URLEnv string `yaml:"url_env,omitempty" json:"url_env,omitempty" jsonschema:"oneof_required=url_env" jsonschema_description:"Environment variable holding the URL, for URLs that are themselves the credential (Slack, Teams); instead of url."`
	Method string `yaml:"method,omitempty" json:"method,omitempty" jsonschema:"enum=POST,enum=PUT,enum=PATCH" jsonschema_description:"HTTP method; default POST."`
	// Headers are sent as written. Secret header values come from the
	// environment instead: HeadersEnv maps header name → variable name
	// (e.g. Authorization: ZAMMAD_AUTH holding "Token token=…").
	Headers         map[string]string `yaml:"headers,omitempty" json:"headers,omitempty" jsonschema_description:"Header fields sent as written (no secrets here)."`
	HeadersEnv      map[string]string `yaml:"headers_env,omitempty" json:"headers_env,omitempty" jsonschema_description:"Header name to the environment variable holding its value (for secrets)."`
	BodyTemplate    string            `yaml:"body_template,omitempty" json:"body_template,omitempty" jsonschema_description:"Go template file for the body, relative to this file; default the ticket JSON."`
	ContentType     string            `yaml:"content_type,omitempty" json:"content_type,omitempty" jsonschema_description:"Content-Type; default application/json."`
	SecretEnv       string            `yaml:"secret_env,omitempty" json:"secret_env,omitempty" jsonschema_description:"Environment variable holding the HMAC-SHA256 key of the body signature."`
	SecretFile      string            `yaml:"secret_file,omitempty" json:"secret_file,omitempty" jsonschema_description:"File holding the HMAC-SHA256 key of the body signature."`
	SignatureHeader string            `yaml:"signature_header,omitempty" json:"signature_header,omitempty" jsonschema_description:"Header carrying the signature; default X-Triage-Signature."`
	// ResponseID makes the webhook a tracker: the id it reads from the
	// create answer is recorded, so replies can go onto that ticket.
	ResponseID string       `yaml:"response_id,omitempty" json:"response_id,omitempty" jsonschema_description:"JSON pointer (RFC 6901, e.g. /id or /ticket/number) to the tracker's ticket id in the answer; . takes the whole answer as text (osTicket). Makes the queue keep one ticket per mail and thread replies."`
	Reply      WebhookReply `yaml:"reply,omitempty" json:"reply,omitempty" jsonschema_description:"How a reply is added to its ticket; needs response_id. Without it replies open tickets of their own."`
}

// WebhookReply is the call that adds a reply to an existing ticket; its
// templates see the ticket id as {{.TrackerID}}.
type WebhookReply struct {
	URL          string `yaml:"url,omitempty" json:"url,omitempty" jsonschema_description:"URL template, e.g. https://desk.example.com/api/v2/tickets/{{.TrackerID}}/reply."`
	Method       string `yaml:"method,omitempty" json:"method,omitempty" jsonschema:"enum=POST,enum=PUT,enum=PATCH" jsonschema_description:"HTTP method; default POST."`
	BodyTemplate string `yaml:"body_template,omitempty" json:"body_template,omitempty" jsonschema_description:"Go template file for the body, relative to this file; default the ticket JSON."`
}

// JSONSchemaExtend states in the config schema what validate checks across keys.
func (WebhookConfig) JSONSchemaExtend(s *jsonschema.Schema) {
	s.AllOf = append(s.AllOf, notBoth("secret_env", "secret_file"))
}

func (c *WebhookConfig) validate(_ string, add func(string, ...any)) {
	if c.URLEnv != "" {
		if c.URL != "" {
			add("set url or url_env, not both")
		}
	} else if u, err := parseWebhookURL(c.URL); err != nil {
		add("%v", err)
	} else {
		c.urlCredentialProblems(u, add)
	}
	if c.Method != "" && !validMethod(c.Method) {
		add("method %q is not one of POST, PUT, PATCH", c.Method)
	}
	for h := range c.Headers {
		if !httpguts.ValidHeaderFieldName(h) {
			add("headers: %q is not a valid header name", h)
		}
		if credentialHeader(h) {
			add("headers: %q looks like a credential: set it with headers_env so the value stays out of the YAML", h)
		}
	}
	for h, env := range c.HeadersEnv {
		if !httpguts.ValidHeaderFieldName(h) {
			add("headers_env: %q is not a valid header name", h)
		}
		if env == "" {
			add("headers_env: %q names no environment variable", h)
		}
	}
	if c.SignatureHeader != "" && !httpguts.ValidHeaderFieldName(c.SignatureHeader) {
		add("signature_header %q is not a valid header name", c.SignatureHeader)
	}
	if c.SecretEnv != "" && c.SecretFile != "" {
		add("set secret_env or secret_file, not both")
	}
	c.trackerProblems(add)
}

// urlCredentialProblems reports credentials in the url (they belong in the
// environment) and secret headers that would cross the network in clear.
func (c *WebhookConfig) urlCredentialProblems(u *url.URL, add func(string, ...any)) {
	if u.User != nil {
		add("url holds credentials: send them with headers_env (e.g. Authorization) instead; secrets never sit in the YAML")
	}
	if err := checkSecretHeaders(u, len(c.HeadersEnv)); err != nil {
		add("%v", err)
	}
}

// checkSecretHeaders refuses to send secret headers over plain http to a
// host that is not this machine.
func checkSecretHeaders(u *url.URL, secretHeaders int) error {
	if u.Scheme == "http" && secretHeaders > 0 && !netaddr.IsLoopbackHost(u.Hostname()) {
		return fmt.Errorf("headers_env sends secrets over plain http to %s: use https (http only to a loopback address)", u.Hostname())
	}
	return nil
}

// parseWebhookURL parses a webhook URL and says what is wrong with it,
// without repeating it (it may carry a token).
func parseWebhookURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return nil, errors.New("webhook needs url or url_env")
	case err != nil:
		return nil, fmt.Errorf("url: %w", originOnlyErr(err))
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("url scheme must be http or https")
	case u.Host == "":
		return nil, errors.New("url has no host")
	}
	return u, nil
}

func validMethod(m string) bool {
	switch m {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		return true
	}
	return false
}

// credentialHeader reports header names that carry credentials by convention.
func credentialHeader(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"auth", "token", "secret", "password", "passwd", "apikey", "api-key", "api_key", "cookie", "session"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// originOnlyErr cuts the URL in a *url.Error down to scheme://host/…, so
// that a token in its path or query never reaches a log line; a URL that
// does not parse (that of every parse error) becomes <url>.
func originOnlyErr(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	if u, perr := url.Parse(ue.URL); perr == nil && u.Host != "" {
		ue.URL = u.Scheme + "://" + u.Host + "/…"
	} else {
		ue.URL = "<url>"
	}
	return err
}

// webhookSink calls an HTTP endpoint with the ticket JSON or a body rendered
// from a template (a tracker's own API).
type webhookSink struct {
	name        string
	url         string
	method      string
	contentType string
	body        *template.Template // nil: the ticket document
	secret      []byte             // nil: no signature
	sigHeader   string
	client      *http.Client
	fixed       http.Header // the headers every request carries
}

func (c *WebhookConfig) open(q sinkSpec) (Sink, error) {
	s := &webhookSink{
		name:        q.name,
		url:         c.URL,
		method:      cmp.Or(c.Method, http.MethodPost),
		contentType: cmp.Or(c.ContentType, "application/json"),
		sigHeader:   cmp.Or(c.SignatureHeader, defaultSignatureHeader),
	}
	if c.URLEnv != "" {
		u, err := c.urlFromEnv(q.baseDir)
		if err != nil {
			return nil, fmt.Errorf("queue %s: %w", q.name, err)
		}
		s.url = u
	}
	s.client = newHTTPClient(q.timeout)
	if err := c.readSecrets(s, q.baseDir); err != nil {
		return nil, fmt.Errorf("queue %s: %w", q.name, err)
	}
	if c.BodyTemplate != "" {
		var err error
		if s.body, err = bodyTemplate(q, "body_template", c.BodyTemplate, s.contentType); err != nil {
			return nil, err
		}
	}
	if c.ResponseID != "" {
		return c.openTracker(q, s)
	}
	return s, nil
}

// maxTemplateFileBytes bounds a body template file.
const maxTemplateFileBytes = 1 << 20

// bodyTemplate reads and parses the body template file of key; for a
// JSON content type it must write values only through json (jsonSafe).
func bodyTemplate(q sinkSpec, key, file, contentType string) (*template.Template, error) {
	p := resolvePath(q.baseDir, file)
	text, err := boundedfile.Read(p, maxTemplateFileBytes)
	if err != nil {
		return nil, fmt.Errorf("queue %s: %s: %w", q.name, key, err)
	}
	t, err := parseTemplate(filepath.Base(p), string(text))
	if err == nil && isJSON(contentType) {
		err = jsonSafe(t)
	}
	if err != nil {
		return nil, fmt.Errorf("queue %s: %s %s: %w", q.name, key, p, err)
	}
	return t, nil
}

// urlFromEnv reads url_env and checks the URL as validate checks url.
func (c *WebhookConfig) urlFromEnv(baseDir string) (string, error) {
	raw, err := readSecret(c.URLEnv, "", baseDir)
	if err != nil {
		return "", fmt.Errorf("url_env: %w", err)
	}
	u, err := parseWebhookURL(raw)
	if err != nil {
		return "", fmt.Errorf("url from %s: %w", c.URLEnv, err)
	}
	return raw, checkSecretHeaders(u, len(c.HeadersEnv))
}

// readSecrets sets the headers every request of s carries, those from the
// environment included, and its signature key.
func (c *WebhookConfig) readSecrets(s *webhookSink, baseDir string) error {
	s.fixed = http.Header{}
	for k, v := range c.Headers {
		if !httpguts.ValidHeaderFieldValue(v) {
			return fmt.Errorf("header %s: value contains characters a header cannot", k)
		}
		s.fixed.Set(k, v)
	}
	for k, env := range c.HeadersEnv {
		v, err := readSecret(env, "", baseDir)
		if err != nil {
			return fmt.Errorf("header %s: %w", k, err)
		}
		if !httpguts.ValidHeaderFieldValue(v) {
			return fmt.Errorf("header %s: value of %s contains characters a header cannot", k, env)
		}
		s.fixed.Set(k, v)
	}
	if c.SecretEnv != "" || c.SecretFile != "" {
		v, err := readSecret(c.SecretEnv, c.SecretFile, baseDir)
		if err != nil {
			return fmt.Errorf("signature secret: %w", err)
		}
		s.secret = []byte(v)
	}
	s.fixed.Set("Content-Type", s.contentType)
	s.fixed.Set("User-Agent", "triage")
	return nil
}

func (s *webhookSink) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

// renderBody is a request body: the ticket document without a template,
// else what t renders over data.
func (s *webhookSink) renderBody(t *template.Template, data templateData) ([]byte, error) {
	if t == nil {
		b, err := json.Marshal(data.Ticket)
		if err != nil {
			return nil, fmt.Errorf("encode ticket: %w", err)
		}
		return b, nil
	}
	b, err := execTemplate(t, data)
	if err != nil {
		return nil, err
	}
	if strings.Contains(s.contentType, "json") && !json.Valid(b) {
		return nil, fmt.Errorf("template %s rendered invalid JSON (use {{json .Field}} for values)", t.Name())
	}
	return b, nil
}

// signature is the HMAC-SHA256 of body as "sha256=<hex>".
func (s *webhookSink) signature(body []byte) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func (s *webhookSink) Send(ctx context.Context, t *ticket.Ticket) error {
	body, err := s.renderBody(s.body, newTemplateData(t))
	if err != nil {
		return permanent("queue %s: %w", s.name, err)
	}
	_, err = s.post(ctx, s.method, s.url, body, t.ID, 0)
	return err
}

// post sends body with the queue's headers, the ticket id as
// Idempotency-Key and the signature, and returns the first keep octets of
// a 2xx answer (0: none) or the classified failure.
func (s *webhookSink) post(ctx context.Context, method, url string, body []byte, ticketID string, keep int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, permanent("queue %s: build request: %w", s.name, originOnlyErr(err))
	}
	// Fixed headers first, then what the ticket decides.
	req.Header = s.fixed.Clone()
	if id := sanitizeHeaderText(ticketID, 200); id != "" {
		req.Header.Set("Idempotency-Key", id)
	}
	if s.secret != nil {
		req.Header.Set(s.sigHeader, s.signature(body))
	}
	// Trackers put tokens in webhook paths and queries (Slack, Teams):
	// errors, which are logged, name the origin only.
	return roundTrip(s.client, req, fmt.Sprintf("queue %s: %s", s.name, method), keep)
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
