package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/triage-dev/triage/internal/replaydiff"
	"github.com/triage-dev/triage/ticket"
)

const (
	examplesRules = "../../examples/rules.yaml"
	examplesMail  = "../../examples/mail"
)

type result struct {
	stdout, stderr string
	code           int
}

func runMain(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return result{stdout: out.String(), stderr: errOut.String(), code: code}
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mailPath returns the path of a sample mail in examples/mail.
func mailPath(name string) string { return filepath.Join(examplesMail, name+".eml") }

// exampleMailCount is the number of example mails (all parseable).
func exampleMailCount(t *testing.T) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(examplesMail, "*.eml"))
	if err != nil || len(files) < 30 {
		t.Fatalf("example mail: %d files, %v", len(files), err)
	}
	return len(files)
}

func TestUsageAndDispatch(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantOut    string // substring of stdout
		wantErr    string // substring of stderr
		wantNoOut  bool
		wantNoErrs bool
	}{
		{name: "no args", args: nil, wantCode: 2, wantErr: "Usage:", wantNoOut: true},
		{name: "help", args: []string{"help"}, wantCode: 0, wantOut: "triage check RULES", wantNoErrs: true},
		{name: "help lists explain", args: []string{"help"}, wantCode: 0, wantOut: "explain --rules RULES [--json] MAIL..."},
		{name: "help for a command", args: []string{"help", "replay"}, wantCode: 0, wantErr: "usage: triage replay"},
		{name: "help for unknown command", args: []string{"help", "nope"}, wantCode: 2, wantErr: `unknown command "nope"`},
		{name: "unknown command", args: []string{"frobnicate"}, wantCode: 2, wantErr: `unknown command "frobnicate"`},
		{name: "check without RULES", args: []string{"check"}, wantCode: 2, wantErr: "want exactly one RULES"},
		{name: "check with two RULES", args: []string{"check", "a", "b"}, wantCode: 2, wantErr: "want exactly one RULES"},
		{name: "check -h", args: []string{"check", "-h"}, wantCode: 0, wantErr: "usage: triage check RULES"},
		{name: "check unknown flag", args: []string{"check", "--frob", "x"}, wantCode: 2, wantErr: "flag provided but not defined"},
		{name: "test without RULES", args: []string{"test"}, wantCode: 2, wantErr: "want a RULES"},
		{name: "explain without --rules", args: []string{"explain", "x.eml"}, wantCode: 2, wantErr: "--rules is required"},
		{name: "explain without mail", args: []string{"explain", "--rules", examplesRules}, wantCode: 2, wantErr: "want at least one MAIL"},
		{name: "replay without --rules", args: []string{"replay", "dir"}, wantCode: 2, wantErr: "--rules is required"},
		{name: "replay two sources", args: []string{"replay", "--rules", examplesRules, "a", "b"}, wantCode: 2, wantErr: "exactly one SOURCE"},
		{name: "version", args: []string{"version"}, wantCode: 0, wantOut: "triage ", wantNoErrs: true},
		{name: "version with argument", args: []string{"version", "x"}, wantCode: 2, wantErr: "takes no arguments"},
		{name: "run with argument", args: []string{"run", "x"}, wantCode: 2, wantErr: "takes no positional arguments"},
		{name: "demo with argument", args: []string{"demo", "x"}, wantCode: 2, wantErr: "takes no positional arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runMain(t, "", tc.args...)
			if r.code != tc.wantCode {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.wantCode, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, tc.wantOut) {
				t.Errorf("stdout %q does not contain %q", r.stdout, tc.wantOut)
			}
			if !strings.Contains(r.stderr, tc.wantErr) {
				t.Errorf("stderr %q does not contain %q", r.stderr, tc.wantErr)
			}
			if tc.wantNoOut && r.stdout != "" {
				t.Errorf("unexpected stdout %q", r.stdout)
			}
			if tc.wantNoErrs && r.stderr != "" {
				t.Errorf("unexpected stderr %q", r.stderr)
			}
		})
	}
}

func TestRunAcceptsAddedCommands(t *testing.T) {
	cmds := Commands()
	called := ""
	cmds["run"] = Command{Usage: "run --config FILE", Summary: "the daemon", Run: func(_ context.Context, s Streams, args []string) int {
		called = strings.Join(args, " ")
		return 0
	}}
	var out, errOut bytes.Buffer
	if code := Run(context.Background(), cmds, []string{"run", "--config", "x.yaml"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if called != "--config x.yaml" {
		t.Errorf("run got args %q", called)
	}
	out.Reset()
	Run(context.Background(), cmds, []string{"help"}, nil, &out, &errOut)
	if !strings.Contains(out.String(), "triage run --config FILE") {
		t.Errorf("usage does not list the added command:\n%s", out.String())
	}
}

func TestParseArgsInterspersed(t *testing.T) {
	tests := []struct {
		args     []string
		wantPos  []string
		wantJSON bool
		wantRule string
	}{
		{args: []string{"a.eml", "--json", "--rules", "r.yaml", "b.eml"}, wantPos: []string{"a.eml", "b.eml"}, wantJSON: true, wantRule: "r.yaml"},
		{args: []string{"--rules=r.yaml", "-", "-json"}, wantPos: []string{"-"}, wantJSON: true, wantRule: "r.yaml"},
		{args: []string{"--rules", "r.yaml", "--", "--json", "x"}, wantPos: []string{"--json", "x"}, wantRule: "r.yaml"},
		{args: []string{"a", "b"}, wantPos: []string{"a", "b"}},
		{args: nil, wantPos: nil},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			jsonFlag := fs.Bool("json", false, "")
			rulesFlag := fs.String("rules", "", "")
			pos, err := parseArgs(fs, tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(pos, "|") != strings.Join(tc.wantPos, "|") {
				t.Errorf("positional %q, want %q", pos, tc.wantPos)
			}
			if *jsonFlag != tc.wantJSON || *rulesFlag != tc.wantRule {
				t.Errorf("json=%v rules=%q, want %v %q", *jsonFlag, *rulesFlag, tc.wantJSON, tc.wantRule)
			}
		})
	}
}

func TestPrintableEscapesControls(t *testing.T) {
	got := printable("ok\x1b[31mred\r\nnext\u202etxt.exe\tend")
	if strings.ContainsAny(got, "\x1b\r\n\u202e") {
		t.Fatalf("control characters survive: %q", got)
	}
	if want := `ok\u001b[31mred\u000d\u000anext\u202etxt.exe end`; got != want {
		t.Errorf("printable = %q, want %q", got, want)
	}
}

const validRules = `version: 1
defaults: {tier: L1, priority: P3, queue: helpdesk, runbook: kb/general}
rules:
  - name: vpn
    description: VPN problems
    when: containsAnyWord(text, ["vpn"])
    set: {tier: L2, queue: systems}
  - group: misc
    first_match: true
    rules:
      - name: printer
        when: containsAny(text, ["printer"])
tests:
  - name: vpn goes to L2
    message: {from: a@example.com, subject: "VPN down", body: "help"}
    expect: {tier: L2, queue: systems, matched: [vpn]}
`

// brokenRules has one mistake of each kind on known lines.
const brokenRules = `version: 1
defaults: {tier: L1, priority: P3, queue: helpdesk}
rules:
  - name: first
    when: subject contains "x"
    colour: red
  - name: broken
    when: subject contains (
  - name: not-bool
    when: subject + "!"
  - name: first
    when: size > 10
  - name: bad-tier
    when: size > 0
    set: {tier: L9}
`

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	valid := writeFile(t, filepath.Join(dir, "valid.yaml"), validRules)
	broken := writeFile(t, filepath.Join(dir, "broken.yaml"), brokenRules)
	tests := []struct {
		name      string
		path      string
		wantCode  int
		wantOut   *regexp.Regexp
		wantErrs  []*regexp.Regexp // each must match a line of stderr
		wantQuiet bool             // stderr must be empty (no warnings)
	}{
		{
			name: "valid file", path: valid, wantCode: 0,
			wantOut: regexp.MustCompile(`^ok: 2 rules, version [0-9a-f]+\n$`), wantQuiet: true,
		},
		{
			name: "examples rules load without warnings", path: examplesRules, wantCode: 0,
			wantOut: regexp.MustCompile(`^ok: \d\d rules, version [0-9a-f]+\n$`), wantQuiet: true,
		},
		{
			name: "every mistake with file:line:col", path: broken, wantCode: 1,
			wantOut: regexp.MustCompile(`^$`),
			wantErrs: []*regexp.Regexp{
				regexp.MustCompile(`broken\.yaml:6:\d+: .*unknown key "colour"`),
				regexp.MustCompile(`broken\.yaml:8:\d+: when: .*`),
				regexp.MustCompile(`broken\.yaml:10:\d+: when: .*bool`),
				regexp.MustCompile(`broken\.yaml:11:\d+: .*"first".*duplicate`),
				regexp.MustCompile(`broken\.yaml:15:\d+: .*tier "L9"`),
			},
		},
		{
			name: "missing file", path: filepath.Join(dir, "nope.yaml"), wantCode: 1,
			wantOut:  regexp.MustCompile(`^$`),
			wantErrs: []*regexp.Regexp{regexp.MustCompile(`nope\.yaml:1:1: `)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runMain(t, "", "check", tc.path)
			if r.code != tc.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.wantCode, r.stdout, r.stderr)
			}
			if !tc.wantOut.MatchString(r.stdout) {
				t.Errorf("stdout %q does not match %s", r.stdout, tc.wantOut)
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			for _, re := range tc.wantErrs {
				found := false
				for _, l := range lines {
					if re.MatchString(l) {
						found = true
					}
				}
				if !found {
					t.Errorf("no stderr line matches %s\nstderr:\n%s", re, r.stderr)
				}
			}
			if tc.wantErrs != nil && len(lines) != len(tc.wantErrs) {
				t.Errorf("stderr has %d lines, want %d:\n%s", len(lines), len(tc.wantErrs), r.stderr)
			}
			if tc.wantQuiet && r.stderr != "" {
				t.Errorf("stderr not empty:\n%s", r.stderr)
			}
		})
	}
}

// copyExamples copies examples/rules.yaml and its mail into dir so a test
// can edit the rules without touching the repository.
func copyExamples(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(examplesMail)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if filepath.Ext(e.Name()) == ".eml" {
			writeFile(t, filepath.Join(dir, "mail", e.Name()), string(readFile(t, filepath.Join(examplesMail, e.Name()))))
		}
	}
	return writeFile(t, filepath.Join(dir, "rules.yaml"), string(readFile(t, examplesRules)))
}

func TestTestCommand(t *testing.T) {
	t.Run("examples pass", func(t *testing.T) {
		r := runMain(t, "", "test", examplesRules, "../../examples/tests")
		if r.code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		m := regexp.MustCompile(`(?m)^(\d+) passed, 0 failed$`).FindStringSubmatch(r.stdout)
		if m == nil {
			t.Fatalf("summary missing:\n%s", r.stdout)
		}
		if n, _ := strconv.Atoi(m[1]); n < 40 {
			t.Errorf("only %d tests ran, the examples hold more than 40", n)
		}
		if r.stderr != "" {
			t.Errorf("stderr not empty:\n%s", r.stderr)
		}
		if strings.Contains(r.stdout, "FAIL") {
			t.Errorf("FAIL line on success:\n%s", r.stdout)
		}
	})

	t.Run("wrong expectation fails with file:line", func(t *testing.T) {
		dir := t.TempDir()
		rulesFile := copyExamples(t, dir)
		src := string(readFile(t, rulesFile))
		const from = "expect: {tier: L2, priority: P3, queue: systems, runbook: kb/vpn, tags: [network], matched: [vpn]}"
		if !strings.Contains(src, from) {
			t.Fatal("examples/rules.yaml no longer holds the VPN test this test edits")
		}
		line := strings.Count(src[:strings.Index(src, from)], "\n") // the test item starts two lines above
		src = strings.Replace(src, from, strings.Replace(from, "tier: L2", "tier: L3", 1), 1)
		writeFile(t, rulesFile, src)

		r := runMain(t, "", "test", rulesFile)
		if r.code != 1 {
			t.Fatalf("exit %d, want 1\nstdout:\n%s", r.code, r.stdout)
		}
		want := regexp.MustCompile(`(?m)^FAIL .*rules\.yaml:` + itoa(line-1) + `: VPN drops go to L2 systems: tier: got L2, want L3$`)
		if !want.MatchString(r.stdout) {
			t.Errorf("no line matching %s in:\n%s", want, r.stdout)
		}
		if !regexp.MustCompile(`(?m)^\d+ passed, 1 failed$`).MatchString(r.stdout) {
			t.Errorf("summary wrong:\n%s", r.stdout)
		}
	})

	t.Run("coverage lists the rules no test makes match", func(t *testing.T) {
		rulesFile := writeFile(t, filepath.Join(t.TempDir(), "rules.yaml"), validRules)
		r := runMain(t, "", "test", "--coverage", rulesFile)
		if r.code != 0 {
			t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		want := "1 passed, 0 failed\ncoverage: 1 of 2 rules matched by a test\nnot covered " + rulesFile + ":11: printer\n"
		if r.stdout != want {
			t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
		}
	})

	t.Run("extra test file", func(t *testing.T) {
		dir := t.TempDir()
		rulesFile := writeFile(t, filepath.Join(dir, "rules.yaml"), validRules)
		extra := writeFile(t, filepath.Join(dir, "more.yaml"), `tests:
  - name: printer is in the misc group
    message: {from: a@example.com, subject: "printer", body: "jam"}
    expect: {tier: L1, matched: [printer]}
  - name: wrong on purpose
    message: {from: a@example.com, subject: "printer", body: "jam"}
    expect: {tier: L2}
`)
		r := runMain(t, "", "test", "-v", rulesFile, extra)
		if r.code != 1 {
			t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{
			"ok   " + rulesFile + ":14: vpn goes to L2",
			"ok   " + extra + ":2: printer is in the misc group",
			"FAIL " + extra + ":5: wrong on purpose: tier: got L1, want L2",
			"2 passed, 1 failed",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
			}
		}
	})

	t.Run("load error", func(t *testing.T) {
		broken := writeFile(t, filepath.Join(t.TempDir(), "broken.yaml"), brokenRules)
		r := runMain(t, "", "test", broken)
		if r.code != 1 || !strings.Contains(r.stderr, "broken.yaml:6:") {
			t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }

// ticketLine is the part of the Ticket JSON these tests check.
type ticketLine struct {
	Subject   string         `json:"subject"`
	Encrypted bool           `json:"encrypted"`
	Invite    *ticket.Invite `json:"invite"`
	Class     struct {
		Tier     string            `json:"tier"`
		Priority string            `json:"priority"`
		Queue    string            `json:"queue"`
		Action   string            `json:"action"`
		Fields   map[string]string `json:"fields"`
		Matched  []struct {
			Rule string `json:"rule"`
		} `json:"matched"`
	} `json:"classification"`
}

func decodeTickets(t *testing.T, out string) []ticketLine {
	t.Helper()
	var tickets []ticketLine
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		var tk ticketLine
		if err := json.Unmarshal([]byte(line), &tk); err != nil {
			t.Fatalf("not one JSON document per line: %v\n%s", err, line)
		}
		tickets = append(tickets, tk)
	}
	return tickets
}

func TestExplainJSON(t *testing.T) {
	mails := []struct {
		name, tier, priority, queue, action string
	}{
		{"password-reset-en", "L1", "P3", "helpdesk", "forward"},
		{"vpn-ru-koi8r", "L2", "P3", "systems", "forward"},
		{"ransomware-note", "L3", "P1", "security", "forward"},
		{"vendor-defect-0x80070005", "L3", "P2", "engineering", "forward"},
		{"bounce-dsn", "L1", "P3", "helpdesk", "drop"},
	}
	// Flags after the mail paths, as people type them.
	args := []string{"explain"}
	for _, m := range mails {
		args = append(args, mailPath(m.name))
	}
	args = append(args, "--json", "--rules", examplesRules)
	r := runMain(t, "", args...)
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	tickets := decodeTickets(t, r.stdout)
	if len(tickets) != len(mails) {
		t.Fatalf("%d tickets, want %d:\n%s", len(tickets), len(mails), r.stdout)
	}
	for i, m := range mails {
		c := tickets[i].Class
		if c.Tier != m.tier || c.Priority != m.priority || c.Queue != m.queue || c.Action != m.action {
			t.Errorf("%s: got %s %s %s %s, want %s %s %s %s", m.name, c.Tier, c.Priority, c.Queue, c.Action,
				m.tier, m.priority, m.queue, m.action)
		}
	}
	if got := tickets[3].Class.Fields["error_code"]; got != "0x80070005" {
		t.Errorf("vendor defect error_code = %q", got)
	}
}

// TestExplainFormats: explain prints what the decoder read from a bounce,
// encrypted mail, an invitation, a forwarded message, winmail.dat and an
// inline logo, and --json carries the same fields.
func TestExplainFormats(t *testing.T) {
	tests := []struct{ mail, line string }{
		{"bounce-unknown-recipient-exchange", "bounce:    former.employee@example.com failed 5.1.10  smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"},
		{"encrypted-pgp", "security:  encrypted (body unreadable)"},
		{"meeting-room-invite", `invite:    REQUEST "Projector in room 4.12 shows no picture" Tue, 01 Dec 2026 10:00:00 +0100, organizer Facility Management <facility@example.com>, location "Raum 4.12"`},
		{"phishing-forwarded-inline-outlook", `forwarded: inline from IT Service Desk <it-desk@example-mailbox.info>, subject "Action required: your mailbox quota", date Friday, November 27, 2026 7:41 AM`},
		{"outlook-winmail", "attached:  outlook-crash.log (text/plain, 1460 bytes)"},
		{"password-reset-signature-logo", "attached:  logo.png (image/png, 4000 bytes, inline)"},
	}
	for _, tt := range tests {
		t.Run(tt.mail, func(t *testing.T) {
			r := runMain(t, "", "explain", "--rules", examplesRules, mailPath(tt.mail))
			if r.code != 0 || !strings.Contains(r.stdout, tt.line+"\n") {
				t.Errorf("exit %d; stdout lacks %q:\n%s", r.code, tt.line, r.stdout)
			}
		})
	}
	r := runMain(t, "", "explain", "--json", "--rules", examplesRules, mailPath("encrypted-pgp"), mailPath("meeting-room-invite"))
	tickets := decodeTickets(t, r.stdout)
	if len(tickets) != 2 || !tickets[0].Encrypted || tickets[1].Invite == nil || tickets[1].Invite.Method != "REQUEST" {
		t.Errorf("tickets lack encrypted / invite: %s", r.stdout)
	}
}

func TestExplainStdinAndUnparseable(t *testing.T) {
	dir := t.TempDir()
	// A message with no header section at all cannot become a ticket.
	bad := writeFile(t, filepath.Join(dir, "bad.eml"), "")
	vpn := string(readFile(t, mailPath("vpn-down")))
	r := runMain(t, vpn, "explain", "--rules", examplesRules, "--json", bad, "-", filepath.Join(dir, "missing.eml"))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	tickets := decodeTickets(t, r.stdout)
	if len(tickets) != 1 || tickets[0].Class.Queue != "systems" {
		t.Errorf("want the stdin VPN mail classified after the bad one, got %+v", tickets)
	}
	for _, want := range []string{"bad.eml", "missing.eml"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not name %s:\n%s", want, r.stderr)
		}
	}
}

func TestExplainMeta(t *testing.T) {
	r := runMain(t, "", "explain", "--json", "--account", "helpdesk-de", "--mailbox", "Support", "--rules", examplesRules, mailPath("dns-failure"))
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	var tk struct {
		Source struct{ Account, Mailbox string } `json:"source"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &tk); err != nil {
		t.Fatal(err)
	}
	if tk.Source.Account != "helpdesk-de" || tk.Source.Mailbox != "Support" {
		t.Errorf("source = %+v, want helpdesk-de/Support", tk.Source)
	}
}

func TestExplainHuman(t *testing.T) {
	r := runMain(t, "", "explain", "--rules", examplesRules, mailPath("after-hours-outage"), mailPath("auto-reply"))
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^subject: +ERP not reachable for all users - night shift blocked$`),
		regexp.MustCompile(`(?m)^from: +Night Shift Lead <shift\.lead@example\.com>$`),
		regexp.MustCompile(`(?m)^date: +Tue, 24 Nov 2026 23:30:00 \+0100  \(calendar: Tue 23 h, outside business hours\)$`),
		regexp.MustCompile(`(?m)^flags: +auto_reply=false bounce=false list=false duplicate=false ticket_ref=-$`),
		regexp.MustCompile(`(?m)^decision: +L3 P1 +queue=engineering +runbook=kb/major-incident +action=forward$`),
		regexp.MustCompile(`(?m)^tags: +outage, on-call$`),
		regexp.MustCompile(`(?m)^sla: +response due .+, resolve due .+$`),
		regexp.MustCompile(`(?m)^  ✗ bounces$`),
		regexp.MustCompile(`(?m)^  \[group tier\]$`),
		regexp.MustCompile(`(?m)^    ✓ outage +A service down`),
		regexp.MustCompile(`(?m)^    - vendor-defect +skipped: `),
		regexp.MustCompile(`(?m)^  ✓ after-hours-on-call`),
		// The auto-reply: flags decoded, evaluation stops at the drop rule.
		regexp.MustCompile(`(?m)^flags: +auto_reply=true .*ticket_ref=48190$`),
		regexp.MustCompile(`(?m)^decision: +L1 P3 .*action=drop +folder=Triage/Auto$`),
		regexp.MustCompile(`(?m)^  - vip +skipped: `),
	} {
		if !want.MatchString(r.stdout) {
			t.Errorf("output lacks a line matching %s", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", r.stdout)
	}
}

// replayMails are the messages every replay test feeds in, with the
// expected report: 6 messages, 1 unparseable, 5 classified, 1 dropped.
var replayMails = []string{"password-reset-en", "printer-jam", "vpn-down", "ransomware-note", "auto-reply"}

const replayGarbage = "this is not a mail\x00\x01"

func checkReplayJSON(t *testing.T, out string, wantFormat string) {
	t.Helper()
	var rep replayReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report is not one JSON object: %v\n%s", err, out)
	}
	if rep.Format != wantFormat {
		t.Errorf("format %q, want %q", rep.Format, wantFormat)
	}
	if rep.Messages != 6 || rep.Unparseable != 1 || rep.Classified != 5 || rep.Forwarded != 4 || rep.Dropped != 1 {
		t.Errorf("counts: messages %d unparseable %d classified %d forwarded %d dropped %d; want 6 1 5 4 1",
			rep.Messages, rep.Unparseable, rep.Classified, rep.Forwarded, rep.Dropped)
	}
	if rep.L1Share != 50 {
		t.Errorf("L1 share %.1f, want 50 (2 of 4 tickets)", rep.L1Share)
	}
	wantBuckets := func(what string, got []bucket, want []bucket) {
		t.Helper()
		if len(got) != len(want) {
			t.Errorf("%s: got %+v, want %+v", what, got, want)
			return
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s: got %+v, want %+v", what, got, want)
				return
			}
		}
	}
	wantBuckets("tier", rep.Tier, []bucket{{"L1", 2, 50}, {"L2", 1, 25}, {"L3", 1, 25}})
	wantBuckets("queue", rep.Queue, []bucket{{"helpdesk", 2, 50}, {"security", 1, 25}, {"systems", 1, 25}})
	wantBuckets("priority", rep.Priority, []bucket{{"P3", 3, 75}, {"P1", 1, 25}})
	wantBuckets("action", rep.Action, []bucket{{"forward", 4, 80}, {"drop", 1, 20}})
	hits := map[string]int{}
	for _, b := range rep.Rules {
		hits[b.Name] = b.Count
	}
	for rule, n := range map[string]int{"password-reset": 1, "printer": 1, "vpn": 1, "security-incident": 1, "auto-replies": 1, "dns": 0} {
		if got, ok := hits[rule]; !ok || got != n {
			t.Errorf("rule %s: %d hits (listed %v), want %d", rule, got, ok, n)
		}
	}
	if len(rep.Errors) != 1 {
		t.Errorf("errors %+v, want the one unparseable message", rep.Errors)
	}
}

// writeAlternating writes the replay mails into dir, every other one in
// the folder odd, the rest in even, each named after the mail plus suffix.
func writeAlternating(t *testing.T, dir string, raw map[string][]byte, even, odd, suffix string) {
	t.Helper()
	for i, m := range replayMails {
		sub := even
		if i%2 == 1 {
			sub = odd
		}
		writeFile(t, filepath.Join(dir, sub, m+suffix), string(raw[m]))
	}
}

func TestReplay(t *testing.T) {
	raw := map[string][]byte{}
	for _, m := range replayMails {
		raw[m] = readFile(t, mailPath(m))
	}

	t.Run("maildir", func(t *testing.T) {
		dir := t.TempDir()
		writeAlternating(t, dir, raw, "cur", "new", ":2,S")
		writeFile(t, filepath.Join(dir, "new", "garbage"), replayGarbage)
		writeFile(t, filepath.Join(dir, "cur", ".hidden"), "not a message")
		if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "tmp", "partial"), "being delivered")
		r := runMain(t, "", "replay", dir, "--rules", examplesRules, "--json")
		if r.code != 0 {
			t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
		}
		checkReplayJSON(t, r.stdout, formatMaildir)
	})

	t.Run("mbox", func(t *testing.T) {
		msgs := [][]byte{}
		for _, m := range replayMails {
			msgs = append(msgs, raw[m])
		}
		msgs = append(msgs, []byte(replayGarbage+"\n"))
		var buf bytes.Buffer
		if err := writeMbox(&buf, msgs); err != nil {
			t.Fatal(err)
		}
		path := writeFile(t, filepath.Join(t.TempDir(), "archive.mbox"), buf.String())
		r := runMain(t, "", "replay", "--json", "--rules", examplesRules, path)
		if r.code != 0 {
			t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
		}
		checkReplayJSON(t, r.stdout, formatMbox)
	})

	t.Run("folder of eml", func(t *testing.T) {
		dir := t.TempDir()
		writeAlternating(t, dir, raw, ".", "nested", ".eml")
		writeFile(t, filepath.Join(dir, "garbage.EML"), replayGarbage)
		writeFile(t, filepath.Join(dir, "notes.txt"), "not mail, ignored")
		r := runMain(t, "", "replay", "--rules", examplesRules, "--json", dir)
		if r.code != 0 {
			t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
		}
		checkReplayJSON(t, r.stdout, formatEML)

		// The text report carries the same figures.
		r = runMain(t, "", "replay", "--rules", examplesRules, dir)
		if r.code != 0 {
			t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
		}
		for _, want := range []*regexp.Regexp{
			regexp.MustCompile(`(?m)^messages +6$`),
			regexp.MustCompile(`(?m)^unparseable +1 +16\.7%$`),
			regexp.MustCompile(`(?m)^  dropped +1 +20\.0%$`),
			regexp.MustCompile(`(?m)^L1 share of tickets: 50\.0%`),
			regexp.MustCompile(`(?m)^  L2 +1 +25\.0%$`),
			regexp.MustCompile(`(?m)^  security-incident +1 +20\.0%$`),
			regexp.MustCompile(`(?m)^  .*garbage\.EML: `),
		} {
			if !want.MatchString(r.stdout) {
				t.Errorf("text report lacks a line matching %s\n%s", want, r.stdout)
			}
		}
	})

	t.Run("missing source", func(t *testing.T) {
		r := runMain(t, "", "replay", "--rules", examplesRules, filepath.Join(t.TempDir(), "nope"))
		if r.code != 1 || !strings.Contains(r.stderr, "nope") {
			t.Errorf("exit %d stderr %q", r.code, r.stderr)
		}
	})

	t.Run("file that is not an mbox", func(t *testing.T) {
		r := runMain(t, "", "replay", "--rules", examplesRules, mailPath("vpn-down"))
		if r.code != 1 || !strings.Contains(r.stderr, "not an mbox") {
			t.Errorf("exit %d stderr %q", r.code, r.stderr)
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var out, errOut bytes.Buffer
		code := Main(ctx, []string{"replay", "--rules", examplesRules, examplesMail}, nil, &out, &errOut)
		if code != 1 || !strings.Contains(errOut.String(), "canceled") {
			t.Errorf("exit %d stderr %q", code, errOut.String())
		}
	})
}

// TestReplayAgainst: a copy of the example rules that moves VPN to L1,
// replayed against the originals, lists exactly the VPN mails.
func TestReplayAgainst(t *testing.T) {
	edited := copyExamples(t, t.TempDir())
	src := string(readFile(t, edited))
	const vpn = "set: {tier: L2, queue: systems, runbook: kb/vpn}"
	if strings.Count(src, vpn) != 1 {
		t.Fatal("examples/rules.yaml no longer holds the VPN rule this test edits")
	}
	// The rules' own VPN tests would refuse the edit: they go with it.
	src = strings.Replace(src, vpn, strings.Replace(vpn, "L2", "L1", 1), 1)
	src = strings.ReplaceAll(src, "expect: {tier: L2, priority: P3, queue: systems, runbook: kb/vpn", "expect: {tier: L1, priority: P3, queue: systems, runbook: kb/vpn")
	writeFile(t, edited, src)
	want := []string{"vpn-ru-koi8r.eml", "vpn-down.eml"} // by Date: 07:55Z, then 08:40Z

	t.Run("text", func(t *testing.T) {
		r := runMain(t, "", "replay", "--rules", edited, "--against", examplesRules, examplesMail)
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		classified := fmt.Sprintf(": 2 of %d classified messages", exampleMailCount(t))
		for _, line := range []string{"changes against rules version ", classified, "  tier     L2→L1      2\n",
			`2026-11-24T10:55:00+03:00  ivan.petrov@example.ru  "Не работает VPN из дома"  tier L2→L1`,
			`2026-11-24T09:40:00+01:00  hannah.lee@example.com  "VPN keeps disconnecting when working from home"  tier L2→L1`} {
			if !strings.Contains(r.stdout, line) {
				t.Errorf("stdout lacks %q:\n%s", line, r.stdout)
			}
		}
		if i, j := strings.Index(r.stdout, want[0]), strings.Index(r.stdout, want[1]); i < 0 || j < i {
			t.Errorf("changed messages not oldest first:\n%s", r.stdout)
		}
	})

	t.Run("json", func(t *testing.T) {
		r := runMain(t, "", "replay", "--json", "--rules", edited, "--against", examplesRules, examplesMail)
		var rep struct {
			Transitions []transition `json:"transitions"`
			Changes     []change     `json:"changes"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 0 {
			t.Fatalf("exit %d, %v\n%s", r.code, err, r.stdout)
		}
		if len(rep.Transitions) != 1 || rep.Transitions[0] != (transition{Field: "tier", From: "L2", To: "L1", Count: 2}) {
			t.Errorf("transitions %+v", rep.Transitions)
		}
		if len(rep.Changes) != 2 {
			t.Fatalf("changes %+v", rep.Changes)
		}
		for i, c := range rep.Changes {
			wantOld := replaydiff.Outcome{Tier: "L2", Priority: "P3", Queue: "systems", Action: "forward", Runbook: "kb/vpn"}
			wantNew := wantOld
			wantNew.Tier = "L1"
			if filepath.Base(c.Message) != want[i] || c.Old != wantOld || c.New != wantNew {
				t.Errorf("change %d: %+v", i, c)
			}
		}
	})

	t.Run("fail-on-change", func(t *testing.T) {
		if r := runMain(t, "", "replay", "--fail-on-change", "--rules", edited, "--against", examplesRules, examplesMail); r.code != 1 {
			t.Errorf("with changes: exit %d, want 1", r.code)
		}
		r := runMain(t, "", "replay", "--json", "--fail-on-change", "--rules", examplesRules, "--against", examplesRules, examplesMail)
		if r.code != 0 || !strings.Contains(r.stdout, `"changes":[]`) {
			t.Errorf("same rules: exit %d, want 0 and an empty changes array\n%s", r.code, r.stdout)
		}
		if r := runMain(t, "", "replay", "--fail-on-change", "--rules", examplesRules, examplesMail); r.code != 2 {
			t.Errorf("--fail-on-change without --against: exit %d, want 2", r.code)
		}
	})
}

// TestReplayTickets: one ticket document per message, oldest first, with
// received_at from the Date header.
func TestReplayTickets(t *testing.T) {
	out := filepath.Join(t.TempDir(), "tickets.jsonl")
	r := runMain(t, "", "replay", "--rules", examplesRules, "--tickets", out, examplesMail)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(string(readFile(t, out))), "\n")
	if n := exampleMailCount(t); len(lines) != n {
		t.Fatalf("%d tickets, want %d (one per parseable message)", len(lines), n)
	}
	var prev time.Time
	for i, l := range lines {
		var tk ticket.Ticket
		if err := json.Unmarshal([]byte(l), &tk); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if tk.ID == "" || tk.Class.RulesVersion == "" || tk.Class.Tier == "" {
			t.Errorf("line %d: incomplete ticket %s", i+1, l)
		}
		if tk.ReceivedAt.Before(prev) {
			t.Errorf("line %d: received_at %v before the previous %v", i+1, tk.ReceivedAt, prev)
		}
		prev = tk.ReceivedAt
	}
}

// TestCheckConfigAllErrors: five independent mistakes, five errors, each
// at its place; a bad duration no longer hides the rest.
func TestCheckConfigAllErrors(t *testing.T) {
	dir := t.TempDir()
	copyExamples(t, dir)
	cfg := writeFile(t, filepath.Join(dir, "triage.yaml"), `rules: rules.yaml
dedupe_window: 7 days
accounts:
  - name: Help Desk
    addr: imap.example.com:993
    tls: sometimes
    username: helpdesk@example.com
    password_env: TRIAGE_IMAP_PASSWORD
queues:
  helpdesk: {type: file, path: t.jsonl, colour: blue}
http: {listen: "not-an-address"}
state_dir: state
`)
	r := runMain(t, "", "check", "--config", cfg)
	want := []string{
		cfg + `:2:16: invalid duration "7 days" (use e.g. 30s, 15m, 4h, 3d, 1d12h)`,
		cfg + `:4:5: account name "Help Desk": want letters, digits, '.', '_' or '-'`,
		cfg + `:6:5: tls "sometimes": want implicit, starttls or none`,
		cfg + `:10:41: unknown key "colour"`,
		cfg + `:11:8: http.listen "not-an-address": want host:port`,
	}
	if r.code != 1 || r.stderr != strings.Join(want, "\n")+"\n" {
		t.Errorf("exit %d, stderr:\n%s\nwant:\n%s", r.code, r.stderr, strings.Join(want, "\n"))
	}

	good := writeFile(t, filepath.Join(dir, "good.yaml"), "rules: rules.yaml\naccounts:\n  - {name: h, addr: 127.0.0.1:143, tls: none, username: u, password_env: P}\nqueues:\n"+
		"  helpdesk: {type: file, path: a.jsonl}\n  systems: {type: file, path: b.jsonl}\n  security: {type: file, path: c.jsonl}\n  engineering: {type: file, path: d.jsonl}\n  default: {type: file, path: e.jsonl}\nstate_dir: state\n")
	r = runMain(t, "", "check", "--config", good)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "ok: config "+good+": 1 accounts, 5 queues; ") {
		t.Errorf("good config: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}
