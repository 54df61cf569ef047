package console

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"
)

//go:embed assets
var assets embed.FS

// Options configure a Console.
type Options struct {
	// Token, when set, is required: as a bearer token, or typed once into
	// the login form, which sets a session cookie.
	Token string
	// AllowEdit lets the console change things: the playground saves the
	// rules file, the quarantine page moves mail back to be handled again.
	AllowEdit bool
	// Config names the daemon's config file in the requeue commands shown.
	Config string
	Log    *slog.Logger
}

// Bounds of what one request may bring or cost.
const (
	// MaxRulesBytes bounds the rules text the playground checks or saves.
	MaxRulesBytes = 1 << 20
	// MaxUploadBytes bounds a pasted or uploaded .eml when the daemon's
	// max_message_bytes is larger.
	MaxUploadBytes = 10 << 20
	// requeueTimeout bounds one requeue: a connection, a MOVE.
	requeueTimeout = 2 * time.Minute
	// EvalBudget bounds the time one playground request may spend
	// classifying (the replay of the recent messages stops there and says
	// so); each message also has the rules package's own budget.
	EvalBudget = 10 * time.Second
	// maxSessions bounds the browser sessions kept; the oldest go first.
	maxSessions = 256
	sessionTTL  = 12 * time.Hour
	cookieName  = "triage_console"
)

// Console serves the web console.
type Console struct {
	src   Source
	opts  Options
	log   *slog.Logger
	pages map[string]*template.Template
	key   []byte        // signs CSRF tokens; random per process
	eval  chan struct{} // one playground evaluation at a time

	mu       sync.Mutex
	sessions map[string]time.Time // session id → expiry
}

// New returns the console of src.
func New(src Source, opts Options) (*Console, error) {
	opts.Log = cmp.Or(opts.Log, slog.New(slog.DiscardHandler))
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	return &Console{src: src, opts: opts, log: opts.Log, pages: pages, key: key,
		eval: make(chan struct{}, 1), sessions: map[string]time.Time{}}, nil
}

// Handler serves the console's pages, API and assets. The admin server
// mounts it under / behind its host and cross-origin guard.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets")
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(static)))
	mux.HandleFunc("GET /login", c.loginPage)
	mux.HandleFunc("POST /login", c.login)
	mux.Handle("POST /logout", c.authed(http.HandlerFunc(c.logout)))
	mux.Handle("GET /{$}", c.authed(http.HandlerFunc(c.overviewPage)))
	mux.Handle("GET /tickets", c.authed(http.HandlerFunc(c.ticketsPage)))
	mux.Handle("GET /tickets/{seq}", c.authed(http.HandlerFunc(c.ticketPage)))
	mux.Handle("GET /rules", c.authed(http.HandlerFunc(c.rulesPage)))
	mux.Handle("GET /playground", c.authed(http.HandlerFunc(c.playgroundPage)))
	mux.Handle("GET /quarantine", c.authed(http.HandlerFunc(c.quarantinePage)))
	mux.Handle("GET /problems", c.authed(http.HandlerFunc(c.problemsPage)))
	mux.Handle("POST /quarantine/requeue", c.authed(http.HandlerFunc(c.requeue)))
	mux.Handle("GET /console/api/overview", c.authed(http.HandlerFunc(c.overviewAPI)))
	mux.Handle("GET /console/api/rulesfile", c.authed(http.HandlerFunc(c.rulesFileAPI)))
	mux.Handle("GET /console/api/chart", c.authed(http.HandlerFunc(c.chartAPI)))
	mux.Handle("POST /console/api/check", c.authed(http.HandlerFunc(c.checkAPI)))
	mux.Handle("POST /console/api/classify", c.authed(http.HandlerFunc(c.classifyAPI)))
	mux.Handle("POST /console/api/save", c.authed(http.HandlerFunc(c.saveAPI)))
	return secureHeaders(mux)
}

// secureHeaders forbids inline script, framing and sniffing on everything
// the console serves: a payload that slips past escaping still cannot run.
func secureHeaders(next http.Handler) http.Handler {
	const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
		"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

type ctxKey struct{}

// authed lets a request through with the bearer token or a session cookie
// (any request when no token is configured), and refuses every POST that
// does not carry the session's CSRF token. Bearer requests need no CSRF
// token: a browser on another site cannot send the header.
func (c *Console) authed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session, bearer := c.identify(r)
		if c.opts.Token != "" && session == "" && !bearer {
			if r.Method == http.MethodGet && !isAPI(r) {
				c.render(w, r, http.StatusUnauthorized, "login", pageData{Title: "Log in", CSRF: c.csrfToken("login")})
				return
			}
			writeError(w, http.StatusUnauthorized, "log in first: the console needs the admin token")
			return
		}
		if session == "" {
			session = "anonymous"
		}
		if r.Method == http.MethodPost && !bearer && !c.csrfOK(r, session) {
			writeError(w, http.StatusForbidden, "missing or wrong CSRF token")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, session)))
	})
}

func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/console/") }

// identify returns the request's live session id, and whether it carries
// the bearer token.
func (c *Console) identify(r *http.Request) (session string, bearer bool) {
	if c.opts.Token == "" {
		return "", false
	}
	if h := r.Header.Get("Authorization"); h != "" {
		if subtle.ConstantTimeCompare([]byte(h), []byte("Bearer "+c.opts.Token)) == 1 {
			return "", true
		}
	}
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.sessions[ck.Value]
	if !ok || time.Now().After(exp) {
		delete(c.sessions, ck.Value)
		return "", false
	}
	return ck.Value, false
}

// sessionOf is the session the request was authorized under.
func sessionOf(r *http.Request) string {
	s, _ := r.Context().Value(ctxKey{}).(string)
	return s
}

// csrfToken is the token a page of the session sends back with each POST.
func (c *Console) csrfToken(session string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(session))
	return hex.EncodeToString(m.Sum(nil))
}

func (c *Console) csrfOK(r *http.Request, session string) bool {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf")
	}
	return got != "" && hmac.Equal([]byte(got), []byte(c.csrfToken(session)))
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "login", pageData{Title: "Log in", CSRF: c.csrfToken("login")})
}

// login checks the typed token and starts a session.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if !c.csrfOK(r, "login") {
		writeError(w, http.StatusForbidden, "missing or wrong CSRF token")
		return
	}
	if c.opts.Token == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("token")), []byte(c.opts.Token)) != 1 {
		c.log.Warn("console: login with a wrong token", "remote", r.RemoteAddr)
		c.render(w, r, http.StatusUnauthorized, "login", pageData{Title: "Log in", CSRF: c.csrfToken("login"), Error: "That is not the admin token."})
		return
	}
	id := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		writeError(w, http.StatusInternalServerError, "no session: "+err.Error())
		return
	}
	session := hex.EncodeToString(id)
	c.mu.Lock()
	now := time.Now()
	maps.DeleteFunc(c.sessions, func(_ string, exp time.Time) bool { return now.After(exp) })
	for len(c.sessions) >= maxSessions {
		oldest, at := "", time.Time{}
		for k, exp := range c.sessions {
			if oldest == "" || exp.Before(at) {
				oldest, at = k, exp
			}
		}
		delete(c.sessions, oldest)
	}
	c.sessions[session] = now.Add(sessionTTL)
	c.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: session, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: int(sessionTTL / time.Second)})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	delete(c.sessions, sessionOf(r))
	c.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
