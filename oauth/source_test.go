package oauth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/triage-dev/triage/internal/oauthtest"
	"github.com/triage-dev/triage/internal/testkit"
)

const (
	clientID = "00000000-0000-0000-0000-0000000000c1"
	secret   = "client-secret-value-XyZ"
	mailbox  = "helpdesk@example.com"
)

// logOf returns a debug logger whose every line is checked, when the test
// ends, for any secret, token or assertion the endpoint saw.
func logOf(t *testing.T, srv *oauthtest.Server) (*slog.Logger, *testkit.SyncBuffer) {
	buf := &testkit.SyncBuffer{}
	t.Cleanup(func() { assertNoSecrets(t, buf.String(), srv.Seen()) })
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// assertNoSecrets is the grep: no line of logs holds any of secrets.
func assertNoSecrets(t *testing.T, logs string, secrets []string) {
	t.Helper()
	if len(secrets) == 0 {
		t.Fatal("the endpoint saw no secret: the grep would prove nothing")
	}
	for i, line := range strings.Split(logs, "\n") {
		for _, s := range secrets {
			if len(s) >= 8 && strings.Contains(line, s) {
				t.Errorf("log line %d holds a secret or token: %q", i+1, line)
			}
		}
	}
}

func baseConfig(srv *oauthtest.Server, log *slog.Logger) Config {
	return Config{
		Account: "m365", Provider: ProviderMicrosoft, Tenant: "example.com", ClientID: clientID,
		TokenURL: srv.TokenURL, DeviceAuthURL: srv.DeviceURL, AuthURL: srv.AuthURL,
		Subject: mailbox, Log: log, RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond,
	}
}

// mustNew is New that fails the test on an error.
func mustNew(t *testing.T, cfg Config) *Source {
	t.Helper()
	src, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// mustToken is src.Token that fails the test on an error.
func mustToken(t *testing.T, src *Source) string {
	t.Helper()
	tok, err := src.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// acceptedToken gets a token from a new source of cfg and checks that the
// IMAP side would accept it for the mailbox.
func acceptedToken(t *testing.T, cfg Config, srv *oauthtest.Server) string {
	t.Helper()
	src := mustNew(t, cfg)
	tok := mustToken(t, src)
	if err := srv.Check(tok, mailbox); err != nil {
		t.Errorf("the IMAP side would refuse the token: %v", err)
	}
	return tok
}

// running starts src.Run; stop ends it and waits.
func running(src *Source) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); src.Run(ctx) }()
	return ctx, func() { cancel(); <-done }
}

func secretFunc(v string) func() (string, error) { return func() (string, error) { return v, nil } }

// TestAppOnlyCredentials: Microsoft's app-only flow with a client secret
// and with a certificate, and their wrong variants.
func TestAppOnlyCredentials(t *testing.T) {
	srv := oauthtest.Start(t, time.Hour)
	srv.AddClient(clientID, secret)
	cert, certPEM := oauthtest.AppCertificate(t)
	srv.AddCertClient("cert-client", cert)
	_, otherPEM := oauthtest.AppCertificate(t) // a certificate the app does not know
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, other := write("app.pem", certPEM), write("other.pem", otherPEM)
	onlyCert := write("nokey.pem", certPEM[:strings.Index(string(certPEM), "-----BEGIN PRIVATE KEY")])
	tests := []struct {
		name     string
		edit     func(*Config)
		newErr   string // New fails with this
		tokenErr string // Token fails with this
	}{
		{"client secret", func(c *Config) { c.ClientSecret = secretFunc(secret) }, "", ""},
		{"certificate", func(c *Config) { c.ClientID, c.CertificateFile = "cert-client", good }, "", ""},
		{"wrong secret", func(c *Config) { c.ClientSecret = secretFunc("wrong-secret-value") }, "", "HTTP 401 invalid_client"},
		{"unregistered certificate", func(c *Config) { c.ClientID, c.CertificateFile = "cert-client", other }, "", "HTTP 401 invalid_client"},
		{"certificate without key", func(c *Config) { c.CertificateFile = onlyCert }, "want a CERTIFICATE and a PRIVATE KEY", ""},
		{"missing certificate", func(c *Config) { c.CertificateFile = filepath.Join(dir, "nope.pem") }, "certificate file", ""},
		{"secret unreadable", func(c *Config) {
			c.ClientSecret = func() (string, error) { return "", errors.New("environment variable M365_SECRET is not set") }
		}, "", "M365_SECRET is not set"},
		{"secret and certificate", func(c *Config) { c.ClientSecret, c.CertificateFile = secretFunc(secret), good }, "exactly one of a client secret and a certificate", ""},
		{"no tenant", func(c *Config) { c.ClientSecret, c.Tenant = secretFunc(secret), "" }, "Microsoft tenant", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, _ := logOf(t, srv)
			cfg := baseConfig(srv, log)
			tt.edit(&cfg)
			src, err := New(cfg)
			if tt.newErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.newErr) {
					t.Fatalf("New: err = %v, want %q", err, tt.newErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tok, err := src.Token(context.Background())
			if tt.tokenErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.tokenErr) {
					t.Fatalf("Token: err = %v, want %q", err, tt.tokenErr)
				}
				if st := src.Status(); st.Failures != 1 || !strings.Contains(st.LastError, tt.tokenErr) {
					t.Errorf("status = %+v", st)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Check(tok, mailbox); err != nil {
				t.Errorf("the IMAP side would refuse the token: %v", err)
			}
			if st := src.Status(); st.Refreshes != 1 || st.Expiry.IsZero() || st.Provider != ProviderMicrosoft || st.Flow != FlowAppOnly {
				t.Errorf("status = %+v", st)
			}
		})
	}
}

func TestServiceAccount(t *testing.T) {
	srv := oauthtest.Start(t, time.Hour)
	key := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(key, srv.ServiceAccount(t, "triage@project.iam.gserviceaccount.com"), 0o600); err != nil {
		t.Fatal(err)
	}
	log, _ := logOf(t, srv)
	tok := acceptedToken(t, Config{Account: "gmail", Provider: ProviderGoogle, ServiceAccountFile: key, Subject: mailbox, Log: log}, srv)
	if err := srv.Check(tok, "someone-else@example.com"); err == nil {
		t.Error("the token impersonates more than the mailbox user")
	}
	if _, err := New(Config{Account: "gmail", Provider: ProviderGoogle, ServiceAccountFile: key, Subject: mailbox, Flow: FlowAppOnly}); err == nil {
		t.Error("google app_only accepted")
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"type":"authorized_user","private_key":"SECRETKEY"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := New(Config{Account: "gmail", Provider: ProviderGoogle, ServiceAccountFile: bad, Subject: mailbox})
	if err == nil || strings.Contains(err.Error(), "SECRETKEY") || !strings.Contains(err.Error(), "not a Google service account") {
		t.Errorf("bad key file: %v", err)
	}
}

// tokenProbe calls Token every step while the source runs and checks each
// token against the endpoint as the IMAP server would.
func tokenProbe(ctx context.Context, t *testing.T, src *Source, srv *oauthtest.Server, step time.Duration) (calls *atomic.Int64, done chan struct{}) {
	calls = &atomic.Int64{}
	done = make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(step)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			tok, err := src.Token(ctx)
			if ctx.Err() != nil {
				return
			}
			calls.Add(1)
			if err != nil {
				t.Errorf("Token: %v", err)
				return
			}
			if err := srv.Check(tok, mailbox); err != nil {
				t.Errorf("Token handed out a token the server refuses: %v", err)
				return
			}
		}
	}()
	return calls, done
}

// TestRefreshBeforeExpiry: with 2 s tokens the background refresh keeps a
// usable token at hand, Token never asks the endpoint itself after the
// first, and the expiry reported is expires_in's.
func TestRefreshBeforeExpiry(t *testing.T) {
	const life = 2 * time.Second
	srv := oauthtest.Start(t, life)
	srv.AddClient(clientID, secret)
	log, _ := logOf(t, srv)
	cfg := baseConfig(srv, log)
	cfg.ClientSecret = secretFunc(secret)
	var mu sync.Mutex
	var expiries []time.Time
	var issued []time.Time
	cfg.OnToken = func(e time.Time) {
		mu.Lock()
		expiries, issued = append(expiries, e), append(issued, time.Now())
		mu.Unlock()
	}
	cfg.OnFailure = func(err error) { t.Errorf("refresh failed: %v", err) }
	src := mustNew(t, cfg)
	ctx, stop := running(src)
	defer stop()
	testkit.WaitFor(t, 10*time.Second, "the first token", func() bool { return src.Status().Refreshes >= 1 })
	calls, probeDone := tokenProbe(ctx, t, src, srv, 50*time.Millisecond)
	testkit.WaitFor(t, 30*time.Second, "five refreshes", func() bool { return src.Status().Refreshes >= 6 })
	stop()
	<-probeDone
	st := src.Status()
	if got := srv.Requests["client_credentials"]; got != int(st.Refreshes) {
		t.Errorf("endpoint got %d requests for %d refreshes: Token asked the endpoint itself", got, st.Refreshes)
	}
	if calls.Load() < 20 {
		t.Errorf("only %d Token calls were checked", calls.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	for i, e := range expiries {
		// expires_in is 2: the expiry is 2 s after the response.
		if d := e.Sub(issued[i]); d <= 0 || d > life {
			t.Errorf("token %d: expiry %v after it arrived, want within %v (expires_in)", i, d, life)
		}
	}
	for i := 1; i < len(issued); i++ {
		if !issued[i].Before(expiries[i-1]) {
			t.Errorf("token %d came after token %d had expired", i, i-1)
		}
	}
}

// storeRefresh seeds the refresh token file as triage login would.
func storeRefresh(t *testing.T, dir, account, rt string) {
	t.Helper()
	if err := saveRefreshToken(dir, account, clientID, rt); err != nil {
		t.Fatal(err)
	}
}

func readRefresh(t *testing.T, dir, account string) string {
	t.Helper()
	st, err := loadRefreshToken(dir, account)
	if err != nil {
		t.Fatal(err)
	}
	return st.RefreshToken
}

// TestDelegatedRotation: every refresh retires the refresh token it used;
// the new one is stored (0600) and used next, many times over.
func TestDelegatedRotation(t *testing.T) {
	srv := oauthtest.Start(t, time.Second)
	dir := t.TempDir()
	first := srv.IssueRefresh(mailbox)
	storeRefresh(t, dir, "shared", first)
	log, _ := logOf(t, srv)
	cfg := baseConfig(srv, log)
	cfg.Account, cfg.Flow, cfg.StateDir = "shared", FlowDelegated, dir
	cfg.OnFailure = func(err error) { t.Errorf("refresh failed: %v", err) }
	src := mustNew(t, cfg)
	ctx := t.Context()
	for i := range 4 {
		if _, err := src.refresh(ctx, func(time.Time) bool { return false }); err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
	}
	stored := readRefresh(t, dir, "shared")
	live := srv.RefreshTokens()
	if len(live) != 1 || live[0] != stored || stored == first {
		t.Errorf("stored %q, live %v: the rotated token was not kept", stored, live)
	}
	fi, err := os.Stat(TokenFile(dir, "shared"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("state dir holds %d entries, want the token file alone", len(entries))
	}
	if st := src.Status(); st.Refreshes != 4 || st.Failures != 0 {
		t.Errorf("status %+v", st)
	}
	// Without rotation the stored token stays.
	srv.SetRotate(false)
	if _, err := src.refresh(ctx, func(time.Time) bool { return false }); err != nil {
		t.Fatal(err)
	}
	if got := readRefresh(t, dir, "shared"); got != stored {
		t.Error("the refresh token changed although the provider kept it")
	}
}

// TestRevokedRefreshToken: a revoked refresh token is a clear failure that
// names triage login and keeps being retried; a new login fixes it
// without a restart.
func TestRevokedRefreshToken(t *testing.T) {
	srv := oauthtest.Start(t, 2*time.Second)
	dir := t.TempDir()
	storeRefresh(t, dir, "shared", srv.IssueRefresh(mailbox))
	log, logs := logOf(t, srv)
	cfg := baseConfig(srv, log)
	cfg.Account, cfg.Flow, cfg.StateDir = "shared", FlowDelegated, dir
	var failures atomic.Int64
	cfg.OnFailure = func(error) { failures.Add(1) }
	src := mustNew(t, cfg)
	ctx, stop := running(src)
	defer stop()
	testkit.WaitFor(t, 10*time.Second, "the first token", func() bool { return src.Status().Refreshes == 1 })
	srv.RevokeAll()
	testkit.WaitFor(t, 10*time.Second, "three failed retries", func() bool { return failures.Load() >= 3 })
	st := src.Status()
	if !strings.Contains(st.LastError, "invalid_grant") || !strings.Contains(st.LastError, "triage login") || st.Failing < 3 {
		t.Errorf("status = %+v", st)
	}
	if !regexp.MustCompile(`level=WARN msg="oauth2 token refresh failed; retrying with backoff" account=shared provider=microsoft flow=delegated err=".*invalid_grant`).MatchString(logs.String()) {
		t.Errorf("no clear log line:\n%s", logs.String())
	}
	if _, err := src.Token(ctx); err == nil {
		// The revoked access token is no longer usable either once expired;
		// until then Token may hand it out, so only check after expiry.
		testkit.WaitFor(t, 5*time.Second, "the held token to expire", func() bool {
			_, ok := src.usable(time.Now())
			return !ok
		})
		if _, err := src.Token(ctx); err == nil {
			t.Error("Token succeeded with a revoked refresh token")
		}
	}
	storeRefresh(t, dir, "shared", srv.IssueRefresh(mailbox)) // triage login again
	testkit.WaitFor(t, 10*time.Second, "recovery", func() bool { return src.Status().Failing == 0 })
	tok, err := src.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Check(tok, mailbox); err != nil {
		t.Error(err)
	}
	stop()
}

// TestEndpointDown: while the endpoint is down the held token is handed
// out as long as it is usable, failures are counted and retried, and the
// source recovers by itself.
func TestEndpointDown(t *testing.T) {
	srv := oauthtest.Start(t, 3*time.Second)
	srv.AddClient(clientID, secret)
	log, logs := logOf(t, srv)
	cfg := baseConfig(srv, log)
	cfg.ClientSecret = secretFunc(secret)
	var failures atomic.Int64
	cfg.OnFailure = func(error) { failures.Add(1) }
	src := mustNew(t, cfg)
	srv.SetDown(true)
	_, err := src.Token(t.Context())
	if err == nil || !strings.Contains(err.Error(), "token endpoint answered HTTP 503") {
		t.Fatalf("Token with the endpoint down: %v", err)
	}
	srv.SetDown(false)
	held, err := src.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := running(src)
	defer stop()
	srv.SetDown(true)
	testkit.WaitFor(t, 10*time.Second, "failed refreshes", func() bool { return failures.Load() >= 4 }) // 1 before Run
	if tok, ok := src.usable(time.Now()); ok {
		got, err := src.Token(ctx)
		if err != nil || got != tok || got != held {
			t.Errorf("Token while down = %v; want the held token", err)
		}
	}
	if !strings.Contains(logs.String(), "token_still_valid=") {
		t.Errorf("log does not say whether the token still works:\n%s", logs.String())
	}
	srv.SetDown(false)
	testkit.WaitFor(t, 10*time.Second, "recovery", func() bool { return src.Status().Failing == 0 })
	stop()
	if st := src.Status(); st.Failures < 4 || st.LastError == "" || st.Refreshes < 2 {
		t.Errorf("status = %+v", st)
	}
}

// TestJWTExpiryFallback: a response without expires_in schedules by the
// JWT's exp claim and reports it.
func TestJWTExpiryFallback(t *testing.T) {
	srv := oauthtest.Start(t, 90*time.Second)
	srv.AddClient(clientID, secret)
	srv.SetJWTOnly(true)
	log, _ := logOf(t, srv)
	cfg := baseConfig(srv, log)
	cfg.ClientSecret = secretFunc(secret)
	var got time.Time
	cfg.OnToken = func(e time.Time) { got = e }
	src := mustNew(t, cfg)
	tok := mustToken(t, src)
	want, ok := JWTExpiry(tok)
	if !ok || !got.Equal(want) || src.Status().Expiry != want {
		t.Errorf("expiry %v, want the JWT's %v", got, want)
	}
}

// syncWriter collects what Login prints.
type syncWriter = testkit.SyncBuffer

func TestDeviceLogin(t *testing.T) {
	srv := oauthtest.Start(t, time.Hour)
	dir := t.TempDir()
	log, _ := logOf(t, srv)
	cfg := baseConfig(srv, log)
	cfg.Account, cfg.Flow, cfg.StateDir = "shared", FlowDelegated, dir
	out := &syncWriter{}
	errc := make(chan error, 1)
	go func() { errc <- Login(t.Context(), cfg, out) }()
	testkit.WaitFor(t, 10*time.Second, "the code", func() bool { return strings.Contains(out.String(), "enter the code") })
	if !regexp.MustCompile(`To sign in, open http://127\.0\.0\.1:\d+/devicelogin and enter the code [0-9A-F]{8}\n`).MatchString(out.String()) {
		t.Errorf("prompt:\n%s", out.String())
	}
	if n := srv.Approve(mailbox); n != 1 {
		t.Fatalf("%d pending sign-ins", n)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "refresh token stored in "+TokenFile(dir, "shared")) {
		t.Errorf("output:\n%s", out.String())
	}
	acceptedToken(t, cfg, srv) // the daemon's source works from the stored token
	for _, s := range srv.Seen() {
		if len(s) >= 8 && strings.Contains(out.String(), s) && !strings.HasPrefix(s, "dc-") {
			t.Errorf("login printed a secret: %q", s)
		}
	}
	// App-only accounts need no login.
	cfg.Flow = FlowAppOnly
	cfg.ClientSecret = secretFunc(secret)
	if err := Login(t.Context(), cfg, out); err == nil || !strings.Contains(err.Error(), "needs no login") {
		t.Errorf("login of an app-only account: %v", err)
	}
}

// TestBrowserLogin: Google's delegated login, authorization code with PKCE
// and a loopback redirect; the test plays the browser.
func TestBrowserLogin(t *testing.T) {
	srv := oauthtest.Start(t, time.Hour)
	srv.AddClient("google-client", secret)
	dir := t.TempDir()
	log, _ := logOf(t, srv)
	cfg := Config{Account: "gmail", Provider: ProviderGoogle, Flow: FlowDelegated, ClientID: "google-client",
		ClientSecret: secretFunc(secret), TokenURL: srv.TokenURL, AuthURL: srv.AuthURL, StateDir: dir, Log: log}
	out := &syncWriter{}
	errc := make(chan error, 1)
	go func() { errc <- Login(t.Context(), cfg, out) }()
	urlRE := regexp.MustCompile(`(?m)^(http://127\.0\.0\.1:\d+/authorize\?\S+)$`)
	testkit.WaitFor(t, 10*time.Second, "the URL", func() bool { return urlRE.MatchString(out.String()) })
	u := urlRE.FindStringSubmatch(out.String())[1]
	for _, want := range []string{"access_type=offline", "code_challenge_method=S256", "scope=https%3A%2F%2Fmail.google.com%2F"} {
		if !strings.Contains(u, want) {
			t.Errorf("URL %s lacks %s", u, want)
		}
	}
	resp, err := http.Get(u) // the browser: sign in, follow the redirect
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("loopback answered %d", resp.StatusCode)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if _, err := loadRefreshToken(dir, "gmail"); err != nil {
		t.Fatal(err)
	}
}

func TestNoRefreshTokenYet(t *testing.T) {
	srv := oauthtest.Start(t, time.Hour)
	cfg := baseConfig(srv, nil)
	cfg.Flow, cfg.StateDir = FlowDelegated, t.TempDir()
	src := mustNew(t, cfg)
	if _, err := src.Token(t.Context()); !errors.Is(err, ErrNoRefreshToken) && (err == nil || !strings.Contains(err.Error(), "run triage login")) {
		t.Errorf("Token before login: %v", err)
	}
	if err := os.WriteFile(TokenFile(cfg.StateDir, cfg.Account), []byte(`{"refresh_token": "SECRETPART`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Token(t.Context()); err == nil || !strings.Contains(err.Error(), "damaged") || strings.Contains(err.Error(), "SECRETPART") {
		t.Errorf("Token with a damaged file: %v", err)
	}
}

// TestHostileExpiresIn: an expires_in already over does not make the
// refresh loop hammer the endpoint, and one of years is refreshed within
// MaxLifetime.
func TestHostileExpiresIn(t *testing.T) {
	for _, tt := range []struct {
		name      string
		expiresIn int
	}{{"negative", -30}, {"a hundred years", 100 * 365 * 24 * 3600}} {
		t.Run(tt.name, func(t *testing.T) {
			srv := oauthtest.Start(t, time.Hour)
			srv.AddClient(clientID, secret)
			srv.SetExpiresIn(tt.expiresIn)
			log, _ := logOf(t, srv)
			cfg := baseConfig(srv, log)
			cfg.ClientSecret = secretFunc(secret)
			src, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, stop := running(src)
			testkit.WaitFor(t, 10*time.Second, "three refreshes or one", func() bool {
				return src.Status().Refreshes >= 3 || (tt.expiresIn > 0 && src.Status().Refreshes == 1)
			})
			start := time.Now()
			n := src.Status().Refreshes
			time.Sleep(time.Second)
			stop()
			more := src.Status().Refreshes - n
			if tt.expiresIn < 0 && more > uint64(time.Since(start)/MinRefreshGap)+1 {
				t.Errorf("%d refreshes in %v: not spaced by %v", more, time.Since(start), MinRefreshGap)
			}
			if next := src.Status().NextRefresh; tt.expiresIn > 0 && (more != 0 || next.After(time.Now().Add(MaxLifetime))) {
				t.Errorf("next refresh %v, %d more refreshes", next, more)
			}
		})
	}
}
