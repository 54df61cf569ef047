package queue

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/triage-dev/triage/internal/duration"
	"github.com/triage-dev/triage/internal/testkit"
	"github.com/triage-dev/triage/ticket"
)

func testLogger() (*slog.Logger, *testkit.SyncBuffer) {
	buf := &testkit.SyncBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// waitFor polls cond for up to 10 s; it fails the test if cond never
// holds. Used to sequence outages, never to assert speed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testkit.WaitFor(t, 10*time.Second, what, cond)
}

func readMail(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "mail", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sampleTicket(raw []byte) *ticket.Ticket {
	resp := time.Date(2026, 11, 27, 10, 15, 0, 0, time.UTC)
	resolve := time.Date(2026, 11, 27, 13, 0, 0, 0, time.UTC)
	return &ticket.Ticket{
		ID:         "0123456789abcdef0123456789abcdef",
		MessageID:  "<20261127100000.1234@example.com>",
		ReceivedAt: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC),
		Source:     ticket.Source{Account: "helpdesk", Mailbox: "INBOX", UID: 42, UIDValidity: 7},
		From:       ticket.Address{Name: "Ann Example", Address: "ann@example.com"},
		To:         []ticket.Address{{Address: "helpdesk@example.com"}},
		Subject:    "VPN drops every few minutes since the update this morning",
		Body:       "Hi,\n\nthe VPN drops every few minutes. Error 0x80070005 in the client log.\n\"quoted\" <tag> & done",
		Class: ticket.Classification{
			Tier: "L2", Priority: "P2", Queue: "systems", Runbook: "kb/vpn", Action: "forward",
			Tags:    []string{"network"},
			Fields:  map[string]string{"error_code": "0x80070005"},
			SLA:     ticket.SLA{ResponseDue: &resp, ResolveDue: &resolve},
			Matched: []ticket.MatchedRule{{Rule: "network", Description: "VPN, DNS, wifi"}, {Rule: "error-codes"}},
		},
		Raw: raw,
	}
}

// selfSignedTLS returns a server config for 127.0.0.1 and a pool trusting it.
func selfSignedTLS(t testing.TB) (*tls.Config, *x509.CertPool) {
	cert, pool := testkit.SelfSignedCert(t)
	return &tls.Config{Certificates: []tls.Certificate{cert}}, pool
}

// recordingObserver counts Observer calls.
type recordingObserver struct {
	mu       sync.Mutex
	sent     int
	failed   map[bool]int
	retrying int // current gauge
	maxRetry int
}

func newRecordingObserver() *recordingObserver { return &recordingObserver{failed: map[bool]int{}} }

func (o *recordingObserver) Sent(string, time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent++
}

func (o *recordingObserver) Failed(_ string, temporary bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failed[temporary]++
}

func (o *recordingObserver) Retrying(_ string, delta int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.retrying += delta
	o.maxRetry = max(o.maxRetry, o.retrying)
}

func fastRetry() RetryConfig {
	return RetryConfig{Initial: duration.Duration(10 * time.Millisecond), Max: duration.Duration(50 * time.Millisecond)}
}

// forwardMessage is the forwarded message in one piece, as the peer
// receives it.
func forwardMessage(t *ticket.Ticket, tag string) []byte {
	return bytes.Join(forwardParts(t, tag), nil)
}
