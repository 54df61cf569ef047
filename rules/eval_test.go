package rules

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/triage-dev/triage/ticket"
)

func names(d Decision) []string {
	out := []string{}
	for _, m := range d.Matched {
		out = append(out, m.Rule)
	}
	return out
}

const evalRules = head + `lists:
  vip: [ceo@example.com]
  words: [Printer, "Paper Jam"]
rules:
  - name: drop-auto
    when: auto_reply
    action: drop
    set: {folder: Auto}
    stop: true
  - name: printer
    description: printers
    when: containsAny(subject + " " + body, words)
    set: {tier: L1, runbook: kb/printer}
    tags: [printer, hw]
  - name: network
    when: containsAnyWord(text, ["vpn"])
    set: {tier: L2, queue: systems, runbook: kb/net}
    tags: [net, hw]
  - name: after-tier
    when: tier == "L2" and "network" in matched and "hw" in tags and queue == "systems" and runbook == "kb/net" and action == "forward"
    set: {priority: P2}
  - name: vip
    when: from.address in vip and priority in ["P3", "P4"]
    set: {priority: P1}
  - name: code
    when: body matches "0x[0-9a-f]+"
    extract: {code: "0x[0-9a-f]+", num: 'ticket (\d+)'}
  - name: boom
    when: attachments[5].size > 0
    set: {tier: L3}
  - name: stopper
    when: header("x-stop") == "yes"
    stop: true
  - group: g
    when: size > 100
    first_match: true
    rules:
      - name: g1
        when: size > 1000
        tags: [big]
      - name: g2
        when: size > 500
        tags: [medium]
      - group: inner
        rules:
          - name: g3
            when: true
            tags: [any]
  - group: h
    rules:
      - name: h1
        when: size > 100
        tags: [h1]
      - name: h2
        when: size > 100
        tags: [h2]
  - name: last
    when: true
`

func TestEvaluateSemantics(t *testing.T) {
	s := mustLoad(t, evalRules)
	tests := []struct {
		name    string
		env     Env
		tier    string
		prio    string
		queue   string
		runbook string
		action  string
		folder  string
		tags    []string
		fields  map[string]string
		matched []string
	}{
		{name: "defaults", env: Env{}, tier: "L1", prio: "P3", queue: "q", action: "forward", matched: []string{"last"}},
		{name: "stop and drop", env: Env{AutoReply: true, Subject: "printer"}, tier: "L1", prio: "P3", queue: "q", action: "drop", folder: "Auto", matched: []string{"drop-auto"}},
		{name: "set and tags accumulate, decision so far", env: Env{Subject: "PRINTER down", Text: "PRINTER down, VPN too"},
			tier: "L2", prio: "P2", queue: "systems", runbook: "kb/net", action: "forward", tags: []string{"printer", "hw", "net"},
			matched: []string{"printer", "network", "after-tier", "last"}},
		{name: "list across subject and body joint", env: Env{Subject: "paper", Body: "jam in tray 2"}, tier: "L1", prio: "P3", queue: "q", runbook: "kb/printer", action: "forward",
			tags: []string{"printer", "hw"}, matched: []string{"printer", "last"}},
		{name: "vip reads priority so far", env: Env{From: ticket.Address{Address: "ceo@example.com"}}, tier: "L1", prio: "P1", queue: "q", action: "forward", matched: []string{"vip", "last"}},
		{name: "extract whole match and group", env: Env{Body: "error 0xdeadbeef", Text: "re ticket 42: error 0xdeadbeef"}, tier: "L1", prio: "P3", queue: "q", action: "forward",
			fields: map[string]string{"code": "0xdeadbeef", "num": "42"}, matched: []string{"code", "last"}},
		{name: "runtime error is no match", env: Env{Attachments: []ticket.Attachment{{Size: 1}}}, tier: "L1", prio: "P3", queue: "q", action: "forward", matched: []string{"last"}},
		{name: "stop in the middle", env: Env{Headers: map[string]string{"X-Stop": "yes"}, Size: 5000}, tier: "L1", prio: "P3", queue: "q", action: "forward", matched: []string{"stopper"}},
		{name: "first_match group takes the first", env: Env{Size: 5000}, tier: "L1", prio: "P3", queue: "q", action: "forward", tags: []string{"big", "h1", "h2"}, matched: []string{"g1", "h1", "h2", "last"}},
		{name: "nested group counts as a match", env: Env{Size: 200}, tier: "L1", prio: "P3", queue: "q", action: "forward", tags: []string{"any", "h1", "h2"}, matched: []string{"g3", "h1", "h2", "last"}},
		{name: "group guard false", env: Env{Size: 50}, tier: "L1", prio: "P3", queue: "q", action: "forward", matched: []string{"last"}},
	}
	ev := NewEvaluator()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := tt.env
			d := s.Evaluate(ev, &env)
			got := []string{d.Tier, d.Priority, d.Queue, d.Runbook, d.Action, d.Folder}
			want := []string{tt.tier, tt.prio, tt.queue, tt.runbook, tt.action, tt.folder}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decision %v, want %v", got, want)
			}
			if !reflect.DeepEqual(d.Tags, tt.tags) {
				t.Errorf("tags %v, want %v", d.Tags, tt.tags)
			}
			if !reflect.DeepEqual(d.Fields, tt.fields) {
				t.Errorf("fields %v, want %v", d.Fields, tt.fields)
			}
			if !reflect.DeepEqual(names(d), tt.matched) {
				t.Errorf("matched %v, want %v", names(d), tt.matched)
			}
			if d.Trace != nil {
				t.Error("Evaluate filled a trace")
			}
			// The env mirrors the decision for later readers.
			if env.Tier != d.Tier || env.Priority != d.Priority || len(env.Matched) != len(d.Matched) || env.Index != nil {
				t.Errorf("env decision fields %q %q %v", env.Tier, env.Priority, env.Matched)
			}
			// Evaluating the same env again gives the same decision.
			again := s.Evaluate(ev, &env)
			if !reflect.DeepEqual(again, d) {
				t.Errorf("second evaluation differs: %+v", again)
			}
		})
	}
}

func TestEvaluateTrace(t *testing.T) {
	s := mustLoad(t, evalRules)
	env := Env{Headers: map[string]string{"X-Stop": "yes"}, Attachments: []ticket.Attachment{{Size: 1}}, Size: 5000}
	d := s.EvaluateTrace(NewEvaluator(), &env)
	var got []string
	for _, e := range d.Trace {
		line := e.Rule
		if e.Group != "" {
			line += "@" + e.Group
		}
		switch {
		case e.Matched:
			line += " matched"
		case e.Skipped != "":
			line += " skipped: " + e.Skipped
		case e.Error != "":
			line += " error"
		default:
			line += " no"
		}
		got = append(got, line)
	}
	want := []string{
		"drop-auto no", "printer no", "network no", "after-tier no", "vip no", "code no", "boom error", "stopper matched",
		"group:g skipped: stopped", "g1@g skipped: stopped", "g2@g skipped: stopped", "g3@inner skipped: stopped",
		"h1@h skipped: stopped", "h2@h skipped: stopped", "last skipped: stopped",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("trace\n got %q\nwant %q", got, want)
	}
	if e := d.Trace[6].Error; !strings.Contains(e, "index out of range") {
		t.Errorf("runtime error text %q", e)
	}

	env = Env{Size: 5000}
	d = s.EvaluateTrace(NewEvaluator(), &env)
	got = got[:0]
	for _, e := range d.Trace[8:13] {
		got = append(got, e.Rule+" "+e.Skipped)
	}
	want = []string{"group:g ", "g1 ", "g2 group already matched", "g3 group already matched", "h1 "}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("group trace %q", got)
	}
	env = Env{Size: 50}
	d = s.EvaluateTrace(NewEvaluator(), &env)
	if e := d.Trace[8]; e.Rule != "group:g" || e.Matched || d.Trace[9].Skipped != "group guard false" {
		t.Errorf("guard trace %+v %+v", e, d.Trace[9])
	}
}

func TestHelpers(t *testing.T) {
	s := mustLoad(t, head+`lists:
  de: [straße, Passwort]
  ja: [パスワード, ログイン]
  ru: [пароль]
  pats: ['^ERR-\d+$', '(?i)urgent']
rules:
  - {name: any-subject, when: 'containsAny(subject, ["Printer", "toner"])'}
  - {name: all-body, when: 'containsAll(body, ["disk", "FULL"])'}
  - {name: word-de, when: 'containsAnyWord(text, de)'}
  - {name: word-ja, when: 'containsAnyWord(text, ja)'}
  - {name: word-ru, when: 'containsAnyWord(subject + " " + body, ru)'}
  - {name: word-en, when: 'containsAnyWord(text, ["vpn", "dns"])'}
  - {name: computed-text, when: 'containsAny(from.name, ["ann"]) and containsAnyWord(from.name, ["ann"])'}
  - {name: computed-list, when: 'containsAny(subject, tags) or containsAny(subject, [from.name])'}
  - {name: regex, when: 'matchesAny(subject, pats)'}
  - {name: regex-dyn, when: 'from.name != "" and matchesAny(subject, [from.name])'}
  - {name: domain, when: 'domainOf(from.address) == "example.com" and domainOf("Ann <ann@Sub.Example.ORG>") == "sub.example.org"'}
  - {name: header, when: 'header("x-priority") == "1" and header("X-PRIORITY") == "1" and header("missing") == ""'}
  - {name: header-dyn, when: 'header(from.name) == "dyn"'}
`)
	tests := []struct {
		name string
		env  Env
		want []string
	}{
		{"substring any case", Env{Subject: "my PRINTERS"}, []string{"any-subject"}},
		{"all needs every word", Env{Body: "Disk is full"}, []string{"all-body"}},
		{"all misses one", Env{Body: "Disk ok"}, nil},
		{"german word", Env{Text: "Mein PASSWORT ist abgelaufen"}, []string{"word-de"}},
		{"german inside a word is no word", Env{Text: "Passwortänderung"}, nil},
		{"german eszett", Env{Text: "die Straße."}, []string{"word-de"}},
		{"japanese always bounded", Env{Text: "パスワードを忘れました"}, []string{"word-ja"}},
		{"japanese within latin", Env{Text: "reset ログインplease"}, []string{"word-ja"}},
		{"cyrillic word", Env{Subject: "Сброс", Body: "ПАРОЛЬ истёк"}, []string{"word-ru"}},
		{"cyrillic inside word", Env{Body: "парольный"}, nil},
		{"latin word boundaries", Env{Text: "(VPN) down"}, []string{"word-en"}},
		{"latin inside word", Env{Text: "vpnclient and adnsx"}, nil},
		{"latin next to japanese", Env{Text: "東京のvpn接続"}, []string{"word-en"}},
		{"latin digit neighbour", Env{Text: "vpn2 dns3"}, nil},
		{"computed text", Env{From: ticket.Address{Name: "Ann"}}, []string{"computed-text"}},
		{"computed list", Env{Subject: "hello bob", From: ticket.Address{Name: "BOB"}}, []string{"computed-list"}},
		{"regex list", Env{Subject: "ERR-42"}, []string{"regex"}},
		{"regex list case", Env{Subject: "this is URGENT"}, []string{"regex"}},
		{"regex dynamic", Env{Subject: "abc", From: ticket.Address{Name: "^a.c$"}}, []string{"regex-dyn"}},
		{"domain", Env{From: ticket.Address{Address: "ann@Example.COM"}}, []string{"domain"}},
		{"header", Env{Headers: map[string]string{"X-Priority": "1"}}, []string{"header"}},
		{"header dynamic", Env{From: ticket.Address{Name: "x-dyn"}, Headers: map[string]string{"X-Dyn": "dyn"}}, []string{"header-dyn"}},
	}
	ev := NewEvaluator()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := tt.env
			d := s.EvaluateTrace(ev, &env)
			var got []string
			for _, m := range d.Matched {
				got = append(got, m.Rule)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("matched %v, want %v", got, tt.want)
			}
			for _, e := range d.Trace {
				if e.Error != "" && e.Rule != "regex-dyn" {
					t.Errorf("%s: %s", e.Rule, e.Error)
				}
			}
		})
	}
	env := Env{Subject: "x", From: ticket.Address{Name: "(("}}
	d := s.EvaluateTrace(ev, &env)
	if e := d.Trace[9]; e.Rule != "regex-dyn" || !strings.Contains(e.Error, "bad regex") {
		t.Errorf("dynamic bad regex: %+v", e)
	}
}

func TestContainsWord(t *testing.T) {
	tests := []struct {
		text, word string
		want       bool
	}{
		{"vpn", "vpn", true},
		{"the vpn.", "vpn", true},
		{"vpns", "vpn", false},
		{"openvpn vpn", "vpn", true},
		{"é vpné", "vpn", false},
		{"_vpn_", "vpn", true},
		{"passwort", "", false},
		{"packet loss here", "packet loss", true},
		{"パスワード", "パスワード", true},
		{"新パスワード設定", "パスワード", true},
		{"ไม่สามารถเข้าสู่ระบบ", "ระบบ", true},
		{"", "x", false},
	}
	for _, tt := range tests {
		if got := containsWord(tt.text, tt.word); got != tt.want {
			t.Errorf("containsWord(%q, %q) = %v", tt.text, tt.word, got)
		}
	}
}

func TestIndexAgreesWithNaive(t *testing.T) {
	words := []string{"vpn", "dns", "pass", "password", "word", "wor", "ord", "a", "ab", "abc", "bc", "パス", "パスワード", "ß", "straße", "x y"}
	texts := []string{
		"my password and vpn", "abc", "ab c", "xabcx", "パスワードを", "die straße", "x y z", "wordpass", "", "dnsvpn dns", "ordinary",
		"My PASSWORD and VPN", "ABC", "Die STRASSE und Straße", "DNSvpn DNS",
	}
	src := &textSource{needleIdx: map[string]int32{}, parts: []sourcePart{{field: fieldText}}}
	src.addNeedles(words)
	withAC := *src
	withAC.ac = buildAutomaton(src.needles)
	if withAC.ac == nil {
		t.Fatal("no automaton")
	}
	for _, raw := range texts {
		text := strings.ToLower(raw)
		env := &Env{Text: raw}
		var naive, ac MatchIndex
		naive.reset([]*textSource{src}, env)
		ac.reset([]*textSource{&withAC}, env)
		for id, w := range src.needles {
			for _, word := range []bool{false, true} {
				want := strings.Contains(text, w)
				if word {
					want = containsWord(text, w)
				}
				if got := naive.has(0, int32(id), word); got != want {
					t.Errorf("naive %q in %q (word %v) = %v", w, text, word, got)
				}
				if got := ac.has(0, int32(id), word); got != want {
					t.Errorf("automaton %q in %q (word %v) = %v", w, text, word, got)
				}
			}
		}
	}
}

func TestApplyCalendar(t *testing.T) {
	s := mustLoad(t, head+"calendar: {timezone: Europe/Berlin, business_hours: \"Mon-Thu 08:00-18:00, Fri 08:00-14:00, Sat-Sun 10:00-11:00\"}\n")
	tests := []struct {
		utc      string
		hour     int
		weekday  string
		business bool
	}{
		{"2026-11-27T06:59:00Z", 7, "Fri", false},
		{"2026-11-27T07:00:00Z", 8, "Fri", true},
		{"2026-11-27T12:59:00Z", 13, "Fri", true},
		{"2026-11-27T13:00:00Z", 14, "Fri", false},
		{"2026-11-26T16:30:00Z", 17, "Thu", true},
		{"2026-11-29T09:30:00Z", 10, "Sun", true},
		{"2026-07-01T15:59:00Z", 17, "Wed", true}, // summer time: UTC+2
		{"2026-07-01T16:00:00Z", 18, "Wed", false},
	}
	for _, tt := range tests {
		d, _ := time.Parse(time.RFC3339, tt.utc)
		env := Env{Date: d}
		s.ApplyCalendar(&env)
		if env.Hour != tt.hour || env.Weekday != tt.weekday || env.BusinessHrs != tt.business {
			t.Errorf("%s: hour %d weekday %s business %v", tt.utc, env.Hour, env.Weekday, env.BusinessHrs)
		}
	}
	def := mustLoad(t, head)
	env := Env{Date: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)}
	def.ApplyCalendar(&env)
	if env.Weekday != "Sat" || env.Hour != 9 || env.BusinessHrs {
		t.Errorf("default calendar: %+v", env)
	}
	env = Env{Hour: 5}
	def.ApplyCalendar(&env)
	if env.Hour != 5 {
		t.Error("zero date changed the hour")
	}
}

func TestLint(t *testing.T) {
	s := mustLoad(t, head+`rules:
  - name: a
    when: subject == "x"
  - group: g
    first_match: true
    rules:
      - name: g1
        when: 1 == 1
      - name: g2
        when: subject == "y"
  - name: never
    when: 1 == 2
  - name: all
    when: "true"
    stop: true
  - name: b
    when: subject == "z"
  - group: h
    rules:
      - name: h1
        when: true
`)
	var got []string
	for _, w := range s.Warnings {
		got = append(got, w.Error())
	}
	want := []string{
		`r.yaml:11:9: rule "g2" can never fire: rule "g1" (r.yaml:9) always matches first in this first_match group`,
		`r.yaml:13:5: rule "never" can never fire: its condition is always false`,
		`r.yaml:18:5: rule "b" can never fire: rule "all" (r.yaml:15) always matches and stops`,
		`r.yaml:20:5: group "h" can never fire: rule "all" (r.yaml:15) always matches and stops`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("warnings\n got %q\nwant %q", got, want)
	}
	// A stop rule inside a group does not shadow the rest of the file.
	s = mustLoad(t, head+"rules:\n  - group: g\n    when: size > 1\n    rules:\n      - {name: a, when: 'true', stop: true}\n  - {name: b, when: 'true'}\n")
	if len(s.Warnings) != 0 {
		t.Errorf("warnings %v", s.Warnings)
	}
}

// TestConcurrentEvaluate shares one Set between goroutines, each with its
// own Evaluator (run with -race). Each goroutine alternates a mail that many
// rules match with one that none match, so state left over from one
// evaluation would show in the next.
func TestConcurrentEvaluate(t *testing.T) {
	s := mustLoad(t, generatedRules(200))
	busy := func() *Env {
		e := benchEnv()
		e.Subject = "printer toner outlook mailbox vpn dns wifi: printer failed"
		e.Text = e.Subject + "\n" + e.Body
		return e
	}
	want := s.Evaluate(NewEvaluator(), busy())
	if len(want.Matched) < 3 || want.Tier == s.Defaults.Tier && want.Queue == s.Defaults.Queue {
		t.Fatalf("the sample mail must match several rules and change the decision, got %+v", want)
	}
	for _, m := range want.Matched {
		if _, ok := s.ruleByName[m.Rule]; !ok {
			t.Fatalf("matched %q is not a rule of the set", m.Rule)
		}
	}
	quiet := &Env{Subject: "hello", Body: "nothing to see", Text: "hello\nnothing to see"}
	wantQuiet := s.Evaluate(NewEvaluator(), quiet)
	if len(wantQuiet.Matched) != 0 {
		t.Fatalf("the quiet mail matched %+v", wantQuiet.Matched)
	}
	type result struct{ busy, quiet Decision }
	done := make(chan result)
	for g := 0; g < 4; g++ {
		go func() {
			ev := NewEvaluator()
			var r result
			for i := 0; i < 20; i++ {
				r.busy = s.Evaluate(ev, busy())
				r.quiet = s.Evaluate(ev, &Env{Subject: quiet.Subject, Body: quiet.Body, Text: quiet.Text})
			}
			done <- r
		}()
	}
	for g := 0; g < 4; g++ {
		r := <-done
		if !reflect.DeepEqual(r.busy, want) {
			t.Errorf("decision differs: %+v, want %+v", r.busy, want)
		}
		if !reflect.DeepEqual(r.quiet, wantQuiet) {
			t.Errorf("quiet decision differs: %+v, want %+v", r.quiet, wantQuiet)
		}
	}
}
