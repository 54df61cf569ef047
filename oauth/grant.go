package oauth

import (
	"cmp"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // the x5t header is defined as the SHA-1 thumbprint
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/triage-dev/triage/internal/boundedfile"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/oauth2/google"
	oauthjwt "golang.org/x/oauth2/jwt"
)

// grant fetches one new token from the token endpoint.
type grant func(ctx context.Context) (*oauth2.Token, error)

// maxKeyFileBytes bounds the certificate and service account files read.
const maxKeyFileBytes = 1 << 20

// newGrant picks the grant of cfg's flow. Files are read once here, so a
// wrong path fails at start, and again at every request, so a rotated
// certificate or key is picked up.
func newGrant(cfg *Config) (grant, error) {
	switch cfg.Flow {
	case FlowAppOnly:
		if cfg.CertificateFile != "" {
			if _, err := loadCertificate(cfg.CertificateFile); err != nil {
				return nil, err
			}
			return cfg.certificateGrant, nil
		}
		return cfg.secretGrant, nil
	case FlowServiceAccount:
		if _, err := cfg.serviceAccountConfig(); err != nil {
			return nil, err
		}
		return cfg.serviceAccountGrant, nil
	case FlowDelegated:
		return cfg.refreshGrant, nil
	}
	return nil, fmt.Errorf("oauth2: flow %q", cfg.Flow)
}

func (cfg *Config) clientCredentials() *clientcredentials.Config {
	e := cfg.endpoint()
	return &clientcredentials.Config{ClientID: cfg.ClientID, TokenURL: e.TokenURL, Scopes: cfg.Scopes, AuthStyle: e.AuthStyle}
}

// secretGrant is the client credentials grant with a client secret.
func (cfg *Config) secretGrant(ctx context.Context) (*oauth2.Token, error) {
	secret, err := cfg.ClientSecret()
	if err != nil {
		return nil, fmt.Errorf("client secret: %w", err)
	}
	cc := cfg.clientCredentials()
	cc.ClientSecret = secret
	return cc.Token(ctx)
}

// certificateGrant is the client credentials grant with a certificate: a
// client assertion (RFC 7523) signed with the certificate's key instead of
// a secret, as Microsoft's certificate credentials describe it.
func (cfg *Config) certificateGrant(ctx context.Context) (*oauth2.Token, error) {
	c, err := loadCertificate(cfg.CertificateFile)
	if err != nil {
		return nil, err
	}
	cc := cfg.clientCredentials()
	assertion, err := c.assertion(cfg.ClientID, cc.TokenURL, time.Now())
	if err != nil {
		return nil, err
	}
	cc.AuthStyle = oauth2.AuthStyleInParams // client_id in the body, no secret
	cc.EndpointParams = url.Values{
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
	}
	return cc.Token(ctx)
}

// certificate is an app's certificate and its private key.
type certificate struct {
	der []byte
	key crypto.Signer
}

// loadCertificate reads a PEM file holding the certificate and its
// private key (PKCS #8, PKCS #1 or EC), in any order.
func loadCertificate(path string) (*certificate, error) {
	b, err := boundedfile.Read(path, maxKeyFileBytes)
	if err != nil {
		return nil, fmt.Errorf("certificate file: %w", err)
	}
	c := &certificate{}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		switch blk.Type {
		case "CERTIFICATE":
			if c.der == nil {
				c.der = blk.Bytes
			}
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
			// parseKey's errors are generic: no byte of the key in them.
			if c.key, err = parseKey(blk); err != nil {
				return nil, fmt.Errorf("certificate file %s: private key: %w", path, err)
			}
		}
	}
	if c.der == nil || c.key == nil {
		return nil, fmt.Errorf("certificate file %s: want a CERTIFICATE and a PRIVATE KEY block", path)
	}
	cert, err := x509.ParseCertificate(c.der)
	if err != nil {
		return nil, fmt.Errorf("certificate file %s: %w", path, err)
	}
	if pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(c.key.Public()) {
		return nil, fmt.Errorf("certificate file %s: the private key does not belong to the certificate", path)
	}
	if _, ok := c.key.(*rsa.PrivateKey); !ok {
		return nil, fmt.Errorf("certificate file %s: want an RSA key (Microsoft signs assertions with PS256/RS256)", path)
	}
	return c, nil
}

func parseKey(blk *pem.Block) (crypto.Signer, error) {
	var k any
	var err error
	switch blk.Type {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	}
	if err != nil {
		return nil, errors.New("not a valid key")
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("unsupported key type")
	}
	return s, nil
}

// assertion is the signed client assertion: PS256 with the certificate's
// SHA-256 thumbprint (x5t#S256), and the SHA-1 one (x5t) that older
// tenants look up, both as Microsoft specifies them.
func (c *certificate) assertion(clientID, tokenURL string, now time.Time) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodPS256, jwt.RegisteredClaims{
		Issuer:    clientID,
		Subject:   clientID,
		Audience:  jwt.ClaimStrings{tokenURL},
		ID:        rand.Text(),
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(assertionLifetime)),
	})
	s1 := sha1.Sum(c.der) //nolint:gosec // a thumbprint, not a security boundary
	s256 := sha256.Sum256(c.der)
	t.Header["x5t"] = base64.RawURLEncoding.EncodeToString(s1[:])
	t.Header["x5t#S256"] = base64.RawURLEncoding.EncodeToString(s256[:])
	s, err := t.SignedString(c.key)
	if err != nil {
		return "", fmt.Errorf("sign client assertion: %w", err)
	}
	return s, nil
}

// serviceAccountConfig is Google's JWT grant for the service account key,
// impersonating the mailbox user (domain-wide delegation).
func (cfg *Config) serviceAccountConfig() (*oauthjwt.Config, error) {
	b, err := boundedfile.Read(cfg.ServiceAccountFile, maxKeyFileBytes)
	if err != nil {
		return nil, fmt.Errorf("service account file: %w", err)
	}
	jc, err := google.JWTConfigFromJSON(b, cfg.Scopes...)
	if err != nil {
		// The JSON error could quote the file, which holds the key.
		return nil, fmt.Errorf("service account file %s: not a Google service account JSON key", cfg.ServiceAccountFile)
	}
	jc.Subject = cfg.Subject
	jc.TokenURL = cmp.Or(cfg.TokenURL, jc.TokenURL)
	return jc, nil
}

func (cfg *Config) serviceAccountGrant(ctx context.Context) (*oauth2.Token, error) {
	jc, err := cfg.serviceAccountConfig()
	if err != nil {
		return nil, err
	}
	// A fresh source holds no token, so Token always asks the endpoint.
	return jc.TokenSource(ctx).Token()
}

// refreshGrant redeems the stored refresh token and stores the new one
// when the provider rotated it. The file is read at every refresh, so a
// `triage login` while the daemon runs takes effect at the next retry.
func (cfg *Config) refreshGrant(ctx context.Context) (*oauth2.Token, error) {
	st, err := loadRefreshToken(cfg.StateDir, cfg.Account)
	if err != nil {
		return nil, err
	}
	oc, err := cfg.oauth2Config()
	if err != nil {
		return nil, err
	}
	tok, err := oc.TokenSource(ctx, &oauth2.Token{RefreshToken: st.RefreshToken}).Token()
	if err != nil {
		return nil, err
	}
	if tok.RefreshToken != "" && tok.RefreshToken != st.RefreshToken {
		if err := saveRefreshToken(cfg.StateDir, cfg.Account, cfg.ClientID, tok.RefreshToken); err != nil {
			// The new token is good for now; the old one may still be
			// accepted. Say so loudly: after a restart it may not be.
			return tok, fmt.Errorf("%w: %w", errNotSaved, err)
		}
	}
	return tok, nil
}

// errNotSaved marks a token that was issued but whose rotated refresh
// token could not be written.
var errNotSaved = errors.New("rotated refresh token not saved")

// oauth2Config is the delegated flows' client.
func (cfg *Config) oauth2Config() (*oauth2.Config, error) {
	oc := &oauth2.Config{ClientID: cfg.ClientID, Endpoint: cfg.endpoint(), Scopes: cfg.Scopes}
	if cfg.ClientSecret != nil {
		s, err := cfg.ClientSecret()
		if err != nil {
			return nil, fmt.Errorf("client secret: %w", err)
		}
		oc.ClientSecret = s
	}
	return oc, nil
}
