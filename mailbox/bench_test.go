package mailbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/triage-dev/triage/internal/dovecottest"
	"github.com/triage-dev/triage/internal/testkit"
)

const (
	benchMailbox  = "Bench"
	benchMessages = 10000
)

// benchShared is one Dovecot seeded once with benchMessages messages, shared
// by the backlog benchmarks so they read the same mailbox.
var benchShared struct {
	once sync.Once
	srv  *dovecottest.Server
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchShared.srv != nil {
		benchShared.srv.Close()
	}
	os.Exit(code)
}

func benchServer(b *testing.B) *dovecottest.Server {
	b.Helper()
	benchShared.once.Do(func() {
		srv, err := dovecottest.New()
		if err != nil {
			benchShared.err = err
			return
		}
		benchShared.srv = srv
		start := time.Now()
		for i := range benchMessages {
			// ~2 KB, a typical plain-text help desk mail.
			srv.Append(b, benchMailbox, append(testMail(i, "bench"), benchBody...))
		}
		srv.Resync(b, benchMailbox)
		b.Logf("seeded %d messages in %v", benchMessages, time.Since(start).Round(time.Millisecond))
	})
	if errors.Is(benchShared.err, dovecottest.ErrNoDovecot) && os.Getenv("CI") != "true" {
		b.Skip(benchShared.err)
	}
	if benchShared.err != nil {
		b.Fatal(benchShared.err)
	}
	return benchShared.srv
}

var benchBody = func() []byte {
	var p []byte
	for i := 0; len(p) < 2000; i++ {
		p = fmt.Appendf(p, "Line %d of a user's description of the problem with the VPN client.\r\n", i)
	}
	return p
}()

// BenchmarkBacklogDrain measures messages per second through an Account
// (fetch, no-op Done handler, STORE $Triaged) over a seeded mailbox.
func BenchmarkBacklogDrain(b *testing.B) {
	srv := benchServer(b)
	for b.Loop() {
		b.StopTimer()
		srv.Doveadm(b, "flags", "remove", "-u", srv.User, DefaultDoneKeyword, "mailbox", benchMailbox, "all")
		srv.Resync(b, benchMailbox) // Dovecot syncs the 10,000 renames now, untimed
		var handled sync.WaitGroup
		handled.Add(benchMessages)
		cfg := testConfig(srv)
		cfg.Mailboxes = []string{benchMailbox}
		cfg.BatchSize, cfg.Concurrency = 200, 64 // as the daemon's drain benchmark
		var once sync.Map
		h := func(_ context.Context, m *Message) Outcome {
			if _, dup := once.LoadOrStore(m.UID, true); !dup {
				handled.Done()
			}
			return Outcome{Verdict: Done}
		}
		a, err := New(cfg, h, Events{}, testLogger(b))
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		b.StartTimer()
		own0, _ := testkit.ProcessCPU()
		t0, cpu0 := time.Now(), srv.CPUTime(b)
		runDone := make(chan error, 1)
		go func() { runDone <- a.Run(ctx) }()
		handled.Wait()
		for a.Status().Mailboxes[0].Done < benchMessages { // outcomes applied on the server
			time.Sleep(time.Millisecond)
		}
		elapsed, cpu := time.Since(t0), srv.CPUTime(b)-cpu0
		own1, _ := testkit.ProcessCPU()
		own := own1 - own0
		b.StopTimer()
		cancel()
		if err := <-runDone; err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(benchMessages)/elapsed.Seconds(), "msgs/s")
		b.ReportMetric(float64(cpu.Microseconds())/benchMessages, "dovecot-cpu-µs/msg")
		b.ReportMetric(float64(own.Microseconds())/benchMessages, "triage-cpu-µs/msg")
		b.StartTimer()
	}
}

// BenchmarkBareFetch is the baseline: one bare UID FETCH 1:* BODY.PEEK[] of
// the same mailbox with go-imap's client.
func BenchmarkBareFetch(b *testing.B) {
	srv := benchServer(b)
	for b.Loop() {
		t0, cpu0 := time.Now(), srv.CPUTime(b)
		c, err := imapclient.DialInsecure(srv.Addr(), nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Login(srv.User, srv.Password).Wait(); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Select(benchMailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			b.Fatal(err)
		}
		var all imap.UIDSet
		all.AddRange(1, 0)
		cmd := c.Fetch(all, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
		n := 0
		for m := cmd.Next(); m != nil; m = cmd.Next() {
			if _, err := m.Collect(); err != nil {
				b.Fatal(err)
			}
			n++
		}
		if err := cmd.Close(); err != nil {
			b.Fatal(err)
		}
		elapsed, cpu := time.Since(t0), srv.CPUTime(b)-cpu0
		_ = c.Logout().Wait()
		_ = c.Close()
		if n != benchMessages {
			b.Fatalf("fetched %d messages, want %d", n, benchMessages)
		}
		b.ReportMetric(float64(n)/elapsed.Seconds(), "msgs/s")
		b.ReportMetric(float64(cpu.Microseconds())/benchMessages, "dovecot-cpu-µs/msg")
	}
}

// BenchmarkBareStore is the floor for marking done: one UID STORE 1:*
// +FLAGS.SILENT ($Triaged) over the same mailbox (Dovecot's Maildir keeps
// keywords in file names, so every message costs a rename).
func BenchmarkBareStore(b *testing.B) {
	srv := benchServer(b)
	for b.Loop() {
		b.StopTimer()
		srv.Doveadm(b, "flags", "remove", "-u", srv.User, DefaultDoneKeyword, "mailbox", benchMailbox, "all")
		c, err := imapclient.DialInsecure(srv.Addr(), nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Login(srv.User, srv.Password).Wait(); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Select(benchMailbox, nil).Wait(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0, cpu0 := time.Now(), srv.CPUTime(b)
		var all imap.UIDSet
		all.AddRange(1, 0)
		err = c.Store(all, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{DefaultDoneKeyword}}, nil).Close()
		elapsed, cpu := time.Since(t0), srv.CPUTime(b)-cpu0
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		_ = c.Logout().Wait()
		_ = c.Close()
		b.ReportMetric(float64(benchMessages)/elapsed.Seconds(), "msgs/s")
		b.ReportMetric(float64(cpu.Microseconds())/benchMessages, "dovecot-cpu-µs/msg")
		b.StartTimer()
	}
}

// BenchmarkExistsLatency delivers messages by LMTP to an Account in IDLE and
// measures the time from the server's EXISTS (taken in the unilateral data
// handler) to the Handler's entry.
func BenchmarkExistsLatency(b *testing.B) {
	const deliveries = 200
	srv := dovecottest.Start(b)
	for b.Loop() {
		b.StopTimer()
		var (
			mu        sync.Mutex
			latencies []time.Duration
			unnoticed int
			handled   sync.WaitGroup
		)
		handled.Add(deliveries)
		h := func(_ context.Context, m *Message) Outcome {
			entry := time.Now()
			mu.Lock()
			if m.Noticed.IsZero() {
				unnoticed++
			} else {
				latencies = append(latencies, entry.Sub(m.Noticed))
			}
			mu.Unlock()
			handled.Done()
			return Outcome{Verdict: Done}
		}
		idling := make(chan struct{}, 1)
		cfg := testConfig(srv)
		cfg.Mailboxes = []string{"Latency"}
		srv.Doveadm(b, "mailbox", "create", "-u", srv.User, "Latency")
		a, err := New(cfg, h, Events{Idle: func(_, _ string, on bool) {
			if on {
				select {
				case idling <- struct{}{}:
				default:
				}
			}
		}}, testLogger(b))
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		runDone := make(chan error, 1)
		go func() { runDone <- a.Run(ctx) }()
		<-idling
		b.StartTimer()
		for i := range deliveries {
			srv.Deliver(b, srv.User+"+Latency", testMail(i, "latency"))
		}
		handled.Wait()
		b.StopTimer()
		cancel()
		if err := <-runDone; err != nil {
			b.Fatal(err)
		}
		slices.Sort(latencies)
		if len(latencies) == 0 {
			b.Fatal("no message carried an EXISTS time")
		}
		pct := func(p float64) float64 {
			i := min(int(p*float64(len(latencies))), len(latencies)-1)
			return float64(latencies[i].Microseconds()) / 1000
		}
		b.ReportMetric(pct(0.50), "p50-ms")
		b.ReportMetric(pct(0.99), "p99-ms")
		b.ReportMetric(float64(latencies[len(latencies)-1].Microseconds())/1000, "max-ms")
		b.ReportMetric(float64(len(latencies)), "measured")
		b.ReportMetric(float64(unnoticed), "found-by-scan")
		b.StartTimer()
	}
}
