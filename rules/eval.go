package rules

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/triage-dev/triage/ticket"

	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// Evaluator holds the reusable state of evaluating rules: one expr VM.
// It is not safe for concurrent use; use one per goroutine.
type Evaluator struct {
	vm    vm.VM
	index MatchIndex
	// timeBudget replaces EvalTimeBudget when set: the tests of the size
	// caps set it long, so that a slow machine reaches the cap they test
	// before the clock.
	timeBudget time.Duration
}

// NewEvaluator returns an Evaluator for one goroutine.
func NewEvaluator() *Evaluator { return &Evaluator{} }

// Evaluate runs the rules on env and returns the decision. It updates env's
// decision fields (tier … matched) as rules apply and fills its lower-cased
// text copies when they are empty.
func (s *Set) Evaluate(ev *Evaluator, env *Env) Decision {
	return s.evaluate(ev, env, false)
}

// EvaluateTrace is Evaluate that also records every rule and group guard,
// matched or not, and why it was skipped, in Decision.Trace.
func (s *Set) EvaluateTrace(ev *Evaluator, env *Env) Decision {
	return s.evaluate(ev, env, true)
}

// evalState is the state of one evaluation.
type evalState struct {
	s       *Set
	ev      *Evaluator
	env     *Env
	d       Decision // by value: a pointer to a local made it escape
	trace   bool
	stopped bool
}

func (s *Set) evaluate(ev *Evaluator, env *Env, trace bool) Decision {
	if ev == nil {
		ev = NewEvaluator()
	}
	d := Decision{
		Tier:     s.Defaults.Tier,
		Priority: s.Defaults.Priority,
		Queue:    s.Defaults.Queue,
		Runbook:  s.Defaults.Runbook,
		Folder:   s.Defaults.Folder,
		Action:   "forward",
	}
	// SubjectLower, BodyLower and TextLower are filled by the index on
	// first use, so a rule set that never needs the lowered body never
	// pays for it.
	env.Tier, env.Priority, env.Queue, env.Runbook, env.Action = d.Tier, d.Priority, d.Queue, d.Runbook, d.Action
	env.Tags, env.Matched = nil, nil
	ev.index.reset(s.sources, env)
	ev.index.budget.start(time.Now(), ev.timeBudget)
	ev.vm.MemoryBudget = evalMemoryBudget
	env.Index = &ev.index
	st := evalState{s: s, ev: ev, env: env, d: d, trace: trace}
	st.nodes(s.root, "", false)
	env.Index = nil // the memo belongs to the Evaluator, not to the message
	ev.index.env = nil
	return st.d
}

// nodes evaluates a list of rules and groups; it reports whether any rule
// in it applied.
func (st *evalState) nodes(list []*ruleNode, group string, firstMatch bool) bool {
	matched := false
	for _, n := range list {
		switch {
		case st.stopped:
			st.skip(n, group, "stopped")
			continue
		case firstMatch && matched:
			st.skip(n, group, "group already matched")
			continue
		}
		if n.isGroup {
			if n.prog != nil {
				ok, err := st.ev.run(n.prog, st.env)
				if st.trace {
					st.d.Trace = append(st.d.Trace, ticket.TraceStep{Rule: "group:" + n.info.Name, Group: group, Matched: ok, Error: err})
				}
				if !ok {
					for _, c := range n.children {
						st.skip(c, n.info.Name, "group guard false")
					}
					continue
				}
			}
			if st.nodes(n.children, n.info.Name, n.first) {
				matched = true
			}
			continue
		}
		ok, err := st.ev.run(n.prog, st.env)
		if st.trace {
			st.d.Trace = append(st.d.Trace, ticket.TraceStep{Rule: n.info.Name, Group: group, Matched: ok, Error: err})
		}
		if !ok {
			continue
		}
		matched = true
		st.apply(n)
		if n.stop {
			st.stopped = true
		}
	}
	return matched
}

// skip records a rule (and a group's rules) that was not evaluated.
func (st *evalState) skip(n *ruleNode, group, why string) {
	if !st.trace {
		return
	}
	if n.isGroup {
		if n.prog != nil {
			st.d.Trace = append(st.d.Trace, ticket.TraceStep{Rule: "group:" + n.info.Name, Group: group, Skipped: why})
		}
		for _, c := range n.children {
			st.skip(c, n.info.Name, why)
		}
		return
	}
	st.d.Trace = append(st.d.Trace, ticket.TraceStep{Rule: n.info.Name, Group: group, Skipped: why})
}

// setBoth sets a decision field and its mirror in env to v, unless the
// rule leaves it ("").
func setBoth(v string, d, env *string) {
	if v != "" {
		*d, *env = v, v
	}
}

// apply merges a matching rule into the decision and mirrors the decision
// into env so later rules can read it.
func (st *evalState) apply(n *ruleNode) {
	d, env := &st.d, st.env
	setBoth(n.action, &d.Action, &env.Action)
	setBoth(n.set.Tier, &d.Tier, &env.Tier)
	setBoth(n.set.Priority, &d.Priority, &env.Priority)
	setBoth(n.set.Queue, &d.Queue, &env.Queue)
	setBoth(n.set.Runbook, &d.Runbook, &env.Runbook)
	if n.set.Folder != "" { // env has no folder: rules cannot read it
		d.Folder = n.set.Folder
	}
	for _, t := range n.tags {
		if !slices.Contains(d.Tags, t) {
			d.Tags = append(d.Tags, t)
		}
	}
	env.Tags = d.Tags
	for _, x := range n.extract {
		if v, ok := extract(x.re, env); ok {
			if d.Fields == nil {
				d.Fields = make(map[string]string, len(n.extract))
			}
			d.Fields[x.field] = v
		}
	}
	d.Matched = append(d.Matched, ticket.MatchedRule{Rule: n.info.Name, Description: n.info.Description})
	env.Matched = append(env.Matched, n.info.Name)
}

// extract finds a pattern in the mail's text (or subject, then body): the
// first group when the pattern has one, else the whole match.
func extract(re *regexp.Regexp, env *Env) (string, bool) {
	sources := [3]string{env.Text, env.Subject, env.Body}
	if env.Text != "" {
		sources[1], sources[2] = "", ""
	}
	for _, src := range sources {
		if src == "" {
			continue
		}
		m := re.FindStringSubmatchIndex(src)
		if m == nil {
			continue
		}
		if len(m) >= 4 && m[2] >= 0 {
			return src[m[2]:m[3]], true
		}
		return src[m[0]:m[1]], true
	}
	return "", false
}

// run evaluates one condition. A runtime error or a panic counts as not
// matched and is returned as text for the trace.
func (ev *Evaluator) run(p *vm.Program, env *Env) (matched bool, errText string) {
	defer func() {
		if r := recover(); r != nil {
			if err, ok := r.(error); ok && errors.Is(err, errBudget) {
				matched, errText = false, internalNames.Replace(err.Error())
				return
			}
			matched, errText = false, fmt.Sprintf("panic: %v", r)
		}
	}()
	out, err := ev.vm.Run(p, env)
	if err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			return false, internalNames.Replace(fe.Message)
		}
		return false, internalNames.Replace(err.Error())
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Sprintf("condition gave %T, not bool", out)
	}
	return b, ""
}
