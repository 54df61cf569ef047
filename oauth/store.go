package oauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/triage-dev/triage/internal/atomicfile"
	"github.com/triage-dev/triage/internal/boundedfile"
)

// storedToken is the file a delegated account's refresh token lives in.
type storedToken struct {
	RefreshToken string    `json:"refresh_token"`
	ClientID     string    `json:"client_id"`
	SavedAt      time.Time `json:"saved_at"`
}

// ErrNoRefreshToken means a delegated account has not been logged in.
var ErrNoRefreshToken = errors.New("no refresh token stored: run triage login --config FILE --account NAME")

// TokenFile is where the refresh token of a delegated account is kept:
// one file per account in the state directory, mode 0600.
func TokenFile(stateDir, account string) string {
	// Account names are [A-Za-z0-9][A-Za-z0-9._-]*: with the prefix the
	// name can be neither "." nor "..".
	return filepath.Join(stateDir, "oauth-"+account+".json")
}

func loadRefreshToken(stateDir, account string) (storedToken, error) {
	var st storedToken
	path := TokenFile(stateDir, account)
	b, err := boundedfile.Read(path, maxKeyFileBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return st, fmt.Errorf("account %s: %w", account, ErrNoRefreshToken)
	}
	if err != nil {
		return st, fmt.Errorf("refresh token file: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil || st.RefreshToken == "" {
		// The error would quote the file; it holds the token.
		return st, fmt.Errorf("refresh token file %s is damaged: run triage login again", path)
	}
	return st, nil
}

// saveRefreshToken replaces the account's refresh token atomically (a
// crash leaves the old file or the new one, never half of one).
func saveRefreshToken(stateDir, account, clientID, refresh string) error {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	b, err := json.Marshal(storedToken{RefreshToken: refresh, ClientID: clientID, SavedAt: time.Now().UTC()})
	if err != nil {
		return fmt.Errorf("encode refresh token: %w", err)
	}
	if err := atomicfile.Write(TokenFile(stateDir, account), b, 0o600); err != nil {
		return fmt.Errorf("refresh token file: %w", err)
	}
	return nil
}
