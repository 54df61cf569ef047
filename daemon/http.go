package daemon

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/triage-dev/triage/config"
	"golang.org/x/net/netutil"
)

type adminServer struct {
	srv *http.Server
	ln  net.Listener
}

// startHTTP binds the admin server before Run reports started, so a port
// clash is a start-up error rather than a log line.
func (d *Daemon) startHTTP(cfg *config.Config) (*adminServer, error) {
	token, err := secretFromEnvOrFile(cfg, cfg.HTTP.TokenEnv, cfg.HTTP.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("http token: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return nil, fmt.Errorf("admin http: %w", err)
	}
	d.log.Info("admin http listening", "addr", ln.Addr().String(), "auth", token != "")
	if d.opts.OnHTTP != nil {
		d.opts.OnHTTP(ln.Addr())
	}
	hosts := allowedHosts(cfg.HTTP)
	if token != "" {
		// A page that rebinds a name to this address cannot send the
		// token: any Host may be used then (a scraper by IP or name).
		hosts = nil
	}
	return newAdminServer(ln, guard(hosts, d.Handler(token))), nil
}

// newAdminServer serves h on ln with the admin server's bounds.
func newAdminServer(ln net.Listener, h http.Handler) *adminServer {
	return &adminServer{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      60 * time.Second,
			IdleTimeout:       60 * time.Second,
			MaxHeaderBytes:    64 << 10,
		},
		ln: netutil.LimitListener(ln, MaxAdminConns),
	}
}

// MaxAdminConns bounds the admin server's open connections: an idle or
// slow client holds one at most until the timeouts above close it.
const MaxAdminConns = 64

// allowedHosts are the Host names the admin server answers to.
func allowedHosts(h config.HTTPConfig) map[string]bool {
	hosts := map[string]bool{"localhost": true}
	if host, _, err := net.SplitHostPort(h.Listen); err == nil && host != "" {
		hosts[strings.ToLower(host)] = true
	}
	for _, name := range h.AllowedHosts {
		hosts[strings.ToLower(name)] = true
	}
	return hosts
}

// guard refuses what a browser on another site could send: a Host that is
// not ours (a DNS-rebinding page reading /status; nil hosts allows any) and
// a cross-origin POST (a page triggering /-/reload), before any handler
// runs.
func guard(hosts map[string]bool, next http.Handler) http.Handler {
	csrf := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.ToLower(strings.Trim(host, "[]"))
		if ip := net.ParseIP(host); hosts != nil && !hosts[host] && (ip == nil || !ip.IsLoopback()) {
			http.Error(w, "misdirected request: unknown host", http.StatusMisdirectedRequest)
			return
		}
		if err := csrf.Check(r); err != nil {
			http.Error(w, "cross-origin request refused", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *adminServer) serve() error {
	if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *adminServer) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
}

// Handler is the admin HTTP API. token, when set, is required as a bearer
// token on everything but /healthz.
func (d *Daemon) Handler(token string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	auth := func(h http.Handler) http.Handler {
		if token == "" {
			return h
		}
		want := []byte("Bearer " + token)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got := []byte(r.Header.Get("Authorization"))
			if subtle.ConstantTimeCompare(got, want) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="triage"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	mux.Handle("GET /metrics", auth(promhttp.HandlerFor(d.metrics.Registry, promhttp.HandlerOpts{})))
	mux.Handle("GET /readyz", auth(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		st := d.Status()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !st.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, strings.Join(st.NotReadyWhy, "\n"))
			return
		}
		fmt.Fprintln(w, "ready")
	})))
	mux.Handle("GET /status", auth(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, d.Status())
	})))
	mux.Handle("POST /-/reload", auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res := d.ReloadRules(r.Context())
		body := map[string]any{"version": res.Version, "changed": res.Changed, "active": d.reloader.Active().Current().Version}
		if res.Err != nil {
			body["errors"] = reloadErrors(res)
			writeJSON(w, http.StatusUnprocessableEntity, body)
			return
		}
		writeJSON(w, http.StatusOK, body)
	})))
	if h := d.consoleHandler(token); h != nil {
		mux.Handle("/", h)
	}
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
