package daemon

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/triage-dev/triage/config"
	"github.com/triage-dev/triage/internal/clip"
	"github.com/triage-dev/triage/internal/secret"
)

// secretSource returns a function that reads the account's password or OAuth
// token at every (re)connect, so a rotated secret or a refreshed token is
// picked up without a restart. Error messages name where the secret was
// looked for, never its value.
func secretSource(cfg *config.Config, a config.AccountConfig) func(ctx context.Context) (string, error) {
	switch {
	case a.PasswordEnv != "":
		return envSecret(a.PasswordEnv)
	case a.PasswordFile != "":
		return fileSecret(cfg.Resolve(a.PasswordFile))
	case a.OAuth2 != nil && a.OAuth2.TokenEnv != "":
		return envSecret(a.OAuth2.TokenEnv)
	case a.OAuth2 != nil && a.OAuth2.TokenFile != "":
		return fileSecret(cfg.Resolve(a.OAuth2.TokenFile))
	case a.OAuth2 != nil && len(a.OAuth2.TokenCommand) > 0:
		return commandSecret(a.OAuth2.TokenCommand)
	}
	return func(context.Context) (string, error) { return "", errors.New("no secret configured") }
}

// envSecret and fileSecret re-read the secret at every call: a rotated
// password or a refreshed token is picked up at the next connect.
func envSecret(name string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) { return secret.Read(name, "") }
}

func fileSecret(path string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) { return secret.Read("", path) }
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

// jwtExpiry returns the `exp` claim of a token that is a JWT (Microsoft 365
// access tokens are; Google's are opaque), so the daemon can export how long
// the refresher has left. The signature is not checked: the value is only
// used for a metric, never for a decision.
func jwtExpiry(token string) (time.Time, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || len(parts[1]) > 16<<10 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Exp == "" {
		return time.Time{}, false
	}
	sec, err := claims.Exp.Float64()
	if err != nil || sec <= 0 {
		return time.Time{}, false
	}
	return time.Unix(int64(sec), 0), true
}

// withExpiry wraps a token source so every token read reports its expiry.
func withExpiry(src func(context.Context) (string, error), report func(time.Time)) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		tok, err := src(ctx)
		if err == nil {
			if exp, ok := jwtExpiry(tok); ok {
				report(exp)
			}
		}
		return tok, err
	}
}

// secretFromEnvOrFile reads an optional secret (the admin bearer token).
func secretFromEnvOrFile(cfg *config.Config, env, file string) (string, error) {
	if env == "" && file == "" {
		return "", nil
	}
	return secret.Read(env, cfg.Resolve(file))
}
