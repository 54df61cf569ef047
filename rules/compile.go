package rules

import (
	"cmp"
	"errors"
	"fmt"
	"net/textproto"
	"reflect"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"go.yaml.in/yaml/v3"
)

// helperNames are the functions of the rule language (README "Helpers").
var helperNames = []string{"containsAny", "containsAll", "containsAnyWord", "matchesAny", "domainOf", "header"}

// exprReserved are expr's keywords and built-in functions; a list may not
// take one of these names either.
var exprReserved = append([]string{
	"true", "false", "nil", "and", "or", "not", "in", "matches", "contains",
	"startsWith", "endsWith", "let", "if", "else", "env",
}, builtin.Names...)

// envFields yields Env's fields by their expr names.
func envFields(yield func(string, reflect.StructField) bool) {
	t := reflect.TypeFor[Env]()
	for i := range t.NumField() {
		if name := t.Field(i).Tag.Get("expr"); name != "" && !yield(name, t.Field(i)) {
			return
		}
	}
}

// lowerSources maps a text field to its lower-cased copy in Env.
var lowerSources = map[string]string{"subject": "_subject_lc", "body": "_body_lc", "text": "_text_lc"}

// regexList is a list of patterns compiled once at load.
type regexList []*regexp.Regexp

// compiler compiles `when` expressions of one Set. Lists become constants;
// lower-cased and compiled forms of lists are made once and shared.
type compiler struct {
	lists   map[string][]string
	listPos map[string]located
	lowered map[string][]string
	regexes map[string]regexList
	badList map[string]bool // lists whose regex errors were reported already
	base    []expr.Option
	sources []*textSource
	srcIdx  map[string]int
	plain   map[string]any // plainEnv, made on first use
}

func newCompiler(lists map[string][]string, listPos map[string]located) *compiler {
	c := &compiler{
		lists:   lists,
		listPos: listPos,
		lowered: map[string][]string{},
		regexes: map[string]regexList{},
		badList: map[string]bool{},
		srcIdx:  map[string]int{},
	}
	c.base = []expr.Option{
		expr.Env(Env{}),
		expr.AsBool(),
		expr.Function("containsAny", containsAnyFn, new(func(string, []string) bool), new(func(string, []any) bool)),
		expr.Function("containsAll", containsAllFn, new(func(string, []string) bool), new(func(string, []any) bool)),
		expr.Function("containsAnyWord", containsAnyWordFn, new(func(string, []string) bool), new(func(string, []any) bool)),
		expr.Function("matchesAny", matchesAnyFn, new(func(string, []string) bool), new(func(string, []any) bool)),
		expr.Function("domainOf", domainOfFn, new(func(string) string)),
		expr.Function("header", headerUnpatched, new(func(string) string)),
		expr.Function("_containsAny_l", containsAnyListLoweredFn, new(func(string, []string) bool)),
		expr.Function("_containsAll_l", containsAllListLoweredFn, new(func(string, []string) bool)),
		expr.Function("_containsAnyWord_l", containsAnyWordListLoweredFn, new(func(string, []string) bool)),
		expr.Function("_containsAny_ix", indexed(false, false), new(func(*MatchIndex, int, needleSet) bool)),
		expr.Function("_containsAll_ix", indexed(true, false), new(func(*MatchIndex, int, needleSet) bool)),
		expr.Function("_containsAnyWord_ix", indexed(false, true), new(func(*MatchIndex, int, needleSet) bool)),
		expr.Function("_matchesAny_re", matchesAnyCompiledFn, new(func(string, regexList) bool)),
		expr.Function("_header", headerFn, new(func(map[string]string, string) string)),
		// Built-ins that build from their arguments, bounded (budget.go).
		expr.DisableBuiltin("toJSON"),
		expr.Function("repeat", repeatFn, new(func(string, int) string)),
		expr.Function("replace", replaceFn, new(func(string, string, string) string)),
		expr.Function("join", joinFn, new(func([]string) string), new(func([]string, string) string), new(func([]any) string), new(func([]any, string) string)),
		expr.Function("concat", concatFn, new(func(...any) []any)),
		expr.Function("string", stringFn, new(func(any) string)),
		// One per result type, chosen by the patcher, so a loop's type is kept.
		expr.Function("_tick_b", tickFn, new(func(*MatchIndex, bool) bool)),
		expr.Function("_tick_i", tickFn, new(func(*MatchIndex, int) int)),
		expr.Function("_tick_f", tickFn, new(func(*MatchIndex, float64) float64)),
		expr.Function("_tick_s", tickFn, new(func(*MatchIndex, string) string)),
		expr.Function("_tick", tickFn, new(func(*MatchIndex, any) any)),
		expr.Function("_add", addFn, new(func(any, any) any)),
		expr.Function("_concat", func(params ...any) (any, error) {
			return concatStrings(params[0].(string), params[1].(string)), nil
		}, new(func(string, string) string)),
	}
	return c
}

// compiled is one compiled condition.
type compiled struct {
	prog          *vm.Program
	always, never bool
}

// exprErr is a problem in an expression: at line (1-based) and col (0-based,
// runes) inside it, or at an item of a list (regex lists).
type exprErr struct {
	line, col int
	msg       string
	list      *located
	listItem  *yaml.Node
}

// internalNames maps rewritten names back to what the user wrote, for messages.
var internalNames = strings.NewReplacer(
	"_containsAnyWord_ix", "containsAnyWord", "_containsAnyWord_l", "containsAnyWord",
	"_containsAny_ix", "containsAny", "_containsAny_l", "containsAny",
	"_containsAll_ix", "containsAll", "_containsAll_l", "containsAll",
	"_matchesAny_re", "matchesAny", "_header", "header", "_concat", "+",
	"_subject_lc", "subject", "_body_lc", "body", "_text_lc", "text",
	"rules.regexList", "[]string",
)

func (c *compiler) compile(src string) (*compiled, []exprErr) {
	prog, errs := c.run(src)
	if p, ok := prog.(*patcherErrs); ok {
		return nil, p.errs // our own findings, with the clearest messages
	}
	// expr's own checker then sees the expression as written, without the
	// rewrites: a rewrite for speed must never let through a name or type
	// the checker refuses (see TestTyposInHelpersRefused).
	if plainErrs := c.checkPlain(src); len(plainErrs) > 0 {
		return nil, plainErrs
	}
	if len(errs) > 0 {
		return nil, errs
	}
	vp := prog.(*vm.Program)
	out := &compiled{prog: vp}
	if bn, ok := vp.Node().(*ast.BoolNode); ok {
		out.always, out.never = bn.Value, !bn.Value
	}
	return out, nil
}

// patcherErrs marks run's result when the patcher itself refused the
// expression (a forbidden name, a non-string list item, a bad regex).
type patcherErrs struct{ errs []exprErr }

// run compiles src with the rewriting patcher. It returns the program, or
// *patcherErrs, or the checker's errors.
func (c *compiler) run(src string) (any, []exprErr) {
	p := &patcher{c: c, src: src, listConsts: map[ast.Node]string{}}
	// Only here, never in checkPlain: any patcher lets typos through there.
	opts := append(c.base[:len(c.base):len(c.base)], expr.Patch(p), expr.Operator("+", "_concat"))
	prog, err := compileSafely(src, opts)
	if len(p.errs) > 0 {
		return &patcherErrs{p.errs}, nil
	}
	if err != nil {
		return nil, positioned(err, p.lineCol)
	}
	return prog, nil
}

// checkPlain type-checks src with no patcher at all, lists given as
// variables. A patcher is not enough to stand in for it: with any Patch
// option, expr v1.17's checker accepts an unknown name inside a call to a
// Function that declares its types (containsAny(subjct, …)), which
// TestTyposInHelpersRefused shows.
func (c *compiler) checkPlain(src string) []exprErr {
	opts := append([]expr.Option{expr.Env(c.plainEnv())}, c.base[1:]...)
	if _, err := compileSafely(src, opts); err != nil {
		p := &patcher{src: src}
		return positioned(err, p.lineCol)
	}
	return nil
}

// plainEnv is Env's rule fields and the set's lists, as expr variables.
func (c *compiler) plainEnv() map[string]any {
	if c.plain != nil {
		return c.plain
	}
	c.plain = map[string]any{}
	for name, f := range envFields {
		if !strings.HasPrefix(name, "_") {
			c.plain[name] = reflect.Zero(f.Type).Interface()
		}
	}
	for name, list := range c.lists {
		c.plain[name] = list
	}
	return c.plain
}

// positioned turns a compile error into exprErrs at expr's line and column.
func positioned(err error, lineCol func(int) (int, int)) []exprErr {
	var fe *file.Error
	if errors.As(err, &fe) {
		line, col := fe.Line, fe.Column
		if line < 1 {
			line, col = lineCol(fe.From)
		}
		return []exprErr{{line: line, col: col, msg: internalNames.Replace(fe.Message)}}
	}
	return []exprErr{{line: 1, col: 0, msg: internalNames.Replace(err.Error())}}
}

// compileSafely turns a panic inside expr (hostile input) into an error.
func compileSafely(src string, opts []expr.Option) (prog *vm.Program, err error) {
	defer func() {
		if r := recover(); r != nil {
			prog, err = nil, fmt.Errorf("cannot compile expression: %v", r)
		}
	}()
	return expr.Compile(src, opts...)
}

// patcher rewrites one expression's tree before type checking: list names
// become constants, helpers over subject/body/text read the lower-cased
// copies, constant lists are lowered or compiled once, header("X") reads the
// headers map. It also rejects names rules must not use.
type patcher struct {
	c          *compiler
	src        string
	errs       []exprErr
	listConsts map[ast.Node]string // constants that stand for a named list
}

func (p *patcher) fail(n ast.Node, format string, args ...any) {
	line, col := p.lineCol(n.Location().From)
	p.errs = append(p.errs, exprErr{line: line, col: col, msg: fmt.Sprintf(format, args...)})
}

// lineCol turns a rune offset in the expression into line (1-based) and
// column (0-based), as expr reports them.
func (p *patcher) lineCol(offset int) (int, int) {
	line, col, i := 1, 0, 0
	for _, r := range p.src {
		if i == offset {
			break
		}
		if r == '\n' {
			line++
			col = 0
		} else {
			col++
		}
		i++
	}
	return line, col
}

func (p *patcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		if n.Value == "$env" || strings.HasPrefix(n.Value, "_") {
			p.fail(n, "name %q is not available in rules", n.Value)
			return
		}
		if list, ok := p.c.lists[n.Value]; ok {
			cn := &ast.ConstantNode{Value: list}
			ast.Patch(node, cn)
			p.listConsts[cn] = n.Value
		}
	case *ast.BinaryNode:
		// + on operands of unknown type (a loop's #acc) is bounded too;
		// typed string + string goes through the _concat operator.
		if n.Operator == "+" && (isUnknown(n.Left.Type()) || isUnknown(n.Right.Type())) {
			id := &ast.IdentifierNode{Value: "_add"}
			id.SetLocation(n.Location())
			call := &ast.CallNode{Callee: id, Arguments: []ast.Node{n.Left, n.Right}}
			call.SetLocation(n.Location())
			ast.Patch(node, call)
		}
	case *ast.PredicateNode:
		// Every step of a loop counts against the message's time budget.
		tick := &ast.IdentifierNode{Value: tickFor(n.Node.Type())}
		index := &ast.IdentifierNode{Value: "_index"}
		tick.SetLocation(n.Location())
		index.SetLocation(n.Location())
		call := &ast.CallNode{Callee: tick, Arguments: []ast.Node{index, n.Node}}
		call.SetLocation(n.Node.Location())
		n.Node = call
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if !ok {
			return
		}
		switch id.Value {
		case "header":
			if len(n.Arguments) != 1 {
				return
			}
			arg := n.Arguments[0]
			if s, ok := arg.(*ast.StringNode); ok {
				arg = &ast.StringNode{Value: textproto.CanonicalMIMEHeaderKey(s.Value)}
				arg.SetLocation(s.Location())
			}
			p.rewriteCall(node, n, "_header", &ast.IdentifierNode{Value: "headers"}, arg)
		case "containsAny", "containsAll", "containsAnyWord":
			if len(n.Arguments) != 2 || !p.stringItems(id.Value, n.Arguments[1]) {
				return
			}
			list, ok := constStrings(n.Arguments[1], nil)
			if !ok {
				return
			}
			lowered := &ast.ConstantNode{Value: lowerAll(list, p.c, p.listConsts[n.Arguments[1]])}
			lowered.SetLocation(n.Arguments[1].Location())
			if text, ok := lowerText(n.Arguments[0]); ok {
				src := p.c.source(text)
				ids := &ast.ConstantNode{Value: src.addNeedles(lowered.Value.([]string))}
				ids.SetLocation(lowered.Location())
				srcID := &ast.IntegerNode{Value: p.c.srcIdx[src.key]}
				srcID.SetLocation(n.Arguments[0].Location())
				p.rewriteCall(node, n, "_"+id.Value+"_ix", &ast.IdentifierNode{Value: "_index"}, srcID, ids)
			} else {
				p.rewriteCall(node, n, "_"+id.Value+"_l", n.Arguments[0], lowered)
			}
		case "matchesAny":
			if len(n.Arguments) != 2 || !p.stringItems(id.Value, n.Arguments[1]) {
				return
			}
			res, ok := p.constRegexes(n.Arguments[1])
			if !ok {
				return
			}
			cn := &ast.ConstantNode{Value: res}
			cn.SetLocation(n.Arguments[1].Location())
			p.rewriteCall(node, n, "_matchesAny_re", n.Arguments[0], cn)
		}
	}
}

func isUnknown(t reflect.Type) bool { return t == nil || t.Kind() == reflect.Interface }

// tickNames are the typed loop-step counters, by the body's kind.
var tickNames = map[reflect.Kind]string{reflect.Bool: "_tick_b", reflect.Int: "_tick_i", reflect.Float64: "_tick_f", reflect.String: "_tick_s"}

// tickFor names the loop-step counter that returns a body of type t as is.
func tickFor(t reflect.Type) string {
	if t == nil {
		return "_tick"
	}
	return cmp.Or(tickNames[t.Kind()], "_tick")
}

func (p *patcher) rewriteCall(node *ast.Node, old *ast.CallNode, callee string, args ...ast.Node) {
	id := &ast.IdentifierNode{Value: callee}
	id.SetLocation(old.Callee.Location())
	ast.Patch(node, &ast.CallNode{Callee: id, Arguments: args})
}

// stringItems rejects literal items of a helper's list that are not
// strings: `containsAny(subject, [1, 2])` type-checks (expr's arrays are
// untyped) but could never match, which an admin would not notice.
func (p *patcher) stringItems(helper string, n ast.Node) bool {
	arr, ok := n.(*ast.ArrayNode)
	if !ok {
		return true
	}
	for _, item := range arr.Nodes {
		var kind string
		switch item.(type) {
		case *ast.IntegerNode, *ast.FloatNode:
			kind = "a number"
		case *ast.BoolNode:
			kind = "a boolean"
		case *ast.NilNode:
			kind = "nil"
		case *ast.ArrayNode, *ast.MapNode:
			kind = "a list or map"
		default:
			continue
		}
		p.fail(item, "%s: list items must be strings, got %s", helper, kind)
		return false
	}
	return true
}

// constStrings returns the strings of a list constant, a named list of
// lists (the tree before lists are substituted) or an array literal of
// string constants.
func constStrings(n ast.Node, lists map[string][]string) ([]string, bool) {
	switch v := n.(type) {
	case *ast.IdentifierNode:
		l, ok := lists[v.Value]
		return l, ok
	case *ast.ConstantNode:
		if l, ok := v.Value.([]string); ok {
			return l, true
		}
	case *ast.ArrayNode:
		out := make([]string, 0, len(v.Nodes))
		for _, item := range v.Nodes {
			s, ok := item.(*ast.StringNode)
			if !ok {
				return nil, false
			}
			out = append(out, s.Value)
		}
		return out, true
	}
	return nil, false
}

// constRegexes compiles the patterns of a constant list once. Bad patterns
// of a named list are reported at the list item.
func (p *patcher) constRegexes(n ast.Node) (regexList, bool) {
	list, ok := constStrings(n, nil)
	if !ok {
		return nil, false
	}
	name, named := p.listConsts[n]
	if named {
		if res, ok := p.c.regexes[name]; ok {
			return res, true
		}
	}
	res := make(regexList, 0, len(list))
	bad := false
	for i, pat := range list {
		re, err := regexp.Compile(pat)
		if err != nil {
			bad = true
			if !named {
				p.fail(n, "matchesAny: bad regex %q: %v", pat, regexErr(err))
				continue
			}
			if !p.c.badList[name] {
				l := p.c.listPos[name]
				item := l.val
				if i < len(l.val.Content) {
					item = l.val.Content[i]
				}
				p.errs = append(p.errs, exprErr{msg: fmt.Sprintf("lists.%s: bad regex %q (used by matchesAny): %v", name, pat, regexErr(err)), list: &l, listItem: item})
			}
			continue
		}
		res = append(res, re)
	}
	if bad {
		if named {
			p.c.badList[name] = true
			if len(p.errs) == 0 {
				// Reported with an earlier rule; still refuse this one.
				p.fail(n, "matchesAny: list %q holds a bad regex", name)
			}
		}
		return nil, false
	}
	if named {
		p.c.regexes[name] = res
	}
	return res, true
}

// lowerAll lower-cases a list once; named lists are cached.
func lowerAll(list []string, c *compiler, name string) []string {
	if name != "" {
		if l, ok := c.lowered[name]; ok {
			return l
		}
	}
	out := lowerList(list)
	if name != "" {
		c.lowered[name] = out
	}
	return out
}

// source returns the textSource for a lowered text expression (built by
// lowerText), creating it on first use.
func (c *compiler) source(n ast.Node) *textSource {
	var parts []sourcePart
	var flatten func(ast.Node)
	flatten = func(n ast.Node) {
		switch v := n.(type) {
		case *ast.IdentifierNode:
			parts = append(parts, sourcePart{field: sourceFields[v.Value]})
		case *ast.StringNode:
			if k := len(parts); k > 0 && parts[k-1].field < 0 {
				parts[k-1].lit += v.Value
			} else {
				parts = append(parts, sourcePart{field: -1, lit: v.Value})
			}
		case *ast.BinaryNode:
			flatten(v.Left)
			flatten(v.Right)
		}
	}
	flatten(n)
	var key strings.Builder
	for _, p := range parts {
		fmt.Fprintf(&key, "%d:%q;", p.field, p.lit)
	}
	if i, ok := c.srcIdx[key.String()]; ok {
		return c.sources[i]
	}
	src := &textSource{key: key.String(), parts: parts, needleIdx: map[string]int32{}}
	c.srcIdx[src.key] = len(c.sources)
	c.sources = append(c.sources, src)
	return src
}

// lowerText rewrites an argument built only from subject, body, text and
// string constants joined by + into the same built from the lower-cased
// copies. It reports false for anything else.
func lowerText(n ast.Node) (ast.Node, bool) {
	var out ast.Node
	switch v := n.(type) {
	case *ast.IdentifierNode:
		lc, ok := lowerSources[v.Value]
		if !ok {
			return nil, false
		}
		out = &ast.IdentifierNode{Value: lc}
	case *ast.StringNode:
		out = &ast.StringNode{Value: strings.ToLower(v.Value)}
	case *ast.BinaryNode:
		if v.Operator != "+" {
			return nil, false
		}
		l, ok := lowerText(v.Left)
		if !ok {
			return nil, false
		}
		r, ok := lowerText(v.Right)
		if !ok {
			return nil, false
		}
		out = &ast.BinaryNode{Operator: "+", Left: l, Right: r}
	default:
		return nil, false
	}
	out.SetLocation(n.Location())
	return out, true
}

// exprPosInYAML maps a position inside a `when` expression (line 1-based,
// col 0-based in runes) to the file. It is exact when the expression's text
// appears verbatim in the file (plain and quoted one-line scalars without
// escapes, literal block scalars); otherwise it is the scalar's start.
func exprPosInYAML(f *srcFile, n *yaml.Node, line, col int) (int, int) {
	lines := strings.Split(string(f.data), "\n")
	valueLines := strings.Split(n.Value, "\n")
	if line < 1 || line > len(valueLines) {
		return n.Line, n.Column
	}
	switch n.Style {
	case 0, yaml.FlowStyle, yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		if len(valueLines) != 1 || n.Line > len(lines) {
			break
		}
		src := []rune(strings.TrimSuffix(lines[n.Line-1], "\r"))
		start := n.Column - 1 // rune index of the scalar's first character
		if n.Style == yaml.DoubleQuotedStyle || n.Style == yaml.SingleQuotedStyle {
			start++
		}
		if start >= 0 && start <= len(src) && strings.HasPrefix(string(src[start:]), n.Value) {
			return n.Line, start + col + 1
		}
	case yaml.LiteralStyle:
		fileLine := n.Line + line // content starts on the line after the indicator
		if fileLine > len(lines) {
			break
		}
		src := strings.TrimSuffix(lines[fileLine-1], "\r")
		val := valueLines[line-1]
		if strings.HasSuffix(src, val) {
			indent := utf8.RuneCountInString(src) - utf8.RuneCountInString(val)
			return fileLine, indent + col + 1
		}
	}
	return n.Line, n.Column
}
