package rules

import (
	"fmt"
	"slices"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
)

// lint records warnings for rules that can never fire:
//   - everything after a top-level rule that always matches and stops, and
//     every rule of a first_match group after a sibling that always matches;
//   - a rule whose condition implies that of an earlier top-level stop rule,
//     or of an earlier sibling in a first_match group (see implies);
//   - a condition that folds to false.
func (b *builder) lint() {
	l := linter{b: b, asts: map[*ruleNode]ast.Node{}, texts: map[ast.Node]string{}}
	l.walk(b.set.root, true, false, nil)
}

type linter struct {
	b        *builder
	asts     map[*ruleNode]ast.Node
	texts    map[ast.Node]string // printed conditions: every later rule compares against them
	stopper  *ruleNode           // an earlier top-level rule that always matches and stops
	stoppers []*ruleNode         // earlier top-level stop rules with a condition
}

// walk lints one list of siblings; guards are the conditions of the groups
// around them, all of which hold when one of them fires.
func (l *linter) walk(list []*ruleNode, top, firstMatch bool, guards []ast.Node) {
	var shadow *ruleNode    // always-matching earlier sibling in a first_match group
	var earlier []*ruleNode // earlier siblings of a first_match group
	for _, n := range list {
		if l.deadByConstant(n, shadow) {
			continue
		}
		if n.never {
			l.b.warnf(n.info.File, n.info.Line, n.info.Col, "%s can never fire: its condition is always false", describe(n))
		}
		if n.isGroup {
			inner := guards
			if g := l.ast(n); g != nil {
				inner = append(slices.Clip(guards), g)
			}
			l.walk(n.children, false, n.first, inner)
			if firstMatch && (n.prog == nil || n.always) && groupAlwaysMatches(n) {
				shadow = n
			}
			continue
		}
		if own := l.ast(n); own != nil && l.deadByImplication(n, append(slices.Clip(guards), own), earlier, firstMatch) {
			continue
		}
		if firstMatch {
			earlier = append(earlier, n)
		}
		if top && n.stop {
			l.stoppers = append(l.stoppers, n)
		}
		if !n.always {
			continue
		}
		if top && n.stop {
			l.stopper = n
		}
		if firstMatch {
			shadow = n
		}
	}
}

func (l *linter) deadByConstant(n, shadow *ruleNode) bool {
	switch {
	case l.stopper != nil:
		l.b.unreachable(n, fmt.Sprintf("rule %q (%s:%d) always matches and stops", l.stopper.info.Name, l.stopper.info.File, l.stopper.info.Line))
	case shadow != nil:
		l.b.unreachable(n, fmt.Sprintf("rule %q (%s:%d) always matches first in this first_match group", shadow.info.Name, shadow.info.File, shadow.info.Line))
	default:
		return false
	}
	return true
}

// deadByImplication warns when n's condition (with its group guards)
// implies an earlier stop rule's, or an earlier first_match sibling's.
func (l *linter) deadByImplication(n *ruleNode, cond []ast.Node, earlier []*ruleNode, firstMatch bool) bool {
	if n.never {
		return false
	}
	for _, s := range l.stoppers {
		if a := l.ast(s); a != nil && l.impliesAny(cond, a) {
			l.b.unreachable(n, fmt.Sprintf("rule %q (%s:%d) stops whenever this one would match", s.info.Name, s.info.File, s.info.Line))
			return true
		}
	}
	if !firstMatch {
		return false
	}
	for _, s := range earlier {
		if a := l.ast(s); a != nil && l.implies(cond[len(cond)-1], a) {
			l.b.unreachable(n, fmt.Sprintf("rule %q (%s:%d) matches first in this first_match group whenever this one would", s.info.Name, s.info.File, s.info.Line))
			return true
		}
	}
	return false
}

// ast parses a rule's condition once; nil when it has none or it does not
// parse (load already reported that).
func (l *linter) ast(n *ruleNode) ast.Node {
	if a, ok := l.asts[n]; ok {
		return a
	}
	var a ast.Node
	if n.info.When != "" && n.prog != nil {
		if tree, err := parser.Parse(n.info.When); err == nil {
			a = tree.Node
		}
	}
	l.asts[n] = a
	return a
}

// text is n printed, once per node.
func (l *linter) text(n ast.Node) string {
	t, ok := l.texts[n]
	if !ok {
		t = n.String()
		l.texts[n] = t
	}
	return t
}

// impliesAny: a conjunction of conditions implies a when one of them does.
func (l *linter) impliesAny(conds []ast.Node, a ast.Node) bool {
	for _, c := range conds {
		if c != nil && l.implies(c, a) {
			return true
		}
	}
	return false
}

// implies reports whether condition b can only be true when a is, for the
// forms admins write: the same condition, b = X and Y with X or Y implying
// a, a = X or Y with b implying X or Y, b = X or Y with both implying a,
// a = X and Y with b implying both, and the list helpers on the same text
// with a subset list (containsAny, containsAnyWord, matchesAny), or a
// superset for containsAll. It is sufficient, never complete: false
// means "not shown", not "no".
func (l *linter) implies(b, a ast.Node) bool {
	if l.text(b) == l.text(a) {
		return true
	}
	if bb, ok := b.(*ast.BinaryNode); ok {
		switch bb.Operator {
		case "and", "&&":
			if l.implies(bb.Left, a) || l.implies(bb.Right, a) {
				return true
			}
		case "or", "||":
			if l.implies(bb.Left, a) && l.implies(bb.Right, a) {
				return true
			}
		}
	}
	if ab, ok := a.(*ast.BinaryNode); ok {
		switch ab.Operator {
		case "or", "||":
			return l.implies(b, ab.Left) || l.implies(b, ab.Right)
		case "and", "&&":
			return l.implies(b, ab.Left) && l.implies(b, ab.Right)
		}
	}
	return l.listImplies(b, a)
}

// listImplies: helper(text, L2) implies helper(text, L1) when every item of
// L2 is in L1 (for containsAll the other way round).
func (l *linter) listImplies(b, a ast.Node) bool {
	bc, ok1 := b.(*ast.CallNode)
	ac, ok2 := a.(*ast.CallNode)
	if !ok1 || !ok2 || len(bc.Arguments) != 2 || len(ac.Arguments) != 2 {
		return false
	}
	bf, ok1 := bc.Callee.(*ast.IdentifierNode)
	af, ok2 := ac.Callee.(*ast.IdentifierNode)
	if !ok1 || !ok2 || bf.Value != af.Value || l.text(bc.Arguments[0]) != l.text(ac.Arguments[0]) {
		return false
	}
	bl, ok1 := constStrings(bc.Arguments[1], l.b.set.lists)
	al, ok2 := constStrings(ac.Arguments[1], l.b.set.lists)
	if !ok1 || !ok2 || len(bl) == 0 || len(al) == 0 {
		return false
	}
	switch bf.Value {
	case "containsAny", "containsAnyWord", "matchesAny":
		return subset(bl, al)
	case "containsAll":
		return subset(al, bl)
	}
	return false
}

func subset(small, big []string) bool {
	for _, s := range small {
		if !slices.Contains(big, s) {
			return false
		}
	}
	return true
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
