package mailbox

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/triage-dev/triage/internal/oauthtest"
	"github.com/triage-dev/triage/internal/testkit"
	"github.com/triage-dev/triage/oauth"
)

const oauthUser = "helpdesk@example.com"

// oauthAccount is an account on an IMAP server that checks every token
// against a local token endpoint issuing tokens that live for life, with
// triage's own token source (Microsoft app-only, client secret) running.
type oauthAccount struct {
	tokens *oauthtest.Server
	imap   *oauthtest.IMAP
	src    *oauth.Source
	cfg    Config
}

func newOAuthAccount(t *testing.T, mech string, life time.Duration) *oauthAccount {
	t.Helper()
	tokens := oauthtest.Start(t, life)
	tokens.AddClient("app", "app-secret-value")
	srv := oauthtest.StartIMAP(t, tokens, oauthUser)
	src, err := oauth.New(oauth.Config{Account: "m365", Provider: oauth.ProviderMicrosoft, Tenant: "example.com",
		ClientID: "app", ClientSecret: func() (string, error) { return "app-secret-value", nil }, TokenURL: tokens.TokenURL,
		RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond, Log: testLogger(t),
		OnFailure: func(err error) { t.Errorf("token refresh failed: %v", err) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); src.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	cfg := Config{
		Name: "m365", Addr: srv.Addr, TLS: TLSNone, Username: oauthUser, Auth: mech, Secret: src.Token,
		Timeout: 5 * time.Second, ShutdownGrace: time.Second, RetryBackoff: 20 * time.Millisecond,
		ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
	}
	return &oauthAccount{tokens: tokens, imap: srv, src: src, cfg: cfg}
}

// TestOAuthMechanisms logs in with XOAUTH2 and with OAUTHBEARER, tokens
// from the token source, and handles mail; a stale token is refused
// without the token reaching an error.
func TestOAuthMechanisms(t *testing.T) {
	for _, mech := range []string{AuthXOAuth2, AuthOAuthBearer} {
		t.Run(mech, func(t *testing.T) {
			o := newOAuthAccount(t, mech, time.Hour)
			for i := range 3 {
				o.imap.Append(t, testMail(i, mech))
			}
			rec := newRecorder(nil)
			r := start(t, o.cfg, rec.handle, Events{})
			waitFor(t, "mail after "+mech, func() bool { return rec.doneCount() == 3 })
			if err := r.stop(t); err != nil {
				t.Fatal(err)
			}
			if got := o.imap.Logins()[strings.ToUpper(mech)]; got != 1 {
				t.Errorf("%d %s logins, want 1 (refused: %v)", got, mech, o.imap.Refused())
			}

			// A token the server does not accept (expired or revoked).
			const stale = "at-stale-token-value-123"
			cfg := o.cfg
			cfg.Secret = func(context.Context) (string, error) { return stale, nil }
			r = start(t, cfg, rec.handle, Events{})
			waitFor(t, "an auth error", func() bool { return r.a.Status().LastError != "" })
			msg := r.a.Status().LastError
			if !strings.Contains(msg, "authentication failed") || strings.Contains(msg, stale) {
				t.Errorf("LastError = %q", msg)
			}
		})
	}
}

// TestOAuthSessionOutlivesTokens is the acceptance test: tokens that
// expire every `life` keep a session of 10·life connected with no failed
// command, while mail keeps arriving and a fresh login at any moment
// (what a reconnect does) gets a token the server accepts. The normal
// suite runs it with 2 s tokens (20 s); TRIAGE_FULL=1 runs 60 s tokens
// for 10 minutes. Both mechanisms run side by side.
func TestOAuthSessionOutlivesTokens(t *testing.T) {
	life := 2 * time.Second
	if testkit.FullSize() {
		life = time.Minute
	}
	session := 10 * life
	for _, mech := range []string{AuthXOAuth2, AuthOAuthBearer} {
		t.Run(mech, func(t *testing.T) {
			t.Parallel() // both sessions at once: the suite waits one session, not two
			o := newOAuthAccount(t, mech, life)
			var downs, ups atomic.Int32
			var downErr atomic.Value
			rec := newRecorder(nil)
			r := start(t, o.cfg, rec.handle, Events{Connected: func(_, _ string, up bool, err error) {
				if up {
					ups.Add(1)
					return
				}
				downs.Add(1)
				if err != nil {
					downErr.Store(err.Error())
				}
			}})
			waitFor(t, "connected", func() bool { return ups.Load() == 1 })

			ctx, cancel := context.WithTimeout(context.Background(), session)
			defer cancel()
			var wg sync.WaitGroup
			var logins, loginErrs int
			// Fresh logins every life/4, as a reconnect would make them.
			wg.Go(func() { logins, loginErrs = loginEvery(ctx, t, o.cfg, life/4) })
			sent := o.appendEvery(ctx, t, life/2)
			wg.Wait()
			waitFor(t, "the last mail", func() bool { return rec.doneCount() == sent })
			st := r.a.Status()
			wentDown := downs.Load() // stopping takes it down
			if err := r.stop(t); err != nil {
				t.Fatal(err)
			}
			calls, _, total := rec.snapshot()
			for id, n := range calls {
				if n != 1 {
					t.Errorf("mail %d handled %d times", id, n)
				}
			}
			src := o.src.Status()
			t.Logf("%s: session %v, token life %v: %d mails, %d refreshes, %d fresh logins, %d sessions on the server",
				mech, session, life, total, src.Refreshes, logins, o.imap.Sessions())
			switch {
			case wentDown != 0:
				t.Errorf("the session went down %d times (%v)", wentDown, downErr.Load())
			case ups.Load() != 1:
				t.Errorf("connected %d times, want once", ups.Load())
			case st.LastError != "" || st.Mailboxes[0].LastError != "":
				t.Errorf("a command failed: %q / %q", st.LastError, st.Mailboxes[0].LastError)
			case len(o.imap.Refused()) != 0:
				t.Errorf("logins refused: %v", o.imap.Refused())
			case src.Failures != 0:
				t.Errorf("%d refresh failures", src.Failures)
			case src.Refreshes < 10:
				t.Errorf("%d refreshes in %v with %v tokens: the test did not outlive the tokens", src.Refreshes, session, life)
			case sent < 15 || logins < 30 || loginErrs != 0:
				t.Errorf("%d mails, %d logins (%d failed)", sent, logins, loginErrs)
			}
		})
	}
}

// loginEvery logs in afresh every period until ctx ends; it returns the
// logins that listed mailboxes and those that failed.
func loginEvery(ctx context.Context, t *testing.T, cfg Config, period time.Duration) (logins, failed int) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return logins, failed
		case <-tick.C:
		}
		lctx, lcancel := context.WithTimeout(context.Background(), 10*time.Second)
		boxes, err := ListMailboxes(lctx, cfg, testLogger(t))
		lcancel()
		if err != nil || len(boxes) == 0 {
			failed++
			t.Errorf("fresh login: %v", err)
			continue
		}
		logins++
	}
}

// appendEvery delivers a test mail every period until ctx ends and
// returns how many it delivered.
func (o *oauthAccount) appendEvery(ctx context.Context, t *testing.T, period time.Duration) int {
	sent := 0
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return sent
		case <-tick.C:
			o.imap.Append(t, testMail(sent, "during the session"))
			sent++
		}
	}
}

// TestOAuthTokenSourceFailureReachesStatus: when no token can be had the
// connect fails with the source's error, which names the endpoint's
// answer and never a secret.
func TestOAuthTokenSourceFailureReachesStatus(t *testing.T) {
	tokens := oauthtest.Start(t, time.Hour)
	srv := oauthtest.StartIMAP(t, tokens, oauthUser)
	src, err := oauth.New(oauth.Config{Account: "m365", Provider: oauth.ProviderMicrosoft, Tenant: "t", ClientID: "nobody",
		ClientSecret: func() (string, error) { return "unknown-secret-value", nil }, TokenURL: tokens.TokenURL})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Name: "m365", Addr: srv.Addr, TLS: TLSNone, Username: oauthUser, Auth: AuthXOAuth2, Secret: src.Token,
		ReconnectMin: 20 * time.Millisecond, ReconnectMax: 100 * time.Millisecond}
	r := start(t, cfg, func(context.Context, *Message) Outcome { return Outcome{Verdict: Done} }, Events{})
	waitFor(t, "an error", func() bool { return r.a.Status().LastError != "" })
	msg := r.a.Status().LastError
	if !strings.Contains(msg, "invalid_client") || strings.Contains(msg, "unknown-secret-value") {
		t.Errorf("LastError = %q", msg)
	}
	if srv.Sessions() == 0 {
		t.Error("no connection was tried")
	}
	if len(srv.Refused()) != 0 {
		t.Errorf("a login was tried without a token: %v", srv.Refused())
	}
}
