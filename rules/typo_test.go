package rules

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser/lexer"
)

const typoHead = "version: 1\ndefaults: {tier: L1, priority: P3, queue: helpdesk}\nlists:\n  words: [dns, vpn]\n  pats: ['^re:']\nrules:\n"

// typoRules are misspelt names inside every helper and outside them; each
// must be refused at load with its position.
var typoRules = []struct{ when, name string }{
	{`containsAny(subjct, ["dns"])`, "subjct"},
	{`containsAll(bdy, ["dns", "vpn"])`, "bdy"},
	{`containsAnyWord(sender, ["x"])`, "sender"},
	{`matchesAny(bdy, ["x"])`, "bdy"},
	{`containsAny(subject, wrds)`, "wrds"},
	{`matchesAny(subject, pattrns)`, "pattrns"},
	{`domainOf(form.address) == "example.com"`, "form"},
	{`header(subjct) == ""`, "subjct"},
	{`containsAny(subject + " " + bdy, words)`, "bdy"},
	{`containsAnyWord(lower(subjct), words)`, "subjct"},
	{`sbject contains "dns"`, "sbject"},
}

func TestTyposInHelpersRefused(t *testing.T) {
	for _, tt := range typoRules {
		src := typoHead + "  - name: typo\n    when: '" + tt.when + "'\n"
		errs := loadErrs(t, src)
		want := fmt.Sprintf("r.yaml:8:%d: when: unknown name %s", 11+strings.Index(tt.when, tt.name)+1, tt.name)
		if len(errs) != 1 || errs[0] != want {
			t.Errorf("%s: errors %q, want [%q]", tt.when, errs, want)
		}
	}
}

// TestTyposRefusedOnReload: a live reload refuses the typo and keeps the
// rules that were active.
func TestTyposRefusedOnReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	writeRulesFile(t, path, typoHead+"  - name: ok\n    when: containsAny(subject, words)\n")
	r := newTestReloader(t, ReloaderConfig{Path: path})
	good := r.Active().Current()
	for _, tt := range typoRules[:4] {
		writeRulesFile(t, path, typoHead+"  - name: typo\n    when: '"+tt.when+"'\n")
		res := r.Reload(context.Background())
		if res.Err == nil || res.Changed || len(res.Errors) != 1 || !strings.Contains(res.Errors[0], "unknown name "+tt.name) {
			t.Errorf("%s: reload %+v, want a refusal naming %s", tt.when, res, tt.name)
		}
		if r.Active().Current() != good {
			t.Fatalf("%s: the active rules changed", tt.when)
		}
	}
}

// exprPieces build random expressions in the rule language: real names,
// misspelt ones, helpers, lists, literals and operators.
var exprPieces = struct{ text, other, helpers, lists, ops []string }{
	text:    []string{"subject", "body", "text", "from.address", "from.name", "from.domain", "reply_to.domain", "message_id", "account", "tier", "queue", "subjct", "bdy", "sender", "from.adress", `"lit"`, "lower(subject)", "trim(bdy)", `header("X-Mailer")`, "header(subjct)"},
	other:   []string{"size > 10", "auto_reply", "bounce", "hour >= 9", "len(attachments) > 0", "any(attachments, .name endsWith \".pdf\")", "weekday == \"Mon\"", "sizee > 1", "hours < 3", "attachments[0].nme == \"x\"", "len(to) > siz", "duplicate == 1", "subject + 1 == \"x\"", "priority in [\"P1\"]"},
	helpers: []string{"containsAny", "containsAll", "containsAnyWord", "matchesAny"},
	lists:   []string{"words", "pats", `["dns", "vpn"]`, `["^a", "b$"]`, "wrds", "subject", `[1, 2]`},
	ops:     []string{" and ", " or "},
}

// randomExpr writes one expression of up to three terms.
func randomExpr(rng *rand.Rand) string {
	pick := func(l []string) string { return l[rng.IntN(len(l))] }
	var b strings.Builder
	for i := range 1 + rng.IntN(3) {
		if i > 0 {
			b.WriteString(pick(exprPieces.ops))
		}
		if rng.IntN(6) == 0 {
			b.WriteString("not ")
		}
		switch rng.IntN(4) {
		case 0:
			b.WriteString(pick(exprPieces.other))
		case 1:
			fmt.Fprintf(&b, "%s contains %s", pick(exprPieces.text), pick(exprPieces.text))
		default:
			fmt.Fprintf(&b, "%s(%s, %s)", pick(exprPieces.helpers), pick(exprPieces.text), pick(exprPieces.lists))
		}
	}
	return b.String()
}

// withListsWritten replaces each list name used as a variable in src by
// the list's literal, for the plain checker, which knows no lists. It
// follows expr's own lexer, so a name inside a string or after a dot stays.
func withListsWritten(src string, lists map[string][]string) string {
	toks, err := lexer.Lex(file.NewSource(src))
	if err != nil {
		return src // expr refuses it either way
	}
	runes := []rune(src)
	var b strings.Builder
	at := 0
	for i, tok := range toks {
		list, ok := lists[tok.Value]
		if tok.Kind != lexer.Identifier || !ok || i > 0 && toks[i-1].Kind == lexer.Operator && (toks[i-1].Value == "." || toks[i-1].Value == "?.") {
			continue
		}
		items := make([]string, len(list))
		for j, w := range list {
			items[j] = strconv.Quote(w)
		}
		b.WriteString(string(runes[at:tok.From]))
		b.WriteString("[" + strings.Join(items, ", ") + "]")
		at = tok.To
	}
	b.WriteString(string(runes[at:]))
	return b.String()
}

// agreement compiles src through triage's compiler and through expr's own
// checker with no rewriting (lists written out as literals) and reports a
// disagreement. The refusals triage adds on purpose, at load instead of on
// every mail: helper list items that are not strings ([1, 2] type-checks
// in expr but could never match) and a constant pattern that is not a
// regular expression.
func agreement(c *compiler, src string) string {
	_, errs := c.compile(src)
	literal := withListsWritten(src, c.lists)
	_, plainErr := compileSafely(literal, c.base)
	switch {
	case len(errs) == 0 && plainErr != nil:
		return fmt.Sprintf("%s: triage accepts, expr refuses: %v", src, plainErr)
	case len(errs) > 0 && plainErr == nil && !strings.Contains(errs[0].msg, "list items must be strings") && !strings.Contains(errs[0].msg, "bad regex"):
		return fmt.Sprintf("%s: triage refuses (%s), expr accepts", src, errs[0].msg)
	}
	return ""
}

func agreementCompiler() *compiler {
	return newCompiler(map[string][]string{"words": {"dns", "vpn"}, "pats": {"^re:"}}, nil)
}

func TestCompilerAgreesWithExprChecker(t *testing.T) {
	c := agreementCompiler()
	rng := rand.New(rand.NewPCG(3, 4))
	accepted := 0
	for range 5000 {
		src := randomExpr(rng)
		if msg := agreement(c, src); msg != "" {
			t.Fatal(msg)
		}
		if _, errs := c.compile(src); len(errs) == 0 {
			accepted++
		}
	}
	// Both answers must be common, or the loop proves nothing.
	if accepted < 500 || accepted > 4500 {
		t.Errorf("%d of 5000 accepted; the generator needs tuning", accepted)
	}
}

// FuzzCompilerAgreesWithExprChecker holds the agreement on any expression.
func FuzzCompilerAgreesWithExprChecker(f *testing.F) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 50 {
		f.Add(randomExpr(rng))
	}
	for _, tt := range typoRules {
		f.Add(tt.when)
	}
	c := agreementCompiler()
	f.Fuzz(func(t *testing.T, src string) {
		if len(src) > 2000 {
			return
		}
		if msg := agreement(c, src); msg != "" {
			t.Fatal(msg)
		}
	})
}
