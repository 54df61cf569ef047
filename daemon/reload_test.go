package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/triage-dev/triage/internal/testkit"
	"github.com/triage-dev/triage/rules"
	"github.com/triage-dev/triage/ticket"
)

// Two valid rule sets that classify the same mail differently, so a ticket
// shows which version classified it.
const rulesHead = `version: 1
defaults: {tier: L1, priority: P3, queue: helpdesk, runbook: kb/general}
rules:
`

const rulesA = rulesHead + `  - name: printer-a
    when: containsAny(subject, ["printer"])
    set: {tier: L1, queue: helpdesk, runbook: kb/printer-a}
    tags: [version-a]
`

const rulesB = rulesHead + `  - name: printer-b
    when: containsAny(subject, ["printer"])
    set: {tier: L2, queue: systems, runbook: kb/printer-b}
    tags: [version-b]
`

func writeRules(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func versionOf(t *testing.T, content string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return set.Version
}

// TestReloadUnderLoad: 2,000 messages flow through the daemon while the
// rules flip between two versions 50 times. Every ticket carries one of the
// two versions and the classification of exactly that version; none is lost
// or forwarded twice.
func TestReloadUnderLoad(t *testing.T) {
	const messages, flips = 2000, 50
	if testing.Short() {
		t.Skip("integration test")
	}
	e := startE2E(t, "")
	rulesPath := filepath.Join(e.dir, "rules.yaml")
	writeRules(t, rulesPath, rulesA)
	va, vb := versionOf(t, rulesA), versionOf(t, rulesB)
	e.run()

	ctx := context.Background()
	for i := range flips {
		content := rulesA
		if i%2 == 1 {
			content = rulesB
		}
		writeRules(t, rulesPath, content)
		// Reload now rather than after the watcher's debounce, so that the
		// flips interleave with the mail; the watcher then sees no change.
		if r := e.d.ReloadRules(ctx); r.Err != nil {
			t.Fatalf("reload %d: %v", i, r.Err)
		}
		for j := range messages / flips {
			n := i*(messages/flips) + j
			raw := fmt.Sprintf("From: User %d <user%d@example.com>\r\nTo: helpdesk@example.com\r\nSubject: printer %d jammed\r\nMessage-ID: <load-%d@example.com>\r\nDate: Fri, 27 Nov 2026 10:00:00 +0100\r\n\r\nPaper jam number %d.\r\n", n, n, n, n, n)
			e.srv.Append(t, "INBOX", []byte(raw))
		}
		// Let the mail flow while the next flip comes: keep at most two
		// batches ahead of the daemon, so that both versions classify mail
		// however fast or slow the machine is.
		ahead := float64((i - 1) * (messages / flips))
		testkit.WaitFor(t, 60*time.Second, "the daemon to keep up", func() bool {
			return e.metric("triage_tickets_total", nil) >= ahead
		})
	}
	var all []ticket.Ticket
	collect := func() int {
		all = all[:0]
		for _, q := range []string{"helpdesk", "systems"} {
			all = append(all, readJSONL(t, filepath.Join(e.dir, "out", q+".jsonl"))...)
		}
		return len(all)
	}
	testkit.WaitFor(t, 120*time.Second, "2,000 tickets", func() bool { return collect() >= messages })
	ids := map[string]int{}
	versions := map[string]int{}
	for _, tk := range all {
		ids[tk.ID]++
		versions[tk.Class.RulesVersion]++
		checkFlippedClass(t, tk.Class, va, vb)
	}
	if len(ids) != messages {
		t.Errorf("%d distinct tickets, want %d", len(ids), messages)
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("ticket %s forwarded %d times", id, n)
		}
	}
	if versions[va] == 0 || versions[vb] == 0 {
		t.Errorf("versions used: %v; want both", versions)
	}
	t.Logf("tickets per version: A=%d B=%d", versions[va], versions[vb])
}

// checkFlippedClass: a ticket of TestReloadUnderLoad carries version va or
// vb and exactly that version's classification.
func checkFlippedClass(t *testing.T, c ticket.Classification, va, vb string) {
	t.Helper()
	switch c.RulesVersion {
	case va:
		if c.Tier != "L1" || c.Queue != "helpdesk" || c.Runbook != "kb/printer-a" || len(c.Tags) != 1 || c.Tags[0] != "version-a" {
			t.Fatalf("ticket of version A classified as %+v", c)
		}
	case vb:
		if c.Tier != "L2" || c.Queue != "systems" || c.Runbook != "kb/printer-b" || len(c.Tags) != 1 || c.Tags[0] != "version-b" {
			t.Fatalf("ticket of version B classified as %+v", c)
		}
	default:
		t.Fatalf("ticket with unknown rules_version %q", c.RulesVersion)
	}
}

// TestBrokenEditsNeverActivate feeds more than 100 distinct broken edits of
// real rules through the running daemon's watcher: none is activated, the
// daemon keeps classifying with the last good set, each error names
// file:line.
func TestBrokenEditsNeverActivate(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	e := startE2E(t, "")
	rulesPath := filepath.Join(e.dir, "rules.yaml")
	writeRules(t, rulesPath, rulesA)
	e.run()
	good := e.d.reloader.Active().Current().Version

	edits := brokenEdits()
	if len(edits) < 100 {
		t.Fatalf("only %d broken edits", len(edits))
	}
	t.Logf("%d distinct broken edits", len(edits))
	ctx := context.Background()
	for i, edit := range edits {
		writeRules(t, rulesPath, edit)
		r := e.d.ReloadRules(ctx)
		if r.Err == nil {
			t.Fatalf("edit %d was accepted:\n%s", i, edit)
		}
		if v := e.d.reloader.Active().Current().Version; v != good {
			t.Fatalf("edit %d activated version %s", i, v)
		}
		if len(r.Errors) == 0 {
			t.Fatalf("edit %d: no positioned errors: %v", i, r.Err)
		}
		for _, msg := range r.Errors {
			if !strings.Contains(msg, "rules.yaml:") {
				t.Errorf("edit %d: error does not name the file and line: %q", i, msg)
			}
		}
	}
	// Still classifying with the good set.
	raw := "From: a@example.com\r\nSubject: printer broken\r\nMessage-ID: <after-edits@example.com>\r\n\r\nx\r\n"
	e.srv.Deliver(t, e.srv.User, []byte(raw))
	testkit.WaitFor(t, 20*time.Second, "a ticket after the broken edits", func() bool {
		for _, tk := range readJSONL(t, filepath.Join(e.dir, "out", "helpdesk.jsonl")) {
			if tk.MessageID == "<after-edits@example.com>" {
				if tk.Class.RulesVersion != good || tk.Class.Runbook != "kb/printer-a" {
					t.Fatalf("classified with %s as %+v", tk.Class.RulesVersion, tk.Class)
				}
				return true
			}
		}
		return false
	})
	// And through the watcher: a broken file write is seen and refused.
	before := e.d.reloader.Last().At
	writeRules(t, rulesPath, "version: 1\nrules:\n  - name: x\n    when: 1 +\n")
	testkit.WaitFor(t, 10*time.Second, "the watcher to try the broken edit", func() bool {
		l := e.d.reloader.Last()
		return l.At.After(before) && l.Err != nil
	})
	if v := e.d.reloader.Active().Current().Version; v != good {
		t.Fatalf("watcher activated a broken edit")
	}
}

// brokenEdits returns distinct broken variants of rulesA: syntax errors,
// unknown keys, type errors, non-boolean and uncompilable expressions,
// failing rule tests, unknown queues, empty files and binary garbage.
func brokenEdits() []string {
	var out []string
	add := func(s string) { out = append(out, s) }
	rule := func(when string) string {
		return "version: 1\ndefaults: {tier: L1, priority: P3, queue: helpdesk, runbook: kb/general}\nrules:\n  - name: r\n    when: " + when + "\n"
	}
	// Expressions that do not compile or are not boolean.
	for _, w := range []string{`subject +`, `subject`, `1 + 1`, `"text"`, `nosuchfield == 1`, `subject == 1 +`, `size > "big"`,
		`from.nosuch == "x"`, `containsAny(subject)`, `containsAny(subject, "notalist")`, `matchesAny(subject, [1, 2])`, `containsAll(subject, [true])`,
		`header()`, `len(subject)`, `subject matches`, `(subject == "a"`, `subject == "a")`, `subject in`, `attachments[0].nosuch`,
		`hour + weekday`, `domainOf(1)`, `_body_lc contains "x"`, `tags + 1 > 0`, `undefined_list contains "a"`, `date > 5`,
		`"a" matches "("`} {
		add(rule(w))
	}
	// Unknown keys at every level.
	for _, k := range []string{"colour: red", "rule: []", "Rules: []", "default: {}", "slas: {}"} {
		add(rulesA + k + "\n")
	}
	for _, k := range []string{"whenn: true", "sett: {}", "priority: P1", "tier: L2", "stopp: true", "extracts: {}", "tag: [a]", "action2: drop"} {
		add(strings.Replace(rulesA, "    tags: [version-a]\n", "    tags: [version-a]\n    "+k+"\n", 1))
	}
	for _, k := range []string{"teir: L1", "queu: x", "run_book: x", "folderx: y"} {
		add(strings.Replace(rulesA, "set: {tier: L1,", "set: {"+k+", tier: L1,", 1))
	}
	// Bad values.
	for _, v := range []string{"L4", "l1", "", "P1", "tier1"} {
		add(strings.Replace(rulesA, "set: {tier: L1,", "set: {tier: \""+v+"\",", 1))
	}
	for _, v := range []string{"P0", "P5", "high", "L1"} {
		add(strings.Replace(rulesA, "priority: P3", "priority: "+v, 1))
	}
	for _, v := range []string{"Printer-A", "printer a", "printer_a", "-x", ""} {
		add(strings.Replace(rulesA, "name: printer-a", "name: \""+v+"\"", 1))
	}
	for _, v := range []string{"2", "0", "\"one\"", "[1]"} {
		add(strings.Replace(rulesA, "version: 1", "version: "+v, 1))
	}
	for _, v := range []string{"delete", "forwardd", "DROP", "1"} {
		add(strings.Replace(rulesA, "    tags: [version-a]\n", "    tags: [version-a]\n    action: "+v+"\n", 1))
	}
	for _, v := range []string{"yes please", "[true]", "{a: 1}"} {
		add(strings.Replace(rulesA, "    tags: [version-a]\n", "    tags: [version-a]\n    stop: "+v+"\n", 1))
	}
	// Type errors in structure.
	for _, s := range []string{
		"version: 1\nrules: {a: 1}\n", "version: 1\nrules: 5\n", "version: 1\nrules:\n  - 5\n", "version: 1\nrules:\n  - [a]\n",
		"version: 1\ndefaults: [L1]\nrules: []\n", "version: 1\nlists: [a]\nrules: []\n", "version: 1\nlists: {a: b}\nrules: []\n",
		"version: 1\nsla: {L1: 15m}\nrules: []\n", "version: 1\nsla: {L1: {response: soon}}\nrules: []\n", "version: 1\nsla: {L9: {response: 1h}}\nrules: []\n",
		"version: 1\ncalendar: {timezone: Mars/Olympus}\nrules: []\n", "version: 1\ncalendar: {business_hours: \"Funday 25:00-26:00\"}\nrules: []\n",
		"version: 1\nthreading: {subject: ['[#(\\d+']}\nrules: []\n", "version: 1\nthreading: {subject: 5}\nrules: []\n",
		"version: 1\nlists: {subject: [a]}\nrules: []\n", "version: 1\nlists: {containsAny: [a]}\nrules: []\n",
	} {
		add(s)
	}
	// Duplicate names, extract errors, group errors.
	add(rulesA + "  - name: printer-a\n    when: true\n")
	add(strings.Replace(rulesA, "    tags: [version-a]\n", "    tags: [version-a]\n    extract: {code: \"(\"}\n", 1))
	add(strings.Replace(rulesA, "    tags: [version-a]\n", "    tags: [version-a]\n    extract: [a]\n", 1))
	add(rulesA + "  - group: g\n    first_match: maybe\n    rules: []\n")
	add(rulesA + "  - group: g\n    rules: 5\n")
	add(rulesA + "  - group: g\n    when: subject\n    rules: []\n")
	// A queue the daemon config does not define.
	for _, q := range []string{"nosuchqueue", "Helpdesk", "help desk", "security2"} {
		add(strings.Replace(rulesA, "queue: helpdesk, runbook: kb/printer-a", "queue: "+q+", runbook: kb/printer-a", 1))
	}
	// Rule tests that fail.
	for i, exp := range []string{"{tier: L3}", "{queue: systems}", "{matched: [nothing]}", "{priority: P1}", "{runbook: kb/other}", "{tags: [version-b]}", "{action: drop}"} {
		add(rulesA + fmt.Sprintf("tests:\n  - name: t%d\n    message: {from: a@example.com, subject: printer down, body: x}\n    expect: %s\n", i, exp))
	}
	add(rulesA + "tests:\n  - name: missing mail\n    mail: nosuch.eml\n    expect: {tier: L1}\n")
	// Syntax errors, empty files and garbage.
	for _, s := range []string{"", " ", "\n\n", "---\n", "version: 1\nrules:\n  - name: [\n", "version: 1\n\trules: []\n", "version: 1\nrules:\n- name: a\n  when: true\n - name: b\n",
		"{{{{", "version: 1\nrules: [\n", ":\n:\n", "version: 1\nrules: []\nversion: 1\n", "\x00\x01\x02\x03", "\xff\xfe\xfd binary \x00 garbage",
		strings.Repeat("\x89PNG\r\n\x1a\n", 20), "%YAML 9.9\n---\nversion: 1\n", "version: &a 1\nrules: *b\n", "- just\n- a\n- list\n", "just a string",
		"version: 1\nrules:\n  - name: a\n    when: 'unterminated\n"} {
		add(s)
	}
	// Truncations of the good file at every tenth byte.
	for i := 10; i < len(rulesA)-1; i += 10 {
		trunc := rulesA[:i]
		if strings.HasSuffix(strings.TrimSpace(trunc), "]") && strings.Count(trunc, "\n") > 6 {
			continue // a truncation that happens to be valid is not a broken edit
		}
		add(trunc)
	}
	seen := map[string]bool{}
	uniq := out[:0]
	for _, s := range out {
		if !seen[s] {
			seen[s] = true
			uniq = append(uniq, s)
		}
	}
	return uniq
}

// TestSIGHUPReloadsConfig: SIGHUP re-reads triage.yaml: a new account
// starts, a changed sink is rebuilt, an unchanged account keeps its
// connection.
func TestSIGHUPReloadsConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	e := startE2E(t, "")
	e.run()
	testkit.WaitFor(t, 20*time.Second, "the first account connected", func() bool {
		return e.metric("triage_imap_connected", map[string]string{"account": "helpdesk"}) == 1
	})
	since := e.accountSince("helpdesk")

	orig, err := os.ReadFile(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	second := fmt.Sprintf(`  - name: second
    addr: %s
    tls: none
    username: %s
    password_env: %s
    mailboxes: [Other]
    reconnect_min: 100ms
`, e.srv.Addr(), e.srv.User, e2ePasswordEnv)
	next := strings.Replace(string(orig), "queues:\n", second+"queues:\n", 1)
	next = strings.Replace(next, "out/helpdesk.jsonl", "out/helpdesk-2.jsonl", 1)
	if err := os.WriteFile(e.cfgPath, []byte(next), 0o600); err != nil {
		t.Fatal(err)
	}
	e.srv.Append(t, "Other", []byte("From: a@example.com\r\nSubject: printer in other mailbox\r\nMessage-ID: <other-1@example.com>\r\n\r\nx\r\n"))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 20*time.Second, "the new account's ticket in the rebuilt sink", func() bool {
		for _, tk := range readJSONL(t, filepath.Join(e.dir, "out", "helpdesk-2.jsonl")) {
			if tk.MessageID == "<other-1@example.com>" && tk.Source.Account == "second" {
				return true
			}
		}
		return false
	})
	if got := e.accountSince("helpdesk"); !got.Equal(since) {
		t.Errorf("unchanged account reconnected: connected since %v, then %v", since, got)
	}
	// A broken config on SIGHUP changes nothing.
	if err := os.WriteFile(e.cfgPath, []byte(next+"bogus_key: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.d.ReloadConfig(); err == nil || !strings.Contains(err.Error(), "triage.yaml:") {
		t.Errorf("broken config reload: %v", err)
	}
	// A config without a queue the active rules use is refused, naming the rule.
	noEngineering := strings.Replace(next, "  engineering: {type: file, path: out/engineering.jsonl}\n", "", 1)
	if noEngineering == next {
		t.Fatal("test config has no engineering queue line to remove")
	}
	if err := os.WriteFile(e.cfgPath, []byte(noEngineering), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.d.ReloadConfig(); err == nil || !strings.Contains(err.Error(), `queue "engineering"`) || !strings.Contains(err.Error(), "rules.yaml:") {
		t.Errorf("reload without a used queue: %v", err)
	}
	// The buffer bound is fixed for the process's life.
	if err := os.WriteFile(e.cfgPath, []byte(next+"max_buffered_bytes: 1048576\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.d.ReloadConfig(); err == nil || !strings.Contains(err.Error(), "max_buffered_bytes: changing it needs a restart") {
		t.Errorf("reload changing max_buffered_bytes: %v", err)
	}
	// Removing the account stops it.
	if err := os.WriteFile(e.cfgPath, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.d.ReloadConfig(); err != nil {
		t.Fatal(err)
	}
	for _, a := range e.d.Status().Accounts {
		if a.Name == "second" {
			t.Error("removed account still running")
		}
	}
}

func (e *e2e) accountSince(name string) time.Time {
	for _, a := range e.d.Status().Accounts {
		if a.Name == name {
			return a.Since
		}
	}
	e.t.Fatalf("no account %s in status", name)
	return time.Time{}
}
