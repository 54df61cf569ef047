package queue

import (
	"errors"
	"net/url"
	"strings"

	"github.com/triage-dev/triage/internal/netaddr"
)

// credentialProblems reports secrets written into the config (they belong
// in the environment or a file) and credentials that would cross the
// network in clear text.
func credentialProblems(cfg Config, add func(string, ...any)) {
	switch cfg.Type {
	case "webhook":
		u, err := url.Parse(cfg.URL)
		if err != nil || u.Host == "" {
			return // reported by ValidateConfig
		}
		if u.User != nil {
			add("url holds credentials: send them with headers_env (e.g. Authorization) instead; secrets never sit in the YAML")
		}
		if u.Scheme == "http" && len(cfg.HeadersEnv) > 0 && !netaddr.IsLoopbackHost(u.Hostname()) {
			add("headers_env sends secrets over plain http to %s: use https (http only to a loopback address)", u.Hostname())
		}
		for h := range cfg.Headers {
			if credentialHeader(h) {
				add("headers: %q looks like a credential: set it with headers_env so the value stays out of the YAML", h)
			}
		}
	case "nats":
		for _, raw := range strings.Split(cfg.URL, ",") {
			u, err := url.Parse(strings.TrimSpace(raw))
			if err != nil || u.Host == "" {
				continue
			}
			if u.User != nil {
				add("url %s://%s holds credentials: use username with password_env/password_file, or creds_file", u.Scheme, u.Host)
			}
			if cfg.Username != "" && u.Scheme != "tls" && u.Scheme != "wss" && !netaddr.IsLoopbackHost(u.Hostname()) {
				add("username and password to %s would cross the network in clear text: use a tls:// url", u.Hostname())
			}
		}
	}
}

// credentialHeader reports header names that carry credentials by convention.
func credentialHeader(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"auth", "token", "secret", "password", "passwd", "apikey", "api-key", "api_key", "cookie", "session"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// originOnlyErr cuts the URL in a *url.Error down to scheme://host/…, so
// that a token in its path or query never reaches a log line.
func originOnlyErr(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	if u, perr := url.Parse(ue.URL); perr == nil && u.Host != "" {
		ue.URL = u.Scheme + "://" + u.Host + "/…"
	} else {
		ue.URL = "<url>"
	}
	return err
}
