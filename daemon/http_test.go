package daemon

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/triage-dev/triage/config"
)

func TestAdminGuard(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "served") })
	h := guard(allowedHosts(config.HTTPConfig{Listen: "127.0.0.1:9425", AllowedHosts: []string{"triage.corp.example"}}), ok)
	tests := []struct {
		name, method, host string
		headers            map[string]string
		want               int
	}{
		{"localhost", "GET", "localhost:9425", nil, 200},
		{"loopback v4", "GET", "127.0.0.1:9425", nil, 200},
		{"loopback v6", "GET", "[::1]:9425", nil, 200},
		{"other loopback", "GET", "127.0.0.2", nil, 200},
		{"configured name", "GET", "Triage.Corp.Example", nil, 200},
		{"rebinding name", "GET", "attacker.example:9425", nil, http.StatusMisdirectedRequest},
		{"lan address", "GET", "192.168.1.5:9425", nil, http.StatusMisdirectedRequest},
		{"cross-site POST", "POST", "127.0.0.1:9425", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"foreign origin POST", "POST", "127.0.0.1:9425", map[string]string{"Origin": "http://attacker.example"}, http.StatusForbidden},
		{"same-origin POST", "POST", "127.0.0.1:9425", map[string]string{"Sec-Fetch-Site": "same-origin"}, 200},
		{"curl POST", "POST", "127.0.0.1:9425", nil, 200},
		{"cross-site GET is only read", "GET", "127.0.0.1:9425", map[string]string{"Sec-Fetch-Site": "cross-site"}, 200},
	}
	// With a token the Host is not checked (a rebinding page cannot send
	// the token); cross-origin POSTs still are.
	withToken := guard(nil, ok)
	for _, tt := range []struct {
		host, site string
		want       int
	}{{"10.0.0.5:9425", "", 200}, {"triage.internal", "", 200}, {"10.0.0.5:9425", "cross-site", http.StatusForbidden}} {
		r := httptest.NewRequest("POST", "/-/reload", nil)
		r.Host = tt.host
		if tt.site != "" {
			r.Header.Set("Sec-Fetch-Site", tt.site)
		}
		w := httptest.NewRecorder()
		withToken.ServeHTTP(w, r)
		if w.Code != tt.want {
			t.Errorf("with a token, Host %s, Sec-Fetch-Site %q: %d, want %d", tt.host, tt.site, w.Code, tt.want)
		}
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, "/-/reload", nil)
		r.Host = tt.host
		for k, v := range tt.headers {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tt.want || (tt.want == 200) != (w.Body.String() == "served") {
			t.Errorf("%s: %d %q, want %d", tt.name, w.Code, w.Body.String(), tt.want)
		}
	}
}

// startOKAdmin serves "ok" with the admin server's bounds on a loopback
// port until the test ends.
func startOKAdmin(t *testing.T) (*adminServer, net.Listener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := newAdminServer(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	go s.serve()
	t.Cleanup(s.shutdown)
	return s, ln
}

// TestAdminConnectionCap: idle connections beyond MaxAdminConns wait; the
// server keeps answering once one goes away.
func TestAdminConnectionCap(t *testing.T) {
	s, ln := startOKAdmin(t)
	if s.srv.IdleTimeout == 0 || s.srv.ReadTimeout == 0 || s.srv.WriteTimeout == 0 || s.srv.ReadHeaderTimeout == 0 {
		t.Fatalf("a timeout is unset: %+v", s.srv)
	}
	addr := ln.Addr().String()
	var idle []net.Conn
	for range MaxAdminConns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	// Make sure the server has accepted all of them: each answers a request.
	for _, c := range idle {
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 256)
		if n, err := c.Read(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 200") {
			t.Fatalf("idle conn: %q, %v", buf[:n], err)
		}
	}
	client := &http.Client{Timeout: 300 * time.Millisecond}
	if _, err := client.Get("http://" + addr + "/"); err == nil {
		t.Fatalf("connection %d was served beyond the cap", MaxAdminConns+1)
	}
	idle[0].Close()
	client.Timeout = 10 * time.Second
	resp, err := client.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("after one closed: %v", err)
	}
	resp.Body.Close()
	for _, c := range idle[1:] {
		c.Close()
	}
}
