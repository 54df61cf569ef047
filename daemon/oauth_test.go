package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/triage-dev/triage/internal/oauthtest"
	"github.com/triage-dev/triage/internal/testkit"
)

// TestBuiltInOAuth runs the daemon on a Microsoft 365 app-only account
// whose tokens triage gets itself: mail is handled, the expiry gauge comes
// from expires_in, and an endpoint outage shows in the failure counter,
// /status and one clear log line per failure; no secret or token is ever
// logged.
func TestBuiltInOAuth(t *testing.T) {
	const user, secretValue = "helpdesk@example.com", "m365-client-secret-4f1d"
	tokens := oauthtest.Start(t, 2*time.Second)
	tokens.AddClient("app-id", secretValue)
	imap := oauthtest.StartIMAP(t, tokens, user)
	t.Setenv("TRIAGE_TEST_M365_SECRET", secretValue)
	dir := t.TempDir()
	writeRules(t, filepath.Join(dir, "rules.yaml"), rulesA)
	cfgText := fmt.Sprintf(`rules: rules.yaml
accounts:
  - name: m365
    addr: %s
    tls: none
    username: %s
    oauth2: {provider: microsoft, tenant: example.com, client_id: app-id, client_secret_env: TRIAGE_TEST_M365_SECRET, token_url: '%s'}
    reconnect_min: 20ms
    reconnect_max: 200ms
queues:
  helpdesk: {type: file, path: helpdesk.jsonl}
state_dir: state
`, imap.Addr, user, tokens.TokenURL)
	cfg, _ := loadConfigText(t, dir, cfgText)
	logs := &testkit.SyncBuffer{}
	d, err := New(cfg, Options{Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), DisableHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		for _, s := range append(tokens.Seen(), secretValue) {
			if strings.Contains(logs.String(), s) {
				t.Errorf("a log line holds %q", s)
			}
		}
	}()

	imap.Append(t, []byte("From: ann@example.com\r\nTo: helpdesk@example.com\r\nSubject: printer jam\r\nMessage-ID: <p1@example.com>\r\n\r\nIt jams.\r\n"))
	testkit.WaitFor(t, 20*time.Second, "the ticket", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "helpdesk.jsonl"))
		return strings.Contains(string(b), "p1@example.com")
	})
	m := d.Metrics()
	exp := testutil.ToFloat64(m.TokenExpiry.WithLabelValues("m365"))
	if now := float64(time.Now().Unix()); exp < now || exp > now+3 {
		t.Errorf("triage_oauth_token_expiry_timestamp_seconds = %v, want within expires_in (2 s) of now %v", exp, now)
	}
	if got := imap.Logins()["XOAUTH2"]; got < 1 {
		t.Errorf("%d XOAUTH2 logins", got)
	}

	tokens.SetDown(true)
	testkit.WaitFor(t, 20*time.Second, "refresh failures", func() bool {
		return testutil.ToFloat64(m.OAuthRefreshFailures.WithLabelValues("m365")) >= 2
	})
	st := d.Status()
	o := st.Accounts[0].OAuth
	if o == nil || !strings.Contains(o.LastError, "HTTP 503") || o.Failing < 2 || o.Provider != "microsoft" || o.Flow != "app_only" {
		t.Errorf("/status oauth = %+v", o)
	}
	if !strings.Contains(logs.String(), `msg="oauth2 token refresh failed; retrying with backoff" account=m365`) {
		t.Errorf("no log line for the failure:\n%s", logs.String())
	}
	tokens.SetDown(false)
	testkit.WaitFor(t, 20*time.Second, "recovery", func() bool { return d.Status().Accounts[0].OAuth.Failing == 0 })
}
