package oauth

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"golang.org/x/oauth2/microsoft"
)

// Providers.
const (
	ProviderMicrosoft = "microsoft"
	ProviderGoogle    = "google"
	ProviderGeneric   = "generic"
)

// Flows: how the account gets its tokens.
const (
	FlowAppOnly        = "app_only"        // client credentials (secret or certificate)
	FlowServiceAccount = "service_account" // Google JWT grant with domain-wide delegation
	FlowDelegated      = "delegated"       // refresh token from Login
)

// Providers and Flows list the accepted values, for the config schema.
func Providers() []string { return []string{ProviderMicrosoft, ProviderGoogle, ProviderGeneric} }

// Flows lists the accepted flows.
func Flows() []string { return []string{FlowAppOnly, FlowServiceAccount, FlowDelegated} }

// DefaultFlow is the flow of a provider when none is configured: the
// unattended one each provider documents for daemons.
func DefaultFlow(provider string) string {
	if provider == ProviderGoogle {
		return FlowServiceAccount
	}
	return FlowAppOnly
}

// Scopes taken when none are configured.
const (
	ScopeMicrosoftAppOnly = "https://outlook.office365.com/.default"
	ScopeMicrosoftIMAP    = "https://outlook.office.com/IMAP.AccessAsUser.All"
	ScopeOfflineAccess    = "offline_access" // Microsoft: ask for a refresh token
	ScopeGoogleMail       = "https://mail.google.com/"
)

// DefaultScopes are the scopes of provider and flow when none are
// configured (nil for the generic provider, which has no default).
func DefaultScopes(provider, flow string) []string {
	switch {
	case provider == ProviderMicrosoft && flow == FlowDelegated:
		return []string{ScopeMicrosoftIMAP, ScopeOfflineAccess}
	case provider == ProviderMicrosoft:
		return []string{ScopeMicrosoftAppOnly}
	case provider == ProviderGoogle:
		return []string{ScopeGoogleMail}
	}
	return nil
}

// Timing defaults.
const (
	// A token is refreshed when a quarter of its lifetime is left, at most
	// MaxRefreshMargin before it expires (a one-hour token at 55 min).
	MaxRefreshMargin = 5 * time.Minute
	// Token hands a held token out until a tenth of its lifetime is left,
	// at most MaxUseMargin before it expires: the login it is used for
	// must reach the server before the token expires.
	MaxUseMargin = time.Minute
	// A lifetime the endpoint gives is taken as at most MaxLifetime, and
	// a refresh follows the previous one after MinRefreshGap at the
	// earliest.
	MaxLifetime   = 24 * time.Hour
	MinRefreshGap = 500 * time.Millisecond
	// AssumedLifetime is the lifetime of a token whose response has no
	// expires_in and which is not a JWT with an exp claim.
	AssumedLifetime = 10 * time.Minute
	// Refresh failures are retried after DefaultRetryMin, doubling up to
	// DefaultRetryMax.
	DefaultRetryMin = 2 * time.Second
	DefaultRetryMax = 5 * time.Minute
	// DefaultFetchTimeout bounds one request to the token endpoint.
	DefaultFetchTimeout = 30 * time.Second
	// assertionLifetime is how long a client assertion JWT is valid:
	// Microsoft asks for a short one (5 to 10 minutes).
	assertionLifetime = 5 * time.Minute
)

// Config describes how one account gets its tokens.
type Config struct {
	Account  string // account name, for logs and the refresh token's file
	Provider string // microsoft | google | generic
	Flow     string // app_only | service_account | delegated; default DefaultFlow(Provider)
	Tenant   string // Microsoft directory (tenant) id or domain
	ClientID string
	// ClientSecret reads the client secret at every token request (a
	// rotated secret is picked up); nil when the flow needs none.
	ClientSecret func() (string, error)
	// CertificateFile is a PEM file with the certificate registered for
	// the app and its private key (Microsoft app-only instead of a secret).
	CertificateFile string
	// ServiceAccountFile is a Google service account's JSON key.
	ServiceAccountFile string
	// Subject is the mailbox user a Google service account impersonates.
	Subject string
	Scopes  []string // default DefaultScopes(Provider, Flow)
	// Endpoint overrides; the provider's own are used when empty (generic
	// needs TokenURL).
	TokenURL      string
	DeviceAuthURL string
	AuthURL       string
	// StateDir holds the refresh token of a delegated account.
	StateDir string

	// HTTPClient talks to the token endpoint; default one with
	// FetchTimeout.
	HTTPClient   *http.Client
	FetchTimeout time.Duration // default DefaultFetchTimeout
	RetryMin     time.Duration // default DefaultRetryMin
	RetryMax     time.Duration // default DefaultRetryMax
	Log          *slog.Logger

	// OnToken is called after every new token with its expiry (zero when
	// unknown); OnFailure after every failed refresh. Both must not block.
	OnToken   func(expiry time.Time)
	OnFailure func(err error)
}

// withDefaults checks cfg and fills in the defaults.
func (cfg Config) withDefaults() (Config, error) {
	if !slices.Contains(Providers(), cfg.Provider) {
		return cfg, fmt.Errorf("oauth2: provider %q: want microsoft, google or generic", cfg.Provider)
	}
	cfg.Flow = cmp.Or(cfg.Flow, DefaultFlow(cfg.Provider))
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = DefaultScopes(cfg.Provider, cfg.Flow)
	}
	if err := cfg.check(); err != nil {
		return cfg, fmt.Errorf("oauth2 for %s: %w", cfg.Account, err)
	}
	cfg.FetchTimeout = cmp.Or(cfg.FetchTimeout, DefaultFetchTimeout)
	cfg.RetryMin = cmp.Or(cfg.RetryMin, DefaultRetryMin)
	cfg.RetryMax = max(cmp.Or(cfg.RetryMax, DefaultRetryMax), cfg.RetryMin)
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: cfg.FetchTimeout}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}

// check says what the flow lacks. config validates the same with
// positions; this guards other callers.
func (cfg *Config) check() error {
	var errs []error
	need := func(ok bool, what string) {
		if !ok {
			errs = append(errs, fmt.Errorf("%s flow needs %s", cfg.Flow, what))
		}
	}
	switch cfg.Flow {
	case FlowAppOnly:
		need(cfg.Provider != ProviderGoogle, "a microsoft or generic provider (google's app-only flow is service_account)")
		need(cfg.ClientID != "", "client_id")
		need((cfg.ClientSecret != nil) != (cfg.CertificateFile != ""), "exactly one of a client secret and a certificate")
	case FlowServiceAccount:
		need(cfg.Provider == ProviderGoogle, "the google provider")
		need(cfg.ServiceAccountFile != "", "a service account key file")
		need(cfg.Subject != "", "the mailbox user to impersonate")
	case FlowDelegated:
		need(cfg.ClientID != "", "client_id")
		need(cfg.StateDir != "", "a state directory for the refresh token")
	default:
		errs = append(errs, fmt.Errorf("flow %q: want app_only, service_account or delegated", cfg.Flow))
	}
	need(cfg.Provider != ProviderMicrosoft || cfg.Tenant != "", "a Microsoft tenant")
	need(cfg.Provider != ProviderGeneric || cfg.TokenURL != "", "a token_url with the generic provider")
	need(len(cfg.Scopes) > 0, "scopes with the generic provider")
	return errors.Join(errs...)
}

// endpoint is the provider's endpoint with the configured overrides.
func (cfg *Config) endpoint() oauth2.Endpoint {
	var e oauth2.Endpoint
	switch cfg.Provider {
	case ProviderMicrosoft:
		e = microsoft.AzureADEndpoint(cfg.Tenant)
		e.AuthStyle = oauth2.AuthStyleInParams // Microsoft wants client_id in the body
	case ProviderGoogle:
		e = google.Endpoint
		e.AuthStyle = oauth2.AuthStyleInParams
	}
	e.TokenURL = cmp.Or(cfg.TokenURL, e.TokenURL)
	e.DeviceAuthURL = cmp.Or(cfg.DeviceAuthURL, e.DeviceAuthURL)
	e.AuthURL = cmp.Or(cfg.AuthURL, e.AuthURL)
	return e
}
