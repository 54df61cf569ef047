package mailbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-sasl"
)

// XOAuth2 is the SASL mechanism name Google and Microsoft 365 use for OAuth 2.0
// bearer tokens (go-sasl only has the standard OAUTHBEARER).
const XOAuth2 = "XOAUTH2"

// XOAuth2Error is the server's JSON error challenge after a rejected token.
type XOAuth2Error struct {
	Status  string `json:"status"`
	Schemes string `json:"schemes"`
	Scope   string `json:"scope"`
}

func (e *XOAuth2Error) Error() string {
	return fmt.Sprintf("xoauth2: server rejected the token (status %q, scope %q)", e.Status, e.Scope)
}

type xoauth2Client struct {
	username, token string
}

// NewXOAuth2Client returns a SASL client for XOAUTH2. The initial response is
// "user=" user "\x01auth=Bearer " token "\x01\x01". On failure the server
// sends a JSON error challenge; Next returns it as an *XOAuth2Error, which
// aborts the exchange (the caller closes the connection).
func NewXOAuth2Client(username, token string) sasl.Client {
	return &xoauth2Client{username: username, token: token}
}

func (c *xoauth2Client) Start() (string, []byte, error) {
	// \x01 separates fields: a username or token containing it would forge
	// extra fields.
	if strings.ContainsRune(c.username, 0x01) || strings.ContainsRune(c.token, 0x01) {
		return "", nil, errors.New("xoauth2: username or token contains \\x01")
	}
	ir := []byte("user=" + c.username + "\x01auth=Bearer " + c.token + "\x01\x01")
	return XOAuth2, ir, nil
}

func (c *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	var e XOAuth2Error
	if len(challenge) <= 4096 && json.Unmarshal(challenge, &e) == nil {
		return nil, &e
	}
	return nil, errors.New("xoauth2: server rejected the token")
}
