package rt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/triage-dev/triage/examples"
	"github.com/triage-dev/triage/internal/audit"
	"github.com/triage-dev/triage/internal/testkit"
)

// exampleSamples are the example mails that the rules forward, each with
// this run's Message-ID; skip names mails to leave out.
func (r *rig) exampleSamples(t *testing.T, prefix string, keep func(s sample) bool) []sample {
	t.Helper()
	ms, err := examples.Mails()
	if err != nil {
		t.Fatal(err)
	}
	var out []sample
	for i, m := range ms {
		s := r.sample(t, m.Name, m.Raw, fmt.Sprintf("%s-%d", prefix, i))
		if s.tk.Class.Action == "forward" && (keep == nil || keep(s)) {
			out = append(out, s)
		}
	}
	return out
}

// textMail is a plain mail.
func textMail(from, subject, inReplyTo, body string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: helpdesk@example.com\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <x@rt.test>\r\n",
		from, subject, time.Now().UTC().Format(time.RFC1123Z))
	if inReplyTo != "" {
		fmt.Fprintf(&b, "In-Reply-To: %s\r\nReferences: %s\r\n", inReplyTo, inReplyTo)
	}
	fmt.Fprintf(&b, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n", body)
	return b.Bytes()
}

// checkTicket asserts everything of one forwarded sample in RT; arrived
// brackets the mail's arrival (the SLA counts from it). It returns the RT
// ticket id.
func (r *rig) checkTicket(t *testing.T, m sample, arrivedFrom, arrivedTo time.Time) string {
	t.Helper()
	cl := m.tk.Class
	ids := r.rt.byTriageID(t, m.tk.ID)
	if len(ids) != 1 {
		t.Errorf("%s: %d RT tickets carry triage id %s, want 1", m.name, len(ids), m.tk.ID)
		return ""
	}
	tk := r.rt.ticket(t, ids[0])
	var problems []string
	check := func(what, got, want string) {
		if got != want {
			problems = append(problems, fmt.Sprintf("%s %q, want %q", what, got, want))
		}
	}
	names := make([]string, len(cl.Matched))
	for i, mr := range cl.Matched {
		names[i] = mr.Rule
	}
	check("queue", tk.queueName, rtQueueOf[cl.Queue])
	check("priority", tk.Priority, rtPriority[cl.Priority])
	check("Tier", tk.field("Tier"), cl.Tier)
	check("Rules", tk.field("Rules"), strings.Join(names, ","))
	check("Runbook", tk.field("Runbook"), cl.Runbook)
	resolve := cl.SLA.ResolveDue.Sub(m.tk.ReceivedAt)
	due, err := time.Parse(time.RFC3339, tk.Due)
	if err != nil || due.Before(arrivedFrom.Add(resolve).Truncate(time.Second)) || due.After(arrivedTo.Add(resolve)) {
		problems = append(problems, fmt.Sprintf("Due %s, want arrival + %v in [%s, %s]", tk.Due, resolve,
			arrivedFrom.Add(resolve).UTC().Format(time.RFC3339), arrivedTo.Add(resolve).UTC().Format(time.RFC3339)))
	}
	if len(tk.Requestor) != 1 || !strings.EqualFold(tk.Requestor[0].ID, m.tk.From.Address) {
		problems = append(problems, fmt.Sprintf("requestor %v, want %s", tk.Requestor, m.tk.From.Address))
	} else if got := r.rt.realName(t, m.tk.From.Address); m.tk.From.Name != "" && got != m.tk.From.Name {
		problems = append(problems, fmt.Sprintf("requestor's real name %q, want %q", got, m.tk.From.Name))
	}
	var want []rtFile
	for _, f := range m.content.Attachments {
		// RT's form upload cannot carry a double quote in a name: the sink
		// writes a single one (docs/trackers.md).
		want = append(want, rtFile{Name: strings.ReplaceAll(f.Name, `"`, "'"), SHA: sha(f.Data)})
	}
	got := r.rt.files(t, ids[0])
	sortFiles(want)
	sortFiles(got)
	if !slices.Equal(got, want) {
		problems = append(problems, fmt.Sprintf("attachments %v, want %v", got, want))
	}
	if len(problems) > 0 {
		t.Errorf("%s (RT #%s): %s", m.name, ids[0], strings.Join(problems, "; "))
	}
	return ids[0]
}

func sortFiles(f []rtFile) {
	slices.SortFunc(f, func(a, b rtFile) int { return strings.Compare(a.Name+a.SHA, b.Name+b.SHA) })
}

// TestSamples: every example mail and a few more through Dovecot and
// `triage run` into RT, each checked field by field; the mail RT refuses
// in the failed folder; then replies by RT's subject tag, by the [#N]
// threading pattern and by In-Reply-To, all on the existing tickets.
func TestSamples(t *testing.T) {
	r := newRig(t)
	mails := r.exampleSamples(t, "sample", nil)
	att, err := os.ReadFile("testdata/attachments.eml")
	if err != nil {
		t.Fatal(err)
	}
	attach := r.sample(t, "attachments.eml", att, "attach")
	mails = append(mails, attach)
	refusedReq := r.sample(t, "non-ASCII requester", textMail(`"Jürgen Weiß" <jürgen.weiß@example.com>`, "Drucker druckt nicht", "",
		"The printer on floor 2 prints blank pages."), "jw")
	mails = append(mails, refusedReq)

	from := time.Now()
	r.start(t)
	r.deliver(t, mails...)
	to := time.Now().Add(time.Second)
	var failed []sample
	for _, m := range mails {
		if m.tk.Class.Queue == "engineering" {
			failed = append(failed, m)
		}
	}
	if len(failed) == 0 {
		t.Fatal("no sample goes to the engineering queue, which RT refuses")
	}
	r.waitDrained(t, len(failed), 3*time.Minute)
	t.Logf("%d mails filed in %v", len(mails), time.Since(from).Round(time.Millisecond))

	tickets := r.checkFiled(t, mails, refusedReq.name, from, to)
	t.Logf("checked in %v", time.Since(from).Round(time.Millisecond))
	r.checkFailedFolder(t, failed)
	if t.Failed() {
		t.FailNow()
	}

	// Replies.
	a, b, c := tickets["attachments.eml"], tickets["mail/vpn-down.eml"], tickets["mail/password-reset-en.eml"]
	if a == "" || b == "" || c == "" {
		t.Fatalf("tickets to reply to: %q %q %q", a, b, c)
	}
	byTag := r.sample(t, "reply by RT tag", bytes.Replace(att, []byte("Subject: Printer log attached"),
		[]byte("Subject: Re: ["+rtName+" #"+a+"] Printer log attached"), 1), "reply-tag")
	byPattern := r.sample(t, "reply by [#N]", textMail(`"Hannah Lee" <hannah.lee@example.com>`, "Re: [#"+b+"] VPN still drops", "",
		"It happened again this morning."), "reply-pattern")
	var pwMsgID string
	for _, m := range mails {
		if m.name == "mail/password-reset-en.eml" {
			pwMsgID = m.tk.MessageID
		}
	}
	byThread := r.sample(t, "reply by In-Reply-To", textMail(`"Tom Baker" <tom.baker@example.com>`, "Re: your request", pwMsgID,
		"Thanks, it works now."), "reply-thread")
	before := len(r.rt.search(t, "CF.{TriageID} IS NOT NULL"))
	r.deliver(t, byTag, byPattern, byThread)
	r.waitDrained(t, len(failed), 2*time.Minute)
	for _, x := range []struct {
		reply sample
		on    string
	}{{byTag, a}, {byPattern, b}, {byThread, c}} {
		if n := r.rt.transactions(t, x.on, "Correspond"); n != 1 {
			t.Errorf("%s: RT #%s has %d correspondences, want 1", x.reply.name, x.on, n)
		}
	}
	if after := len(r.rt.search(t, "CF.{TriageID} IS NOT NULL")); after != before {
		t.Errorf("replies made %d new tickets", after-before)
	}
	// The reply's attachments are on the ticket too: each file twice.
	files := r.rt.files(t, a)
	if len(files) != 2*len(attach.content.Attachments) {
		t.Errorf("RT #%s has %d files after the reply, want %d", a, len(files), 2*len(attach.content.Attachments))
	}
}

// checkFiled checks each filed mail's ticket: none for the queue RT
// refuses, one without requester for the refused requester (named
// refusedReq), else field by field; it returns sample name → RT id.
func (r *rig) checkFiled(t *testing.T, mails []sample, refusedReq string, from, to time.Time) map[string]string {
	t.Helper()
	tickets := map[string]string{} // sample name → RT id
	for _, m := range mails {
		switch {
		case m.tk.Class.Queue == "engineering":
			if ids := r.rt.byTriageID(t, m.tk.ID); len(ids) != 0 {
				t.Errorf("%s: RT refused its queue but has tickets %v", m.name, ids)
			}
		case m.name == refusedReq:
			ids := r.rt.byTriageID(t, m.tk.ID)
			if len(ids) != 1 {
				t.Fatalf("non-ASCII requester: %d tickets, want 1 without requester", len(ids))
			}
			if tk := r.rt.ticket(t, ids[0]); len(tk.Requestor) != 0 || tk.queueName != "General" {
				t.Errorf("non-ASCII requester: requestors %v queue %s", tk.Requestor, tk.queueName)
			}
			if r.count(t, "requester refused") != 1 {
				t.Errorf("the requester fallback was not logged as a warning once")
			}
		default:
			tickets[m.name] = r.checkTicket(t, m, from, to)
		}
	}
	return tickets
}

// checkFailedFolder checks that each mail RT refused is in the failed
// folder and RT's refusal is logged.
func (r *rig) checkFailedFolder(t *testing.T, failed []sample) {
	t.Helper()
	var inFailed []string
	for _, m := range r.srv.Fetch(t, "Triage/Failed") {
		inFailed = append(inFailed, msgID(m.Raw))
	}
	for _, m := range failed {
		if !slices.Contains(inFailed, m.tk.MessageID) {
			t.Errorf("%s: refused by RT but not in the failed folder (%v)", m.name, inFailed)
		}
	}
	if n := r.count(t, "No permission to create tickets in the queue 'Engineering'"); n < len(failed) {
		t.Errorf("RT's refusal is in %d log lines, want at least %d", n, len(failed))
	}
}

func msgID(raw []byte) string {
	for _, line := range strings.Split(string(raw), "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Message-ID") {
			return strings.TrimSpace(v)
		}
		if line == "" {
			break
		}
	}
	return ""
}

// backlogSamples are n mails for RT's known queues, each its own.
func (r *rig) backlogSamples(t *testing.T, prefix string, n int) []sample {
	t.Helper()
	ms, err := examples.Mails()
	if err != nil {
		t.Fatal(err)
	}
	var out []sample
	for i := 0; len(out) < n; i++ {
		m := ms[i%len(ms)]
		s := r.sample(t, m.Name, m.Raw, fmt.Sprintf("%s-%d", prefix, i))
		if s.tk.Class.Action == "forward" && s.tk.Class.Queue != "engineering" && s.tk.Thread.TicketRef == "" {
			out = append(out, s)
		}
	}
	return out
}

// checkOnce fails t unless every sample is exactly one RT ticket.
func (r *rig) checkOnce(t *testing.T, mails []sample) {
	t.Helper()
	missing, twice := 0, 0
	for _, m := range mails {
		switch n := len(r.rt.byTriageID(t, m.tk.ID)); {
		case n == 0:
			missing++
		case n > 1:
			twice++
			t.Errorf("%s (%s): %d tickets", m.name, m.tk.ID, n)
		}
	}
	if missing > 0 || twice > 0 {
		t.Errorf("%d mails: %d without a ticket, %d with more than one", len(mails), missing, twice)
	}
}

// TestCrash: 200 mails (40 without TRIAGE_FULL=1), the daemon SIGKILLed
// three times while it files them, then drained: exactly one ticket each.
func TestCrash(t *testing.T) {
	n, kills := 40, 3
	if testkit.FullSize() {
		n = 200
	}
	r := newRig(t)
	mails := r.backlogSamples(t, "crash", n)
	for _, m := range mails {
		r.srv.Append(t, "INBOX", m.raw)
	}
	r.srv.Resync(t, "INBOX")
	for k := range kills {
		p := r.start(t)
		target := r.count(t, "tracker: ticket created") + n/10 + k
		deadline := time.Now().Add(3 * time.Minute)
		for r.count(t, "tracker: ticket created") < target {
			if time.Now().After(deadline) {
				t.Fatalf("run %d: fewer than %d tickets created in 3 min:\n%s", k, target, r.tail(t))
			}
			time.Sleep(50 * time.Millisecond)
		}
		p.signal(syscall.SIGKILL)
	}
	r.start(t)
	r.waitDrained(t, 0, 5*time.Minute)
	r.checkOnce(t, mails)
	t.Logf("%d mails, %d SIGKILLs: %d created, %d found in RT by the id field, %d found in the state store",
		n, kills, r.count(t, "tracker: ticket created"), r.count(t, "tracker: ticket exists already"), r.count(t, "tracker: already filed"))
}

// TestOutage: RT is down for 60 s while 50 mails arrive (20 s and 10
// mails without TRIAGE_FULL=1); once it is back, each is exactly one ticket.
func TestOutage(t *testing.T) {
	n, outage := 10, 20*time.Second
	if testkit.FullSize() {
		n, outage = 50, 60*time.Second
	}
	r := newRig(t)
	mails := r.backlogSamples(t, "outage", n)
	p := r.start(t)
	r.rt.Stop()
	r.deliver(t, mails...)
	select {
	case <-p.exited:
		t.Fatalf("triage exited while RT was down:\n%s", r.tail(t))
	case <-time.After(outage):
	}
	if err := r.rt.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitDrained(t, 0, 3*time.Minute)
	r.checkOnce(t, mails)
	if got := r.srv.Count(t, "Triage/Failed"); got != 0 {
		t.Errorf("%d mails in the failed folder after an outage", got)
	}
	t.Logf("RT down %v while %d mails arrived: %d retry warnings", outage, n, r.count(t, "will retry"))
}

// TestAudit: after people move five tickets to other queues through REST
// 2 (one of them twice) and resolve two, `triage audit` names the rules
// whose tickets moved, with the right counts.
func TestAudit(t *testing.T) {
	r := newRig(t)
	// This rig's tickets carry their id in a field of their own, so the
	// audit sees them and not the other tests' tickets.
	cfg, err := os.ReadFile(r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg = bytes.ReplaceAll(cfg, []byte("rtname: "), []byte("id_field: AuditID, rtname: "))
	if err := os.WriteFile(r.cfg, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	pick := []string{"mail/password-reset-en.eml", "mail/printer-jam.eml", "mail/vpn-down.eml", "mail/dns-failure.eml",
		"mail/share-access-denied.eml", "mail/mail-setup-iphone.eml", "mail/ransomware-note.eml", "mail/laptop-replacement.eml"}
	mails := r.exampleSamples(t, "audit", func(s sample) bool { return slices.Contains(pick, s.name) })
	if len(mails) != len(pick) {
		t.Fatalf("%d of %d picked mails", len(mails), len(pick))
	}
	p := r.start(t)
	r.deliver(t, mails...)
	r.waitDrained(t, 0, 2*time.Minute)
	p.signal(syscall.SIGTERM)

	id := map[string]string{}
	byName := map[string]sample{}
	for _, m := range mails {
		ids := r.rt.search(t, "CF.{AuditID} = '"+m.tk.ID+"'")
		if len(ids) != 1 {
			t.Fatalf("%s: %d tickets", m.name, len(ids))
		}
		id[m.name], byName[m.name] = ids[0], m
	}
	// Five tickets moved by a person; dns-failure twice (bouncing).
	moves := map[string][]string{
		"mail/vpn-down.eml":            {"General"},
		"mail/dns-failure.eml":         {"Security", "General"},
		"mail/password-reset-en.eml":   {"Systems"},
		"mail/printer-jam.eml":         {"Systems"},
		"mail/ransomware-note.eml":     {"General"},
		"mail/mail-setup-iphone.eml":   nil,
		"mail/share-access-denied.eml": nil,
	}
	for name, queues := range moves {
		for _, q := range queues {
			r.rt.asRoot(t, id[name], map[string]any{"Queue": q})
		}
	}
	r.rt.asRoot(t, id["mail/mail-setup-iphone.eml"], map[string]any{"Status": "resolved"})
	r.rt.asRoot(t, id["mail/printer-jam.eml"], map[string]any{"Status": "resolved"})

	cmd := exec.Command(triageBin, "audit", "--config", r.cfg, "--since", "1h", "--json")
	cmd.Env = append(os.Environ(), tokenEnv+"="+r.rt.token)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("triage audit: %v\n%s", err, stderr.String())
	}
	var rep audit.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("audit --json: %v\n%s", err, out)
	}
	want := map[string]audit.Counts{}
	for name, m := range byName {
		rules := []string{}
		for _, mr := range m.tk.Class.Matched {
			rules = append(rules, mr.Rule)
		}
		if len(rules) == 0 {
			rules = []string{audit.NoRule}
		}
		moved := len(moves[name]) > 0
		resolved := name == "mail/mail-setup-iphone.eml" || name == "mail/printer-jam.eml"
		for _, rl := range append(rules, m.tk.Class.Tier) {
			c := want[rl]
			c.Tickets++
			c.Rerouted += b2i(moved)
			c.Bouncing += b2i(len(moves[name]) > 1)
			c.Resolved += b2i(resolved)
			c.ResolvedInTier += b2i(resolved && !moved)
			want[rl] = c
		}
	}
	got := map[string]audit.Counts{}
	for _, l := range append(rep.Rules, rep.Tiers...) {
		c := l.Counts
		c.ResolvedInTierShare = 0
		got[l.Name] = c
	}
	if rep.Tickets != len(mails) {
		t.Errorf("report covers %d tickets, want %d", rep.Tickets, len(mails))
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: %+v, want %+v", name, got[name], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("report lines %v, want %v", got, want)
	}
	if len(rep.Moves) != 5 {
		t.Errorf("report lists %d re-routed tickets, want 5: %+v", len(rep.Moves), rep.Moves)
	}
	t.Logf("audit report:\n%s", out)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
