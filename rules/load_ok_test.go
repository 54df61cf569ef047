package rules

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/triage-dev/triage/internal/fileerr"
)

func mustLoad(t *testing.T, src string) *Set {
	t.Helper()
	s, err := LoadBytes("r.yaml", []byte(src))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return s
}

func TestLoadTypical(t *testing.T) {
	s, err := Load(filepath.Join("testdata", "typical.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Warnings) != 0 {
		t.Errorf("warnings: %v", s.Warnings)
	}
	if want := (Decision{Tier: "L1", Priority: "P3", Queue: "helpdesk", Runbook: "kb/general-triage", Action: "forward"}); !reflect.DeepEqual(s.Defaults, want) {
		t.Errorf("defaults = %+v", s.Defaults)
	}
	if got := s.SLA["L3"]; got != (SLATarget{Response: time.Hour, Resolve: 72 * time.Hour}) {
		t.Errorf("sla L3 = %+v", got)
	}
	if len(s.Threading.Subject) != 1 || len(s.Threading.MessageID) != 1 {
		t.Errorf("threading = %+v", s.Threading)
	}
	if got, want := s.Queues(), []string{"engineering", "helpdesk", "security", "systems", "updates"}; !reflect.DeepEqual(got, want) {
		t.Errorf("queues = %v, want %v", got, want)
	}
	if len(s.Version) != 16 {
		t.Errorf("version %q", s.Version)
	}
	if len(s.Tests) != 6 || s.Tests[0].Name != "phishing report goes to L3" || s.Tests[0].Line == 0 {
		t.Errorf("tests = %+v", s.Tests)
	}
	infos := s.Rules()
	var names []string
	for _, r := range infos {
		names = append(names, r.Name)
	}
	if names[0] != "auto-replies" || names[6] != "tier" || !infos[6].IsGroup || infos[7].Group != "tier" {
		t.Errorf("rules = %v", names)
	}
	sec := infos[3]
	if sec.Name != "security-incident" || sec.Description == "" || sec.Line != 33 || sec.When != `containsAny(subject + " " + body, security_words)` || !sec.Stop || sec.Tier != "L3" {
		t.Errorf("security rule info = %+v", sec)
	}
}

func TestLoadKeys(t *testing.T) {
	s := mustLoad(t, `version: 1
tiers: [T1, T2]
priorities: [low, high]
defaults: {tier: T1, priority: low, queue: q, runbook: kb/x}
sla: {T2: {response: 90m, resolve: 1d12h}}
calendar: {timezone: Asia/Tokyo, business_hours: "Mon-Thu 09:00-17:00, Fri 09:00-12:00"}
threading: {subject: ['\[T(\d+)\]'], message_id: ['<t(\d+)@x>']}
lists: {words: [a, "b c", 42]}
rules:
  - name: r1
    description: one
    when: containsAny(subject, words)
    action: drop
    set: {tier: T2, priority: high, queue: q2, runbook: kb/y, folder: F}
    tags: [x, y, x]
    extract: {code: 'E(\d+)', whole: 'Z\d'}
    stop: false
`)
	if !reflect.DeepEqual(s.Tiers(), []string{"T1", "T2"}) || !reflect.DeepEqual(s.Priorities(), []string{"low", "high"}) {
		t.Errorf("declared sets %v %v", s.Tiers(), s.Priorities())
	}
	if s.SLA["T2"] != (SLATarget{Response: 90 * time.Minute, Resolve: 36 * time.Hour}) {
		t.Errorf("sla %+v", s.SLA)
	}
	if s.calendar.loc.String() != "Asia/Tokyo" || len(s.calendar.week[time.Friday]) != 1 || s.calendar.week[time.Friday][0] != (span{540, 720}) {
		t.Errorf("calendar %+v", s.calendar)
	}
	if got := s.Threading.Subject[0].String(); got != `\[T(\d+)\]` {
		t.Errorf("threading %s", got)
	}
	if !reflect.DeepEqual(s.Lists()["words"], []string{"a", "b c", "42"}) {
		t.Errorf("lists %v", s.Lists())
	}
	r := s.Rules()[0]
	want := RuleInfo{Name: "r1", Description: "one", File: "r.yaml", Line: 10, Col: 5, When: "containsAny(subject, words)",
		Action: "drop", Tier: "T2", Priority: "high", Queue: "q2", Runbook: "kb/y", Folder: "F", Tags: []string{"x", "y"},
		Extract: map[string]string{"code": `E(\d+)`, "whole": `Z\d`}}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("rule info\n got %+v\nwant %+v", r, want)
	}
	if got := s.Queues(); !reflect.DeepEqual(got, []string{"q", "q2"}) {
		t.Errorf("queues %v", got)
	}
}

func TestParseDays(t *testing.T) {
	for in, want := range map[string]time.Duration{"15m": 15 * time.Minute, "3d": 72 * time.Hour, "1d12h": 36 * time.Hour, "2h30m": 150 * time.Minute,
		"1d-1h": 23 * time.Hour, "1d+1h": 25 * time.Hour, " 2d ": 48 * time.Hour, "3650d": 3650 * 24 * time.Hour, "+90m": 90 * time.Minute} {
		if got, err := parseDays(in); err != nil || got != want {
			t.Errorf("parseDays(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "0d", "d", "x3d", "-1h", "3dd", "99999d", "0"} {
		if _, err := parseDays(in); err == nil {
			t.Errorf("parseDays(%q) accepted", in)
		}
	}
	// The loader's own messages survive the move to internal/duration.
	for in, want := range map[string]string{
		"15x":            `invalid duration "15x" (use 90m, 4h, 3d, 1d12h)`,
		" 1d1d ":         `invalid duration "1d1d" (use 90m, 4h, 3d, 1d12h)`,
		"0s":             "duration must be positive",
		"-0s":            "duration must be positive",
		"0d-1h":          "duration must be positive",
		"3651d":          `duration "3651d" is too long (at most 3650d)`,
		"3650d2562047h":  `duration "3650d2562047h" is too long (at most about 292 years)`,
		"99999999999ms0": `invalid duration "99999999999ms0" (use 90m, 4h, 3d, 1d12h)`,
	} {
		if _, err := parseDays(in); err == nil || err.Error() != want {
			t.Errorf("parseDays(%q) error %v, want %s", in, err, want)
		}
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadDirectoryMerge(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"10-base.yaml": "version: 1\ndefaults: {tier: L1, priority: P3, queue: helpdesk}\nlists: {words: [vpn]}\nrules:\n  - name: first\n    when: containsAny(subject, more)\n",
		"20-more.yml":  "version: 1\nlists: {more: [printer]}\nrules:\n  - name: second\n    when: containsAny(subject, words)\n    set: {queue: systems}\ntests:\n  - name: t\n    mail: mail/a.eml\n    expect: {matched: [first]}\n",
		"mail/a.eml":   "Subject: x\n\nbody\n",
		"notes.txt":    "ignored",
		".hidden.yaml": "garbage: [",
	})
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{filepath.Join(dir, "10-base.yaml"), filepath.Join(dir, "20-more.yml")}; !reflect.DeepEqual(s.Files, want) {
		t.Errorf("files %v", s.Files)
	}
	if got := s.Queues(); !reflect.DeepEqual(got, []string{"helpdesk", "systems"}) {
		t.Errorf("queues %v", got)
	}
	if len(s.Tests) != 1 || s.Tests[0].Mail != filepath.Join(dir, "mail", "a.eml") || s.Tests[0].File != filepath.Join(dir, "20-more.yml") {
		t.Errorf("tests %+v", s.Tests)
	}
	d := s.Evaluate(NewEvaluator(), &Env{Subject: "Printer jam"})
	if len(d.Matched) != 1 || d.Matched[0].Rule != "first" {
		t.Errorf("a rule of the first file reads a list of the second: %+v", d)
	}
	// The version depends on names and bytes, not on the directory.
	other := t.TempDir()
	writeFiles(t, other, map[string]string{
		"10-base.yaml": "version: 1\ndefaults: {tier: L1, priority: P3, queue: helpdesk}\nlists: {words: [vpn]}\nrules:\n  - name: first\n    when: containsAny(subject, more)\n",
		"20-more.yml":  "version: 1\nlists: {more: [printer]}\nrules:\n  - name: second\n    when: containsAny(subject, words)\n    set: {queue: systems}\ntests:\n  - name: t\n    mail: mail/a.eml\n    expect: {matched: [first]}\n",
		"mail/a.eml":   "Subject: x\n\nbody\n",
	})
	s2, err := Load(other)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Version != s.Version {
		t.Errorf("version differs for the same content: %s %s", s.Version, s2.Version)
	}
	writeFiles(t, other, map[string]string{"20-more.yml": "version: 1\nlists: {more: [printer, scanner]}\n"})
	if s3, err := Load(other); err != nil || s3.Version == s.Version {
		t.Errorf("version unchanged after an edit (%v)", err)
	}
}

func TestLoadDirectoryMergeErrors(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	writeFiles(t, dir, map[string]string{
		"a.yaml": "version: 1\ndefaults: {tier: L1, priority: P3, queue: q}\nsla: {L1: {response: 1h}}\nlists: {w: [x]}\nrules:\n  - name: r\n    when: true\n  - group: g\n    rules: []\n",
		"b.yaml": "version: 1\ndefaults: {tier: L2, priority: P3, queue: q}\nsla: {}\nlists: {w: [y]}\nrules:\n  - name: r\n    when: false\n  - group: g\n    rules: []\n",
	})
	_, err := Load(dir)
	var list fileerr.List
	if !errors.As(err, &list) {
		t.Fatalf("err = %v", err)
	}
	want := []string{
		b + `:2:1: defaults: may appear once across the rule files; first in ` + a + `:2`,
		b + `:3:1: sla: may appear once across the rule files; first in ` + a + `:3`,
		b + `:4:9: lists: duplicate list "w" (first at ` + a + `:4)`,
		b + `:6:5: rule "r": duplicate name (first at ` + a + `:6)`,
		b + `:8:12: group "g": duplicate name (first at ` + a + `:8)`,
	}
	var got []string
	for _, e := range list {
		got = append(got, e.Error())
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("errors\n got %q\nwant %q", got, want)
	}
}

func TestLoadPathErrors(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"readme.md": "x"})
	for _, p := range []string{filepath.Join(dir, "nope.yaml"), dir} {
		_, err := Load(p)
		var list fileerr.List
		if !errors.As(err, &list) || len(list) != 1 || list[0].Line != 1 || list[0].File != p {
			t.Errorf("Load(%s) = %v", p, err)
		}
	}
	if _, err := Load(dir); !strings.Contains(err.Error(), "no *.yaml or *.yml file") {
		t.Errorf("empty directory: %v", err)
	}
	if _, err := LoadFiles(nil); err == nil {
		t.Error("no files accepted")
	}
	big := make([]byte, maxFileSize+1)
	if _, err := LoadBytes("big.yaml", big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("big file: %v", err)
	}
}
