// Package testkit holds the helpers the integration tests and suites share:
// building the triage binary, reading Prometheus metrics, bounded waits.
// Production code must not import it.
package testkit

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// BuildTriage builds ./cmd/triage into dir. With race the binary gets the
// race detector (pass RaceEnabled so the daemon under test is checked when
// the test binary is); tags are build tags (crashhook: the crashtest sink).
func BuildTriage(dir string, race bool, tags ...string) (string, error) {
	// `go test` puts its own GOROOT/bin first in PATH.
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("no go command to build the daemon with: %w", err)
	}
	out := filepath.Join(dir, "triage")
	args := []string{"build", "-o", out}
	if race {
		args = append(args, "-race")
	}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	args = append(args, "github.com/triage-dev/triage/cmd/triage")
	cmd := exec.Command(goBin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/triage: %w\n%s", err, stderr.String())
	}
	return out, nil
}

// SumFamilies sums the samples of family name whose labels include every
// pair in match: counter and gauge values, histogram sample counts.
func SumFamilies(fams []*dto.MetricFamily, name string, match map[string]string) float64 {
	sum := 0.0
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			labels := make(map[string]string, len(m.GetLabel()))
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range match {
				if labels[k] != v {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return sum
}

// AdminRequest sends method to the admin server at addr for path, with the
// bearer token unless it is empty, and returns the status and body. A
// transport error is status 0 with the error as the body: callers poll.
func AdminRequest(method, addr, path, token string) (int, string) {
	req, err := http.NewRequest(method, "http://"+addr+path, nil)
	if err != nil {
		return 0, err.Error()
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// AdminMetric scrapes the admin server's /metrics and sums name's samples
// whose labels include every pair in match; a failed scrape fails t.
func AdminMetric(t testing.TB, addr, token, name string, match map[string]string) float64 {
	t.Helper()
	code, body := AdminRequest(http.MethodGet, addr, "/metrics", token)
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	v, err := SumMetric(body, name, match)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// SumMetric is SumFamilies over a /metrics response body.
func SumMetric(exposition, name string, match map[string]string) (float64, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	byName, err := p.TextToMetricFamilies(strings.NewReader(exposition))
	if err != nil {
		return 0, fmt.Errorf("parse /metrics: %w", err)
	}
	return SumFamilies(slices.Collect(maps.Values(byName)), name, match), nil
}

// FullSize reports whether TRIAGE_FULL=1 asks a suite for its full sizes
// rather than the smaller ones CI runs.
func FullSize() bool { return os.Getenv("TRIAGE_FULL") == "1" }

// WaitFor polls cond every 20 ms for at most limit, failing t on timeout.
func WaitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitFired waits for a value on fired, or its close (a fault proxy's
// tripwire reaching its next mark), failing t after limit.
func WaitFired(t testing.TB, fired <-chan struct{}, limit time.Duration, what string) {
	t.Helper()
	select {
	case <-fired:
	case <-time.After(limit):
		t.Fatalf("timed out after %v waiting for %s", limit, what)
	}
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers (a logger or a
// daemon's output) and a reading test.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// StartNATS runs an embedded nats-server with JetStream on a random
// loopback port, stopped when the test ends.
func StartNATS(t testing.TB) *server.Server {
	t.Helper()
	return StartNATSAt(t, -1, t.TempDir())
}

// StartNATSAt is StartNATS on 127.0.0.1:port (-1: any) keeping JetStream in
// storeDir, so an outage test can start the same server again.
func StartNATSAt(t testing.TB, port int, storeDir string) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: storeDir,
		NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// JetStream connects to the NATS server at url for the rest of the test.
func JetStream(t testing.TB, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// ProcStatusBytes reads a memory field of /proc/PID/status (VmRSS, VmHWM,
// …) in bytes.
func ProcStatusBytes(t testing.TB, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read /proc status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("%s %q: %v", field, v, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// WithMessageID returns raw (CRLF line ends) with its Message-ID, folded or
// not, replaced by msgID, so each copy of a sample mail is a distinct ticket.
func WithMessageID(raw []byte, msgID string) []byte {
	end := bytes.Index(raw, []byte("\r\n\r\n"))
	if end < 0 {
		end = len(raw)
	}
	var out bytes.Buffer
	out.Grow(len(raw) + 64)
	fmt.Fprintf(&out, "Message-ID: %s\r\n", msgID)
	skipping := false
	for _, line := range bytes.SplitAfter(raw[:end], []byte("\r\n")) {
		if len(line) == 0 {
			continue
		}
		if skipping && (line[0] == ' ' || line[0] == '\t') {
			continue
		}
		skipping = len(line) >= 11 && strings.EqualFold(string(line[:11]), "message-id:")
		if !skipping {
			out.Write(line)
		}
	}
	out.Write(raw[end:])
	return out.Bytes()
}

// FreeAddr returns a 127.0.0.1 address with a port free at the moment.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// NopLogger discards the error logs of in-process servers (go-smtp,
// go-imap) whose failures the tests observe through their clients.
type NopLogger struct{}

// Printf discards.
func (NopLogger) Printf(string, ...any) {}

// Println discards.
func (NopLogger) Println(...any) {}

// RunWithTriage is a TestMain body for suites that drive the real binary:
// it builds ./cmd/triage once into a temporary directory, stores its path in
// *bin, runs the tests and removes the directory. It returns the exit code.
func RunWithTriage(m *testing.M, race bool, bin *string, tags ...string) int {
	dir, err := os.MkdirTemp("", "triage-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if *bin, err = BuildTriage(dir, race, tags...); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// Account is one IMAP account of a test triage.yaml: a plaintext server,
// the INBOX only, the password in the environment variable PasswordEnv, and
// a first reconnect after 100 ms and a retry backoff of 200 ms.
type Account struct {
	Name, Addr, User, PasswordEnv string
	ReconnectMax                  time.Duration // longest delay between reconnects
	Timeout                       time.Duration // per IMAP command
}

// YAML is a triage.yaml `accounts:` section holding only a.
func (a Account) YAML() string {
	return fmt.Sprintf(`accounts:
  - name: %s
    addr: %s
    tls: none
    username: %s
    password_env: %s
    mailboxes: [INBOX]
    reconnect_min: 100ms
    reconnect_max: %s
    retry_backoff: 200ms
    timeout: %s
`, a.Name, a.Addr, a.User, a.PasswordEnv, a.ReconnectMax, a.Timeout)
}
