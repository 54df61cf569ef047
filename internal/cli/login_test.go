package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/triage-dev/triage/internal/oauthtest"
	"github.com/triage-dev/triage/internal/testkit"
	"github.com/triage-dev/triage/oauth"
)

// loginQueues are the queues the example rules name, and the state dir.
const loginQueues = `queues:
  helpdesk: {type: file, path: t.jsonl}
  systems: {type: file, path: t.jsonl}
  security: {type: file, path: t.jsonl}
  engineering: {type: file, path: t.jsonl}
  default: {type: file, path: t.jsonl}
state_dir: state
`

// TestLogin: `triage login` on a delegated Microsoft account prints the
// verification URL and code, waits for the sign-in, stores the refresh
// token (0600) and lists the mailbox it can now read.
func TestLogin(t *testing.T) {
	const user = "shared@example.com"
	tokens := oauthtest.Start(t, time.Hour)
	imap := oauthtest.StartIMAP(t, tokens, user)
	dir := t.TempDir()
	copyExamples(t, dir)
	cfg := writeFile(t, filepath.Join(dir, "triage.yaml"), fmt.Sprintf(`rules: rules.yaml
accounts:
  - name: shared
    addr: %s
    tls: none
    username: %s
    oauth2: {provider: microsoft, flow: delegated, tenant: organizations, client_id: public-client, token_url: '%s', device_auth_url: '%s'}
  - name: other
    addr: %s
    tls: none
    username: %s
    password_env: NOT_USED
%s`, imap.Addr, user, tokens.TokenURL, tokens.DeviceURL, imap.Addr, user, loginQueues))

	// Before the login, check says so.
	var co, ce strings.Builder
	if c := Main(context.Background(), []string{"check", "--config", cfg}, strings.NewReader(""), &co, &ce); c != 0 ||
		!strings.Contains(ce.String(), "warning: account shared: not signed in yet: run triage login --config "+cfg+" --account shared") {
		t.Errorf("check before login: exit %d, stderr %q", c, ce.String())
	}

	out, errOut := &testkit.SyncBuffer{}, &testkit.SyncBuffer{}
	code := make(chan int, 1)
	go func() {
		code <- Main(context.Background(), []string{"login", "--config", cfg, "--account", "shared"}, strings.NewReader(""), out, errOut)
	}()
	testkit.WaitFor(t, 10*time.Second, "the prompt", func() bool { return strings.Contains(out.String(), "enter the code") })
	if !regexp.MustCompile(`open http://127\.0\.0\.1:\d+/devicelogin and enter the code [0-9A-F]{8}`).MatchString(out.String()) {
		t.Errorf("prompt:\n%s", out.String())
	}
	tokens.Approve(user)
	if c := <-code; c != 0 {
		t.Fatalf("exit %d; stderr:\n%s", c, errOut.String())
	}
	want := fmt.Sprintf("ok: shared can read INBOX at %s as %s; mailboxes: INBOX\n", imap.Addr, user)
	if !strings.HasSuffix(out.String(), want) {
		t.Errorf("output:\n%s\nwant it to end with %q", out.String(), want)
	}
	fi, err := os.Stat(oauth.TokenFile(filepath.Join(dir, "state"), "shared"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, %v", fi, err)
	}
	if imap.Logins()["XOAUTH2"] != 1 {
		t.Errorf("logins %v, refused %v", imap.Logins(), imap.Refused())
	}

	co.Reset()
	ce.Reset()
	if c := Main(context.Background(), []string{"check", "--config", cfg}, strings.NewReader(""), &co, &ce); c != 0 || ce.String() != "" {
		t.Errorf("check after login: exit %d, stderr %q", c, ce.String())
	}

	for _, tt := range []struct {
		args []string
		want string
		code int
	}{
		{[]string{"login", "--config", cfg}, "--config and --account are required", 2},
		{[]string{"login", "--config", cfg, "--account", "nobody"}, `no account "nobody"`, 1},
		{[]string{"login", "--config", cfg, "--account", "other"}, "account other has no oauth2 provider", 1},
	} {
		var o, e strings.Builder
		if c := Main(context.Background(), tt.args, strings.NewReader(""), &o, &e); c != tt.code || !strings.Contains(e.String(), tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tt.args, c, e.String(), tt.code, tt.want)
		}
	}
}

// TestCheckOAuthFiles: check --config reads the certificate an app-only
// account names, as the daemon would at start.
func TestCheckOAuthFiles(t *testing.T) {
	dir := t.TempDir()
	copyExamples(t, dir)
	cfg := writeFile(t, filepath.Join(dir, "triage.yaml"), `rules: rules.yaml
accounts:
  - name: m365
    addr: outlook.office365.com:993
    username: helpdesk@example.com
    oauth2: {provider: microsoft, tenant: example.com, client_id: c, certificate_file: missing.pem}
`+loginQueues)
	var o, e strings.Builder
	if c := Main(context.Background(), []string{"check", "--config", cfg}, strings.NewReader(""), &o, &e); c != 1 ||
		!strings.Contains(e.String(), "certificate file") || !strings.Contains(e.String(), "missing.pem") {
		t.Errorf("exit %d, stderr %q", c, e.String())
	}
}
