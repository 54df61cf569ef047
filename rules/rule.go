package rules

import (
	"regexp"
	"slices"
	"strings"

	"github.com/expr-lang/expr/vm"
	"go.yaml.in/yaml/v3"
)

// maxGroupDepth bounds group nesting (a hostile file must not recurse
// without limit).
const maxGroupDepth = 8

// maxRules bounds the rules and groups of a set: each costs about 5 KB
// compiled and 0.1 ms to compile, and an 8 MiB file holds 250,000 short
// ones (1.3 GB and 40 s at every reload).
const maxRules = 10_000

// ruleNode is one compiled rule or group.
type ruleNode struct {
	info     RuleInfo
	prog     *vm.Program // nil for a group without guard
	always   bool        // the condition folds to constant true
	never    bool        // the condition folds to constant false
	action   string
	set      Decision // Tier, Priority, Queue, Runbook, Folder
	tags     []string
	extract  []extractor
	stop     bool
	isGroup  bool
	first    bool // first_match
	children []*ruleNode
}

// extractor copies the first match of a pattern into a ticket field.
type extractor struct {
	field string
	re    *regexp.Regexp
}

var (
	ruleKeys  = []string{"name", "description", "when", "action", "set", "tags", "extract", "stop"}
	groupKeys = []string{"group", "description", "when", "first_match", "rules"}
	setKeys   = []string{"tier", "priority", "queue", "runbook", "folder"}
	fieldName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]*$`)
)

// action reads a rule's action: forward or drop ("" when invalid).
func (b *builder) action(f *srcFile, n *yaml.Node) string {
	a, ok := b.str(f, n, "action")
	if ok && a != "forward" && a != "drop" {
		b.errf(f, n, "action: must be forward or drop, got %q", a)
		return ""
	}
	return a
}

// ruleTags reads a rule's tags, without empty ones or repeats.
func (b *builder) ruleTags(f *srcFile, n *yaml.Node, r *ruleNode) {
	tags, _ := b.strList(f, n, "tags", false)
	for i, t := range tags {
		if strings.TrimSpace(t) == "" {
			b.errf(f, n.Content[i], "tags: empty tag")
			continue
		}
		if !slices.Contains(r.tags, t) {
			r.tags = append(r.tags, t)
		}
	}
}

// ruleExtract reads a rule's extract: field name → pattern.
func (b *builder) ruleExtract(f *srcFile, n *yaml.Node, r *ruleNode) {
	for _, e := range b.freeMapping(f, n, "extract") {
		if !fieldName.MatchString(e.key.Value) {
			b.errf(f, e.key, "extract: field name %q must be a letter followed by letters, digits, _ . or -", e.key.Value)
			continue
		}
		p, ok := b.anyScalar(f, e.val, "extract."+e.key.Value)
		if !ok {
			continue
		}
		re, err := regexp.Compile(p)
		if err != nil {
			b.errf(f, e.val, "extract.%s: bad regex: %v", e.key.Value, regexErr(err))
			continue
		}
		r.extract = append(r.extract, extractor{field: e.key.Value, re: re})
		if r.info.Extract == nil {
			r.info.Extract = map[string]string{}
		}
		r.info.Extract[e.key.Value] = p
	}
}

// ruleItem decodes one entry of a rules list (a rule or a group).
func (b *builder) ruleItem(c *compiler, f *srcFile, n *yaml.Node, parent *ruleNode, depth int) *ruleNode {
	if !b.noAlias(f, n) {
		return nil
	}
	if b.ruleCount++; b.ruleCount > maxRules {
		if b.ruleCount == maxRules+1 {
			b.errf(f, n, "rules: more than %d rules and groups in the set", maxRules)
		}
		return nil
	}
	if n.Kind != yaml.MappingNode {
		b.errf(f, n, "rules: each item must be a mapping (a rule or a group), got %s", kindName(n))
		return nil
	}
	if b.hasKey(n, "group") {
		return b.groupItem(c, f, n, parent, depth)
	}
	r := &ruleNode{info: RuleInfo{File: f.name, Line: n.Line, Col: n.Column}}
	if parent != nil {
		r.info.Group = parent.info.Name
	}
	whenNode, nameOK := b.decodeRuleKeys(f, n, r)
	switch {
	case r.info.Name == "" && !nameOK:
		if !b.hasKey(n, "name") {
			b.errf(f, n, "rule: missing name")
		}
	default:
		b.claimName(f, n, r.info.Name)
	}
	if whenNode == nil {
		b.errf(f, n, "rule %q: missing when", r.info.Name)
	} else {
		b.compileWhen(c, f, whenNode, r)
	}
	r.info.Action = r.action
	r.info.Tier, r.info.Priority, r.info.Queue = r.set.Tier, r.set.Priority, r.set.Queue
	r.info.Runbook, r.info.Folder = r.set.Runbook, r.set.Folder
	r.info.Tags = r.tags
	r.info.Stop = r.stop
	b.set.ruleInfo = append(b.set.ruleInfo, r.info)
	if nameOK {
		b.set.ruleByName[r.info.Name] = r
	}
	return r
}

// decodeRuleKeys decodes a rule's keys into r; it returns the when expression's
// node, compiled by the caller, and whether the name is usable.
func (b *builder) decodeRuleKeys(f *srcFile, n *yaml.Node, r *ruleNode) (whenNode *yaml.Node, nameOK bool) {
	for _, kv := range b.mapping(f, n, "rule", ruleKeys) {
		switch kv.key.Value {
		case "name":
			r.info.Name, nameOK = b.str(f, kv.val, "name")
			if nameOK && !namePattern.MatchString(r.info.Name) {
				b.errf(f, kv.val, "name: %q must match [a-z0-9][a-z0-9-]*", r.info.Name)
				nameOK = false
			}
		case "description":
			r.info.Description, _ = b.str(f, kv.val, "description")
		case "when":
			whenNode = kv.val
		case "action":
			r.action = b.action(f, kv.val)
		case "set":
			b.setFields(f, kv.val, &r.set)
		case "tags":
			b.ruleTags(f, kv.val, r)
		case "extract":
			b.ruleExtract(f, kv.val, r)
		case "stop":
			r.stop, _ = b.boolean(f, kv.val, "stop")
		}
	}
	return whenNode, nameOK
}

func (b *builder) hasKey(n *yaml.Node, key string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

// claimName records a rule name and reports a duplicate.
func (b *builder) claimName(f *srcFile, n *yaml.Node, name string) {
	if name == "" {
		return
	}
	if first, dup := b.names[name]; dup {
		b.errf(f, n, "rule %q: duplicate name (first at %s:%d)", name, first.f.name, first.key.Line)
		return
	}
	b.names[name] = located{f: f, key: n}
}

func (b *builder) groupItem(c *compiler, f *srcFile, n *yaml.Node, parent *ruleNode, depth int) *ruleNode {
	g := &ruleNode{isGroup: true, info: RuleInfo{IsGroup: true, File: f.name, Line: n.Line, Col: n.Column}}
	if parent != nil {
		g.info.Group = parent.info.Name
	}
	if depth >= maxGroupDepth {
		b.errf(f, n, "group: nested deeper than %d levels", maxGroupDepth)
		return nil
	}
	var items []*yaml.Node
	var sawRules bool
	var whenNode *yaml.Node
	for _, kv := range b.mapping(f, n, "group", groupKeys) {
		switch kv.key.Value {
		case "group":
			name, ok := b.str(f, kv.val, "group")
			if ok && !namePattern.MatchString(name) {
				b.errf(f, kv.val, "group: name %q must match [a-z0-9][a-z0-9-]*", name)
			} else if ok {
				if first, dup := b.groups[name]; dup {
					b.errf(f, kv.val, "group %q: duplicate name (first at %s:%d)", name, first.f.name, first.key.Line)
				} else {
					b.groups[name] = located{f: f, key: kv.val}
				}
			}
			g.info.Name = name
		case "description":
			g.info.Description, _ = b.str(f, kv.val, "description")
		case "when":
			whenNode = kv.val
		case "first_match":
			g.first, _ = b.boolean(f, kv.val, "first_match")
			g.info.FirstMatch = g.first
		case "rules":
			sawRules = true
			items = b.seq(f, kv.val, "group.rules")
		}
	}
	if !sawRules {
		b.errf(f, n, "group %q: missing rules", g.info.Name)
	}
	if whenNode != nil {
		b.compileWhen(c, f, whenNode, g)
	}
	b.set.ruleInfo = append(b.set.ruleInfo, g.info)
	for _, item := range items {
		if child := b.ruleItem(c, f, item, g, depth+1); child != nil {
			g.children = append(g.children, child)
		}
	}
	return g
}

func (b *builder) setFields(f *srcFile, n *yaml.Node, d *Decision) {
	for _, kv := range b.mapping(f, n, "set", setKeys) {
		b.decisionKey(f, kv, "set."+kv.key.Value, d, true)
	}
}

// decisionKey decodes into d one of the keys a rule's set and a test's
// expect share (tier, priority, queue, runbook, folder), and reports
// whether kv was one of them. With declared, tier and priority must be
// the rule set's declared values.
func (b *builder) decisionKey(f *srcFile, kv keyValue, what string, d *Decision, declared bool) bool {
	var field *string
	decode := b.nonEmpty
	switch kv.key.Value {
	case "tier":
		field = &d.Tier
		if declared {
			decode = b.tier
		}
	case "priority":
		field = &d.Priority
		if declared {
			decode = b.priority
		}
	case "queue":
		field = &d.Queue
	case "runbook":
		field = &d.Runbook
	case "folder":
		field = &d.Folder
	default:
		return false
	}
	*field, _ = decode(f, kv.val, what)
	return true
}

// compileWhen compiles a condition and records its source in the rule.
func (b *builder) compileWhen(c *compiler, f *srcFile, n *yaml.Node, r *ruleNode) {
	src, ok := b.anyScalar(f, n, "when")
	if !ok {
		return
	}
	r.info.When = src
	if strings.TrimSpace(src) == "" {
		b.errf(f, n, "when: empty expression")
		return
	}
	prog, errs := c.compile(src)
	for _, e := range errs {
		if e.list != nil {
			b.errf(e.list.f, e.listItem, "%s", e.msg)
			continue
		}
		line, col := exprPosInYAML(f, n, e.line, e.col)
		b.errAt(f.name, line, col, "when: %s", e.msg)
	}
	if prog == nil {
		return
	}
	r.prog = prog.prog
	r.always, r.never = prog.always, prog.never
}
