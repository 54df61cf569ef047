package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/triage-dev/triage/examples"
	"github.com/triage-dev/triage/internal/demo"
	"github.com/triage-dev/triage/internal/testkit"
)

// chromium finds the browser: Debian's chromium (make deps installs it).
// Under CI=true a missing browser fails the test, otherwise it is skipped.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found on PATH (required under CI=true; make deps installs it)")
	}
	t.Skip("chromium not found on PATH; make deps installs it")
	return ""
}

// browser starts one headless Chromium for the whole test and returns a
// tab's context.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, chromedp.WindowSize(1280, 900))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// site is one running demo daemon with its console.
type site struct {
	url, work, drop, token string
}

func startDemo(t *testing.T, o demo.Options) site {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := site{work: t.TempDir(), drop: t.TempDir(), token: o.Token}
	urls := make(chan string, 1)
	o.Out, o.Log, o.WorkDir, o.DropDir, o.Listen = io.Discard, io.Discard, s.work, s.drop, "127.0.0.1:0"
	o.Console = func(u string) { urls <- u }
	done := make(chan error, 1)
	go func() { done <- demo.Run(ctx, o) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("demo did not stop")
		}
	})
	select {
	case s.url = <-urls:
	case err := <-done:
		t.Fatalf("demo stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the demo's console did not start")
	}
	s.url = strings.TrimSuffix(s.url, "/")
	return s
}

// get calls the admin server with the bearer token when there is one.
func (s site) get(t *testing.T, path string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.url+path, nil)
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (s site) waitRecent(t *testing.T, n int) {
	t.Helper()
	testkit.WaitFor(t, 60*time.Second, fmt.Sprintf("%d handled messages", n), func() bool {
		_, b := s.get(t, "/console/api/overview")
		var o struct{ Recent int }
		return json.Unmarshal(b, &o) == nil && o.Recent >= n
	})
}

func (s site) rulesVersion(t *testing.T) string {
	t.Helper()
	_, b := s.get(t, "/status")
	var st struct{ Rules struct{ Version string } }
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("status: %v: %s", err, b)
	}
	return st.Rules.Version
}

func run[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// navigate runs steps that load a page (a click, a form) and waits for it.
func navigate(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) int {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(c, steps...)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return int(resp.Status)
}

// wait polls a JavaScript predicate until it holds.
func wait(t *testing.T, ctx context.Context, what, predicate string) {
	t.Helper()
	run(t, ctx, "waiting for "+what, chromedp.Poll[bool](predicate, chromedp.WithPollingTimeout(20*time.Second)))
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return run(t, ctx, "text of "+sel, chromedp.Evaluate[string](fmt.Sprintf("document.querySelector(%q).textContent", sel)))
}

// screenshot writes the viewport under the test's artifact directory
// (kept with go test -artifacts).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png := run(t, ctx, "screenshot", chromedp.CaptureScreenshot())
	if err := os.WriteFile(filepath.Join(t.ArtifactDir(), name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// noXSS asserts that nothing a hostile mail carried ran or became markup.
func noXSS(t *testing.T, ctx context.Context, where string) {
	t.Helper()
	ran := run(t, ctx, "xss probe", chromedp.Evaluate[bool](`window.__xss !== undefined`))
	injected := run(t, ctx, "xss markup", chromedp.Evaluate[int](
		`document.querySelectorAll('img[src="x"], svg[onload], b[onmouseover], script:not([src])').length`))
	if ran || injected != 0 {
		t.Errorf("%s: a hostile mail's payload ran (%t) or became markup (%d elements)", where, ran, injected)
	}
}

const (
	vpnRule    = "set: {tier: L2, queue: systems, runbook: kb/vpn}"
	dnsWhen    = `containsAnyWord(text, ["dns", "nxdomain"`
	dnsSet     = "set: {tier: L2, queue: systems, runbook: kb/dns}"
	xssSubject = "<script>window.__xss=2</script> VPN <b onmouseover=window.__xss=3>help</b>"
)

// setRules replaces the playground's rules text as typing would.
func setRules(t *testing.T, ctx context.Context, from, to string) {
	t.Helper()
	js := fmt.Sprintf(`(() => { const ta = document.getElementById("rules-text");
		if (!ta.value.includes(%q)) return false;
		ta.value = ta.value.replace(%q, %q); ta.dispatchEvent(new Event("input")); return true; })()`, from, from, to)
	if !run(t, ctx, "edit rules", chromedp.Evaluate[bool](js)) {
		t.Fatalf("the rules text lacks %q", from)
	}
}

// TestConsoleInBrowser drives the console of two demo daemons in one
// headless Chromium: an editable one without token, and a read-only one
// that asks for the token.
func TestConsoleInBrowser(t *testing.T) {
	mails, err := examples.Mails()
	if err != nil {
		t.Fatal(err)
	}
	sampleMails := len(mails) // what the demo delivers
	ctx := browser(t)
	s := startDemo(t, demo.Options{})
	s.waitRecent(t, sampleMails)
	xss, err := os.ReadFile("testdata/xss.eml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.drop, "xss.eml"), xss, 0o644); err != nil {
		t.Fatal(err)
	}
	s.waitRecent(t, sampleMails+1)
	r := consoleRun{ctx: ctx, s: s, sampleMails: sampleMails}

	t.Run("overview shows the tickets and a chart", r.overview)

	t.Run("tickets filter by tier and text, and show the trace", r.ticketsFilter)

	t.Run("a hostile mail executes nothing", r.hostileMail)

	t.Run("playground classifies an uploaded mail and shows its trace", r.playgroundUpload)

	t.Run("an edit shows its diff; a broken one is refused, a good one is activated", r.editAndSave)

	t.Run("a POST without the CSRF token is refused", r.csrf)

	t.Run("three similar mails make a problem, shown with its tickets", r.problemsPage)

	t.Run("quarantined mail shows its reason and moves back", r.quarantine)

	t.Run("with a token the console asks to log in; without allow_edit a save is refused", r.loginAndReadOnly)
}

// consoleRun is the browser and the demo the subtests of
// TestConsoleInBrowser share, in order.
type consoleRun struct {
	ctx         context.Context
	s           site
	sampleMails int // the demo's mails
}

// overview: overview shows the tickets and a chart.
func (r consoleRun) overview(t *testing.T) {
	ctx, s, sampleMails := r.ctx, r.s, r.sampleMails
	do(t, ctx, "overview", chromedp.Navigate(s.url+"/"))
	wait(t, ctx, "the latest tickets", `document.querySelectorAll("#latest tbody tr a").length == 10`)
	wait(t, ctx, "the charts", `document.querySelector("#hourly canvas") !== null && document.querySelector("#l1 canvas") !== null`)
	if got := text(t, ctx, "#handled"); got != fmt.Sprint(sampleMails+1) {
		t.Errorf("handled in 24 h = %q, want %d", got, sampleMails+1)
	}
	if got := text(t, ctx, "#sinks"); !strings.Contains(got, "security") || !strings.Contains(got, "helpdesk") {
		t.Errorf("sinks table lacks the demo's queues: %q", got)
	}
	if got := text(t, ctx, "#mailboxes"); !strings.Contains(got, "INBOX") || !strings.Contains(got, "connected") {
		t.Errorf("mailboxes table: %q", got)
	}
	// uPlot drew both charts: a canvas of non-zero size with painted
	// pixels, one series per tier and the dropped mail, and the L1
	// share with the two bounds of its band and the band's fill.
	type chart struct {
		Width, Height, Painted, BandPixels, Series int
		Labels                                     []string
	}
	probe := func(id string) chart {
		return run(t, ctx, "chart "+id, chromedp.Evaluate[chart](fmt.Sprintf(`(() => {
			const el = document.getElementById(%q), c = el.querySelector("canvas");
			const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
			let painted = 0, band = 0;
			for (let i = 0; i < px.length; i += 4) {
				if (px[i+3] > 0) painted++;
				// the band's translucent green; the canvas stores it premultiplied, so allow rounding
				if (Math.abs(px[i]-46) < 8 && Math.abs(px[i+1]-139) < 8 && Math.abs(px[i+2]-87) < 8 && px[i+3] > 20 && px[i+3] < 80) band++;
			}
			return {Width: c.width, Height: c.height, Painted: painted, BandPixels: band, Series: Number(el.dataset.series),
				Labels: [...el.querySelectorAll(".u-legend .u-series .u-label")].map(l => l.textContent)};
		})()`, id)))
	}
	hourly, l1 := probe("hourly"), probe("l1")
	if hourly.Width == 0 || hourly.Height == 0 || hourly.Painted < 1000 {
		t.Errorf("the hourly chart is not drawn: %+v", hourly)
	}
	for _, want := range []string{"L1", "L2", "L3", "dropped"} {
		if !slices.Contains(hourly.Labels, want) {
			t.Errorf("the hourly chart's legend lacks %q: %q", want, hourly.Labels)
		}
	}
	if hourly.Series != len(hourly.Labels)-1 || hourly.Series < 4 {
		t.Errorf("the hourly chart has %d series for the legend %q", hourly.Series, hourly.Labels)
	}
	if l1.Width == 0 || l1.Series != 3 || !slices.Equal(l1.Labels, []string{"hour (UTC)", "L1 share", "healthy from", "healthy to"}) {
		t.Errorf("the L1 chart: %+v", l1)
	}
	if l1.BandPixels < 500 {
		t.Errorf("the L1 chart's healthy band is not filled (%d band pixels): %+v", l1.BandPixels, l1)
	}
	if got := text(t, ctx, "#l1-share"); !strings.Contains(got, "(healthy 65–80 %)") || !strings.HasPrefix(got, "L1 ") {
		t.Errorf("L1 share shown as %q", got)
	}
	screenshot(t, ctx, "overview")
	noXSS(t, ctx, "overview")
}

// ticketsFilter: tickets filter by tier and text, and show the trace.
func (r consoleRun) ticketsFilter(t *testing.T) {
	ctx, s, sampleMails := r.ctx, r.s, r.sampleMails
	do(t, ctx, "tickets", chromedp.Navigate(s.url+"/tickets"))
	all := run(t, ctx, "rows", chromedp.Evaluate[int](`document.querySelectorAll("#tickets tbody tr[data-tier]").length`))
	if all != sampleMails+1 {
		t.Errorf("%d rows, want %d", all, sampleMails+1)
	}
	do(t, ctx, "choose L3", chromedp.SetValue("#f-tier", "L3"))
	navigate(t, ctx, "filter L3", chromedp.Click(`#filter button[type="submit"]`))
	wait(t, ctx, "the filtered list", `location.search.includes("tier=L3")`)
	tiers := run(t, ctx, "tiers", chromedp.Evaluate[[]string](`[...document.querySelectorAll("#tickets tbody tr[data-tier]")].map(r => r.dataset.tier)`))
	if len(tiers) == 0 || len(tiers) >= all {
		t.Errorf("tier filter kept %d of %d rows", len(tiers), all)
	}
	for _, tier := range tiers {
		if tier != "L3" {
			t.Errorf("tier filter L3 shows a %s row", tier)
		}
	}
	screenshot(t, ctx, "tickets")
	do(t, ctx, "filter text", chromedp.Navigate(s.url+"/tickets?q="+url.QueryEscape("vpn")))
	subjects := run(t, ctx, "subjects", chromedp.Evaluate[[]string](`[...document.querySelectorAll("#tickets tbody td a")].map(a => a.textContent)`))
	if len(subjects) < 2 {
		t.Errorf("text filter vpn: %q", subjects)
	}
	for _, s := range subjects {
		if !strings.Contains(strings.ToLower(s), "vpn") {
			t.Errorf("text filter vpn shows %q", s)
		}
	}
	do(t, ctx, "find a ticket", chromedp.Navigate(s.url+"/tickets?q="+url.QueryEscape("VPN keeps disconnecting")))
	navigate(t, ctx, "open it", chromedp.Click(`//a[starts-with(., "VPN keeps disconnecting")]`))
	trace := text(t, ctx, "#trace")
	if !strings.Contains(trace, "vpn") || !strings.Contains(trace, "matched") || !strings.Contains(trace, "no match") {
		t.Errorf("trace lacks the vpn match and the rules that did not match:\n%s", trace)
	}
	if doc := text(t, ctx, "#doc"); !strings.Contains(doc, `"runbook": "kb/vpn"`) {
		t.Errorf("ticket document:\n%s", doc)
	}
	screenshot(t, ctx, "ticket")
}

// hostileMail: a hostile mail executes nothing.
func (r consoleRun) hostileMail(t *testing.T) {
	ctx, s := r.ctx, r.s
	do(t, ctx, "list", chromedp.Navigate(s.url+"/tickets?q=VPN"))
	noXSS(t, ctx, "tickets")
	navigate(t, ctx, "open the hostile ticket", chromedp.Click(`//a[contains(., "window.__xss=2")]`))
	if got := text(t, ctx, "#subject"); got != xssSubject {
		t.Errorf("subject shown as %q, want the literal %q", got, xssSubject)
	}
	if got := text(t, ctx, "#from"); !strings.Contains(got, "<img src=x onerror=window.__xss=1>") {
		t.Errorf("sender name shown as %q", got)
	}
	if got := text(t, ctx, "#attachments"); !strings.Contains(got, "onload=window.__xss=7") && !strings.Contains(got, "onerror=window.__xss=6") {
		t.Errorf("attachment name shown as %q", got)
	}
	if got := text(t, ctx, "#body"); !strings.Contains(got, "<script>window.__xss=4</script>") {
		t.Errorf("body shown as %q", got)
	}
	noXSS(t, ctx, "ticket page")
	do(t, ctx, "overview", chromedp.Navigate(s.url+"/"))
	wait(t, ctx, "the latest tickets", `document.querySelectorAll("#latest tbody tr a").length == 10`)
	noXSS(t, ctx, "overview")
}

// playgroundUpload: playground classifies an uploaded mail and shows its trace.
func (r consoleRun) playgroundUpload(t *testing.T) {
	ctx, s := r.ctx, r.s
	do(t, ctx, "playground", chromedp.Navigate(s.url+"/playground"))
	wait(t, ctx, "the first check", `document.getElementById("check-status").textContent.includes("passes the check")`)
	sample := filepath.Join(t.TempDir(), "printer-jam.eml")
	raw, err := examples.Files.ReadFile("mail/printer-jam.eml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sample, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "upload and classify", chromedp.SetUploadFiles("#eml", []string{sample}), chromedp.Click("#classify"),
		chromedp.WaitVisible("#result-decision"))
	if got := text(t, ctx, "#result-decision"); !strings.Contains(got, "L1") || !strings.Contains(got, "kb/printer") {
		t.Errorf("decision %q, want L1 with the printer runbook", got)
	}
	if got := text(t, ctx, "#result-trace"); !strings.Contains(got, "printer") || !strings.Contains(got, "matched") {
		t.Errorf("trace:\n%s", got)
	}
	screenshot(t, ctx, "playground")
	// The hostile mail, picked among the recent ones.
	do(t, ctx, "pick the hostile mail", chromedp.Navigate(s.url+"/playground"),
		chromedp.Evaluate[chromedp.Void](`(() => { const s = document.getElementById("recent");
			for (const o of s.options) if (o.textContent.includes("__xss=2")) s.value = o.value; })()`),
		chromedp.Click("#classify"))
	wait(t, ctx, "the hostile mail's decision", `document.getElementById("result-subject").textContent.includes("__xss=2")`)
	noXSS(t, ctx, "playground")
}

// editAndSave: an edit shows its diff; a broken one is refused, a good one is activated.
func (r consoleRun) editAndSave(t *testing.T) {
	ctx, s := r.ctx, r.s
	rulesFile := filepath.Join(s.work, "rules.yaml")
	before, _ := os.ReadFile(rulesFile)
	active := s.rulesVersion(t)
	do(t, ctx, "playground", chromedp.Navigate(s.url+"/playground"))
	wait(t, ctx, "the first check", `document.getElementById("check-status").textContent.includes("passes the check")`)

	// VPN to L1: the replay shows the VPN mail moving, the rule tests refuse it.
	setRules(t, ctx, vpnRule, strings.Replace(vpnRule, "L2", "L1", 1))
	wait(t, ctx, "the diff", `document.getElementById("diff-summary").textContent.match(/^[1-9]\d* of/) !== null`)
	if got := text(t, ctx, "#diff-transitions"); !strings.Contains(got, "L2 → L1") {
		t.Errorf("transitions:\n%s", got)
	}
	if got := text(t, ctx, "#diff-changes"); !strings.Contains(got, "VPN keeps disconnecting") || !strings.Contains(got, "tier L2→L1") {
		t.Errorf("changed messages:\n%s", got)
	}
	if got := text(t, ctx, "#check-errors"); !strings.Contains(got, `test "VPN drops go to L2 systems" failed`) {
		t.Errorf("check errors:\n%s", got)
	}
	do(t, ctx, "show the edited rule", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
		const ta = document.getElementById("rules-text"); const i = ta.value.indexOf(%q);
		const line = ta.value.slice(0, i).split("\n").length;
		ta.scrollTop = Math.max(0, (line - 6) * (parseFloat(getComputedStyle(ta).lineHeight) || 17)); })()`, strings.Replace(vpnRule, "L2", "L1", 1))))
	screenshot(t, ctx, "playground-diff")

	// A typo: check errors inline; the save is refused and changes nothing.
	setRules(t, ctx, strings.Replace(vpnRule, "L2", "L1", 1), vpnRule)
	setRules(t, ctx, dnsWhen, strings.Replace(dnsWhen, "text", "subjct", 1))
	wait(t, ctx, "the check error", `document.getElementById("check-errors").textContent.includes("unknown name subjct")`)
	do(t, ctx, "save", chromedp.Click("#save"))
	wait(t, ctx, "the refusal", `document.getElementById("save-status").textContent.startsWith("refused")`)
	if got := text(t, ctx, "#save-errors"); !strings.Contains(got, "rules.yaml:") || !strings.Contains(got, "subjct") {
		t.Errorf("save errors:\n%s", got)
	}
	if after, _ := os.ReadFile(rulesFile); !bytes.Equal(after, before) {
		t.Error("a refused save changed the rules file")
	}
	if v := s.rulesVersion(t); v != active {
		t.Errorf("a refused save changed the active version %s → %s", active, v)
	}

	// A good edit: DNS failures at P2. It passes the gate and becomes active.
	setRules(t, ctx, strings.Replace(dnsWhen, "text", "subjct", 1), dnsWhen)
	setRules(t, ctx, dnsSet, strings.Replace(dnsSet, "tier: L2,", "tier: L2, priority: P2,", 1))
	wait(t, ctx, "the check", `document.getElementById("check-status").textContent.includes("passes the check")`)
	if got := text(t, ctx, "#diff-transitions"); !strings.Contains(got, "priority") || !strings.Contains(got, "P3 → P2") {
		t.Errorf("transitions of the DNS edit:\n%s", got)
	}
	do(t, ctx, "save", chromedp.Click("#save"))
	wait(t, ctx, "the save", `document.getElementById("save-status").textContent.startsWith("saved")`)
	after, _ := os.ReadFile(rulesFile)
	if !bytes.Contains(after, []byte("tier: L2, priority: P2, queue: systems, runbook: kb/dns")) {
		t.Error("the saved edit is not in the rules file")
	}
	v := s.rulesVersion(t)
	if v == active || !strings.Contains(text(t, ctx, "#save-status"), v) {
		t.Errorf("active version after the save %s (was %s); page says %q", v, active, text(t, ctx, "#save-status"))
	}
	do(t, ctx, "rules", chromedp.Navigate(s.url+"/rules"))
	if got := text(t, ctx, "#reloads"); !strings.Contains(got, "activated") {
		t.Errorf("reload history:\n%s", got)
	}
	if got := text(t, ctx, "#rules"); !strings.Contains(got, "rules.yaml:") || !strings.Contains(got, "vpn") {
		t.Errorf("rules table:\n%s", got)
	}
	screenshot(t, ctx, "rules")
}

// csrf: a POST without the CSRF token is refused.
func (r consoleRun) csrf(t *testing.T) {
	ctx, s := r.ctx, r.s
	do(t, ctx, "playground", chromedp.Navigate(s.url+"/playground"))
	status := run(t, ctx, "post", chromedp.Evaluate[int](`(async () => {
		const f = new FormData(); f.append("rules", "x");
		const r = await fetch("/console/api/save", {method: "POST", body: f}); return r.status; })()`,
		chromedp.EvalAwaitPromise))
	if status != http.StatusForbidden {
		t.Errorf("POST without CSRF token: %d, want 403", status)
	}
	resp, err := http.Post(s.url+"/console/api/check", "application/x-www-form-urlencoded", strings.NewReader("rules=x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST without CSRF token from a client: %d, want 403", resp.StatusCode)
	}
}

// problemsPage: three similar mails make a problem, shown with its tickets.
func (r consoleRun) problemsPage(t *testing.T) {
	ctx, s := r.ctx, r.s
	_, b := s.get(t, "/console/api/overview")
	var before struct{ Recent int }
	if err := json.Unmarshal(b, &before); err != nil {
		t.Fatal(err)
	}
	subjects := make([]string, 3)
	for i := range subjects {
		name := fmt.Sprintf("problem-%d.eml", i+1)
		raw, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		subjects[i] = strings.TrimSpace(strings.SplitN(strings.SplitN(string(raw), "Subject: ", 2)[1], "\n", 2)[0])
		if err := os.WriteFile(filepath.Join(s.drop, name), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s.waitRecent(t, before.Recent+3)
	do(t, ctx, "overview", chromedp.Navigate(s.url+"/"))
	wait(t, ctx, "the open-problem count", `Number(document.getElementById("problems-open").textContent) >= 1`)
	navigate(t, ctx, "problems", chromedp.Click(`//nav/a[.="Problems"]`))
	row := `//table[@id="problems"]//tr[.//a[starts-with(., "Cannot print")]]`
	got := run(t, ctx, "the problem", chromedp.Evaluate[[]string](fmt.Sprintf(`(() => {
		const tr = document.evaluate(%q, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue;
		if (!tr) return [];
		return [tr.dataset.problem, tr.cells[2].textContent, ...[...tr.querySelectorAll("ul.tickets a")].map(a => a.textContent + " " + a.getAttribute("href"))]; })()`, row)))
	if len(got) < 5 || !strings.HasPrefix(got[0], "p-") || got[1] != "3" {
		t.Fatalf("the printer problem (id, size, tickets): %q", got)
	}
	for _, subject := range subjects {
		found := false
		for _, link := range got[2:] {
			found = found || strings.HasPrefix(link, subject+" /tickets/")
		}
		if !found {
			t.Errorf("the problem lacks the ticket %q: %q", subject, got[2:])
		}
	}
	screenshot(t, ctx, "problems")
	noXSS(t, ctx, "problems")
	if n := run(t, ctx, "markup from a subject", chromedp.Evaluate[int](`document.querySelectorAll("u[onclick]").length`)); n != 0 {
		t.Errorf("a problem mail's subject became markup (%d elements)", n)
	}
	navigate(t, ctx, "open a ticket of the problem", chromedp.Click(`//table[@id="problems"]//ul[@class="tickets"]//a[starts-with(., "Cannot print")]`))
	if got := text(t, ctx, "#subject"); got != subjects[2] {
		t.Errorf("the problem's ticket link opens %q, want %q", got, subjects[2])
	}
}

// quarantine: quarantined mail shows its reason and moves back.
func (r consoleRun) quarantine(t *testing.T) {
	ctx, s := r.ctx, r.s
	garbage := []byte("\x00\x01\x02 not a mail at all \xff\xfe")
	if err := os.WriteFile(filepath.Join(s.drop, "garbage.eml"), garbage, 0o644); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 30*time.Second, "the garbage to be quarantined", func() bool {
		_, b := s.get(t, "/console/api/overview")
		var o struct{ Filed int }
		return json.Unmarshal(b, &o) == nil && o.Filed >= 1
	})
	do(t, ctx, "quarantine", chromedp.Navigate(s.url+"/quarantine"))
	if got := text(t, ctx, "#filed"); !strings.Contains(got, "quarantine") || !strings.Contains(got, "demo / INBOX") {
		t.Errorf("filed list:\n%s", got)
	}
	screenshot(t, ctx, "quarantine")
	navigate(t, ctx, "requeue", chromedp.Click(`#requeue button`))
	if got := text(t, ctx, "#moved"); !strings.Contains(got, "Moved 1 messages of demo quarantine") {
		t.Errorf("after the requeue: %q", got)
	}
}

// loginAndReadOnly: with a token the console asks to log in; without allow_edit a save is refused.
func (r consoleRun) loginAndReadOnly(t *testing.T) {
	ctx, sampleMails := r.ctx, r.sampleMails
	ro := startDemo(t, demo.Options{Token: "s3cret-admin-token", ReadOnly: true})
	ro.waitRecent(t, sampleMails)
	do(t, ctx, "console", chromedp.Navigate(ro.url+"/"), chromedp.WaitVisible("#login"))
	if n := run(t, ctx, "tickets", chromedp.Evaluate[int](`document.querySelectorAll("#latest").length`)); n != 0 {
		t.Error("the overview is shown without the token")
	}
	screenshot(t, ctx, "login")
	if code := navigate(t, ctx, "wrong token", chromedp.SendKeys("#token", "guess"), chromedp.Submit("#login")); code != http.StatusUnauthorized {
		t.Errorf("a wrong token: %d, want 401", code)
	}
	do(t, ctx, "the refusal", chromedp.WaitVisible("#page-error"))
	navigate(t, ctx, "log in", chromedp.SendKeys("#token", "s3cret-admin-token"), chromedp.Submit("#login"))
	wait(t, ctx, "the overview", `document.querySelectorAll("#latest tbody tr a").length == 10`)
	cookie := run(t, ctx, "cookie", chromedp.Evaluate[string](`document.cookie`))
	if strings.Contains(cookie, "triage_console") {
		t.Error("the session cookie is readable by script (want HttpOnly)")
	}

	rulesFile := filepath.Join(ro.work, "rules.yaml")
	before, _ := os.ReadFile(rulesFile)
	active := ro.rulesVersion(t)
	do(t, ctx, "playground", chromedp.Navigate(ro.url+"/playground"), chromedp.WaitVisible("#save-off"))
	if !run(t, ctx, "save button", chromedp.Evaluate[bool](`document.getElementById("save").disabled`)) {
		t.Error("the save button is enabled with allow_edit false")
	}
	setRules(t, ctx, dnsSet, strings.Replace(dnsSet, "tier: L2,", "tier: L2, priority: P2,", 1))
	wait(t, ctx, "the check", `document.getElementById("check-status").textContent.includes("passes the check")`)
	status := run(t, ctx, "save", chromedp.Evaluate[int](`(async () => {
		const f = new FormData(); f.append("rules", document.getElementById("rules-text").value);
		f.append("base", document.getElementById("playground").dataset.base);
		const r = await fetch("/console/api/save", {method: "POST", body: f,
			headers: {"X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content}});
		return r.status; })()`, chromedp.EvalAwaitPromise))
	if status != http.StatusForbidden {
		t.Errorf("save with allow_edit false: %d, want 403", status)
	}
	if after, _ := os.ReadFile(rulesFile); !bytes.Equal(after, before) {
		t.Error("a save with allow_edit false changed the rules file")
	}
	if v := ro.rulesVersion(t); v != active {
		t.Errorf("a save with allow_edit false changed the active version %s → %s", active, v)
	}
	if code, _ := (site{url: ro.url}).get(t, "/console/api/overview"); code != http.StatusUnauthorized {
		t.Errorf("the API without the token: %d, want 401", code)
	}
}
