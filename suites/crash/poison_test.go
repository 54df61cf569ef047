package crash

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/triage-dev/triage/classifier"
	"github.com/triage-dev/triage/internal/dovecottest"
	"github.com/triage-dev/triage/internal/testkit"
	"github.com/triage-dev/triage/rules"
)

// poisonMarker in a subject makes the crashtest sink (built into the
// suite's binary with the crashhook tag) crash the process with a panic
// outside any recover.
const poisonMarker = "crashtest-poison"

// TestPoisonMessage puts a mail that crashes the daemon in the middle of a
// backlog and restarts the daemon whenever it dies, as systemd would: the
// mail must end in quarantine after two crashes, and every other mail be
// forwarded or filed as usual.
func TestPoisonMessage(t *testing.T) {
	n := 300
	if testkit.FullSize() {
		n = 1000
	}
	r, httpAddr := startPoisonRig(t, n)
	start := time.Now()
	p := crashTwiceThenDrain(t, r)
	// The poison's cost, reported as the hostile suite reports each
	// sender-side attack: from the first start to the drained backlog
	// (two crashes and restarts included), and the peak RSS of the run
	// that quarantined it.
	t.Logf("poison: drained %v after the first start; final run's peak RSS %.1f MiB",
		time.Since(start).Round(time.Millisecond), float64(testkit.ProcStatusBytes(t, p.cmd.Process.Pid, "VmHWM"))/(1<<20))
	if got := testkit.AdminMetric(t, httpAddr, "", "triage_quarantined_total", map[string]string{"reason": "crashed"}); got != 1 {
		t.Errorf("triage_quarantined_total{reason=crashed} = %v, want 1", got)
	}
	if took := p.terminate(t, shutdownTimeout+exitMargin); p.err != nil {
		t.Errorf("final run exited with %v after SIGTERM (took %v)", p.err, took)
	}
	checkPoisonEvidence(t, r)
	lost, copies := checkPoisonOutcome(t, r)
	checkNoRaces(t, r.logs)
	t.Logf("FIGURES messages=%d crashes=2 lost=%d sink_lines=%d forwarded=%d", len(r.mails), lost, copies, r.count("forward"))
}

// startPoisonRig seeds Dovecot with n backlog mails and the poison mail in
// their middle, and writes a config whose sinks crash on the poison; it
// returns the rig and the admin address. Problem detection is off, as in
// the other crash tests: the backlog's expected outcomes are computed
// without it (its storm rule would file the repeated senders' mail).
func startPoisonRig(t *testing.T, n int) (*rig, string) {
	t.Helper()
	srv := dovecottest.Start(t, dovecottest.WithPassword("poison-imap-pw-3c1d9e"))
	r := &rig{srv: srv, dir: t.TempDir(), byKey: map[string]*mail{}, env: []string{crashPasswordEnv + "=" + srv.Password}}
	writeExamples(t, r.dir)
	rulesPath := filepath.Join(r.dir, "rules.yaml")
	r.mails = backlog(t, rulesPath, "poison", n, 100)
	poison := poisonMail(t, rulesPath)
	r.mails = slices.Insert(r.mails, n/2, poison)
	seed(t, srv, r.mails)
	for i := range r.mails {
		r.byKey[r.mails[i].key] = &r.mails[i]
	}
	queues := ""
	for _, q := range append(slices.Clone(fileQueues), natsQueues...) {
		queues += fmt.Sprintf("  %s: {type: crashtest, marker: %s, path: out/%s.jsonl}\n", q, poisonMarker, q)
	}
	httpAddr := testkit.FreeAddr(t)
	r.writeConfig(t, fmt.Sprintf("rules: rules.yaml\n%squeues:\n%shttp: {listen: %s}\nstate_dir: state\nshutdown_timeout: %s\nlog: {level: info}\nproblems: {enabled: false}\n",
		accountYAML(srv), queues, httpAddr, shutdownTimeout))
	return r, httpAddr
}

// crashTwiceThenDrain starts the daemon until the poison has killed it
// twice, then once more until the backlog is drained, and returns that
// last run.
func crashTwiceThenDrain(t *testing.T, r *rig) *proc {
	t.Helper()
	for run := range 2 {
		p := r.start(t, fmt.Sprintf("run-%d.log", run))
		select {
		case <-p.exited:
		case <-time.After(2 * time.Minute):
			t.Fatalf("run %d did not crash within 2 minutes:\n%s", run, p.log.lastLines())
		}
		if p.err == nil || !strings.Contains(p.log.lastLines(), "crashtest: poison message") {
			t.Fatalf("run %d exited with %v, want the poison's crash:\n%s", run, p.err, p.log.lastLines())
		}
	}
	p := r.start(t, "run-final.log")
	deadline := time.Now().Add(2 * time.Minute)
	for !r.drained(t) {
		if time.Now().After(deadline) {
			t.Fatalf("backlog not drained after the second crash (%d undone):\n%s", r.undone(t), p.log.lastLines())
		}
		p.sleep(t, 100*time.Millisecond, "final run")
	}
	return p
}

// checkPoisonEvidence checks the logs and the kept crash report: one
// quarantine for crashing the daemon, the first crash's batch handled
// alone, the second crash's report in crash.prev.log.
func checkPoisonEvidence(t *testing.T, r *rig) {
	t.Helper()
	if lines := grepLogs(t, r.logs, "reason=\"crashed the daemon\""); len(lines) != 1 || !strings.Contains(lines[0], "quarantining message") {
		t.Errorf("%d log lines quarantine a message for crashing the daemon, want 1:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	// The first crash came with a batch in flight: the second run handled
	// those suspects alone, which is how the poison was caught alone.
	if alone := grepLogs(t, r.logs[1:2], "handling alone"); len(alone) < 2 {
		t.Errorf("the second run handled %d suspects alone, want the first crash's whole batch", len(alone))
	} else {
		t.Logf("suspects handled alone after the first crash: %d", len(alone))
	}
	report, err := os.ReadFile(filepath.Join(r.dir, "state", "crash.prev.log"))
	if err != nil || !bytes.Contains(report, []byte("crashtest: poison message")) {
		t.Errorf("the second crash's report was not kept in crash.prev.log: %v", err)
	}
}

// checkPoisonOutcome checks every mail's folder and that every forwarded
// one reached a sink; it returns the lost mails and the sink lines.
func checkPoisonOutcome(t *testing.T, r *rig) (lost, copies int) {
	t.Helper()
	st := r.readServer(t)
	for _, m := range r.mails {
		if locs := st.where[m.key]; len(locs) != 1 {
			t.Errorf("%s is in %v, want exactly one folder", m.key, locs)
		} else {
			checkLocation(t, m, locs[0])
		}
	}
	inSinks := map[string]int{}
	for _, q := range append(slices.Clone(fileQueues), natsQueues...) {
		for _, e := range readJSONL(t, filepath.Join(r.dir, "out", q+".jsonl")) {
			inSinks[e.ID]++
			copies++
		}
	}
	for _, m := range r.mails {
		switch {
		case m.action == "forward" && inSinks[m.id] == 0:
			lost++
			if lost <= 5 {
				t.Errorf("LOST: %s (ticket %s) is in no sink", m.key, m.id)
			}
		case m.action != "forward" && inSinks[m.id] > 0:
			t.Errorf("%s (%s) reached a sink", m.key, m.action)
		}
	}
	return lost, copies
}

// poisonMail is an example mail the rules forward, with the poison marker
// in its subject; it is expected in quarantine.
func poisonMail(t *testing.T, rulesPath string) mail {
	t.Helper()
	set, err := rules.Load(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	c := classifier.New()
	for i, raw := range exampleMails(t) {
		key := fmt.Sprintf("<poison.%d@crash.example.com>", i)
		raw = testkit.WithMessageID(bytes.Replace(raw, []byte("\r\nSubject: "), []byte("\r\nSubject: "+poisonMarker+" "), 1), key)
		tk, err := c.Classify(set, raw, classifier.Meta{Account: "helpdesk", Mailbox: "INBOX"})
		if err != nil || tk.Class.Action != "forward" || tk.Class.Folder != "" || !strings.Contains(tk.Subject, poisonMarker) {
			continue
		}
		return mail{key: key, raw: raw, id: tk.ID, queue: tk.Class.Queue, action: "quarantine"}
	}
	t.Fatal("no example mail is forwarded with the poison marker in its subject")
	return mail{}
}
