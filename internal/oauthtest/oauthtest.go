// Package oauthtest is test support for OAuth 2.0 logins: a local token
// endpoint (httptest) that issues, expires, rotates and revokes tokens for
// the grants triage uses (client credentials with a secret or a client
// assertion, Google's JWT bearer, refresh token, device code,
// authorization code with PKCE), and an in-process IMAP server whose
// XOAUTH2 and OAUTHBEARER check every token against that endpoint.
package oauthtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Server is the token endpoint. Its zero value is not usable: use Start.
type Server struct {
	URL, TokenURL, DeviceURL, AuthURL string

	mu       sync.Mutex
	lifetime time.Duration
	down     bool
	rotate   bool                         // a refresh returns a new refresh token and retires the old
	jwtOnly  bool                         // access tokens are JWTs with exp, and expires_in is left out
	expires  *int                         // expires_in sent instead of the lifetime's
	secrets  map[string]string            // client id → secret
	certs    map[string]*x509.Certificate // client id → certificate (assertion)
	sa       map[string]*rsa.PublicKey    // service account email → key
	access   map[string]grant             // access token → what it grants
	refresh  map[string]string            // live refresh token → subject
	devices  map[string]*device           // device code → state
	codes    map[string]authCode          // authorization code → its request
	seen     []string                     // every token and secret, for log greps
	n        int
	Requests map[string]int // grant_type → requests, failed ones included
}

type grant struct {
	subject string // "" for app-only tokens: any mailbox the app may read
	expiry  time.Time
}

type device struct {
	userCode string
	approved string // subject once approved
}

type authCode struct {
	challenge, redirect string
}

// Start runs a token endpoint whose access tokens live for lifetime.
func Start(t testing.TB, lifetime time.Duration) *Server {
	t.Helper()
	s := &Server{lifetime: lifetime, rotate: true,
		secrets: map[string]string{}, certs: map[string]*x509.Certificate{}, sa: map[string]*rsa.PublicKey{},
		access: map[string]grant{}, refresh: map[string]string{}, devices: map[string]*device{}, codes: map[string]authCode{},
		Requests: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", s.token)
	mux.HandleFunc("POST /devicecode", s.deviceCode)
	mux.HandleFunc("GET /authorize", s.authorize)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	s.URL = hs.URL
	s.TokenURL, s.DeviceURL, s.AuthURL = hs.URL+"/token", hs.URL+"/devicecode", hs.URL+"/authorize"
	return s
}

// SetDown makes the endpoint answer 503 to everything (or not).
func (s *Server) SetDown(down bool) { s.mu.Lock(); s.down = down; s.mu.Unlock() }

// SetRotate chooses whether a refresh issues a new refresh token.
func (s *Server) SetRotate(r bool) { s.mu.Lock(); s.rotate = r; s.mu.Unlock() }

// SetJWTOnly makes access tokens JWTs with an exp claim and leaves out
// expires_in, as some providers do.
func (s *Server) SetJWTOnly(j bool) { s.mu.Lock(); s.jwtOnly = j; s.mu.Unlock() }

// SetExpiresIn makes the endpoint send expires_in n (any value, hostile
// ones included) while tokens still live for the lifetime.
func (s *Server) SetExpiresIn(n int) { s.mu.Lock(); s.expires = &n; s.mu.Unlock() }

// AddClient registers a client with a secret.
func (s *Server) AddClient(id, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets[id] = secret
	s.seen = append(s.seen, secret)
}

// AddCertClient registers a client that authenticates with a client
// assertion signed by the key of cert.
func (s *Server) AddCertClient(id string, cert *x509.Certificate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.certs[id] = cert
}

// RevokeAll revokes every refresh token and access token issued.
func (s *Server) RevokeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.refresh)
	clear(s.access)
}

// IssueRefresh returns a live refresh token for subject, as a sign-in
// would.
func (s *Server) IssueRefresh(subject string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newRefresh(subject)
}

// RefreshTokens returns the live refresh tokens.
func (s *Server) RefreshTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Collect(maps.Keys(s.refresh))
}

// Seen returns every secret, token and assertion the endpoint issued or
// received: none may appear in a log line.
func (s *Server) Seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

// Check reports whether token is a live access token for user: issued
// here, not expired, and for user (app-only tokens are for any user).
func (s *Server) Check(token, user string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.access[token]
	switch {
	case !ok:
		return errors.New("unknown token")
	case !time.Now().Before(g.expiry):
		return errors.New("token expired")
	case g.subject != "" && g.subject != user:
		return fmt.Errorf("token is for %s, not %s", g.subject, user)
	}
	return nil
}

// Approve approves every pending device sign-in as subject and returns
// how many there were.
func (s *Server) Approve(subject string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, d := range s.devices {
		if d.approved == "" {
			d.approved = subject
			n++
		}
	}
	return n
}

func (s *Server) random(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	s.n++
	v := fmt.Sprintf("%s-%d-%s", prefix, s.n, hex.EncodeToString(b))
	s.seen = append(s.seen, v)
	return v
}

func (s *Server) newRefresh(subject string) string {
	r := s.random("rt")
	s.refresh[r] = subject
	return r
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// issue answers with a new access token (and refresh, if not "").
func (s *Server) issue(w http.ResponseWriter, subject, refresh string) {
	tok := s.random("at")
	exp := time.Now().Add(s.lifetime)
	resp := map[string]any{"access_token": tok, "token_type": "Bearer"}
	if s.jwtOnly {
		enc := base64.RawURLEncoding.EncodeToString
		claims, _ := json.Marshal(map[string]any{"exp": exp.Unix(), "sub": subject})
		tok = enc([]byte(`{"alg":"none"}`)) + "." + enc(claims) + "." + enc([]byte(s.random("sig")))
		resp["access_token"] = tok
		s.seen = append(s.seen, tok)
	} else {
		// expires_in is whole seconds; sub-second lifetimes round up
		// here and are enforced exactly by Check.
		resp["expires_in"] = max(1, int((s.lifetime+time.Second-1)/time.Second))
		if s.expires != nil {
			resp["expires_in"] = *s.expires
		}
	}
	s.access[tok] = grant{subject: subject, expiry: exp}
	if refresh != "" {
		resp["refresh_token"] = refresh
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	gt := r.PostForm.Get("grant_type")
	s.Requests[gt]++
	if s.down {
		http.Error(w, "upstream unavailable", http.StatusServiceUnavailable)
		return
	}
	for _, k := range []string{"client_secret", "client_assertion", "assertion", "refresh_token", "code", "code_verifier", "device_code"} {
		if v := r.PostForm.Get(k); v != "" {
			s.seen = append(s.seen, v)
		}
	}
	switch gt {
	case "client_credentials":
		if !s.clientOK(w, r) {
			return
		}
		s.issue(w, "", "")
	case "urn:ietf:params:oauth:grant-type:jwt-bearer":
		s.jwtBearer(w, r)
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		sub, ok := s.refresh[rt]
		if !ok {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "AADSTS70000: the refresh token was revoked or has expired")
			return
		}
		next := ""
		if s.rotate {
			delete(s.refresh, rt)
			next = s.newRefresh(sub)
		}
		s.issue(w, sub, next)
	case "urn:ietf:params:oauth:grant-type:device_code":
		d, ok := s.devices[r.PostForm.Get("device_code")]
		switch {
		case !ok:
			oauthError(w, http.StatusBadRequest, "expired_token", "unknown device code")
		case d.approved == "":
			oauthError(w, http.StatusBadRequest, "authorization_pending", "waiting for the user")
		default:
			delete(s.devices, r.PostForm.Get("device_code"))
			s.issue(w, d.approved, s.newRefresh(d.approved))
		}
	case "authorization_code":
		c, ok := s.codes[r.PostForm.Get("code")]
		delete(s.codes, r.PostForm.Get("code"))
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge || r.PostForm.Get("redirect_uri") != c.redirect {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "bad code, verifier or redirect")
			return
		}
		s.issue(w, "user@example.com", s.newRefresh("user@example.com"))
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", gt)
	}
}

// clientOK authenticates the client by its secret (body or Basic) or by
// a client assertion signed with its certificate's key.
func (s *Server) clientOK(w http.ResponseWriter, r *http.Request) bool {
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if want, ok := s.secrets[id]; ok && secret != "" && secret == want {
		return true
	}
	if cert, ok := s.certs[id]; ok && r.PostForm.Get("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		if err := s.checkAssertion(r.PostForm.Get("client_assertion"), id, cert); err == nil {
			return true
		}
	}
	oauthError(w, http.StatusUnauthorized, "invalid_client", "AADSTS7000215: invalid client secret or assertion")
	return false
}

// checkAssertion checks a client assertion as Microsoft describes it.
func (s *Server) checkAssertion(assertion, clientID string, cert *x509.Certificate) error {
	sum := sha256.Sum256(cert.Raw)
	var claims jwt.RegisteredClaims
	tok, err := jwt.ParseWithClaims(assertion, &claims, func(t *jwt.Token) (any, error) {
		if t.Header["x5t#S256"] != base64.RawURLEncoding.EncodeToString(sum[:]) {
			return nil, errors.New("x5t#S256 does not name the certificate")
		}
		return cert.PublicKey, nil
	}, jwt.WithValidMethods([]string{"PS256", "RS256"}), jwt.WithAudience(s.TokenURL), jwt.WithIssuer(clientID),
		jwt.WithSubject(clientID), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	if err != nil || !tok.Valid || claims.ID == "" || claims.NotBefore == nil {
		return fmt.Errorf("bad assertion: %w", err)
	}
	return nil
}

// jwtBearer is Google's service account grant.
func (s *Server) jwtBearer(w http.ResponseWriter, r *http.Request) {
	type saClaims struct {
		Scope string `json:"scope"`
		jwt.RegisteredClaims
	}
	var claims saClaims
	_, err := jwt.ParseWithClaims(r.PostForm.Get("assertion"), &claims, func(t *jwt.Token) (any, error) {
		iss, _ := t.Claims.GetIssuer()
		if k, ok := s.sa[iss]; ok {
			return k, nil
		}
		return nil, errors.New("unknown service account")
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithAudience(s.TokenURL), jwt.WithExpirationRequired())
	if err != nil || claims.Subject == "" || claims.Scope != "https://mail.google.com/" {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid JWT Signature or claims.")
		return
	}
	s.issue(w, claims.Subject, "")
}

func (s *Server) deviceCode(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		http.Error(w, "upstream unavailable", http.StatusServiceUnavailable)
		return
	}
	_ = r.ParseForm()
	dc := s.random("dc")
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	uc := strings.ToUpper(hex.EncodeToString(b))
	s.devices[dc] = &device{userCode: uc}
	writeJSON(w, http.StatusOK, map[string]any{"device_code": dc, "user_code": uc,
		"verification_uri": s.URL + "/devicelogin", "expires_in": 600, "interval": 1})
}

// authorize is the browser's visit: it signs in at once and redirects to
// the client's loopback address with a code.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := r.URL.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || !strings.HasPrefix(q.Get("redirect_uri"), "http://127.0.0.1:") {
		http.Error(w, "PKCE and a loopback redirect are required", http.StatusBadRequest)
		return
	}
	code := s.random("code")
	s.codes[code] = authCode{challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri")}
	u, _ := url.Parse(q.Get("redirect_uri"))
	v := url.Values{"code": {code}, "state": {q.Get("state")}}
	u.RawQuery = v.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// ServiceAccount registers a new Google service account and returns its
// JSON key file, whose token_uri is this endpoint.
func (s *Server) ServiceAccount(t testing.TB, email string) []byte {
	t.Helper()
	key, pemBytes := rsaKey(t)
	pemKey := string(pemBytes)
	s.mu.Lock()
	s.sa[email] = &key.PublicKey
	s.seen = append(s.seen, strings.TrimSpace(strings.Split(pemKey, "\n")[1])) // a line of the key
	s.mu.Unlock()
	b, err := json.Marshal(map[string]string{"type": "service_account", "project_id": "triage-test", "private_key_id": "k1",
		"private_key": pemKey, "client_email": email, "client_id": "1234567890", "token_uri": s.TokenURL})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// AppCertificate returns a self-signed RSA certificate as an app
// registration would hold it, and the PEM file (certificate and key)
// triage's certificate_file reads.
func AppCertificate(t testing.TB) (*x509.Certificate, []byte) {
	t.Helper()
	key, pemKey := rsaKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "triage app"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return cert, append(out, pemKey...)
}

// rsaKey returns a new RSA key and its PKCS #8 PEM block.
func rsaKey(t testing.TB) (*rsa.PrivateKey, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}
