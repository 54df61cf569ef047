package daemon

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/triage-dev/triage/config"
)

// The admin server's and the token command's bounds. The connection cap
// is tested in TestAdminConnectionCap, the token command's output in
// TestSecretSources.

// TestAdminServerBounds: the timeouts are the README's (waiting for them
// to fire would take a minute; this checks the values the server runs
// with), and a request head of exactly what net/http reads for
// MaxHeaderBytes is served while one byte more is refused with 431.
func TestAdminServerBounds(t *testing.T) {
	s, ln := startOKAdmin(t)
	got := []any{s.srv.ReadHeaderTimeout, s.srv.ReadTimeout, s.srv.WriteTimeout, s.srv.IdleTimeout, s.srv.MaxHeaderBytes}
	want := []any{10 * time.Second, 30 * time.Second, 60 * time.Second, 60 * time.Second, 64 << 10}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("header timeout, read, write, idle timeout, header bytes = %v, want %v", got, want)
			break
		}
	}
	// net/http reads a request head up to MaxHeaderBytes plus 4096 bytes
	// of slack (http.Server.initialReadLimitSize).
	bound := s.srv.MaxHeaderBytes + 4096
	for _, tt := range []struct {
		name   string
		size   int
		status string
	}{
		{"head at the bound", bound, "HTTP/1.1 200 "},
		{"head one past", bound + 1, "HTTP/1.1 431 "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			head := "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Pad: "
			head += strings.Repeat("p", tt.size-len(head)-len("\r\n\r\n")) + "\r\n\r\n"
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, head); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil || !strings.HasPrefix(line, tt.status) {
				t.Errorf("%d-byte head: %q, %v; want %q", len(head), line, err, tt.status)
			}
		})
	}
}

// TestTokenCommandTimeout: a token command that does not finish is killed
// when its 30 s are up, and the error says so. The test waits for the
// timeout to fire; it does not measure it.
func TestTokenCommandTimeout(t *testing.T) {
	t.Parallel()
	a := config.AccountConfig{OAuth2: &config.OAuth2Config{Mechanism: "xoauth2", TokenCommand: []string{"sleep", "600"}}}
	tok, err := secretSource(&config.Config{}, a)(context.Background())
	if err == nil || tok != "" || !strings.Contains(err.Error(), "token command sleep: signal: killed") {
		t.Errorf("= %q, %v; want the command killed", tok, err)
	}
}
