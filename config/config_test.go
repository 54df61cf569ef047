package config

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/triage-dev/triage/internal/fileerr"
	"github.com/triage-dev/triage/mailbox"
)

// configHead starts validConfig and schemaTestConfig: the rules and a
// first account.
const configHead = `rules: rules.yaml
accounts:
  - name: helpdesk
    addr: imap.example.com:993
    tls: implicit
    username: helpdesk@example.com
    password_env: TRIAGE_IMAP_PASSWORD
`

const validConfig = configHead + `    mailboxes: [INBOX]
    done: {keyword: $Triaged, move_to: ""}
    quarantine: Triage/Quarantine
queues:
  default: {type: file, path: tickets.jsonl}
http: {listen: 127.0.0.1:9425}
state_dir: /var/lib/triage
dedupe_window: 3d
`

func TestParseValid(t *testing.T) {
	cfg, err := Parse("/etc/triage/triage.yaml", []byte(validConfig))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	a := cfg.Accounts[0]
	if a.Name != "helpdesk" || *a.Done.Keyword != "$Triaged" || a.Failed != "Triage/Failed" {
		t.Errorf("account = %+v", a)
	}
	if cfg.DedupeWindow.D() != 72*time.Hour {
		t.Errorf("dedupe_window = %v", cfg.DedupeWindow.D())
	}
	if got := cfg.Resolve("rules.yaml"); got != "/etc/triage/rules.yaml" {
		t.Errorf("Resolve = %q", got)
	}
	if cfg.MaxMessageBytes != mailbox.DefaultMaxMessageBytes || cfg.Log.Level != "info" {
		t.Errorf("defaults not applied: %+v", cfg)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(string) string
		want []string // each must appear in the error text
	}{
		{"unknown top-level key", func(s string) string { return s + "colour: blue\n" }, []string{`triage.yaml:16:1: unknown key "colour"`}},
		{"unknown account key", func(s string) string {
			return strings.Replace(s, "    tls: implicit\n", "    tls: implicit\n    pasword: x\n", 1)
		}, []string{`triage.yaml:6:5: unknown key "pasword"`}},
		{"tls none to a remote host", func(s string) string { return strings.Replace(s, "tls: implicit", "tls: none", 1) }, []string{"triage.yaml:5:5: tls: none is only allowed to a loopback address"}},
		{"bad tls", func(s string) string { return strings.Replace(s, "tls: implicit", "tls: maybe", 1) }, []string{`triage.yaml:5:5: tls "maybe"`}},
		{"two secrets", func(s string) string {
			return strings.Replace(s, "password_env: TRIAGE_IMAP_PASSWORD", "password_env: A\n    password_file: /x", 1)
		}, []string{"triage.yaml:3:5: set exactly one of password_env, password_file, oauth2"}},
		{"no secret", func(s string) string { return strings.Replace(s, "    password_env: TRIAGE_IMAP_PASSWORD\n", "", 1) }, []string{"set exactly one of password_env"}},
		{"bad addr", func(s string) string { return strings.Replace(s, "imap.example.com:993", "imap.example.com", 1) }, []string{`triage.yaml:4:5: addr "imap.example.com": want host:port`}},
		{"bad duration", func(s string) string { return strings.Replace(s, "dedupe_window: 3d", "dedupe_window: soon", 1) }, []string{"triage.yaml:15:16: invalid duration"}},
		{"no rules", func(s string) string { return strings.Replace(s, "rules: rules.yaml\n", "", 1) }, []string{"rules: required"}},
		{"bad queue type", func(s string) string { return strings.Replace(s, "type: file", "type: fax", 1) }, []string{`triage.yaml:12:3: queue "default":`}},
		{"unknown key and invalid values together", func(s string) string {
			return strings.Replace(strings.Replace(s, "tls: implicit", "tls: maybe\n    pasword: x", 1), "state_dir: /var/lib/triage\n", "", 1)
		}, []string{`tls "maybe"`, `unknown key "pasword"`, "state_dir: required"}},
		{"several errors at once", func(s string) string {
			return strings.Replace(strings.Replace(s, "tls: implicit", "tls: maybe", 1), "imap.example.com:993", "nohost", 1)
		}, []string{`tls "maybe"`, `addr "nohost"`}},
		{"admin server on the network without a token", func(s string) string {
			return strings.Replace(s, "listen: 127.0.0.1:9425", "listen: 0.0.0.0:9425", 1)
		}, []string{`triage.yaml:13:8: http.listen "0.0.0.0:9425" is reachable from the network`}},
		{"admin server on all interfaces without a token", func(s string) string {
			return strings.Replace(s, "listen: 127.0.0.1:9425", "listen: ':9425'", 1)
		}, []string{`is reachable from the network`}},
		{"empty", func(string) string { return "" }, []string{"triage.yaml:1:1: config file is empty"}},
		{"not yaml", func(string) string { return "\x00\x01\x02: [" }, []string{"triage.yaml:"}},
		{"wrong type", func(s string) string { return strings.Replace(s, "mailboxes: [INBOX]", "mailboxes: {a: b}", 1) }, []string{"triage.yaml:8:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("triage.yaml", []byte(tt.edit(validConfig)))
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			var ce fileerr.List
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not fileerr.List: %v", err, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\n does not contain %q", err, w)
				}
			}
			for _, e := range ce {
				if e.Line < 1 || e.Col < 1 {
					t.Errorf("error without position: %+v", e)
				}
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(validConfig))
	f.Add([]byte("rules: [\n"))
	f.Add([]byte("accounts:\n  - {name: a, addr: 'x:1', oauth2: {mechanism: xoauth2}}\n"))
	f.Add([]byte("accounts:\n  - {name: a, addr: 'x:1', oauth2: {provider: microsoft, flow: delegated, token_url: 'http://[::1]:1/t', scopes: [a]}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Parse("f.yaml", data)
		var ce fileerr.List
		if err != nil && errors.As(err, &ce) {
			for _, e := range ce {
				if e.Line < 1 || e.Col < 1 {
					t.Fatalf("error without position: %+v", e)
				}
			}
		}
	})
}

// TestConfigSizeBound: a config of exactly 1 MiB is read, one byte more is
// refused before parsing.
func TestConfigSizeBound(t *testing.T) {
	pad := func(n int) []byte {
		b := []byte(validConfig + "#")
		return append(b, bytes.Repeat([]byte("x"), n-len(b))...)
	}
	if _, err := Parse("triage.yaml", pad(maxConfigBytes)); err != nil && strings.Contains(err.Error(), "larger than 1 MiB") {
		t.Errorf("at the bound: %v", err)
	}
	if _, err := Parse("triage.yaml", pad(maxConfigBytes+1)); err == nil || !strings.Contains(err.Error(), "triage.yaml:1:1: config file larger than 1 MiB") {
		t.Errorf("one byte past: %v", err)
	}
}

func TestOAuth2Provider(t *testing.T) {
	const secret = "    password_env: TRIAGE_IMAP_PASSWORD\n"
	tests := []struct {
		name, oauth2 string
		want         string // "" = accepted
	}{
		{"microsoft app-only secret", "{provider: microsoft, tenant: example.com, client_id: c, client_secret_env: S}", ""},
		{"microsoft app-only certificate", "{provider: microsoft, tenant: example.com, client_id: c, certificate_file: c.pem}", ""},
		{"microsoft app-only without a credential", "{provider: microsoft, tenant: example.com, client_id: c}", "set exactly one of client_secret_env, client_secret_file, certificate_file"},
		{"microsoft app-only with secret and certificate", "{provider: microsoft, tenant: t, client_id: c, client_secret_file: s, certificate_file: c.pem}", "set exactly one of client_secret_env"},
		{"microsoft without tenant", "{provider: microsoft, client_id: c, client_secret_env: S}", "tenant: required"},
		{"microsoft without client_id", "{provider: microsoft, tenant: t, client_secret_env: S}", "client_id: required"},
		{"microsoft delegated", "{provider: microsoft, flow: delegated, tenant: organizations, client_id: c}", ""},
		{"microsoft service account", "{provider: microsoft, flow: service_account, tenant: t, service_account_file: x.json}", "only with provider google"},
		{"google service account", "{provider: google, service_account_file: sa.json, mechanism: oauthbearer}", ""},
		{"google service account without key", "{provider: google}", "service_account_file: required"},
		{"google service account with client_id", "{provider: google, service_account_file: sa.json, client_id: c}", "come from the service account file"},
		{"google app-only", "{provider: google, flow: app_only, client_id: c, client_secret_env: S}", "Google's unattended flow is service_account"},
		{"google delegated", "{provider: google, flow: delegated, client_id: c, client_secret_file: s}", ""},
		{"google with tenant", "{provider: google, service_account_file: sa.json, tenant: t}", "tenant: only for provider microsoft"},
		{"certificate outside app_only", "{provider: microsoft, flow: delegated, tenant: t, client_id: c, certificate_file: c.pem}", "certificate_file: only for flow app_only"},
		{"generic app-only", "{provider: generic, token_url: 'https://idp.example.com/token', scopes: [imap], client_id: c, client_secret_env: S}", ""},
		{"generic without token_url", "{provider: generic, scopes: [imap], client_id: c, client_secret_env: S}", "token_url: required"},
		{"generic without scopes", "{provider: generic, token_url: 'https://idp.example.com/token', client_id: c, client_secret_env: S}", "scopes: required"},
		{"generic delegated without login URL", "{provider: generic, flow: delegated, token_url: 'https://idp.example.com/token', scopes: [imap], client_id: c}", "set device_auth_url or auth_url"},
		{"token_url over plain http", "{provider: generic, token_url: 'http://idp.example.com/token', scopes: [imap], client_id: c, client_secret_env: S}", "want an https URL"},
		{"token_url over http to loopback", "{provider: generic, token_url: 'http://127.0.0.1:8080/token', scopes: [imap], client_id: c, client_secret_env: S}", ""},
		{"two secrets", "{provider: microsoft, tenant: t, client_id: c, client_secret_env: S, client_secret_file: s}", "not both"},
		{"unknown provider", "{provider: okta, client_id: c}", `provider "okta"`},
		{"unknown flow", "{provider: google, flow: implicit, service_account_file: sa.json}", `flow "implicit"`},
		{"provider keys without provider", "{token_env: T, client_id: c}", "need a provider"},
		{"provider and token_env", "{provider: google, service_account_file: sa.json, token_env: T}", "exactly one of provider, token_file"},
		{"no mechanism defaults to xoauth2", "{token_env: T}", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(validConfig, secret, "    oauth2: "+tt.oauth2+"\n", 1)
			cfg, err := Parse("triage.yaml", []byte(src))
			if err == nil && cfg.Accounts[0].OAuth2.Mechanism == "" {
				t.Error("mechanism has no default")
			}
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Parse: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want %q", err, tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), "triage.yaml:"):
				t.Errorf("error without position: %v", err)
			}
		})
	}
}
