// Crash suites: the real `triage run` binary against a private Dovecot.
//
// Run (CI size, ~1,000 messages, 5 SIGKILLs; needs dovecot-imapd and
// dovecot-lmtpd, `make deps`):
//
//	go test -race ./suites/crash/
//
// Full size (5,000 messages, 20 SIGKILLs):
//
//	TRIAGE_FULL=1 go test -race -timeout 30m -v ./suites/crash/
//
// Every run logs its seed; TRIAGE_SEED=N replays the kill moments. The
// daemon logs of each run are kept in the test's temp dir and the last lines
// are printed on failure. Under CI=true a missing Dovecot fails the tests.
package crash

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/triage-dev/triage/internal/dovecottest"
	"github.com/triage-dev/triage/internal/testkit"
	"github.com/triage-dev/triage/ticket"
)

const (
	crashPasswordEnv = "TRIAGE_CRASH_IMAP_PASSWORD"
	doneKeyword      = "$Triaged"
	streamName       = "TICKETS"
	// shutdownTimeout is the daemons' shutdown_timeout in these suites.
	shutdownTimeout = 3 * time.Second
	// exitMargin is how much later than shutdown_timeout a SIGTERMed
	// daemon may exit: LOGOUT, closing sinks, process exit.
	exitMargin = 3 * time.Second
)

// serverFolders are every folder a message can end up in under the example
// rules and the default account settings.
var serverFolders = []string{"INBOX", "Triage/Auto", "Triage/Bounces", "Triage/Lists", "Triage/Duplicates", "Triage/Quarantine", "Triage/Failed"}

// fileQueues go to JSON Lines files, natsQueues to the JetStream stream.
var (
	fileQueues = []string{"helpdesk", "systems"}
	natsQueues = []string{"security", "engineering"}
)

// streamReader reads the tickets stream incrementally.
type streamReader struct {
	st      jetstream.Stream
	next    uint64 // next sequence to read
	entries []sinkEntry
	msgIDs  map[string]int // Nats-Msg-Id → stored messages
}

func newStream(t *testing.T, url string, dupWindow time.Duration) *streamReader {
	t.Helper()
	js := testkit.JetStream(t, url)
	st, err := js.CreateStream(ctxT(t, 10*time.Second), jetstream.StreamConfig{
		Name: streamName, Subjects: []string{"tickets.>"}, Duplicates: dupWindow,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &streamReader{st: st, next: 1, msgIDs: map[string]int{}}
}

// read fetches the messages stored since the last call; a payload whose
// ticket id differs from its Nats-Msg-Id is an error.
func (r *streamReader) read(t *testing.T) {
	t.Helper()
	ctx := ctxT(t, 60*time.Second)
	info, err := r.st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for ; r.next <= info.State.LastSeq; r.next++ {
		m, err := r.st.GetMsg(ctx, r.next)
		if err != nil {
			t.Fatalf("stream message %d: %v", r.next, err)
		}
		var tk ticket.Ticket
		if err := json.Unmarshal(m.Data, &tk); err != nil {
			t.Fatalf("stream message %d: %v", r.next, err)
		}
		msgID := m.Header.Get(jetstream.MsgIDHeader)
		if msgID != tk.ID {
			t.Errorf("stream message %d: Nats-Msg-Id %q, ticket id %q", r.next, msgID, tk.ID)
		}
		if want := "tickets." + tk.Class.Queue; m.Subject != want {
			t.Errorf("stream message %d: subject %q, want %q", r.next, m.Subject, want)
		}
		r.msgIDs[msgID]++
		r.entries = append(r.entries, sinkEntry{ID: tk.ID, MessageID: tk.MessageID, Queue: tk.Class.Queue, UID: tk.Source.UID})
	}
}

func (r *streamReader) stored(t *testing.T) uint64 {
	t.Helper()
	info, err := r.st.Info(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// accountYAML is the suite's account on srv, with reconnect and retry
// timings fast enough for a test.
func accountYAML(srv *dovecottest.Server) string {
	return testkit.Account{
		Name: "helpdesk", Addr: srv.Addr(), User: srv.User, PasswordEnv: crashPasswordEnv,
		ReconnectMax: 500 * time.Millisecond, Timeout: 10 * time.Second,
	}.YAML()
}

// crashConfig is triage.yaml for the crash suite.
func crashConfig(t *testing.T, srv *dovecottest.Server, natsURL string) string {
	t.Helper()
	return fmt.Sprintf(`rules: rules.yaml
%squeues:
  helpdesk: {type: file, path: out/helpdesk.jsonl}
  systems: {type: file, path: out/systems.jsonl}
  security: {type: nats, url: "%s", subject: tickets.security, stream: %s, retry: {initial: 50ms, max: 500ms}}
  engineering: {type: nats, url: "%s", subject: tickets.engineering, stream: %s, retry: {initial: 50ms, max: 500ms}}
http: {listen: %s}
state_dir: state
problems: {enabled: false}   # expectations come from the classifier alone; detection is tested on its own
shutdown_timeout: %s
log: {level: info}
`, accountYAML(srv), natsURL, streamName, natsURL, streamName, testkit.FreeAddr(t), shutdownTimeout)
}

// acked returns every ticket id the sinks hold now, by queue.
func (c *crashRun) acked(t *testing.T) map[string]map[string][]sinkEntry {
	t.Helper()
	out := map[string]map[string][]sinkEntry{}
	add := func(e sinkEntry, sink string) {
		if out[e.ID] == nil {
			out[e.ID] = map[string][]sinkEntry{}
		}
		out[e.ID][sink] = append(out[e.ID][sink], e)
	}
	for _, q := range fileQueues {
		for _, e := range readJSONL(t, filepath.Join(c.dir, "out", q+".jsonl")) {
			add(e, q)
		}
	}
	c.stream.read(t)
	for _, e := range c.stream.entries {
		add(e, "nats")
	}
	return out
}

// crashRun is the crash suite's rig with the JetStream stream its daemon
// forwards to.
type crashRun struct {
	*rig
	stream *streamReader
}

// newCrashRun seeds a backlog of n mails and writes the config of a daemon
// forwarding to JSON Lines files and a fresh JetStream stream.
func newCrashRun(t *testing.T, n int) *crashRun {
	t.Helper()
	began := time.Now()
	// Every 100th mail has no header at all: the quarantine path runs
	// under the kills too.
	c := &crashRun{rig: newRig(t, "crash-imap-pw-8e2c4a6b1d", "crash", n)}
	t.Logf("backlog of %d messages seeded in %v", n, time.Since(began).Round(time.Millisecond))
	if err := os.MkdirAll(filepath.Join(c.dir, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	ns := testkit.StartNATS(t)
	// The duplicate window outlasts the test: every re-publish is caught.
	c.stream = newStream(t, ns.ClientURL(), 2*time.Hour)
	c.writeConfig(t, crashConfig(t, c.srv, ns.ClientURL()))
	return c
}

// checkDoneForwarded is the delivery guarantee at any moment: every INBOX
// message marked done that the rules forward has its ticket in a sink.
func (c *crashRun) checkDoneForwarded(t *testing.T, when string) {
	t.Helper()
	acked := c.acked(t)
	early := c.doneUnacked(t, func(id string) bool { return len(acked[id]) > 0 }, when, "no sink has its ticket")
	if early > 5 {
		t.Errorf("%s: %d messages marked done before their sink acknowledged them", when, early)
	}
}

// TestCrashSuite SIGKILLs a real daemon at random moments while it drains a
// backlog into a JSON Lines file and JetStream, restarting it each time,
// and checks at-least-once delivery with stable ids and exactly-once
// storage in JetStream.
func TestCrashSuite(t *testing.T) {
	// 10 kills at CI size, 20 at full size: a kill must land in a window
	// of a few milliseconds to expose a mark-done-too-early bug, so every
	// kill more is another chance to catch one.
	n, wantKills := 1000, 10
	if testkit.FullSize() {
		n, wantKills = 5000, 20
	}
	rnd := seeded(t)
	c := newCrashRun(t, n)

	drainStart := time.Now()
	kills, idleKills := c.killRuns(t, rnd, wantKills)
	// A final clean run finishes the backlog and stops gracefully.
	p := c.finalRun(t)
	drained := time.Since(drainStart)
	took := p.terminate(t, shutdownTimeout+exitMargin)
	if p.err != nil {
		t.Errorf("final run exited with %v after SIGTERM (took %v):\n%s", p.err, took, p.log.lastLines())
	}

	c.verify(t, kills, idleKills, drained)
}

// killRuns starts the daemon and SIGKILLs it wantKills times, checking the
// delivery guarantee after each kill. It returns the number of kills and
// how many of them came after the backlog ran dry.
func (c *crashRun) killRuns(t *testing.T, rnd *rand.Rand, wantKills int) (kills, idleKills int) {
	t.Helper()
	var handledAtKill []int64
	for kills < wantKills {
		p := c.start(t, fmt.Sprintf("run-%02d.log", kills))
		if c.waitKillPoint(t, p, rnd, kills, wantKills) {
			idleKills++ // the backlog ran dry before this kill point
		}
		p.failIfExited(t, fmt.Sprintf("run %d", kills))
		p.kill(t)
		kills++
		handledAtKill = append(handledAtKill, p.handled.Load())
		c.checkDoneForwarded(t, fmt.Sprintf("after kill %d", kills))
		if t.Failed() {
			t.Fatalf("stopping after kill %d; daemon log %s:\n%s", kills, c.logs[len(c.logs)-1], p.log.lastLines())
		}
	}
	t.Logf("%d kills; handled per run before the kill: %v; %d INBOX messages undone before the final run", kills, handledAtKill, c.undone(t))
	return kills, idleKills
}

// waitKillPoint waits for the moment to kill p, the run numbered run of
// wantKills: mostly after a random number of handled messages this run,
// spread so that the kills cover the whole backlog, sometimes at a random
// time from process start (startup, connect, first fetch). It reports
// whether the backlog ran dry before the kill point.
func (c *crashRun) waitKillPoint(t *testing.T, p *proc, rnd *rand.Rand, run, wantKills int) (dry bool) {
	t.Helper()
	if rnd.IntN(4) == 0 {
		time.Sleep(time.Duration(rnd.Int64N(int64(1500 * time.Millisecond))))
		return false
	}
	maxK := max(2, 2*c.undone(t)/(wantKills-run+1))
	k := int64(1 + rnd.IntN(maxK))
	deadline := time.Now().Add(10 * time.Second)
	for p.handled.Load() < k && time.Now().Before(deadline) {
		p.sleep(t, 2*time.Millisecond, fmt.Sprintf("run %d", run))
	}
	dry = p.handled.Load() < k
	time.Sleep(time.Duration(rnd.Int64N(int64(30 * time.Millisecond))))
	return dry
}

// finalRun starts the daemon once more and waits until it has drained the
// backlog; it returns the running process.
func (c *crashRun) finalRun(t *testing.T) *proc {
	t.Helper()
	p := c.start(t, "run-final.log")
	limit := 2 * time.Minute
	if testkit.FullSize() {
		limit = 10 * time.Minute
	}
	deadline := time.Now().Add(limit)
	for !c.drained(t) {
		if time.Now().After(deadline) {
			t.Fatalf("backlog not drained %v after the last kill (%d undone):\n%s", limit, c.undone(t), p.log.lastLines())
		}
		p.sleep(t, 100*time.Millisecond, "final run")
	}
	return p
}

// verify checks the end state of the crash suite and prints its figures.
func (c *crashRun) verify(t *testing.T, kills, idleKills int, drained time.Duration) {
	t.Helper()
	dropLeftInInbox := c.verifyServer(t)
	f := c.verifySinks(t)
	c.verifyFileMessageIDs(t)
	natsDups := c.verifyStream(t, f.natsWant)
	if f.lost > 0 {
		t.Errorf("%d forwarded messages lost", f.lost)
	}
	redeliveries := len(grepLogs(t, c.logs, "outcome=redelivery"))
	checkNoRaces(t, c.logs)
	t.Logf("FIGURES messages=%d kills=%d (backlog dry at %d) lost=%d file_forwards=%d file_duplicates=%d nats_tickets=%d jetstream_duplicates_stored=%d redeliveries_skipped=%d drop_left_in_inbox=%d drain=%v",
		len(c.mails), kills, idleKills, f.lost, f.fileLines, f.fileLines-f.fileIDs, f.natsWant, natsDups, redeliveries, dropLeftInInbox, drained.Round(time.Millisecond))
}

// verifyServer checks that the server holds each message exactly once,
// done, where the rules say. It returns how many dropped mails were marked
// done in the INBOX instead of filed.
func (c *crashRun) verifyServer(t *testing.T) (dropLeftInInbox int) {
	t.Helper()
	st := c.readServer(t)
	for _, m := range c.mails {
		locs := st.where[m.key]
		if len(locs) != 1 {
			t.Errorf("%s is in %v, want exactly one folder", m.key, locs)
			continue
		}
		if !checkLocation(t, m, locs[0]) {
			dropLeftInInbox++
		}
	}
	return dropLeftInInbox
}

// checkLocation checks that m sits in loc where the rules put it. It
// returns false for a dropped mail marked done in the INBOX but never filed.
func checkLocation(t *testing.T, m mail, loc string) bool {
	t.Helper()
	switch m.action {
	case "forward":
		if loc != "INBOX+done" {
			t.Errorf("forwarded %s is in %s, want INBOX marked %s", m.key, loc, doneKeyword)
		}
	case "drop":
		switch loc {
		case m.folder:
		case "INBOX+done":
			// Done but never filed: a moved message must be marked
			// done by the move alone.
			t.Errorf("dropped %s is marked done in INBOX but was never filed in %s", m.key, m.folder)
			return false
		default:
			t.Errorf("dropped %s is in %s, want %s", m.key, loc, m.folder)
		}
	case "quarantine":
		if loc != "Triage/Quarantine" {
			t.Errorf("unparseable %s is in %s, want Triage/Quarantine", m.key, loc)
		}
	}
	return true
}

// sinkFigures count what the sinks hold of the forwarded mails.
type sinkFigures struct {
	lost      int // forwarded mails in no sink
	fileLines int // JSON Lines written
	fileIDs   int // distinct tickets in the files
	natsWant  int // forwarded mails whose queue is in JetStream
}

// verifySinks checks that every forwarded mail is at least once in its
// queue's sink, every copy with the same id, and nothing else is.
func (c *crashRun) verifySinks(t *testing.T) sinkFigures {
	t.Helper()
	acked := c.acked(t)
	var f sinkFigures
	for _, m := range c.mails {
		got := acked[m.id]
		delete(acked, m.id)
		if m.action != "forward" {
			if len(got) > 0 {
				t.Errorf("%s (%s) reached a sink: %v", m.key, m.action, slices.Collect(maps.Keys(got)))
			}
			continue
		}
		f.checkForward(t, m, got)
	}
	for id := range acked {
		t.Errorf("a sink holds ticket %s, which is no backlog message's id", id)
	}
	return f
}

// checkForward checks what the sinks hold of forwarded mail m (got: sink →
// copies) and counts it in f.
func (f *sinkFigures) checkForward(t *testing.T, m mail, got map[string][]sinkEntry) {
	t.Helper()
	sink := m.queue
	if slices.Contains(natsQueues, m.queue) {
		sink = "nats"
		f.natsWant++
	}
	if len(got[sink]) == 0 {
		f.lost++
		if f.lost <= 10 {
			t.Errorf("LOST: %s (ticket %s, queue %s) is in no sink", m.key, m.id, m.queue)
		}
	}
	for s, entries := range got {
		if s != sink {
			t.Errorf("%s went to %s, want %s", m.key, s, sink)
		}
		if s != "nats" {
			f.fileLines += len(entries)
			f.fileIDs++
		}
		for _, e := range entries {
			if e.MessageID != m.key || e.Queue != m.queue || e.UID != entries[0].UID {
				t.Errorf("copies of %s differ: %+v vs %+v", m.key, e, entries[0])
			}
		}
	}
}

// verifyFileMessageIDs checks for duplicates by Message-ID in the files:
// each Message-ID maps to one ticket id.
func (c *crashRun) verifyFileMessageIDs(t *testing.T) {
	t.Helper()
	byMsgID := map[string]map[string]bool{}
	for _, q := range fileQueues {
		for _, e := range readJSONL(t, filepath.Join(c.dir, "out", q+".jsonl")) {
			if byMsgID[e.MessageID] == nil {
				byMsgID[e.MessageID] = map[string]bool{}
			}
			byMsgID[e.MessageID][e.ID] = true
		}
	}
	checkOneTicketPerMessageID(t, byMsgID)
}

// verifyStream checks that JetStream stored each id exactly once, natsWant
// in all. It returns how many duplicates it stored.
func (c *crashRun) verifyStream(t *testing.T, natsWant int) (natsDups int) {
	t.Helper()
	stored := c.stream.stored(t)
	for id, k := range c.stream.msgIDs {
		if k > 1 {
			natsDups += k - 1
			t.Errorf("JetStream stored ticket %s %d times", id, k)
		}
	}
	if stored != uint64(natsWant) || len(c.stream.msgIDs) != natsWant {
		t.Errorf("JetStream holds %d messages (%d distinct ids), want %d", stored, len(c.stream.msgIDs), natsWant)
	}
	return natsDups
}
