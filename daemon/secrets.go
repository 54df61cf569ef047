package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/triage-dev/triage/config"
	"github.com/triage-dev/triage/internal/clip"
	"github.com/triage-dev/triage/internal/secret"
	"github.com/triage-dev/triage/oauth"
)

// secretSource returns a function that reads the account's password or OAuth
// token at every (re)connect, so a rotated secret or a refreshed token is
// picked up without a restart. Error messages name where the secret was
// looked for, never its value.
func secretSource(cfg *config.Config, a config.AccountConfig) func(ctx context.Context) (string, error) {
	switch {
	case a.PasswordEnv != "":
		return storedSecret(a.PasswordEnv, "")
	case a.PasswordFile != "":
		return storedSecret("", cfg.Resolve(a.PasswordFile))
	case a.OAuth2 != nil && a.OAuth2.TokenEnv != "":
		return storedSecret(a.OAuth2.TokenEnv, "")
	case a.OAuth2 != nil && a.OAuth2.TokenFile != "":
		return storedSecret("", cfg.Resolve(a.OAuth2.TokenFile))
	case a.OAuth2 != nil && len(a.OAuth2.TokenCommand) > 0:
		return commandSecret(a.OAuth2.TokenCommand)
	case a.OAuth2 != nil && a.OAuth2.Provider != "":
		src, err := oauth.New(oauthConfig(cfg, a))
		if err != nil {
			return func(context.Context) (string, error) { return "", err }
		}
		return src.Token
	}
	return func(context.Context) (string, error) { return "", errors.New("no secret configured") }
}

// storedSecret re-reads the secret in the environment variable env or
// the file at every call: a rotated password or a refreshed token is
// picked up at the next connect.
func storedSecret(env, file string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) { return secret.Read(env, file) }
}

func commandSecret(argv []string) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.WaitDelay = time.Second
		out := &clip.Buffer{Max: maxTokenBytes}
		stderr := &clip.Buffer{} // counted, never kept: it may hold the token or a secret
		cmd.Stdout, cmd.Stderr = out, stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("token command %s: %w (%d bytes on stderr, not shown)", argv[0], err, stderr.Written())
		}
		if out.Written() > maxTokenBytes {
			return "", fmt.Errorf("token command %s printed more than %d KiB", argv[0], maxTokenBytes>>10)
		}
		v := strings.TrimSpace(out.String())
		if v == "" {
			return "", fmt.Errorf("token command %s printed nothing", argv[0])
		}
		return v, nil
	}
}

// maxTokenBytes bounds what a token command may print: access tokens are a
// few KiB.
const maxTokenBytes = 64 << 10

// withExpiry wraps a token source so every token read reports its expiry.
func withExpiry(src func(context.Context) (string, error), report func(time.Time)) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		tok, err := src(ctx)
		if err == nil {
			if exp, ok := oauth.JWTExpiry(tok); ok {
				report(exp)
			}
		}
		return tok, err
	}
}

// oauthConfig maps the account's oauth2 keys onto the oauth package (the
// built-in token acquisition of an account with an oauth2 provider); the
// client secret is read at every token request, so a rotated one is used
// without a restart.
func oauthConfig(cfg *config.Config, a config.AccountConfig) oauth.Config {
	o := a.OAuth2
	oc := oauth.Config{
		Account: a.Name, Provider: o.Provider, Flow: o.Flow, Tenant: o.Tenant, ClientID: o.ClientID,
		CertificateFile: cfg.Resolve(o.CertificateFile), ServiceAccountFile: cfg.Resolve(o.ServiceAccountFile),
		Subject: a.Username, Scopes: o.Scopes, TokenURL: o.TokenURL, DeviceAuthURL: o.DeviceAuthURL, AuthURL: o.AuthURL,
		StateDir: cfg.Resolve(cfg.StateDir),
	}
	if o.ClientSecretEnv != "" || o.ClientSecretFile != "" {
		env, file := o.ClientSecretEnv, cfg.Resolve(o.ClientSecretFile)
		oc.ClientSecret = func() (string, error) { return secret.Read(env, file) }
	}
	return oc
}

// OAuthConfig is the token acquisition settings of account name of cfg,
// for triage login.
func OAuthConfig(cfg *config.Config, name string) (oauth.Config, config.AccountConfig, error) {
	a, err := findAccount(cfg, name)
	if err != nil {
		return oauth.Config{}, a, err
	}
	if a.OAuth2 == nil || a.OAuth2.Provider == "" {
		return oauth.Config{}, a, fmt.Errorf("account %s has no oauth2 provider", name)
	}
	return oauthConfig(cfg, a), a, nil
}

// secretFromEnvOrFile reads an optional secret (the admin bearer token).
func secretFromEnvOrFile(cfg *config.Config, env, file string) (string, error) {
	if env == "" && file == "" {
		return "", nil
	}
	return secret.Read(env, cfg.Resolve(file))
}

// CheckOAuth does for `triage check --config` what the daemon does at start
// for each account with an oauth2 provider, without asking any endpoint:
// the certificate, key and service account files are read. Delegated
// accounts not yet signed in come back as warnings.
func CheckOAuth(cfg *config.Config) (warnings []string, err error) {
	var errs []error
	for _, a := range cfg.Accounts {
		if a.OAuth2 == nil || a.OAuth2.Provider == "" {
			continue
		}
		if _, err := oauth.New(oauthConfig(cfg, a)); err != nil {
			errs = append(errs, err)
			continue
		}
		if a.OAuth2.Flow == oauth.FlowDelegated {
			if _, err := os.Stat(oauth.TokenFile(cfg.Resolve(cfg.StateDir), a.Name)); err != nil {
				warnings = append(warnings, fmt.Sprintf("account %s: not signed in yet: run triage login --config %s --account %s", a.Name, cfg.Path, a.Name))
			}
		}
	}
	return warnings, errors.Join(errs...)
}
