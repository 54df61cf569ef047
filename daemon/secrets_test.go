package daemon

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/triage-dev/triage/config"
)

func TestSecretSources(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Config{Path: filepath.Join(dir, "triage.yaml")}
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TRIAGE_T_PW", "from-env")
	ctx := context.Background()
	tests := []struct {
		name    string
		a       config.AccountConfig
		want    string
		wantErr string
	}{
		{"env", config.AccountConfig{PasswordEnv: "TRIAGE_T_PW"}, "from-env", ""},
		{"env missing", config.AccountConfig{PasswordEnv: "TRIAGE_T_NOPE"}, "", "TRIAGE_T_NOPE is not set"},
		{"file relative to config, newline trimmed", config.AccountConfig{PasswordFile: "pw"}, "s3cret", ""},
		{"file missing", config.AccountConfig{PasswordFile: "nope"}, "", "read secret file"},
		{"token command", config.AccountConfig{OAuth2: &config.OAuth2Config{Mechanism: "xoauth2", TokenCommand: []string{"echo", "tok-123"}}}, "tok-123", ""},
		{"token command fails", config.AccountConfig{OAuth2: &config.OAuth2Config{Mechanism: "xoauth2", TokenCommand: []string{"false"}}}, "", "token command false"},
		{"token command's stderr is not echoed", config.AccountConfig{OAuth2: &config.OAuth2Config{Mechanism: "xoauth2",
			TokenCommand: []string{"sh", "-c", "echo 'refresh_token=SECRET-XYZ invalid' >&2; exit 3"}}}, "", "token command sh: exit status 3 (33 bytes on stderr, not shown)"},
		{"token command prints too much", config.AccountConfig{OAuth2: &config.OAuth2Config{Mechanism: "xoauth2",
			TokenCommand: []string{"sh", "-c", "head -c 65537 /dev/zero | tr '\\0' a"}}}, "", "printed more than 64 KiB"},
		{"token command prints the most it may", config.AccountConfig{OAuth2: &config.OAuth2Config{Mechanism: "xoauth2",
			TokenCommand: []string{"sh", "-c", "head -c 65536 /dev/zero | tr '\\0' a"}}}, strings.Repeat("a", 65536), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := secretSource(cfg, tt.a)(ctx)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "SECRET") {
					t.Fatalf("err = %v, want %q and no secret", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("= %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	var reported time.Time
	src := withExpiry(func(context.Context) (string, error) {
		return base64.RawURLEncoding.EncodeToString([]byte(`{}`)) + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"exp":2000000000}`)) + ".x", nil
	}, func(e time.Time) { reported = e })
	if _, err := src(ctx); err != nil || reported.Unix() != 2000000000 {
		t.Errorf("withExpiry reported %v, %v", reported, err)
	}
}
