package queue

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/triage-dev/triage/internal/testkit"
	"github.com/triage-dev/triage/ticket"
)

// benchParallelism × GOMAXPROCS goroutines deliver at once; on the 2-core
// benchmark machine that is the daemon's 64 concurrent deliveries.
const benchParallelism = 32

// benchTicket is a ticket of the size the daemon benchmark drains (~850-byte
// mails): the sample ticket with a short support-mail body.
func benchTicket() *ticket.Ticket {
	t := sampleTicket(nil)
	t.Body = strings.Repeat("the VPN drops every few minutes since this morning's update; \"quoted\" <tag> & done.\n", 6)
	return t
}

// runParallel sends tk through send from benchParallelism×GOMAXPROCS
// goroutines and reports the process CPU time per ticket (server and GC
// included), the figure that matters on a shared 2-core machine.
func runParallel(b *testing.B, send func(context.Context) error) {
	b.ReportAllocs()
	b.SetParallelism(benchParallelism)
	start, _ := testkit.ProcessCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if err := send(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if end, _ := testkit.ProcessCPU(); start > 0 && end > start {
		b.ReportMetric(float64((end-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

// discardServer answers 204 after reading and discarding the body.
func discardServer(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	return srv
}

func benchWebhook(b *testing.B, secret string) *webhookSink {
	srv := discardServer(b)
	cfg := &WebhookConfig{URL: srv.URL}
	if secret != "" {
		b.Setenv("BENCH_HOOK_SECRET", secret)
		cfg.SecretEnv = "BENCH_HOOK_SECRET"
	}
	s, err := New("bench", Config{Type: "webhook", Settings: cfg}, "", slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s.(*webhookSink)
}

// BenchmarkWebhookSend posts the ticket JSON to a local server that
// discards it, unsigned and HMAC-signed.
func BenchmarkWebhookSend(b *testing.B) {
	for _, c := range []struct{ name, secret string }{{"plain", ""}, {"signed", "s3cret-key"}} {
		b.Run(c.name, func(b *testing.B) {
			s, tk := benchWebhook(b, c.secret), benchTicket()
			runParallel(b, func(ctx context.Context) error { return s.Send(ctx, tk) })
		})
	}
}

// BenchmarkFileSinkSend appends the ticket as a JSON line from 64
// concurrent senders (group-commit fsync).
func BenchmarkFileSinkSend(b *testing.B) {
	s, err := newFileSink("bench", filepath.Join(b.TempDir(), "t.jsonl"), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	tk := benchTicket()
	runParallel(b, func(ctx context.Context) error { return s.Send(ctx, tk) })
}

// nopSink acknowledges at once: BenchmarkRouterDeliver/nop measures the
// router's own cost (lookup, retry setup).
type nopSink struct{}

func (nopSink) Send(context.Context, *ticket.Ticket) error { return nil }
func (nopSink) Close() error                               { return nil }

// BenchmarkRouterDeliver routes tickets through Deliver to a no-op sink,
// the webhook and the file sink.
func BenchmarkRouterDeliver(b *testing.B) {
	sinks := map[string]func(b *testing.B) Sink{
		"nop":     func(*testing.B) Sink { return nopSink{} },
		"webhook": func(b *testing.B) Sink { return benchWebhook(b, "s3cret-key") },
		"file": func(b *testing.B) Sink {
			s, err := newFileSink("bench", filepath.Join(b.TempDir(), "t.jsonl"), slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			return s
		},
	}
	for _, name := range []string{"nop", "webhook", "file"} {
		b.Run(name, func(b *testing.B) {
			tk := benchTicket()
			r := NewRouter(map[string]Sink{tk.Class.Queue: sinks[name](b)}, map[string]Config{tk.Class.Queue: {}}, nil, nil)
			runParallel(b, func(ctx context.Context) error { return r.Deliver(ctx, tk) })
		})
	}
}
