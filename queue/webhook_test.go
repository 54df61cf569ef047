package queue

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/triage-dev/triage/internal/duration"
)

// hookServer records requests and answers from a script of responses.
type hookServer struct {
	mu      sync.Mutex
	reqs    []hookRequest
	answers []func(http.ResponseWriter) // one per request; the last repeats
	srv     *httptest.Server
}

type hookRequest struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

func startHookServer(t *testing.T, answers ...func(http.ResponseWriter)) *hookServer {
	t.Helper()
	h := &hookServer{answers: answers}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		n := len(h.reqs)
		h.reqs = append(h.reqs, hookRequest{r.Method, r.URL.Path, r.Header.Clone(), body})
		answer := h.answers[min(n, len(h.answers)-1)]
		h.mu.Unlock()
		answer(w)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookServer) requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.reqs...)
}

func status(code int, headers ...string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, `{"result":"`+http.StatusText(code)+`"}`)
	}
}

func TestWebhookTicketJSONSignedAndKeyed(t *testing.T) {
	hook := startHookServer(t, status(201))
	t.Setenv("TEST_HOOK_SECRET", "hmac-key-1")
	t.Setenv("TEST_HOOK_TOKEN", "Bearer tok-123")
	log, logs := testLogger()
	sink, err := New("security", Config{Type: "webhook", Settings: &WebhookConfig{URL: hook.srv.URL + "/api/tickets", SecretEnv: "TEST_HOOK_SECRET", Headers: map[string]string{"X-Source": "triage-test"}, HeadersEnv: map[string]string{"Authorization": "TEST_HOOK_TOKEN"}}}, "", log)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	tk := sampleTicket(readMail(t, "vpn.eml"))
	if err := sink.Send(context.Background(), tk); err != nil {
		t.Fatal(err)
	}
	reqs := hook.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodPost || r.Path != "/api/tickets" {
		t.Errorf("%s %s", r.Method, r.Path)
	}
	for k, want := range map[string]string{
		"Idempotency-Key": tk.ID, "Content-Type": "application/json",
		"X-Source": "triage-test", "Authorization": "Bearer tok-123",
	} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	m := hmac.New(sha256.New, []byte("hmac-key-1"))
	m.Write(r.Body)
	if got, want := r.Header.Get("X-Triage-Signature"), "sha256="+hex.EncodeToString(m.Sum(nil)); got != want {
		t.Errorf("signature %q, want %q", got, want)
	}
	var doc map[string]any
	if err := json.Unmarshal(r.Body, &doc); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if doc["id"] != tk.ID || doc["classification"].(map[string]any)["tier"] != "L2" {
		t.Errorf("ticket document: %s", r.Body)
	}
	if _, ok := doc["Raw"]; ok {
		t.Error("raw message leaked into the document")
	}
	if l := logs.String(); strings.Contains(l, "hmac-key-1") || strings.Contains(l, "tok-123") {
		t.Errorf("secret in log: %s", l)
	}
}

func TestWebhookTemplates(t *testing.T) {
	dir := filepath.Join("..", "examples")
	tests := []struct {
		file string
		want map[string]any // JSON path (dot separated) → value
	}{
		{"rt5.json.tmpl", map[string]any{
			"Queue": "Systems", "Subject": "VPN drops every few minutes since the update this morning",
			"Requestor": "ann@example.com", "Priority": 70.0, "ContentType": "text/plain",
			"CustomFields.Tier": "L2", "CustomFields.Runbook": "kb/vpn",
		}},
		{"zammad.json.tmpl", map[string]any{
			"title": "VPN drops every few minutes since the update this morning", "group": "2nd Level",
			"customer": "ann@example.com", "priority": "3 high", "tags": "network",
			"article.subject": "VPN drops every few minutes since the update this morning",
			"article.type":    "note", "article.internal": false,
		}},
		{"jira-sm.json.tmpl", map[string]any{
			"serviceDeskId": "1", "requestTypeId": "11",
			"requestFieldValues.summary":       "VPN drops every few minutes since the update this morning",
			"requestFieldValues.priority.name": "High",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			hook := startHookServer(t, status(201))
			sink, err := New("tracker", Config{Type: "webhook", Settings: &WebhookConfig{URL: hook.srv.URL, BodyTemplate: filepath.Join("templates", tt.file)}}, dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			tk := sampleTicket(readMail(t, "vpn.eml"))
			if err := sink.Send(context.Background(), tk); err != nil {
				t.Fatal(err)
			}
			body := hook.requests()[0].Body
			var doc map[string]any
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatalf("rendered body is not JSON: %v\n%s", err, body)
			}
			for path, want := range tt.want {
				if got := lookup(doc, path); got != want {
					t.Errorf("%s = %#v, want %#v", path, got, want)
				}
			}
			// The free text carries the body (quotes and <> escaped) and the decision.
			text := string(body)
			for _, want := range []string{`\"quoted\" <tag> & done`, tk.ID, "kb/vpn", "network, error-codes"} {
				if !strings.Contains(text, want) {
					t.Errorf("body lacks %q:\n%s", want, text)
				}
			}
		})
	}
}

func lookup(doc map[string]any, path string) any {
	var cur any = doc
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

func TestWebhookTemplateHostileValuesStayJSON(t *testing.T) {
	hook := startHookServer(t, status(200))
	sink, err := New("tracker", Config{Type: "webhook", Settings: &WebhookConfig{URL: hook.srv.URL, BodyTemplate: "templates/zammad.json.tmpl"}}, filepath.Join("..", "examples"), nil)
	if err != nil {
		t.Fatal(err)
	}
	tk := sampleTicket(nil)
	tk.Subject = "\"}, \"group\": \"Admins\", \"x\": {\"a\":\"\x00\u2028"
	tk.Body = strings.Repeat("</script>\\\"", 1000)
	tk.Class.Tier = "L9\"\n"
	if err := sink.Send(context.Background(), tk); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(hook.requests()[0].Body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["group"] != "Users" || doc["title"] != tk.Subject {
		t.Errorf("group %v title %q", doc["group"], doc["title"])
	}
}

func TestWebhookStatusClasses(t *testing.T) {
	tests := []struct {
		name          string
		answer        func(http.ResponseWriter)
		wantTemporary bool
		wantAfter     time.Duration
	}{
		{"400 permanent", status(400), false, 0},
		{"404 permanent", status(404), false, 0},
		{"422 permanent", status(422), false, 0},
		{"redirect not followed", status(302, "Location", "http://127.0.0.1:1/elsewhere"), false, 0},
		{"429 with seconds", status(429, "Retry-After", "7"), true, 7 * time.Second},
		{"503 with date", status(503, "Retry-After", time.Now().Add(90*time.Second).UTC().Format(http.TimeFormat)), true, 90 * time.Second},
		{"500 without hint", status(500), true, 0},
		{"408 temporary", status(408), true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hook := startHookServer(t, tt.answer)
			sink, err := New("q", Config{Type: "webhook", Settings: &WebhookConfig{URL: hook.srv.URL}}, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			err = sink.Send(context.Background(), sampleTicket(nil))
			var qe *Error
			if !errors.As(err, &qe) {
				t.Fatalf("want *Error, got %v", err)
			}
			if qe.Temporary != tt.wantTemporary {
				t.Errorf("temporary %v, want %v: %v", qe.Temporary, tt.wantTemporary, err)
			}
			// Dates have second precision; allow that much.
			if d := qe.RetryAfter - tt.wantAfter; d > time.Second || d < -2*time.Second {
				t.Errorf("RetryAfter %v, want about %v", qe.RetryAfter, tt.wantAfter)
			}
			if !strings.Contains(err.Error(), "result") {
				t.Errorf("response body not in the error: %v", err)
			}
		})
	}
}

func TestWebhookNetworkErrorTemporary(t *testing.T) {
	hook := startHookServer(t, status(200))
	url := hook.srv.URL
	hook.srv.Close()
	sink, err := New("q", Config{Type: "webhook", Settings: &WebhookConfig{URL: url}}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Send(context.Background(), sampleTicket(nil)); err == nil || !Temporary(err) {
		t.Fatalf("want temporary, got %v", err)
	}
}

func TestWebhookRetryAfterThenOK(t *testing.T) {
	hook := startHookServer(t, status(429, "Retry-After", "1"), status(200))
	log, logs := testLogger()
	cfg := Config{Type: "webhook", Retry: RetryConfig{Initial: duration.Duration(time.Millisecond), Max: duration.Duration(5 * time.Second)}, Settings: &WebhookConfig{URL: hook.srv.URL}}
	sink, err := New("security", cfg, "", log)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRouter(map[string]Sink{"security": sink}, map[string]Config{"security": cfg}, log, nil)
	tk := sampleTicket(nil)
	tk.Class.Queue = "security"
	if err := r.Deliver(context.Background(), tk); err != nil {
		t.Fatal(err)
	}
	reqs := hook.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if reqs[0].Header.Get("Idempotency-Key") != reqs[1].Header.Get("Idempotency-Key") {
		t.Error("retry changed the Idempotency-Key")
	}
	// The wait the router logged is the server's hint, not our 1ms schedule.
	if !strings.Contains(logs.String(), "next=1s") {
		t.Errorf("Retry-After not honoured:\n%s", logs.String())
	}
}

func TestWebhookOutageThenRecovery(t *testing.T) {
	hook := startHookServer(t, status(503), status(503), status(503), status(200))
	log, logs := testLogger()
	cfg := Config{Type: "webhook", Retry: fastRetry(), Settings: &WebhookConfig{URL: hook.srv.URL}}
	sink, err := New("security", cfg, "", log)
	if err != nil {
		t.Fatal(err)
	}
	obs := newRecordingObserver()
	r := NewRouter(map[string]Sink{"security": sink}, map[string]Config{"security": cfg}, log, obs)
	tk := sampleTicket(nil)
	tk.Class.Queue = "security"
	if err := r.Deliver(context.Background(), tk); err != nil {
		t.Fatal(err)
	}
	if n := len(hook.requests()); n != 4 {
		t.Errorf("%d requests, want 4", n)
	}
	if c := strings.Count(logs.String(), "will retry"); c != 3 {
		t.Errorf("%d retries logged, want 3:\n%s", c, logs.String())
	}
	if obs.failed[true] != 3 || obs.sent != 1 {
		t.Errorf("observer failed %v sent %d", obs.failed, obs.sent)
	}
}

func TestWebhookConfigErrors(t *testing.T) {
	t.Setenv("TEST_BAD_HEADER", "a\r\nX-Injected: 1")
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"missing env", Config{Type: "webhook", Settings: &WebhookConfig{URL: "http://127.0.0.1:1/", SecretEnv: "TEST_NOT_SET_ANYWHERE"}}, "TEST_NOT_SET_ANYWHERE is not set"},
		{"header value from env with CRLF", Config{Type: "webhook", Settings: &WebhookConfig{URL: "http://127.0.0.1:1/", HeadersEnv: map[string]string{"Authorization": "TEST_BAD_HEADER"}}}, "cannot"},
		{"missing template", Config{Type: "webhook", Settings: &WebhookConfig{URL: "http://127.0.0.1:1/", BodyTemplate: "nope.tmpl"}}, "body_template"},
		{"bad scheme", Config{Type: "webhook", Settings: &WebhookConfig{URL: "ftp://x/"}}, "scheme"},
		{"bad method", Config{Type: "webhook", Settings: &WebhookConfig{URL: "http://x/", Method: "GET"}}, "method"},
		{"header name net/http refuses", Config{Type: "webhook", Settings: &WebhookConfig{URL: "http://x/", Headers: map[string]string{"X-Desk(ops)": "1"}}}, "not a valid header name"},
		{"header name with a space", Config{Type: "webhook", Settings: &WebhookConfig{URL: "http://x/", HeadersEnv: map[string]string{"X Desk": "TEST_BAD_HEADER"}}}, "not a valid header name"},
		{"signature header with a colon", Config{Type: "webhook", Settings: &WebhookConfig{URL: "http://x/", SignatureHeader: "X-Sig:"}}, "not a valid header name"},
		{"url password redacted", Config{Type: "webhook", Settings: &WebhookConfig{URL: "http://user:pa ss@x/%zz"}}, "url"},
		{"url_env not set", Config{Type: "webhook", Settings: &WebhookConfig{URLEnv: "TEST_HOOK_URL_UNSET"}}, "TEST_HOOK_URL_UNSET is not set"},
		{"url_env bad scheme", Config{Type: "webhook", Settings: &WebhookConfig{URLEnv: "TEST_HOOK_URL_FTP"}}, "scheme"},
		{"url_env plain http with secrets", Config{Type: "webhook", Settings: &WebhookConfig{URLEnv: "TEST_HOOK_URL_REMOTE", HeadersEnv: map[string]string{"Authorization": "TEST_BAD_HEADER"}}}, "plain http"},
	}
	t.Setenv("TEST_HOOK_URL_FTP", "ftp://hooks.example.com/T000/B000/pa ss")
	t.Setenv("TEST_HOOK_URL_REMOTE", "http://hooks.example.com/T000/B000/pa ss")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New("q", tt.cfg, t.TempDir(), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want error with %q, got %v", tt.want, err)
			}
			if strings.Contains(err.Error(), "pa ss") || strings.Contains(err.Error(), "X-Injected") {
				t.Errorf("error leaks a secret: %v", err)
			}
		})
	}
}

// TestWebhookURLFromEnv: a URL that is itself the credential (Slack,
// Teams) comes from the environment, and its path never reaches an error.
func TestWebhookURLFromEnv(t *testing.T) {
	hook := startHookServer(t, status(200))
	t.Setenv("TEST_HOOK_URL", hook.srv.URL+"/services/T000/B000/secret-path-token")
	cfg := Config{Type: "webhook", Settings: &WebhookConfig{URLEnv: "TEST_HOOK_URL"}}
	if p := ValidateConfig("chat", cfg); len(p) != 0 {
		t.Fatalf("ValidateConfig: %v", p)
	}
	if p := ValidateConfig("chat", Config{Type: "webhook", Settings: &WebhookConfig{URLEnv: "X", URL: "https://x/"}}); len(p) == 0 {
		t.Error("url and url_env together accepted")
	}
	sink, err := New("chat", cfg, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	if err := sink.Send(context.Background(), sampleTicket(readMail(t, "vpn.eml"))); err != nil {
		t.Fatal(err)
	}
	if reqs := hook.requests(); len(reqs) != 1 || reqs[0].Path != "/services/T000/B000/secret-path-token" {
		t.Fatalf("requests = %+v", reqs)
	}
	hook.srv.Close()
	err = sink.Send(context.Background(), sampleTicket(readMail(t, "vpn.eml")))
	if err == nil || strings.Contains(err.Error(), "secret-path-token") {
		t.Errorf("error after the peer went away = %v; want an error without the URL's path", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"0", 0}, {"-5", 0}, {"30", 30 * time.Second}, {" 2 ", 2 * time.Second},
		{"Fri, 27 Nov 2026 10:01:00 GMT", time.Minute},
		{"Fri, 27 Nov 2026 09:00:00 GMT", 0}, {"soon", 0}, {"99999999", 24 * time.Hour},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestJSONTemplateMustEscape: a JSON body template whose output is not the
// json function's is refused when the queue is built, so a subject such as
// `", "group": "3rd Level` cannot add a key; the same with json is safe.
func TestJSONTemplateMustEscape(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, tmpl, contentType, want string
	}{
		{"quoted field", `{"title": "{{.Subject}}", "group": "Users"}`, "", `t.tmpl:1:13: {{.Subject}} writes text into JSON unescaped`},
		{"bare number", `{"p": {{.Source.UID}}}`, "application/vnd.api+json", `{{.Source.UID}} writes text into JSON unescaped`},
		{"inside a range", `[{{range .Tags}}{{.}},{{end}}]`, "", `{{.}} writes text into JSON unescaped`},
		{"json call", `{"title": {{json .Subject}}, "p": {{.Source.UID | json}}{{if .Tags}}, "t": {{json .Tags}}{{end}}}`, "", ""},
		{"form body may be plain", `title={{.Subject}}`, "application/x-www-form-urlencoded", ""},
	}
	for _, tt := range tests {
		if err := os.WriteFile(filepath.Join(dir, "t.tmpl"), []byte(tt.tmpl), 0o600); err != nil {
			t.Fatal(err)
		}
		hook := startHookServer(t, status(201))
		sink, err := New("q", Config{Type: "webhook", Settings: &WebhookConfig{URL: hook.srv.URL, BodyTemplate: "t.tmpl", ContentType: tt.contentType}}, dir, nil)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
		if err != nil || tt.contentType != "" {
			continue
		}
		tk := sampleTicket(nil)
		tk.Subject = `", "group": "3rd Level`
		if err := sink.Send(context.Background(), tk); err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(hook.requests()[0].Body, &doc); err != nil || doc["title"] != tk.Subject || doc["group"] != nil {
			t.Errorf("%s: body %s: the subject must stay one string value", tt.name, hook.requests()[0].Body)
		}
	}
}
