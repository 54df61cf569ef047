package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"golang.org/x/oauth2"

	"github.com/triage-dev/triage/internal/clip"
)

// Source holds one account's current access token and refreshes it.
type Source struct {
	cfg   Config
	grant grant
	sem   chan struct{} // one request to the token endpoint at a time

	mu        sync.Mutex
	token     string
	expiry    time.Time // when the token stops working (assumed when unknown)
	refreshAt time.Time // when the background refresh asks for a new one
	useUntil  time.Time // Token hands it out until then
	status    Status
}

// Status is a Source's state for /status. It never holds a token.
type Status struct {
	Provider    string    `json:"provider"`
	Flow        string    `json:"flow"`
	Expiry      time.Time `json:"token_expiry,omitzero"` // zero when the endpoint did not say
	LastRefresh time.Time `json:"last_refresh,omitzero"`
	NextRefresh time.Time `json:"next_refresh,omitzero"`
	Refreshes   uint64    `json:"refreshes"`
	Failures    uint64    `json:"refresh_failures"`
	// Failing counts the failures since the last success.
	Failing     int       `json:"failing,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

// New checks cfg (reading the certificate or key file once) and returns a
// Source holding no token yet: Run fetches the first one, or Token does
// when asked first.
func New(cfg Config) (*Source, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	g, err := newGrant(&cfg)
	if err != nil {
		return nil, fmt.Errorf("oauth2 for %s: %w", cfg.Account, err)
	}
	cfg.Log = cfg.Log.With("account", cfg.Account, "provider", cfg.Provider, "flow", cfg.Flow)
	return &Source{cfg: cfg, grant: g, sem: make(chan struct{}, 1),
		status: Status{Provider: cfg.Provider, Flow: cfg.Flow}}, nil
}

// Token returns a current access token. The token held is returned
// without waiting while it is good for a while; the background refresh
// replaces it well before that. Only when there is none (before the first
// fetch, or after refreshes failed) does Token ask the endpoint itself.
func (s *Source) Token(ctx context.Context) (string, error) {
	if tok, ok := s.usable(time.Now()); ok {
		return tok, nil
	}
	return s.refresh(ctx, func(now time.Time) bool { _, ok := s.usable(now); return ok })
}

// Run refreshes the token before it expires until ctx ends. A failure is
// logged, counted and retried with an exponential backoff; the token held
// meanwhile is handed out for as long as it is usable.
func (s *Source) Run(ctx context.Context) {
	b := &backoff.ExponentialBackOff{InitialInterval: s.cfg.RetryMin, MaxInterval: s.cfg.RetryMax,
		Multiplier: 2, RandomizationFactor: 0.2}
	for {
		_, err := s.refresh(ctx, func(now time.Time) bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.token != "" && now.Before(s.refreshAt)
		})
		if ctx.Err() != nil {
			return
		}
		var wait time.Duration
		if err != nil {
			wait = b.NextBackOff()
			s.setNext(time.Now().Add(wait))
		} else {
			b.Reset()
			s.mu.Lock()
			wait = time.Until(s.refreshAt)
			s.mu.Unlock()
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Status returns a snapshot.
func (s *Source) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

func (s *Source) usable(now time.Time) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token, s.token != "" && now.Before(s.useUntil)
}

func (s *Source) setNext(t time.Time) {
	s.mu.Lock()
	s.status.NextRefresh = t
	s.mu.Unlock()
}

// refresh asks the endpoint for a new token unless fresh says the one
// held (by then: another caller may have refreshed meanwhile) will do.
func (s *Source) refresh(ctx context.Context, fresh func(time.Time) bool) (string, error) {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-s.sem }()
	if fresh(time.Now()) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.token, nil
	}
	fctx, cancel := context.WithTimeout(context.WithValue(ctx, oauth2.HTTPClient, s.cfg.HTTPClient), s.cfg.FetchTimeout)
	defer cancel()
	issued := time.Now()
	tok, err := s.grant(fctx)
	if tok != nil && tok.AccessToken != "" {
		s.keep(tok, issued)
	}
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		err = s.failed(err)
		if tok == nil || tok.AccessToken == "" {
			return "", err
		}
	}
	if tok.AccessToken == "" {
		return "", s.failed(errors.New("the token endpoint returned no access token"))
	}
	return tok.AccessToken, nil
}

// keep stores a new token and schedules its refresh.
func (s *Source) keep(tok *oauth2.Token, issued time.Time) {
	expiry := tok.Expiry // from expires_in
	known := !expiry.IsZero()
	if !known {
		expiry, known = JWTExpiry(tok.AccessToken)
	}
	if !known {
		expiry = issued.Add(AssumedLifetime)
	}
	// The endpoint is outside: a lifetime of years would never be
	// refreshed, one already over would be asked for again at once, in a
	// loop.
	life := min(max(expiry.Sub(issued), 0), MaxLifetime)
	due := issued.Add(life)
	s.mu.Lock()
	s.token = tok.AccessToken
	s.expiry = expiry
	s.refreshAt = due.Add(-min(life/4, MaxRefreshMargin))
	if gap := issued.Add(MinRefreshGap); s.refreshAt.Before(gap) {
		s.refreshAt = gap
	}
	s.useUntil = due.Add(-min(life/10, MaxUseMargin))
	s.status.LastRefresh = time.Now()
	s.status.NextRefresh = s.refreshAt
	s.status.Refreshes++
	s.status.Failing = 0
	s.status.Expiry = time.Time{} // zero: the endpoint did not say
	if known {
		s.status.Expiry = expiry
	}
	next, reported := s.refreshAt, s.status.Expiry
	s.mu.Unlock()
	s.cfg.Log.Debug("oauth2 token refreshed", "expires", expiry.UTC().Format(time.RFC3339), "next_refresh", next.UTC().Format(time.RFC3339))
	if s.cfg.OnToken != nil {
		s.cfg.OnToken(reported)
	}
}

// failed records and logs a failed refresh and returns the error as it
// may be shown: the endpoint's error code and description, never its
// body verbatim nor anything sent to it.
func (s *Source) failed(err error) error {
	err = fmt.Errorf("oauth2 token for %s: %s", s.cfg.Account, describe(err))
	s.mu.Lock()
	s.status.Failures++
	s.status.Failing++
	s.status.LastError, s.status.LastErrorAt = err.Error(), time.Now()
	failing, held := s.status.Failing, s.token != "" && time.Now().Before(s.expiry)
	s.mu.Unlock()
	s.cfg.Log.Warn("oauth2 token refresh failed; retrying with backoff", "err", err.Error(),
		"failing", failing, "token_still_valid", held)
	if s.cfg.OnFailure != nil {
		s.cfg.OnFailure(err)
	}
	return err
}

// describe turns a grant error into text fit for a log: a RetrieveError
// becomes its status, error code and a clipped description, with a hint
// for the codes that need a person. The response body is never quoted
// whole (an odd endpoint could echo what it was sent).
func describe(err error) string {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return err.Error()
	}
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	code := clip.UTF8(printableASCII(re.ErrorCode), 64)
	desc := clip.UTF8(printableASCII(re.ErrorDescription), 300)
	msg := fmt.Sprintf("token endpoint answered HTTP %d", status)
	if code != "" {
		msg += " " + code
	}
	if desc != "" {
		msg += ": " + desc
	}
	switch code {
	case "invalid_grant":
		msg += " (the refresh token or assertion was refused: for a delegated account run triage login again)"
	case "invalid_client", "unauthorized_client":
		msg += " (check client_id, the client secret or certificate, and the tenant)"
	}
	return msg
}

// printableASCII drops what could forge log lines or terminal escapes.
func printableASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return ' '
		}
		return r
	}, s)
}

// JWTExpiry returns the exp claim of a token that is a JWT (Microsoft's
// access tokens are; Google's are opaque). The signature is not checked:
// the value only schedules a refresh and feeds a metric, where the token
// response said nothing.
func JWTExpiry(token string) (time.Time, bool) {
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
	if err != nil || sec <= 0 || sec > 1<<40 {
		return time.Time{}, false
	}
	return time.Unix(int64(sec), 0), true
}
