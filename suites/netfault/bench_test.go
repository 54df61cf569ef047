package netfault

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/triage-dev/triage/internal/dovecottest"
	"github.com/triage-dev/triage/internal/faultproxy"
	"github.com/triage-dev/triage/mailbox"
)

// BenchmarkDrainOverLatency drains a backlog through the mailbox layer (a
// handler that does nothing, so only IMAP counts) from a Dovecot behind the
// proxy with a one-way latency of 10 ms, like an IMAP server across the
// internet, beside a bare client fetching BODY.PEEK[] in the same batches
// one after the other and one fetching them all in a single command.
// TRIAGE_BENCH_MESSAGES sets the backlog (default 2,000).
//
//	go test ./suites/netfault -run '^$' -bench DrainOverLatency -benchtime 1x
func BenchmarkDrainOverLatency(b *testing.B) {
	const latency, batch = 10 * time.Millisecond, 200
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("TRIAGE_BENCH_MESSAGES")); err == nil && v > 0 {
		n = v
	}
	srv := dovecottest.Start(b)
	for i := range n {
		srv.Append(b, "INBOX", fmt.Appendf(nil, "From: user%d@example.com\r\nTo: helpdesk@example.com\r\nSubject: VPN drops %d\r\nMessage-ID: <drain-%d@example.com>\r\n\r\nThe VPN client disconnects every few minutes.\r\n", i, i, i))
	}
	srv.Resync(b, "INBOX")
	px, err := faultproxy.Listen(srv.Addr())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = px.Close() })
	px.SetLatency(latency)

	for range b.N {
		srv.Doveadm(b, "flags", "remove", "-u", srv.User, mailbox.DefaultDoneKeyword, "mailbox", "INBOX", "all")
		srv.Resync(b, "INBOX")

		start := time.Now()
		c, fetched := srv.BareFetch(b, px.Addr(), "INBOX", n, batch)
		bare := time.Since(start)
		if fetched != n {
			b.Fatalf("bare fetch got %d of %d", fetched, n)
		}
		start = time.Now()
		var all imap.UIDSet
		all.AddRange(1, 0)
		msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
		if err != nil || len(msgs) != n {
			b.Fatalf("bare UID FETCH 1:*: %d of %d, %v", len(msgs), n, err)
		}
		single := time.Since(start)
		_ = c.Close()

		var handled sync.WaitGroup
		handled.Add(n)
		var seen sync.Map
		h := func(_ context.Context, m *mailbox.Message) mailbox.Outcome {
			if _, dup := seen.LoadOrStore(m.UID, true); !dup {
				handled.Done()
			}
			return mailbox.Outcome{Verdict: mailbox.Done}
		}
		a, err := mailbox.New(mailbox.Config{
			Name: "bench", Addr: px.Addr(), TLS: mailbox.TLSNone, Username: srv.User,
			Secret:    func(context.Context) (string, error) { return srv.Password, nil },
			Mailboxes: []string{"INBOX"}, BatchSize: batch, Concurrency: 64,
			Timeout: 10 * time.Second, ShutdownGrace: 2 * time.Second,
		}, h, mailbox.Events{}, slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		start = time.Now()
		runDone := make(chan error, 1)
		go func() { runDone <- a.Run(ctx) }()
		handled.Wait()
		for a.Status().Mailboxes[0].Done < uint64(n) { // outcomes applied on the server
			time.Sleep(time.Millisecond)
		}
		drain := time.Since(start)
		cancel()
		if err := <-runDone; err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(n)/bare.Seconds(), "bare-msgs/s")
		b.ReportMetric(float64(n)/single.Seconds(), "bare-1cmd-msgs/s")
		b.ReportMetric(float64(n)/drain.Seconds(), "drain-msgs/s")
		b.Logf("%d messages over %v one-way latency: bare fetch in batches of %d %.0f msgs/s, in one command (after login) %.0f msgs/s; mailbox drain %.0f msgs/s",
			n, latency, batch, float64(n)/bare.Seconds(), float64(n)/single.Seconds(), float64(n)/drain.Seconds())
	}
}
