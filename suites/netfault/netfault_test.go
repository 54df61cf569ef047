// Network fault suite: the whole daemon (in process) reaches a private
// Dovecot's IMAP, and its webhook and LMTP sinks, through fault-injecting TCP
// proxies (internal/faultproxy) that cut connections mid-FETCH, mid-IDLE, mid-request
// and mid-DATA, add latency spikes, and black-hole or take down a path. Each
// scenario checks: nothing lost (every mail forwarded at least once, and
// complete), duplicates only under the same ticket id, nothing marked done
// that was not forwarded, every stall ended by a timeout and reconnect
// (bounded waits), and new mail still served afterwards.
//
// Run (needs dovecot; skipped without it unless CI=true):
//
//	go test -race ./suites/netfault/                               # CI sizes, ~70 s on 2 cores
//	TRIAGE_FULL=1 go test -race -timeout 30m ./suites/netfault/    # full sizes, ~3 min
//	go test -v -run 'TestNetFault/imap-cut-mid-fetch' ./suites/netfault/   # one scenario
//
// -v prints a RESULT line per scenario (mails, faults, reconnects,
// duplicates, proxy counters, time); NETFAULT_LOG_DIR=dir keeps each
// scenario's daemon log.
package netfault

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/triage-dev/triage/internal/faultproxy"
	"github.com/triage-dev/triage/internal/testkit"
)

// sizes are one run's dimensions; TRIAGE_FULL=1 selects the full ones.
type sizes struct {
	backlog    int // large messages in the cut-mid-FETCH backlog
	bigBytes   int // size of each
	fetchCuts  int // resets inside FETCH responses
	idleCycles int // cut-in-IDLE rounds
	perCycle   int // mails delivered per round or phase
	spikyMsgs  int // backlog drained under latency spikes
	sinkMsgs   int // mails per sink scenario
	sinkCuts   int // resets per sink scenario
}

var (
	ciSizes   = sizes{backlog: 30, bigBytes: 256 << 10, fetchCuts: 4, idleCycles: 4, perCycle: 3, spikyMsgs: 16, sinkMsgs: 8, sinkCuts: 3}
	fullSizes = sizes{backlog: 200, bigBytes: 512 << 10, fetchCuts: 25, idleCycles: 20, perCycle: 10, spikyMsgs: 100, sinkMsgs: 50, sinkCuts: 15}
)

func suiteSizes() sizes {
	if os.Getenv("TRIAGE_FULL") == "1" {
		return fullSizes
	}
	return ciSizes
}

func TestNetFault(t *testing.T) {
	sz := suiteSizes()
	scenarios := []struct {
		name string
		run  func(t *testing.T, sz sizes)
	}{
		{"imap-cut-mid-fetch", cutMidFetch},
		{"imap-close-mid-fetch", closeMidFetch},
		{"imap-cut-in-idle", cutInIdle},
		{"imap-latency-spikes", latencySpikes},
		{"imap-blackhole", blackhole},
		{"webhook-cut-mid-request", webhookCutMidRequest},
		{"webhook-cut-before-response", webhookCutBeforeResponse},
		{"webhook-slow", webhookSlow},
		{"webhook-down-then-up", webhookDownThenUp},
		{"lmtp-cut-mid-data", lmtpCutMidData},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, sz) })
	}
}

// cutMidFetch resets the IMAP connection repeatedly while a backlog of large
// messages is being fetched: each reset lands inside a FETCH literal (the
// only large responses), at a different offset each time.
func cutMidFetch(t *testing.T, sz sizes) { endMidFetch(t, sz, (*faultproxy.Proxy).CutAfter, "resets") }

// closeMidFetch is cutMidFetch with an orderly close (FIN), as when the
// server process dies: the literal ends early without an error.
func closeMidFetch(t *testing.T, sz sizes) {
	endMidFetch(t, sz, (*faultproxy.Proxy).CloseAfter, "orderly closes")
}

func endMidFetch(t *testing.T, sz sizes, end func(p *faultproxy.Proxy, dir faultproxy.Direction, marks ...int64) <-chan struct{}, how string) {
	r := newRig(t, rigOptions{sink: sinkFile, account: "batch_size: 8"})
	for i := range sz.backlog {
		r.appendMail("backlog", i, sz.bigBytes)
	}
	// Past login, SELECT and SEARCH (a few kB) everything downstream is
	// FETCH data; the odd step moves each cut to another offset in a literal.
	fired := end(r.imap, faultproxy.Downstream, marks(sz.fetchCuts, 600_000, 137_111)...)
	r.run()
	for k := range sz.fetchCuts {
		testkit.WaitFired(t, fired, 60*time.Second, fmt.Sprintf("cut %d mid-FETCH (the backlog ended first, or the daemon stalled)", k+1))
		r.check(fmt.Sprintf("after cut %d", k+1))
	}
	r.waitDelivered(90*time.Second, "the backlog after the cuts")
	dups := r.checkFinal()
	if got := r.sessionFailures(); got < sz.fetchCuts {
		t.Errorf("%d IMAP session failures logged, want at least one per cut (%d)", got, sz.fetchCuts)
	}
	r.servesNewMail()
	r.report(fmt.Sprintf("%d %s mid-FETCH", sz.fetchCuts, how), dups)
}

// cutInIdle resets the connection while the daemon sits in IDLE, with new
// mail delivered by LMTP just after the reset (it arrives while the daemon
// reconnects) or just before it (the EXISTS may die with the connection).
func cutInIdle(t *testing.T, sz sizes) {
	r := newRig(t, rigOptions{sink: sinkFile})
	r.run()
	for k := range sz.idleCycles {
		r.waitIdle(30 * time.Second)
		mailFirst := k%2 == 1
		if mailFirst {
			for i := range sz.perCycle {
				r.deliverMail(fmt.Sprintf("idle%d", k), i, 4000)
			}
		}
		if n := r.imap.Cut(); n != 1 {
			t.Fatalf("round %d: cut %d connections, want the one IDLE connection", k, n)
		}
		if !mailFirst {
			for i := range sz.perCycle {
				r.deliverMail(fmt.Sprintf("idle%d", k), i, 4000)
			}
		}
		r.waitDelivered(30*time.Second, fmt.Sprintf("round %d", k))
		r.check(fmt.Sprintf("round %d", k))
	}
	dups := r.checkFinal()
	if got := r.metric("triage_imap_reconnects_total", nil); got < float64(sz.idleCycles) {
		t.Errorf("triage_imap_reconnects_total = %v, want ≥ %d (one per cut)", got, sz.idleCycles)
	}
	r.servesNewMail()
	r.report(fmt.Sprintf("%d resets in IDLE", sz.idleCycles), dups)
}

// latencySpikes adds 200–500 ms each way, on and off, while a backlog drains,
// then holds 400 ms while mail arrives in IDLE. Latency below the account
// timeout must cost time only: no session may fail.
func latencySpikes(t *testing.T, sz sizes) {
	r := newRig(t, rigOptions{sink: sinkFile, account: "batch_size: 4"})
	for i := range sz.spikyMsgs {
		r.appendMail("spiky", i, 64<<10)
	}
	stop := make(chan struct{})
	var spikes sync.WaitGroup
	spikes.Go(func() {
		pattern := []time.Duration{250 * time.Millisecond, 0, 500 * time.Millisecond, 0, 200 * time.Millisecond, 0}
		tick := time.NewTicker(400 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			r.imap.SetLatency(pattern[i%len(pattern)])
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	r.run()
	testkit.WaitFor(t, 120*time.Second, "the backlog under latency spikes: every mail forwarded", r.allForwarded)
	close(stop)
	spikes.Wait()
	r.waitDelivered(60*time.Second, "the backlog under latency spikes")

	r.imap.SetLatency(400 * time.Millisecond)
	r.waitIdle(30 * time.Second)
	for i := range sz.perCycle {
		r.deliverMail("slow-idle", i, 4000)
	}
	r.waitDelivered(60*time.Second, "mail delivered in IDLE at 400 ms latency")
	r.imap.SetLatency(0)
	dups := r.checkFinal()
	if n := r.sessionFailures(); n != 0 {
		t.Errorf("%d IMAP sessions failed under latency (≤ 500 ms each way) below the %v timeout, want none", n, accountTimeout)
	}
	r.servesNewMail()
	r.report("latency spikes 200-500 ms each way, then 400 ms in IDLE", dups)
}

// blackhole: a server that accepts and never answers (no greeting), a path
// that goes silent mid-FETCH, and one that goes silent in IDLE. Every stall
// must end in a timeout and a reconnect; once the path is restored mail
// flows. Finally the daemon must stop within its shutdown deadline while
// its connection is black-holed.
func blackhole(t *testing.T, sz sizes) {
	const idleRestart = 4 * time.Second
	// A stall must be noticed after one timeout, then a reconnect (at most
	// reconnect_max) follows; the rest is slack for a loaded machine. A
	// timeout applied once per read retry would take several times longer.
	const stallBound = accountTimeout + time.Second + 3*time.Second
	r := newRig(t, rigOptions{sink: sinkFile, account: "batch_size: 8\nidle_restart: " + idleRestart.String()})
	for i := range sz.backlog / 2 {
		r.appendMail("silent", i, sz.bigBytes)
	}

	r.phase("1. server accepts and never answers")
	r.imap.SetBlackhole(true)
	r.run()
	testkit.WaitFor(t, stallBound, "a second connection attempt after the silent greeting timed out", func() bool {
		return r.imap.Stats().Accepted >= 2
	})
	if n := len(r.forwarded()); n != 0 {
		t.Fatalf("%d tickets forwarded while the server never answered", n)
	}
	r.check("while the server never answered")
	r.imap.SetBlackhole(false)

	r.phase("2. silent in the middle of a FETCH literal")
	fired := r.imap.BlackholeAfter(faultproxy.Downstream, 700_000)
	testkit.WaitFired(t, fired, 60*time.Second, "the path to go silent mid-FETCH")
	before := r.imap.Stats().Accepted
	testkit.WaitFor(t, stallBound, "a reconnect after the FETCH stalled", func() bool {
		return r.imap.Stats().Accepted > before
	})
	r.check("after the FETCH stalled")
	r.imap.SetBlackhole(false)
	r.waitDelivered(90*time.Second, "the backlog after the silent FETCH")

	// 3. Silent while in IDLE; mail arrives meanwhile. IDLE sends nothing,
	// so the stall is seen when IDLE is restarted (idle_restart) and its
	// DONE goes unanswered (timeout).
	r.waitIdle(30 * time.Second)
	r.phase("3. silent in IDLE while mail arrives")
	r.imap.SetBlackhole(true)
	for i := range sz.perCycle {
		r.deliverMail("silent-idle", i, 4000)
	}
	before = r.imap.Stats().Accepted
	testkit.WaitFor(t, idleRestart+stallBound, "a reconnect after the IDLE connection went silent", func() bool {
		return r.imap.Stats().Accepted > before
	})
	r.check("while IDLE was silent")
	r.imap.SetBlackhole(false)
	r.waitDelivered(60*time.Second, "mail delivered while IDLE was silent")
	dups := r.checkFinal()
	r.servesNewMail()

	// 4. Shutdown with a silent connection: bounded by shutdown_timeout.
	r.waitIdle(30 * time.Second)
	r.phase("4. stop while silent")
	r.imap.SetBlackhole(true)
	took := r.stop()
	r.report(fmt.Sprintf("black hole at greeting, mid-FETCH and in IDLE; stop while silent took %v", took.Round(10*time.Millisecond)), dups)
}

// webhookCutMidRequest resets the webhook connection while the request body
// is on its way: the tracker never sees those requests; the daemon retries.
func webhookCutMidRequest(t *testing.T, sz sizes) {
	sinkCut{
		sink: sinkWebhook, name: "webhook", where: "mid-request", prefix: "hook-cut", mailBytes: 30_000,
		first: 10_000, step: 3_001, // inside a ~30 kB request body
		delivered: "tickets after the cuts",
	}.run(t, sz)
}

// webhookCutBeforeResponse resets the connection after the tracker recorded
// a ticket and before its answer: the daemon must retry, and the duplicate
// must carry the same id (and Idempotency-Key).
func webhookCutBeforeResponse(t *testing.T, sz sizes) {
	// One request at a time: a cut then loses exactly one acknowledgement.
	r := newRig(t, rigOptions{sink: sinkWebhook, account: "concurrency: 1"})
	var mu sync.Mutex
	cuts := 0
	r.hook.setAfterRecord(func() {
		mu.Lock()
		defer mu.Unlock()
		if cuts < sz.sinkCuts {
			cuts++
			r.sink.Cut()
		}
	})
	for i := range sz.sinkMsgs {
		r.appendMail("hook-ack", i, 8_000)
	}
	r.run()
	r.waitDelivered(60*time.Second, "tickets whose acknowledgements were cut")
	dups := r.checkFinal()
	mu.Lock()
	done := cuts
	mu.Unlock()
	if done != sz.sinkCuts {
		t.Errorf("%d acknowledgements cut, want %d", done, sz.sinkCuts)
	}
	if dups != sz.sinkCuts {
		t.Errorf("%d duplicate deliveries, want exactly one per lost acknowledgement (%d)", dups, sz.sinkCuts)
	}
	r.servesNewMail()
	r.report(fmt.Sprintf("%d acknowledgements cut", sz.sinkCuts), dups)
}

// webhookSlow puts 1.5 s of latency each way in front of a webhook whose
// timeout is 1 s: every attempt times out (the tracker may still get late
// requests) until the latency goes.
func webhookSlow(t *testing.T, sz sizes) {
	r := newRig(t, rigOptions{sink: sinkWebhook})
	r.sink.SetLatency(1500 * time.Millisecond)
	for i := range sz.sinkMsgs {
		r.appendMail("hook-slow", i, 4_000)
	}
	r.run()
	testkit.WaitFor(t, 60*time.Second, "webhook attempts to time out", func() bool {
		return r.metric("triage_forward_errors_total", map[string]string{"queue": "hook"}) >= 3
	})
	r.check("while the webhook is slower than its timeout")
	r.sink.SetLatency(0)
	r.waitDelivered(60*time.Second, "tickets once the webhook is fast again")
	dups := r.checkFinal()
	r.servesNewMail()
	r.report("webhook 1.5 s each way vs 1 s timeout", dups)
}

// webhookDownThenUp resets every webhook connection for a while; nothing
// may be marked done until it is back.
func webhookDownThenUp(t *testing.T, sz sizes) {
	r := newRig(t, rigOptions{sink: sinkWebhook})
	r.sink.SetDown(true)
	for i := range sz.sinkMsgs {
		r.appendMail("hook-down", i, 4_000)
	}
	r.run()
	testkit.WaitFor(t, 60*time.Second, "webhook attempts to fail", func() bool {
		return r.metric("triage_forward_errors_total", map[string]string{"queue": "hook"}) >= 5
	})
	if n := len(r.forwarded()); n != 0 {
		t.Fatalf("%d tickets reached a webhook that was down", n)
	}
	r.check("while the webhook is down")
	if r.srv.Count(t, "INBOX") != len(r.sent) {
		t.Fatal("INBOX lost messages while the webhook was down")
	}
	r.sink.SetDown(false)
	r.waitDelivered(60*time.Second, "tickets once the webhook is up")
	dups := r.checkFinal()
	r.servesNewMail()
	r.report(fmt.Sprintf("webhook down, %d connections refused", r.sink.Stats().Refused), dups)
}

// lmtpCutMidData resets the LMTP sink connection in the middle of DATA: the
// tracker's mailbox (Dovecot) must never get a truncated copy, and every
// mail must arrive once the cuts stop.
func lmtpCutMidData(t *testing.T, sz sizes) {
	sinkCut{
		sink: sinkLMTP, name: "LMTP", where: "mid-DATA", prefix: "lmtp-cut", mailBytes: 100_000,
		first: 20_000, step: 7_919, // past LHLO/MAIL/RCPT, inside DATA
		delivered: "forwarded copies after the cuts",
	}.run(t, sz)
}

// sinkCut is a scenario that resets the sink connection inside requests,
// at marks from first, step apart, while mails of mailBytes are forwarded:
// each cut is seen and survived, and every mail arrives once the cuts stop.
type sinkCut struct {
	sink, name, where, prefix, delivered string
	mailBytes                            int
	first, step                          int64
}

func (c sinkCut) run(t *testing.T, sz sizes) {
	r := newRig(t, rigOptions{sink: c.sink})
	for i := range sz.sinkMsgs {
		r.appendMail(c.prefix, i, c.mailBytes)
	}
	fired := r.sink.CutAfter(faultproxy.Upstream, marks(sz.sinkCuts, c.first, c.step)...)
	r.run()
	for k := range sz.sinkCuts {
		testkit.WaitFired(t, fired, 30*time.Second, fmt.Sprintf("%s cut %d %s", c.name, k+1, c.where))
		r.check(fmt.Sprintf("after %s cut %d", c.name, k+1))
	}
	r.waitDelivered(60*time.Second, c.delivered)
	dups := r.checkFinal()
	r.servesNewMail()
	r.report(fmt.Sprintf("%d %s resets %s", sz.sinkCuts, c.name, c.where), dups)
}
