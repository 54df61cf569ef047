package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/invopop/jsonschema"
	"golang.org/x/net/http/httpguts"

	"github.com/triage-dev/triage/internal/clip"
)

// Bounds on what a tracker's API may answer: the tracker is a peer, and a
// broken or hostile one must not make the daemon read without end or
// recurse without end.
const (
	maxAPIResponse  = 4 << 20 // JSON octets read from one answer
	maxAPIJSONDepth = 64      // nesting of objects and arrays
	maxAPIMessage   = 400     // octets of the tracker's own error message kept
)

// errAPIResponse marks an answer that breaks the bounds or is not the JSON
// the documentation promises.
var errAPIResponse = errors.New("tracker answer unusable")

// apiError is a tracker's refusal: its HTTP status and, where it said one,
// its own message (Zammad's error_human, Jira's errorMessage(s)).
type apiError struct {
	Method, Path string
	Status       int
	Message      string
}

func (e *apiError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.Status, http.StatusText(e.Status), e.Message)
}

// apiStatus is the HTTP status of the tracker refusal in err, 0 if none.
func apiStatus(err error) int {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// trackerAPI calls one tracker's JSON REST API: a base URL, the headers
// every call carries (credentials among them), bounded answers, and
// failures classified as temporary or permanent.
type trackerAPI struct {
	queue  string // for error messages
	base   *url.URL
	header http.Header
	client *http.Client
}

// newTrackerAPI checks base (http(s), no credentials in it, secrets only
// over https or to loopback) and builds the client. auth is the value of
// the Authorization header; it is never part of an error.
func newTrackerAPI(queue, base, auth string, timeout time.Duration) (*trackerAPI, error) {
	if err := checkWebhookURL(base); err != nil {
		return nil, err
	}
	u, _ := url.Parse(base) // checked
	if u.User != nil {
		return nil, errors.New("url holds credentials: use token_env or token_file")
	}
	if err := checkSecretHeaders(u, 1); err != nil {
		return nil, errors.New(strings.Replace(err.Error(), "headers_env sends secrets", "the token would travel", 1))
	}
	if !httpguts.ValidHeaderFieldValue(auth) {
		return nil, errors.New("token contains characters a header cannot")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 64
	h := http.Header{}
	h.Set("Authorization", auth)
	h.Set("Accept", "application/json")
	h.Set("User-Agent", "triage")
	return &trackerAPI{
		queue:  queue,
		base:   u,
		header: h,
		client: &http.Client{
			Transport: transport,
			Timeout:   timeout,
			// A redirect would carry the token wherever the peer points.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

func (a *trackerAPI) close() { a.client.CloseIdleConnections() }

// apiCall is one request: path below the base URL (already escaped where
// it holds values), its query, and a body that is either JSON (in) or raw
// with its content type.
type apiCall struct {
	method      string
	path        string
	query       url.Values
	in          any       // encoded as JSON when not nil
	body        io.Reader // raw body when in is nil
	contentType string    // of body
	header      http.Header
}

// do sends c and decodes a 2xx answer into out (nil: the answer is read
// and dropped). Network failures, 408, 429 and 5xx are temporary; other
// statuses are the tracker's refusal, permanent, with its message.
func (a *trackerAPI) do(ctx context.Context, c apiCall, out any) error {
	u := *a.base
	u.Path += c.path
	u.RawPath = ""
	if strings.Contains(c.path, "%") {
		u.RawPath = a.base.EscapedPath() + c.path
	}
	u.RawQuery = c.query.Encode()
	body, ctype := c.body, c.contentType
	if c.in != nil {
		b, err := json.Marshal(c.in)
		if err != nil {
			return permanent("queue %s: encode %s %s: %w", a.queue, c.method, c.path, err)
		}
		body, ctype = bytes.NewReader(b), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, c.method, u.String(), body)
	if err != nil {
		return permanent("queue %s: %s %s: %w", a.queue, c.method, c.path, redactErr(err))
	}
	req.Header = a.header.Clone()
	for k, v := range c.header {
		req.Header[k] = v
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return temporary("queue %s: %s %s: %w", a.queue, c.method, c.path, originOnlyErr(err))
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrainedResponse))
		e := &apiError{Method: c.method, Path: c.path, Status: resp.StatusCode, Message: trackerMessage(snippet)}
		return statusError(resp.StatusCode, resp.Header, fmt.Errorf("queue %s: %w", a.queue, e))
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIResponse+1))
	if err != nil {
		return temporary("queue %s: %s %s: read answer: %w", a.queue, c.method, c.path, err)
	}
	if out == nil {
		return nil
	}
	// Temporary: the call may well have worked (a ticket created), and the
	// lookup before the next create finds it.
	if err := decodeBounded(b, out); err != nil {
		return temporary("queue %s: %s %s: %w", a.queue, c.method, c.path, err)
	}
	return nil
}

// statusError classifies a non-2xx HTTP status: 408, 429 and 5xx are
// temporary (with the peer's Retry-After), the rest permanent.
func statusError(code int, h http.Header, err error) *Error {
	if code == http.StatusTooManyRequests || code >= 500 || code == http.StatusRequestTimeout {
		return &Error{Temporary: true, RetryAfter: parseRetryAfter(h.Get("Retry-After"), time.Now()), Err: err}
	}
	return &Error{Err: err}
}

// decodeBounded decodes the JSON in b into out after checking its size
// and nesting depth.
func decodeBounded(b []byte, out any) error {
	if len(b) > maxAPIResponse {
		return fmt.Errorf("%w: over %d bytes", errAPIResponse, maxAPIResponse)
	}
	if err := checkJSONDepth(b, maxAPIJSONDepth); err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%w: %w", errAPIResponse, err)
	}
	return nil
}

// checkJSONDepth refuses JSON nested deeper than max, before anything is
// decoded (encoding/json allows 10000 levels).
func checkJSONDepth(b []byte, max int) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %w", errAPIResponse, err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if depth++; depth > max {
				return fmt.Errorf("%w: JSON nested deeper than %d", errAPIResponse, max)
			}
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

// trackerMessage is the human part of a tracker's error answer: Zammad's
// {"error", "error_human"}, Jira's {"errorMessage"} (Service Management)
// or {"errorMessages": [...], "errors": {field: message}} (platform), or
// else the start of the text. Made one clean line, bounded.
func trackerMessage(b []byte) string {
	var v struct {
		Error         any               `json:"error"`
		ErrorHuman    string            `json:"error_human"`
		ErrorMessage  string            `json:"errorMessage"`
		ErrorMessages []string          `json:"errorMessages"`
		Errors        map[string]string `json:"errors"`
		Message       string            `json:"message"`
	}
	var parts []string
	if checkJSONDepth(b, maxAPIJSONDepth) == nil && json.Unmarshal(b, &v) == nil {
		errText, _ := v.Error.(string)
		for _, s := range []string{v.ErrorHuman, v.ErrorMessage, v.Message} {
			if s != "" {
				parts = append(parts, s)
			}
		}
		if len(parts) == 0 && errText != "" {
			parts = append(parts, errText)
		}
		parts = append(parts, v.ErrorMessages...)
		for _, k := range slices.Sorted(maps.Keys(v.Errors)) {
			parts = append(parts, k+": "+v.Errors[k])
		}
	}
	if len(parts) == 0 {
		parts = []string{string(b)}
	}
	return sanitizeHeaderText(clip.UTF8(strings.Join(parts, "; "), 4*maxAPIMessage), maxAPIMessage)
}

// apiToken is a tracker API token from the environment or a file.
type apiToken struct {
	TokenEnv  string `yaml:"token_env,omitempty" json:"token_env,omitempty" jsonschema_description:"Environment variable holding the API token (the bare token)."`
	TokenFile string `yaml:"token_file,omitempty" json:"token_file,omitempty" jsonschema_description:"File holding the API token (the bare token)."`
}

func (t apiToken) validate(add func(string, ...any)) {
	switch {
	case t.TokenEnv != "" && t.TokenFile != "":
		add("set token_env or token_file, not both")
	case t.TokenEnv == "" && t.TokenFile == "":
		add("token_env or token_file is required")
	}
}

func (t apiToken) read(baseDir string) (string, error) {
	v, err := readSecret(t.TokenEnv, t.TokenFile, baseDir)
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	return v, nil
}

// JSONSchemaExtend states in the config schema what validate checks across keys.
func (apiToken) JSONSchemaExtend(s *jsonschema.Schema) {
	s.AllOf = append(s.AllOf, notBoth("token_env", "token_file"))
}

// renderField renders one settings template over the decision; the
// result is one line (a group, a request type, a field value).
func renderField(t *template.Template, data templateData) (string, error) {
	b, err := execTemplate(t, data)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// parseFieldTemplates parses name → template settings; problems go to add.
func parseFieldTemplates(key string, m map[string]string, add func(string, ...any)) map[string]*template.Template {
	out := make(map[string]*template.Template, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		t, err := parseTemplate(key+"."+name, m[name])
		if err != nil {
			add("%s.%s: %v", key, name, err)
			continue
		}
		out[name] = t
	}
	return out
}
