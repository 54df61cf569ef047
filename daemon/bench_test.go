package daemon

// Benchmarks against a private Dovecot; they print the figures the README's
// performance section reports. Run them once each:
//
//	go test ./daemon -run '^$' -bench 'Daemon' -benchtime 1x -timeout 30m
//
// TRIAGE_BENCH_MESSAGES changes the backlog size (default 10,000).

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/triage-dev/triage/classifier"
	"github.com/triage-dev/triage/config"
	"github.com/triage-dev/triage/examples"
	"github.com/triage-dev/triage/internal/dovecottest"
	"github.com/triage-dev/triage/internal/faultproxy"
	"github.com/triage-dev/triage/internal/testkit"
	"github.com/triage-dev/triage/mailbox"
	"github.com/triage-dev/triage/rules"
	"github.com/triage-dev/triage/ticket"
)

func benchMessages() int {
	if v, err := strconv.Atoi(os.Getenv("TRIAGE_BENCH_MESSAGES")); err == nil && v > 0 {
		return v
	}
	return 10000
}

// benchConfig writes a config for one account on srv with the example
// rules and every queue to one JSON Lines file.
func benchConfig(b *testing.B, srv *dovecottest.Server, mailboxes []string, httpAddr string) (*config.Config, string) {
	return benchConfigSink(b, srv, mailboxes, httpAddr, "{type: file, path: tickets.jsonl}")
}

// benchSinks are the sinks the pipeline benchmarks run with: the fsync'd
// JSON Lines file (bound by the disk's fsync latency) and a webhook to a
// local HTTP server standing in for a tracker's API.
func benchSinks(b *testing.B) map[string]string {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
	}))
	b.Cleanup(hs.Close)
	return map[string]string{
		"file":    "{type: file, path: tickets.jsonl}",
		"webhook": fmt.Sprintf("{type: webhook, url: %q}", hs.URL),
	}
}

func benchConfigSink(b *testing.B, srv *dovecottest.Server, mailboxes []string, httpAddr, sink string) (*config.Config, string) {
	b.Helper()
	return benchConfigAt(b, srv.Addr(), srv.User, srv.Password, mailboxes, httpAddr, sink)
}

// benchConfigAt is benchConfigSink for an account at addr.
func benchConfigAt(b *testing.B, addr, user, password string, mailboxes []string, httpAddr, sink string) (*config.Config, string) {
	b.Helper()
	return benchConfigQueues(b, addr, user, password, mailboxes, httpAddr, func(string) string { return sink })
}

// benchConfigQueues is benchConfigAt with each queue's sink given by sinkOf.
func benchConfigQueues(b *testing.B, addr, user, password string, mailboxes []string, httpAddr string, sinkOf func(queue string) string) (*config.Config, string) {
	b.Helper()
	dir := b.TempDir()
	if err := examples.Extract(dir); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte(password), 0o600); err != nil {
		b.Fatal(err)
	}
	q := ""
	for _, name := range []string{"helpdesk", "systems", "security", "engineering"} {
		q += fmt.Sprintf("  %s: %s\n", name, sinkOf(name))
	}
	cfgText := fmt.Sprintf(`rules: rules.yaml
accounts:
  - name: bench
    addr: %s
    tls: none
    username: %s
    password_file: pw
    mailboxes: [%s]
    batch_size: 200
    concurrency: 64
queues:
%shttp: {listen: "%s"}
state_dir: state
problems: {enabled: false}   # expectations come from the classifier alone; detection is tested on its own
log: {level: warn}
`, addr, user, strings.Join(mailboxes, ", "), q, httpAddr)
	return loadConfigText(b, dir, cfgText)
}

// loadConfigText writes text as dir/triage.yaml and loads it.
func loadConfigText(tb testing.TB, dir, text string) (*config.Config, string) {
	tb.Helper()
	path := filepath.Join(dir, "triage.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		tb.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		tb.Fatal(err)
	}
	return cfg, path
}

// forwardedMails are the example mails the example rules forward: drop
// rules move mail to other folders, which would shrink the benchmark's
// mailbox between runs.
func forwardedMails(b *testing.B) [][]byte {
	all := exampleMails(b)
	var out [][]byte
	for i, tk := range classifyExamples(b, all) {
		if tk != nil && tk.Class.Action == "forward" && tk.Class.Folder == "" {
			out = append(out, all[i])
		}
	}
	return out
}

// classifyExamples classifies mails with the example rules (nil where a
// mail does not classify).
func classifyExamples(b *testing.B, mails [][]byte) []*ticket.Ticket {
	b.Helper()
	dir := b.TempDir()
	if err := examples.Extract(dir); err != nil {
		b.Fatal(err)
	}
	set, err := rules.Load(filepath.Join(dir, "rules.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	c := classifier.New()
	out := make([]*ticket.Ticket, len(mails))
	for i, raw := range mails {
		if tk, err := c.Classify(set, raw, classifier.Meta{}); err == nil {
			out[i] = tk
		}
	}
	return out
}

// variedMail returns the i-th benchmark message: an example mail with a
// unique Message-ID.
func variedMail(mails [][]byte, i int) []byte {
	return testkit.WithMessageID(mails[i%len(mails)], fmt.Sprintf("<bench-%d@example.com>", i))
}

// BenchmarkDaemonDrain drains a backlog through the whole daemon (fetch,
// decode, classify with the example rules, fsync'd JSON Lines sink, mark
// done) beside a bare client that only fetches BODY.PEEK[] of the same
// mailbox, and reports both rates and their ratio. The "wan" variants reach
// Dovecot, daemon and bare client alike, through a proxy adding 10 ms each
// way, as an IMAP server across the internet would.
func BenchmarkDaemonDrain(b *testing.B) {
	n := benchMessages()
	srv := dovecottest.Start(b)
	mails := forwardedMails(b)
	for i := range n {
		srv.Append(b, "INBOX", variedMail(mails, i))
	}
	// The cold variants drain mail of a help desk's usual size (about
	// 10 KB, quoted threads), where the server's disk reads matter.
	srv.Doveadm(b, "mailbox", "create", "-u", srv.User, "Cold")
	for i := range n {
		srv.Append(b, "Cold", paddedMail(variedMail(mails, i), 10_000))
	}
	wan, err := faultproxy.Listen(srv.Addr())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = wan.Close() })
	wan.SetLatency(10 * time.Millisecond)
	sinks := benchSinks(b)
	for _, v := range []struct {
		name, sink, addr string
		cold             bool
	}{
		{"webhook", "webhook", srv.Addr(), false},
		{"file", "file", srv.Addr(), false},
		{"cold-webhook", "webhook", srv.Addr(), true},
		{"cold-file", "file", srv.Addr(), true},
		{"wan-webhook", "webhook", wan.Addr(), false},
		{"wan-file", "file", wan.Addr(), false},
	} {
		b.Run(v.name, func(b *testing.B) {
			for range b.N {
				drainOnce(b, srv, v.addr, n, sinks[v.sink], v.cold)
			}
		})
	}
}

// paddedMail appends quoted-thread lines to raw's body up to about size
// bytes.
func paddedMail(raw []byte, size int) []byte {
	const line = "> > On the previous reply: the VPN client still drops after a few minutes; logs attached.\r\n"
	out := append(slices.Clone(raw), "\r\n"...)
	for len(out)+len(line) <= size {
		out = append(out, line...)
	}
	return out
}

// dropPageCache writes the dirty pages out and drops the kernel's page
// cache, so that the next reader finds the mail on disk (the "cold"
// variants). It needs root (or CAP_SYS_ADMIN); where it is not permitted it
// says so and the cold figures are warm ones.
func dropPageCache(b *testing.B) bool {
	syscall.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0); err != nil {
		b.Logf("page cache NOT dropped (%v): these cold figures are warm ones", err)
		return false
	}
	return true
}

// drainOnce measures one drain of srv's INBOX, reached at addr; cold drops
// the page cache before the bare fetch and before the daemon's drain.
func drainOnce(b *testing.B, srv *dovecottest.Server, addr string, n int, sink string, cold bool) {
	mb := "INBOX"
	if cold {
		mb = "Cold"
	}
	// Every message undone again, and Dovecot's view of the Maildir synced
	// (untimed: the 10,000 renames would otherwise be charged to whichever
	// client selects first).
	srv.Doveadm(b, "flags", "remove", "-u", srv.User, "$Triaged", "mailbox", mb, "all")
	srv.Resync(b, mb)
	dropped := cold && dropPageCache(b)

	// The bare client: connect, log in, select, UID FETCH BODY.PEEK[] in
	// batches of 200 (the daemon's batch size).
	cpu0, _ := testkit.ProcessCPU()
	dcpu0 := srv.CPUTime(b)
	start := time.Now()
	c, fetched := srv.BareFetch(b, addr, mb, n, 200)
	bare := time.Since(start)
	cpu1, _ := testkit.ProcessCPU()
	bareCPU, bareDovecot := cpu1-cpu0, srv.CPUTime(b)-dcpu0
	if fetched != n {
		b.Fatalf("bare fetch got %d of %d", fetched, n)
	}
	// And all of them in one UID FETCH 1:* (on the logged-in connection).
	start = time.Now()
	var everything imap.UIDSet
	everything.AddRange(1, 0)
	if msgs, err := c.Fetch(everything, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect(); err != nil || len(msgs) != n {
		b.Fatalf("bare UID FETCH 1:*: %d of %d, %v", len(msgs), n, err)
	}
	single := time.Since(start)
	c.Close()

	cfg, _ := benchConfigAt(b, addr, srv.User, srv.Password, []string{mb}, "127.0.0.1:0", sink)
	if cold {
		dropped = dropPageCache(b) && dropped
	}
	var handled atomic.Int64
	all := make(chan struct{})
	d, err := New(cfg, Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), DisableHTTP: true, OnTicket: func(Handled) {
		if handled.Add(1) == int64(n) {
			close(all)
		}
	}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cpu0, sys0 := testkit.ProcessCPU()
	dcpu0 = srv.CPUTime(b)
	start = time.Now()
	go func() { done <- d.Run(ctx) }()
	select {
	case <-all:
	case <-time.After(20 * time.Minute):
		b.Fatalf("drain: %d of %d after 20 min", handled.Load(), n)
	}
	drain := time.Since(start)
	cpu1, sys1 := testkit.ProcessCPU()
	drainCPU, drainSys, drainDovecot := cpu1-cpu0, sys1-sys0, srv.CPUTime(b)-dcpu0
	cancel()
	<-done

	bareRate := float64(n) / bare.Seconds()
	drainRate := float64(n) / drain.Seconds()
	perMsg := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(n) }
	b.ReportMetric(bareRate, "bare-msgs/s")
	b.ReportMetric(drainRate, "daemon-msgs/s")
	b.ReportMetric(drainRate/bareRate, "ratio")
	b.ReportMetric(drainRate*single.Seconds()/float64(n), "ratio-1cmd")
	b.ReportMetric(perMsg(drainCPU), "triage-cpu-µs/msg")
	b.ReportMetric(perMsg(drainDovecot), "dovecot-cpu-µs/msg")
	if cold {
		b.Logf("cold page cache: %v (dropped before the bare fetch and before the daemon's drain)", dropped)
	}
	b.Logf("%d messages from %s %s: bare BODY.PEEK[] fetch %.0f msgs/s (in one command after login: %.0f), daemon drain %.0f msgs/s, ratio %.2f (%.2f)",
		n, addr, mb, bareRate, float64(n)/single.Seconds(), drainRate, drainRate/bareRate, drainRate*single.Seconds()/float64(n))
	b.Logf("CPU per message: bare client %.1f µs + Dovecot %.1f µs; daemon %.1f µs (%.1f µs of it in the kernel) + Dovecot %.1f µs (wall: bare %.1f µs, daemon %.1f µs, %d cores)",
		perMsg(bareCPU), perMsg(bareDovecot), perMsg(drainCPU), perMsg(drainSys), perMsg(drainDovecot), perMsg(bare), perMsg(drain), runtime.NumCPU())
}

// BenchmarkDaemonHandle runs the daemon's per-message pipeline (decode,
// state store, classify with the example rules, deliver, record) on
// in-memory mails from 32 × GOMAXPROCS goroutines, without IMAP: the CPU triage
// spends on a message beside what the IMAP server spends on it. It reports
// CPU microseconds per message (user + system of the whole process,
// including the webhook's HTTP server).
func BenchmarkDaemonHandle(b *testing.B) {
	sinks := benchSinks(b)
	mails := forwardedMails(b)
	for _, sinkName := range []string{"webhook", "file"} {
		b.Run(sinkName, func(b *testing.B) {
			cfg, _ := benchConfigAt(b, "127.0.0.1:1", "bench", "unused", []string{"INBOX"}, "127.0.0.1:0", sinks[sinkName])
			d, err := New(cfg, Options{Log: slog.New(slog.DiscardHandler), DisableHTTP: true})
			if err != nil {
				b.Fatal(err)
			}
			defer func() {
				d.closeSinks()
				_ = d.store.Close()
			}()
			msgs := make([]*mailbox.Message, 4096)
			for i := range msgs {
				raw := variedMail(mails, i)
				msgs[i] = &mailbox.Message{Account: "bench", Mailbox: "INBOX", UID: uint32(i + 1), UIDValidity: 1,
					InternalDate: time.Now(), Size: int64(len(raw)), Raw: raw}
			}
			var next atomic.Int64
			cpu0, _ := testkit.ProcessCPU()
			b.ReportAllocs()
			b.SetParallelism(32) // 64 in flight on 2 cores, like the drain's concurrency
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					m := msgs[next.Add(1)%int64(len(msgs))]
					if out := d.handle(ctx, m); out.Verdict != mailbox.Done {
						b.Errorf("uid %d: %v %s", m.UID, out.Verdict, out.Reason)
						return
					}
				}
			})
			b.StopTimer()
			cpu1, _ := testkit.ProcessCPU()
			b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
		})
	}
}

// BenchmarkDaemonExistsLatency delivers mail by LMTP one message at a time
// while the daemon sits in IDLE and measures from the server's EXISTS notice
// to the sink's acknowledgement (fsync'd JSON Lines).
func BenchmarkDaemonExistsLatency(b *testing.B) {
	const deliveries = 200
	srv := dovecottest.Start(b)
	sinks := benchSinks(b)
	for _, sinkName := range []string{"webhook", "file"} {
		b.Run(sinkName, func(b *testing.B) {
			for range b.N {
				latencyOnce(b, srv, deliveries, sinks[sinkName])
			}
		})
	}
}

func latencyOnce(b *testing.B, srv *dovecottest.Server, deliveries int, sink string) {
	{
		cfg, _ := benchConfigSink(b, srv, []string{"INBOX"}, "127.0.0.1:0", sink)
		got := make(chan Handled, 1)
		d, err := New(cfg, Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), DisableHTTP: true, OnTicket: func(h Handled) { got <- h }})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		deadline := time.Now().Add(10 * time.Second)
		for testutil.ToFloat64(d.metrics.IMAPIdle.WithLabelValues("bench", "INBOX")) != 1 {
			if time.Now().After(deadline) {
				b.Fatal("daemon never entered IDLE")
			}
			time.Sleep(10 * time.Millisecond)
		}
		var lat []time.Duration
		unnoticed := 0
		mails := forwardedMails(b)
		for i := range deliveries {
			srv.Deliver(b, srv.User, variedMail(mails, 100000+i))
			select {
			case h := <-got:
				if h.Noticed.IsZero() {
					unnoticed++
					continue
				}
				lat = append(lat, h.At.Sub(h.Noticed))
			case <-time.After(30 * time.Second):
				b.Fatalf("delivery %d not handled", i)
			}
		}
		cancel()
		<-done
		if len(lat) == 0 {
			b.Fatal("no message was announced by EXISTS")
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		pct := func(p float64) float64 {
			return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
		}
		b.ReportMetric(pct(0.50), "p50-ms")
		b.ReportMetric(pct(0.99), "p99-ms")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
		b.Logf("EXISTS → sink ack over %d deliveries (%d found by scan): p50 %.2f ms, p99 %.2f ms, max %.2f ms",
			len(lat), unnoticed, pct(0.5), pct(0.99), float64(lat[len(lat)-1].Microseconds())/1000)
	}
}

// BenchmarkDaemonIdleRSS runs the built binary watching 100 idle mailboxes
// (one IMAP connection each) and reports its resident memory.
func BenchmarkDaemonIdleRSS(b *testing.B) {
	const mailboxes = 100
	srv := dovecottest.Start(b)
	names := make([]string, mailboxes)
	for i := range names {
		names[i] = fmt.Sprintf("Queue%03d", i)
		srv.Doveadm(b, "mailbox", "create", "-u", srv.User, names[i])
	}
	bin, err := testkit.BuildTriage(b.TempDir(), false)
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		httpAddr := testkit.FreeAddr(b)
		_, path := benchConfig(b, srv, names, httpAddr)
		cmd := exec.Command(bin, "run", "--config", path)
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		stop := sync.OnceFunc(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		b.Cleanup(stop)
		deadline := time.Now().Add(60 * time.Second)
		for idleCount(httpAddr) < mailboxes {
			if time.Now().After(deadline) {
				b.Fatalf("only %v of %d mailboxes in IDLE", idleCount(httpAddr), mailboxes)
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(2 * time.Second) // settle
		rss := testkit.ProcStatusBytes(b, cmd.Process.Pid, "VmRSS") >> 10
		hwm := testkit.ProcStatusBytes(b, cmd.Process.Pid, "VmHWM") >> 10
		_ = cmd.Process.Signal(os.Interrupt)
		stop()
		b.ReportMetric(float64(rss)/1024, "rss-MB")
		b.ReportMetric(float64(hwm)/1024, "peak-rss-MB")
		b.Logf("%d idle mailboxes: RSS %.1f MB (peak %.1f MB)", mailboxes, float64(rss)/1024, float64(hwm)/1024)
	}
}

func idleCount(httpAddr string) float64 {
	code, body := testkit.AdminRequest(http.MethodGet, httpAddr, "/metrics", "")
	if code != http.StatusOK {
		return 0
	}
	v, _ := testkit.SumMetric(body, "triage_imap_idle", nil)
	return v
}

// BenchmarkDaemonRetryLatency measures new mail while another message of
// the same mailbox retries: one mail's queue goes to a webhook that answers
// 503 (retried every second, for as long as the benchmark runs), the other
// queues to a healthy one; 100 mails for the healthy queues are then
// delivered one by one by LMTP, each after the previous was acknowledged.
// It reports the time from the server's EXISTS notice (and, stricter, from
// the end of the LMTP delivery) to the healthy sink's acknowledgement.
func BenchmarkDaemonRetryLatency(b *testing.B) {
	const deliveries = 100
	srv := dovecottest.Start(b)
	healthy := benchSinks(b)["webhook"]
	var failures atomic.Int64
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		failures.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	b.Cleanup(down.Close)
	failing := fmt.Sprintf("{type: webhook, url: %q, retry: {initial: 1s, max: 1s}}", down.URL)

	// The failing mail is the first example mail; its queue is the broken one.
	mails := forwardedMails(b)
	tickets := classifyExamples(b, mails)
	broken := tickets[0].Class.Queue
	var live [][]byte
	for i, raw := range mails {
		if tickets[i].Class.Queue != broken {
			live = append(live, raw)
		}
	}
	if len(live) == 0 {
		b.Fatalf("every example mail goes to queue %s", broken)
	}
	for range b.N {
		cfg, _ := benchConfigQueues(b, srv.Addr(), srv.User, srv.Password, []string{"INBOX"}, "127.0.0.1:0", func(q string) string {
			if q == broken {
				return failing
			}
			return healthy
		})
		got := make(chan Handled, 1)
		d, err := New(cfg, Options{Log: slog.New(slog.DiscardHandler), DisableHTTP: true, OnTicket: func(h Handled) { got <- h }})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		waitIdle(b, d)
		failures.Store(0)
		srv.Deliver(b, srv.User, testkit.WithMessageID(mails[0], fmt.Sprintf("<retrying-%d@example.com>", time.Now().UnixNano())))
		deadline := time.Now().Add(30 * time.Second)
		for failures.Load() < 2 { // the retries are under way
			if time.Now().After(deadline) {
				b.Fatalf("the failing webhook was tried %d times in 30 s", failures.Load())
			}
			time.Sleep(10 * time.Millisecond)
		}
		var fromNotice, fromDelivery []time.Duration
		for i := range deliveries {
			srv.Deliver(b, srv.User, testkit.WithMessageID(live[i%len(live)], fmt.Sprintf("<live-%d-%d@example.com>", time.Now().UnixNano(), i)))
			delivered := time.Now()
			select {
			case h := <-got:
				if h.Ticket.Class.Queue == broken {
					b.Fatalf("delivery %d: the failing queue acknowledged a ticket", i)
				}
				fromDelivery = append(fromDelivery, h.At.Sub(delivered))
				if !h.Noticed.IsZero() {
					fromNotice = append(fromNotice, h.At.Sub(h.Noticed))
				}
			case <-time.After(30 * time.Second):
				b.Fatalf("delivery %d not handled within 30 s", i)
			}
		}
		tries := failures.Load()
		cancel()
		<-done
		if tries < 3 {
			b.Errorf("the failing webhook was tried only %d times: the retry did not go on meanwhile", tries)
		}
		if len(fromNotice) == 0 {
			b.Fatal("no message was announced by EXISTS")
		}
		pn, pd := percentiles(fromNotice), percentiles(fromDelivery)
		b.ReportMetric(pn(0.50), "p50-ms")
		b.ReportMetric(pn(0.99), "p99-ms")
		b.ReportMetric(pd(0.99), "p99-from-delivery-ms")
		b.Logf("new mail while queue %s retries every second (%d attempts meanwhile): EXISTS → sink ack over %d of %d deliveries p50 %.2f ms, p99 %.2f ms, max %.2f ms; from the end of the LMTP delivery p50 %.2f ms, p99 %.2f ms, max %.2f ms",
			broken, tries, len(fromNotice), deliveries, pn(0.5), pn(0.99), pn(1), pd(0.5), pd(0.99), pd(1))
	}
}

// waitIdle waits until d's mailbox is in IDLE.
func waitIdle(b *testing.B, d *Daemon) {
	b.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(d.metrics.IMAPIdle.WithLabelValues("bench", "INBOX")) != 1 {
		if time.Now().After(deadline) {
			b.Fatal("daemon never entered IDLE")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// percentiles sorts lat and returns its p-quantile in milliseconds (p = 1:
// the maximum).
func percentiles(lat []time.Duration) func(p float64) float64 {
	slices.Sort(lat)
	return func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
}
