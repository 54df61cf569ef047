package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// secretSource returns a function that reads the account's password or OAuth
// token at every (re)connect, so a rotated secret or a refreshed token is
// picked up without a restart. Error messages name where the secret was
// looked for, never its value.
func secretSource(cfg *Config, a AccountConfig) func(ctx context.Context) (string, error) {
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

func envSecret(name string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) {
		v, ok := os.LookupEnv(name)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s is not set", name)
		}
		return v, nil
	}
}

func fileSecret(path string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("read secret file: %w", err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("secret file %s is empty", path)
		}
		return v, nil
	}
}

func commandSecret(argv []string) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Run(); err != nil {
			// stderr may be useful but must not be trusted to be secret-free; keep it short.
			msg := strings.TrimSpace(stderr.String())
			if len(msg) > 200 {
				msg = msg[:200]
			}
			return "", fmt.Errorf("token command %s: %w (%s)", argv[0], err, msg)
		}
		v := strings.TrimSpace(out.String())
		if v == "" {
			return "", fmt.Errorf("token command %s printed nothing", argv[0])
		}
		return v, nil
	}
}

// secretFromEnvOrFile reads an optional secret (the admin bearer token).
func secretFromEnvOrFile(cfg *Config, env, file string) (string, error) {
	switch {
	case env != "":
		return envSecret(env)(context.Background())
	case file != "":
		return fileSecret(cfg.Resolve(file))(context.Background())
	}
	return "", nil
}
