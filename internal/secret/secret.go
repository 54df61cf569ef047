// Package secret reads passwords, tokens and keys from where triage allows
// them: an environment variable or a file, never the YAML itself. Errors
// name the source, never the value.
package secret

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/triage-dev/triage/internal/boundedfile"
)

// MaxFileBytes bounds a secret file: a password, token or key.
const MaxFileBytes = 64 << 10

// Read returns the value of the environment variable env, or else the
// contents of the file path (a trailing newline dropped). An unset or empty
// source is an error.
func Read(env, path string) (string, error) {
	switch {
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s is not set", env)
		}
		return v, nil
	case path != "":
		b, err := boundedfile.Read(path, MaxFileBytes)
		if err != nil {
			return "", fmt.Errorf("read secret file: %w", err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("secret file %s is empty", path)
		}
		return v, nil
	}
	return "", errors.New("no secret configured")
}
