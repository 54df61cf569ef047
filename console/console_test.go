package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/triage-dev/triage/classifier"
	"github.com/triage-dev/triage/rules"
)

const testRules = `version: 1
defaults: {tier: L1, priority: P3, queue: helpdesk, runbook: kb/general}
rules:
  - name: vpn
    when: containsAnyWord(text, ["vpn"])
    set: {tier: L2}
`

// fakeSource is a daemon with a rules file on disk and two handled mails.
type fakeSource struct {
	path      string
	set       *rules.Set
	recent    []Record
	reloadErr error
	reloads   int
	requeued  []string // account/folder of each requeue
	problems  []Problem
	// problemsOpen is the snapshot's count.
	problemsOpen int
}

func newFake(t testing.TB) *fakeSource {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte(testRules), 0o640); err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSource{path: path, set: set}
	for i, raw := range []string{
		"From: Ann <ann@example.com>\r\nSubject: VPN down\r\n\r\nthe vpn drops\r\n",
		"From: Bob <bob@example.com>\r\nSubject: <script>alert(1)</script>\r\n\r\nhello\r\n",
	} {
		tk, err := classifier.New().Classify(set, []byte(raw), classifier.Meta{Account: "a", Mailbox: "INBOX"})
		if err != nil {
			t.Fatal(err)
		}
		f.recent = append([]Record{{Seq: uint64(i + 1), At: time.Now(), Outcome: "forwarded", Ticket: *tk, Raw: []byte(raw)}}, f.recent...)
	}
	return f
}

func (f *fakeSource) Snapshot() Snapshot {
	return Snapshot{Version: "test", MaxMessageBytes: 1 << 20, ProblemsOpen: f.problemsOpen,
		Hours: []Hour{{Start: time.Now().UTC().Truncate(time.Hour), Tiers: map[string]int{"L1": 3, "L2": 1}}}}
}
func (f *fakeSource) Recent() []Record           { return f.recent }
func (f *fakeSource) Reloads() []Reload          { return nil }
func (f *fakeSource) RuleHits() map[string]int64 { return map[string]int64{"vpn": 1} }
func (f *fakeSource) Rules() *rules.Set          { return f.set }
func (f *fakeSource) RulesPath() string          { return f.path }
func (f *fakeSource) Problems() []Problem        { return f.problems }
func (f *fakeSource) Gate(files []rules.File) (*rules.Set, error) {
	return rules.LoadFiles(files)
}

func (f *fakeSource) Reload(context.Context) rules.ReloadResult {
	f.reloads++
	if f.reloadErr != nil {
		return rules.ReloadResult{Version: f.set.Version, Err: f.reloadErr, Errors: []string{f.reloadErr.Error()}}
	}
	set, err := rules.Load(f.path)
	if err != nil {
		return rules.ReloadResult{Version: f.set.Version, Err: err}
	}
	f.set = set
	return rules.ReloadResult{Version: set.Version, Changed: true}
}

func (f *fakeSource) Requeue(_ context.Context, account, folder string) (int, error) {
	f.requeued = append(f.requeued, account+"/"+folder)
	return 2, nil
}

func newTestConsole(t *testing.T, src Source, opts Options) *httptest.Server {
	t.Helper()
	c, err := New(src, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// form is a multipart body as the playground's script sends it.
func form(t *testing.T, fields map[string]string) (string, io.Reader) {
	t.Helper()
	var b strings.Builder
	w := multipart.NewWriter(&b)
	for k, v := range fields {
		if err := w.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	_ = w.Close()
	return w.FormDataContentType(), strings.NewReader(b.String())
}

func TestAuthAndCSRF(t *testing.T) {
	src := newFake(t)
	srv := newTestConsole(t, src, Options{Token: "tok"})
	client := &http.Client{CheckRedirect: noRedirect}
	get := func(path string, hdr map[string]string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	resp, body := get("/", nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `id="login"`) {
		t.Errorf("GET / without token: %d, login form %t", resp.StatusCode, strings.Contains(body, `id="login"`))
	}
	if resp, _ := get("/console/api/overview", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("API without token: %d", resp.StatusCode)
	}
	if resp, _ := get("/console/api/overview", map[string]string{"Authorization": "Bearer tok"}); resp.StatusCode != http.StatusOK {
		t.Errorf("API with the bearer token: %d", resp.StatusCode)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q", csp)
	}

	login := func(token, csrf string) *http.Response {
		resp, err := client.PostForm(srv.URL+"/login", url.Values{"token": {token}, "csrf": {csrf}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	c, _ := New(src, Options{Token: "tok"}) // another process: another CSRF key
	if resp := login("tok", c.csrfToken("login")); resp.StatusCode != http.StatusForbidden {
		t.Errorf("login with a foreign CSRF token: %d", resp.StatusCode)
	}
	_, page := get("/login", nil)
	csrf := between(page, `name="csrf" value="`, `"`)
	if resp := login("wrong", csrf); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("login with a wrong token: %d", resp.StatusCode)
	}
	resp = login("tok", csrf)
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == cookieName {
			session = ck
		}
	}
	if resp.StatusCode != http.StatusSeeOther || session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode {
		t.Fatalf("login: %d, cookie %+v", resp.StatusCode, session)
	}
	cookie := map[string]string{"Cookie": cookieName + "=" + session.Value}
	resp, page = get("/playground", cookie)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("playground with the session: %d", resp.StatusCode)
	}
	sessionCSRF := between(page, `name="csrf-token" content="`, `"`)

	post := func(csrf string) int {
		ct, body := form(t, map[string]string{"rules": testRules})
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/console/api/check", body)
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Cookie", cookie["Cookie"])
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name, csrf string
		want       int
	}{
		{"no CSRF token", "", http.StatusForbidden},
		{"the login form's token", csrf, http.StatusForbidden},
		{"the session's token", sessionCSRF, http.StatusOK},
	} {
		if got := post(tc.csrf); got != tc.want {
			t.Errorf("POST with %s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

func between(s, from, to string) string {
	_, after, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, to)
	return v
}

// TestSaveRefusedByTheReloadChangesNothing: rules that pass the gate in
// memory but are refused by the reload itself (the files changed under
// it) leave the previous file in place.
func TestSaveRefusedByTheReloadChangesNothing(t *testing.T) {
	src := newFake(t)
	srv := newTestConsole(t, src, Options{AllowEdit: true})
	_, page := mustGet(t, srv.URL+"/playground")
	csrf := between(page, `name="csrf-token" content="`, `"`)
	base := between(page, `data-base="`, `"`)
	edited := strings.Replace(testRules, "tier: L2", "tier: L3", 1)

	save := func() (int, string) {
		ct, body := form(t, map[string]string{"rules": edited, "base": base})
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/console/api/save", body)
		req.Header.Set("Content-Type", ct)
		req.Header.Set("X-CSRF-Token", csrf)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	src.reloadErr = errors.New("rules.yaml:1:1: refused")
	code, body := save()
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "refused") {
		t.Errorf("save refused by the reload: %d %s", code, body)
	}
	if got, _ := os.ReadFile(src.path); string(got) != testRules {
		t.Errorf("the refused save left the file changed:\n%s", got)
	}
	if st, _ := os.Stat(src.path); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(src.path), ".triage-console-*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}

	src.reloadErr = nil
	if code, body := save(); code != http.StatusOK || !strings.Contains(body, `"saved":true`) {
		t.Fatalf("save: %d %s", code, body)
	}
	if got, _ := os.ReadFile(src.path); string(got) != edited {
		t.Errorf("the saved file:\n%s", got)
	}
	if st, _ := os.Stat(src.path); st.Mode().Perm() != 0o640 {
		t.Errorf("mode after the save %v, want the file's own 0640", st.Mode().Perm())
	}
	// The same base again: the file changed since, the save is refused.
	if code, _ := save(); code != http.StatusConflict {
		t.Errorf("save from a stale base: %d, want 409", code)
	}
}

func mustGet(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestPagesEscapeMail: html/template escapes what a hostile mail carries
// on every server-rendered page (the browser test proves nothing runs).
func TestPagesEscapeMail(t *testing.T) {
	src := newFake(t)
	srv := newTestConsole(t, src, Options{})
	for _, path := range []string{"/tickets", "/tickets/2", "/playground"} {
		code, body := mustGet(t, srv.URL+path)
		if code != http.StatusOK {
			t.Errorf("%s: %d", path, code)
		}
		if strings.Contains(body, "<script>alert(1)") || !strings.Contains(body, "&lt;script&gt;alert(1)") {
			t.Errorf("%s does not escape the subject", path)
		}
	}
	if code, _ := mustGet(t, srv.URL+"/tickets/99"); code != http.StatusNotFound {
		t.Errorf("unknown ticket: %d", code)
	}
}

// TestProblemsPage: the open problems with their tickets, linked while the
// console keeps them, hostile summaries and subjects escaped, and the
// count on the overview.
func TestProblemsPage(t *testing.T) {
	src := newFake(t)
	srv := newTestConsole(t, src, Options{})
	if code, body := mustGet(t, srv.URL+"/problems"); code != http.StatusOK || !strings.Contains(body, "No open problem") {
		t.Errorf("no problem: %d\n%s", code, body)
	}
	at := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	src.problems = []Problem{{ID: "p-abc", Summary: "<img src=x onerror=alert(2)> printer", Size: 3, FirstSeen: at, LastSeen: at.Add(time.Hour),
		Tickets: []ProblemTicket{
			{ID: src.recent[0].Ticket.ID, At: at, Sender: "bob@example.com", Subject: "<script>alert(1)</script>"},
			{ID: "gone", At: at.Add(time.Minute), Sender: "eve@example.com", Subject: "printer offline"},
		}}}
	code, body := mustGet(t, srv.URL+"/problems")
	if code != http.StatusOK {
		t.Fatalf("/problems: %d", code)
	}
	for _, want := range []string{`data-problem="p-abc"`, "&lt;img src=x onerror=alert(2)&gt; printer", "2026-12-04 09:00:00", "2026-12-04 10:00:00",
		`<a href="/tickets/2">&lt;script&gt;alert(1)&lt;/script&gt;</a>`, "printer offline <span class=\"note\">(no longer among the recent messages)"} {
		if !strings.Contains(body, want) {
			t.Errorf("/problems lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") {
		t.Error("/problems does not escape the mail")
	}
	src.problemsOpen = 1
	_, ov := mustGet(t, srv.URL+"/console/api/overview")
	if !strings.Contains(ov, `"problems_open":1`) {
		t.Errorf("overview: %s", ov)
	}
}

func TestLimits(t *testing.T) {
	src := newFake(t)
	srv := newTestConsole(t, src, Options{AllowEdit: true})
	_, page := mustGet(t, srv.URL+"/playground")
	csrf := between(page, `name="csrf-token" content="`, `"`)
	for _, tc := range []struct {
		name, path string
		fields     map[string]string
		want       int
	}{
		{"rules text over the bound", "/console/api/check", map[string]string{"rules": strings.Repeat("#", MaxRulesBytes+1)}, http.StatusRequestEntityTooLarge},
		{"a rules file that is not ours", "/console/api/check", map[string]string{"file": "../../etc/passwd", "rules": "x"}, http.StatusNotFound},
		{"pasted mail over max_message_bytes", "/console/api/classify", map[string]string{"pasted": strings.Repeat("a", 2<<20)}, http.StatusRequestEntityTooLarge},
		{"nothing to classify", "/console/api/classify", map[string]string{}, http.StatusBadRequest},
		{"a recent message that is gone", "/console/api/classify", map[string]string{"recent": "77"}, http.StatusNotFound},
	} {
		ct, body := form(t, tc.fields)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+tc.path, body)
		req.Header.Set("Content-Type", ct)
		req.Header.Set("X-CSRF-Token", csrf)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/console/api/check", strings.NewReader("rules=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-CSRF-Token", csrf)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a form that is not multipart: %d, want 400", resp.StatusCode)
	}
}

func TestHourlyData(t *testing.T) {
	now := time.Date(2026, 12, 4, 15, 30, 0, 0, time.UTC)
	hours := []Hour{
		{Start: now.Truncate(time.Hour), Tiers: map[string]int{"L1": 4, "<script>x</script>": 2}, Dropped: 1},
		{Start: now.Add(-2 * time.Hour).Truncate(time.Hour), Tiers: map[string]int{"L2": 3}},
		{Start: now.Add(-23 * time.Hour).Truncate(time.Hour), Tiers: map[string]int{"L1": 5}},
		{Start: now.Add(-30 * time.Hour).Truncate(time.Hour), Tiers: map[string]int{"L1": 99}},
	}
	ch := hourlyData(hours, []string{"L1", "L2", "L3"}, now)
	if len(ch.Hours) != 24 || ch.Hours[23] != now.Truncate(time.Hour).Unix() || ch.Hours[0] != now.Add(-23*time.Hour).Truncate(time.Hour).Unix() {
		t.Fatalf("hours %v, want the 24 up to %v", ch.Hours, now.Truncate(time.Hour))
	}
	var labels []string
	for _, s := range ch.Series {
		labels = append(labels, s.Label)
	}
	if want := []string{"L1", "L2", "L3", "<script>x</script>", "dropped"}; !slices.Equal(labels, want) {
		t.Fatalf("series %q, want %q (declared tiers in order, then others, then dropped)", labels, want)
	}
	want := map[string]map[int]int{"L1": {23: 4, 0: 5}, "L2": {21: 3}, "L3": {}, "<script>x</script>": {23: 2}, "dropped": {23: 1}}
	for _, s := range ch.Series {
		for i, v := range s.Values {
			if v != want[s.Label][i] {
				t.Errorf("%s at slot %d = %d, want %d (the hour 30 h ago is out)", s.Label, i, v, want[s.Label][i])
			}
		}
	}
	if !ch.Series[4].Dropped || ch.Series[0].Dropped {
		t.Error("only the last series is the dropped mail")
	}
}

func TestChartAPI(t *testing.T) {
	srv := newTestConsole(t, newFake(t), Options{})
	code, body := mustGet(t, srv.URL+"/console/api/chart")
	var ch hourlyChart
	if err := json.Unmarshal([]byte(body), &ch); code != http.StatusOK || err != nil {
		t.Fatalf("chart API: %d %v\n%s", code, err, body)
	}
	// The fake's hour: 3 L1 and 1 L2 of 4 forwarded; its rules declare L1, L2, L3.
	if ch.L1Share != 75 || ch.L1Band != [2]float64{l1BandLow, l1BandHigh} || len(ch.Series) != 4 || ch.Series[0].Values[23] != 3 || ch.Series[1].Values[23] != 1 {
		t.Errorf("chart data: %+v", ch)
	}
}

// FuzzClassify feeds the playground arbitrary mail: it never panics, and
// whatever the mail holds, a page of the console would show it escaped.
func FuzzClassify(f *testing.F) {
	f.Add([]byte("From: a@example.com\r\nSubject: vpn <script>\r\n\r\nvpn\r\n"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/html\r\n\r\n<img src=x onerror=1>\r\n--x--\r\n"))
	f.Add([]byte{0, 1, 2})
	src := newFake(f)
	c, err := New(src, Options{})
	if err != nil {
		f.Fatal(err)
	}
	h := c.Handler()
	csrf := c.csrfToken("anonymous")
	f.Fuzz(func(t *testing.T, raw []byte) {
		var b strings.Builder
		w := multipart.NewWriter(&b)
		part, _ := w.CreateFormFile("eml", "x.eml")
		_, _ = part.Write(raw)
		_ = w.Close()
		req := httptest.NewRequest(http.MethodPost, "/console/api/classify", strings.NewReader(b.String()))
		req.Header.Set("Content-Type", w.FormDataContentType())
		req.Header.Set("X-CSRF-Token", csrf)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && rec.Code != http.StatusUnprocessableEntity && rec.Code != http.StatusBadRequest {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("content type %q", ct)
		}
	})
}

func TestRequeue(t *testing.T) {
	for _, tc := range []struct {
		name      string
		allowEdit bool
		folder    string
		csrf      bool
		want      int
		requeued  string
	}{
		{"allowed", true, "quarantine", true, http.StatusSeeOther, "[acct/quarantine]"},
		{"the failed folder", true, "failed", true, http.StatusSeeOther, "[acct/failed]"},
		{"allow_edit false", false, "quarantine", true, http.StatusForbidden, "[]"},
		{"not a filing folder", true, "INBOX", true, http.StatusBadRequest, "[]"},
		{"no CSRF token", true, "quarantine", false, http.StatusForbidden, "[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := newFake(t)
			c, err := New(src, Options{AllowEdit: tc.allowEdit})
			if err != nil {
				t.Fatal(err)
			}
			v := url.Values{"account": {"acct"}, "folder": {tc.folder}}
			if tc.csrf {
				v.Set("csrf", c.csrfToken("anonymous"))
			}
			req := httptest.NewRequest(http.MethodPost, "/quarantine/requeue", strings.NewReader(v.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := httptest.NewRecorder()
			c.Handler().ServeHTTP(rec, req)
			if rec.Code != tc.want || fmt.Sprint(src.requeued) != tc.requeued {
				t.Errorf("status %d, requeued %v; want %d, %s", rec.Code, src.requeued, tc.want, tc.requeued)
			}
			if tc.want == http.StatusSeeOther && !strings.Contains(rec.Header().Get("Location"), "moved=2") {
				t.Errorf("redirect to %q", rec.Header().Get("Location"))
			}
		})
	}
}
