package rules

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// hostileRules each try to exhaust memory or time; each must load, and on
// evaluation come back as not matched with the budget named in its trace.
var hostileRules = []struct{ name, when, reason string }{
	{"nested-repeat", `repeat(repeat("a", 999999), 999999) == ""`, "repeat: result of"},
	{"repeat-body", `repeat(body, 1000000) == ""`, "repeat: result of"},
	{"replace-empty", `replace(body, "", body) == ""`, "replace: result of"},
	{"join-map", `join(map(split(body, ""), body)) == ""`, "join: result of"},
	{"concat-loop", `len(reduce(split(body, ""), {#acc + body}, "")) > 0`, "+: result of"},
	{"concat-typed", `len(reduce(split(body, ""), {body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body + body}, "")) > 0`, "+: result of"},
	{"string-of-list", `string(map(split(body, ""), body)) == ""`, "cannot be converted"},
	{"nested-count", `count(split(body, ""), {count(split(body, ""), {# == "z"}) > 0}) > 0`, "evaluation budget exceeded"},
	{"let-concat", `let a = split(body, ""); let b = concat(a, a, a, a); let c = concat(b, b, b, b); let d = concat(c, c, c, c); len(d) > 0`, "concat: "},
}

func TestHostileRulesStayInBudget(t *testing.T) {
	body := strings.Repeat("abcdefgh ", 64<<10/9) // 64 KB
	for _, tt := range hostileRules {
		t.Run(tt.name, func(t *testing.T) {
			s := mustLoad(t, "version: 1\ndefaults: {tier: L1, priority: P3, queue: helpdesk}\nrules:\n  - name: hostile\n    when: '"+tt.when+"'\n  - name: after\n    when: subject == \"x\"\n")
			ev := NewEvaluator()
			if tt.reason != errBudget.Error() {
				// A size cap is under test, not the clock.
				ev.timeBudget = time.Hour
			}
			d := s.EvaluateTrace(ev, &Env{Subject: "x", Body: body, Text: body})
			if len(d.Trace) != 2 || d.Trace[0].Matched || !strings.Contains(d.Trace[0].Error, tt.reason) {
				t.Fatalf("trace %+v, want the hostile rule unmatched with %q", d.Trace, tt.reason)
			}
			if !d.Trace[1].Matched {
				t.Errorf("the rule after it did not run: %+v", d.Trace[1])
			}
		})
	}
}

// TestTimeBudget: a loop over a long text whose every step scans the text
// runs out of the message's time, not forever.
func TestTimeBudget(t *testing.T) {
	s := mustLoad(t, "version: 1\ndefaults: {tier: L1, priority: P3, queue: helpdesk}\nrules:\n  - name: slow\n    when: 'none(split(body, \"\"), {body contains # + \"z\"})'\n")
	body := strings.Repeat("abcdefgh ", 512<<10/9) // 512 KB: 500k steps, each scanning 512 KB
	d := s.EvaluateTrace(NewEvaluator(), &Env{Body: body, Text: body})
	if d.Trace[0].Matched || !strings.Contains(d.Trace[0].Error, "evaluation budget exceeded") {
		t.Fatalf("trace %+v, want the time budget exceeded", d.Trace)
	}
}

// TestRuleSetOverBudgetRefused: a set whose own test runs out of budget
// fails that test, so it is never activated.
func TestRuleSetOverBudgetRefused(t *testing.T) {
	s := mustLoad(t, "version: 1\ndefaults: {tier: L1, priority: P3, queue: helpdesk}\nrules:\n  - name: bomb\n    when: 'repeat(body, 999999) == \"\"'\n")
	res := s.RunTests([]Test{{Name: "any mail", Expect: Expect{Tier: "L1"}}}, func(Test) (*Env, error) {
		return &Env{Body: "hello", Text: "hello"}, nil
	})
	if len(res) != 1 || len(res[0].Failures) != 1 || !strings.HasPrefix(res[0].Failures[0], "rule bomb: repeat: result of") {
		t.Fatalf("results %+v, want one failure naming the rule and the budget", res)
	}
}

func TestBoundedBuiltinsStillWork(t *testing.T) {
	s := mustLoad(t, `version: 1
defaults: {tier: L1, priority: P3, queue: helpdesk}
rules:
  - name: ok
    when: 'repeat("ab", 2) == "abab" and replace(subject, "Re: ", "") == "vpn" and join(["a", "b"], "-") == "a-b" and len(concat(["a"], ["b", "c"])) == 3 and string(hour) == "9" and subject + "!" == "Re: vpn!" and all(["a"], {# == "a"})'
`)
	d := s.EvaluateTrace(NewEvaluator(), &Env{Subject: "Re: vpn", Hour: 9})
	if !d.Trace[0].Matched {
		t.Fatalf("trace %+v", d.Trace)
	}
}

// FuzzEvaluationBudget: any expression the compiler accepts, evaluated on a
// 64 KB body, returns within the message's budget (with room for the one
// step that runs past the deadline). The time is held only while fuzzing;
// the seeds alone run as ordinary tests without a clock.
func FuzzEvaluationBudget(f *testing.F) {
	for _, h := range hostileRules {
		f.Add(h.when)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for range 30 {
		f.Add(randomExpr(rng))
	}
	fuzzing := flag.Lookup("test.fuzz").Value.String() != ""
	body := strings.Repeat("The VPN drops every 5 minutes since the update. ", 64<<10/48)
	c := agreementCompiler()
	ev := NewEvaluator()
	f.Fuzz(func(t *testing.T, src string) {
		if len(src) > 4000 {
			return
		}
		prog, errs := c.compile(src)
		if len(errs) > 0 {
			return
		}
		env := &Env{Subject: "VPN down", Body: body, Text: "VPN down\n" + body}
		ev.index.reset(nil, env)
		ev.index.budget.start(time.Now(), 0)
		ev.vm.MemoryBudget = evalMemoryBudget
		env.Index = &ev.index
		start := time.Now()
		_, _ = ev.run(prog.prog, env)
		if took := time.Since(start); fuzzing && took > 2*EvalTimeBudget {
			t.Errorf("%s: evaluation took %v, budget %v", src, took, EvalTimeBudget)
		}
	})
}

// TestProducedBytesBound: a built string of exactly the bound is allowed,
// one byte more is refused before it is built.
func TestProducedBytesBound(t *testing.T) {
	for _, tt := range []struct {
		n     int
		match bool
	}{{maxProducedBytes, true}, {maxProducedBytes + 1, false}} {
		s := mustLoad(t, fmt.Sprintf("version: 1\ndefaults: {tier: L1, priority: P3, queue: helpdesk}\nrules:\n  - name: r\n    when: 'len(repeat(\"a\", %d)) > 0'\n", tt.n))
		d := s.EvaluateTrace(NewEvaluator(), &Env{})
		if d.Trace[0].Matched != tt.match || !tt.match && !strings.Contains(d.Trace[0].Error, "repeat: result of") {
			t.Errorf("repeat of %d bytes: %+v", tt.n, d.Trace[0])
		}
	}
}
