package rules

import "fmt"

// lint records warnings for rules that can never fire: everything after a
// top-level rule that always matches and stops, and every rule of a
// first_match group after a sibling that always matches. A condition that
// folds to false is reported too.
func (b *builder) lint() {
	var stopper *ruleNode
	var walk func(list []*ruleNode, top bool, firstMatch bool)
	walk = func(list []*ruleNode, top bool, firstMatch bool) {
		var shadow *ruleNode // always-matching earlier sibling in a first_match group
		for _, n := range list {
			switch {
			case stopper != nil:
				b.unreachable(n, fmt.Sprintf("rule %q (%s:%d) always matches and stops", stopper.info.Name, stopper.info.File, stopper.info.Line))
				continue
			case shadow != nil:
				b.unreachable(n, fmt.Sprintf("rule %q (%s:%d) always matches first in this first_match group", shadow.info.Name, shadow.info.File, shadow.info.Line))
				continue
			}
			if n.never {
				b.warnf(n.info.File, n.info.Line, n.info.Col, "%s can never fire: its condition is always false", describe(n))
			}
			if n.isGroup {
				walk(n.children, false, n.first)
				if firstMatch && (n.prog == nil || n.always) && groupAlwaysMatches(n) {
					shadow = n
				}
				continue
			}
			if !n.always {
				continue
			}
			if top && n.stop {
				stopper = n
			}
			if firstMatch {
				shadow = n
			}
		}
	}
	walk(b.set.root, true, false)
}

// groupAlwaysMatches reports whether some rule of a group always applies.
func groupAlwaysMatches(g *ruleNode) bool {
	for _, c := range g.children {
		if c.isGroup {
			if (c.prog == nil || c.always) && groupAlwaysMatches(c) {
				return true
			}
			continue
		}
		if c.always {
			return true
		}
	}
	return false
}

func describe(n *ruleNode) string {
	if n.isGroup {
		return fmt.Sprintf("group %q", n.info.Name)
	}
	return fmt.Sprintf("rule %q", n.info.Name)
}

func (b *builder) unreachable(n *ruleNode, why string) {
	b.warnf(n.info.File, n.info.Line, n.info.Col, "%s can never fire: %s", describe(n), why)
}
