package rules

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The rule language's bounds at exactly the bound and one past it. The
// test mail file bound is in TestTestMailConfined, repeat's in
// TestProducedBytesBound.

const limitsHead = "version: 1\ndefaults: {tier: L1, priority: P3, queue: helpdesk}\n"

// nestedGroups is a rules file of n groups, one inside the other, around
// one rule.
func nestedGroups(n int) string {
	src := "{name: inner, when: 'true'}"
	for i := n - 1; i >= 0; i-- {
		src = fmt.Sprintf("{group: g%d, rules: [%s]}", i, src)
	}
	return limitsHead + "rules: [" + src + "]\n"
}

func TestGroupNestingBound(t *testing.T) {
	if _, err := LoadBytes("r.yaml", []byte(nestedGroups(maxGroupDepth))); err != nil {
		t.Errorf("%d nested groups: %v", maxGroupDepth, err)
	}
	_, err := LoadBytes("r.yaml", []byte(nestedGroups(maxGroupDepth+1)))
	if want := fmt.Sprintf("group: nested deeper than %d levels", maxGroupDepth); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%d nested groups: %v, want %q", maxGroupDepth+1, err, want)
	}
}

// TestRulesFileSizeBound: a rules file of exactly maxFileSize bytes loads,
// from bytes and from disk; one byte more is refused before parsing.
func TestRulesFileSizeBound(t *testing.T) {
	valid := limitsHead + "rules:\n  - {name: a, when: 'true'}\n# "
	pad := func(n int) []byte { return []byte(valid + strings.Repeat("x", n-len(valid))) }
	dir := t.TempDir()
	tooLarge := fmt.Sprintf("file is larger than %d bytes", maxFileSize)
	for _, tt := range []struct {
		name string
		size int
		want string // "" = loads
	}{
		{"at the bound", maxFileSize, ""},
		{"one past", maxFileSize + 1, tooLarge},
	} {
		data := pad(tt.size)
		path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".yaml")
		must(t, os.WriteFile(path, data, 0o644))
		for via, load := range map[string]func() (*Set, error){
			"bytes": func() (*Set, error) { return LoadBytes(path, data) },
			"file":  func() (*Set, error) { return Load(path) },
		} {
			s, err := load()
			switch {
			case tt.want == "" && (err != nil || len(s.Rules()) != 1):
				t.Errorf("%s from %s: %v", tt.name, via, err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), path+":1:1: "+tt.want)):
				t.Errorf("%s from %s: %v, want %q", tt.name, via, err, tt.want)
			}
		}
	}
}

// TestProducedResultBounds: each built-in that builds from its arguments
// builds a result of exactly the bound and refuses one past it, before
// building it.
func TestProducedResultBounds(t *testing.T) {
	half := strings.Repeat("h", maxProducedBytes/2)
	items := func(n int) []any { return make([]any, n) }
	pastBytes := fmt.Sprintf("result of %d bytes", maxProducedBytes+1)
	tests := []struct {
		name  string
		call  func() (any, error)
		size  func(any) int // of an accepted result
		want  int
		error string // of a refused one; "" = accepted
	}{
		{"replace at the bound", func() (any, error) { return replaceFn(half+"x", "x", half) }, strLen, maxProducedBytes, ""},
		{"replace one past", func() (any, error) { return replaceFn(half+"x", "x", half+"y") }, nil, 0, "replace: " + pastBytes},
		{"replace of the empty string at the bound", func() (any, error) { return replaceFn("", "", strings.Repeat("r", maxProducedBytes)) }, strLen, maxProducedBytes, ""},
		{"replace of the empty string one past", func() (any, error) { return replaceFn("a", "", strings.Repeat("r", maxProducedBytes/2)) }, nil, 0, "replace: " + pastBytes},
		{"join at the bound", func() (any, error) { return joinFn([]any{half, half}) }, strLen, maxProducedBytes, ""},
		{"join one past", func() (any, error) { return joinFn([]any{half, half, "j"}) }, nil, 0, "join: " + pastBytes},
		{"join with a separator at the bound", func() (any, error) { return joinFn([]any{half, half[1:]}, "-") }, strLen, maxProducedBytes, ""},
		{"join with a separator one past", func() (any, error) { return joinFn([]any{half, half}, "-") }, nil, 0, "join: " + pastBytes},
		{"concat at the bound", func() (any, error) { return concatFn(items(maxProducedItems-1), []string{"c"}) }, listLen, maxProducedItems, ""},
		{"concat one past", func() (any, error) { return concatFn(items(maxProducedItems), []string{"c"}) }, nil, 0, fmt.Sprintf("concat: %d items", maxProducedItems+1)},
		{"+ at the bound", func() (any, error) { return addFn(half, half) }, strLen, maxProducedBytes, ""},
		{"+ one past", func() (any, error) { return addFn(half, half+"+") }, nil, 0, "+: " + pastBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := callRecovering(tt.call)
			switch {
			case tt.error == "" && (err != nil || tt.size(got) != tt.want):
				t.Errorf("%v, want a result of %d", err, tt.want)
			case tt.error != "" && (got != nil || !errors.Is(err, errBudget) || !strings.Contains(err.Error(), tt.error)):
				t.Errorf("result %T, error %v; want refused with %q", got, err, tt.error)
			}
		})
	}
}

// callRecovering calls f, returning what a bounded built-in panics with
// (the + operator does, as expr's own operators do) as its error.
func callRecovering(f func() (any, error)) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, r.(error)
		}
	}()
	return f()
}

func strLen(v any) int  { return len(v.(string)) }
func listLen(v any) int { return len(v.([]any)) }

// TestStringRefusesListsAtAnySize: string() has no size bound; it refuses
// a list or a map whatever its size.
func TestStringRefusesListsAtAnySize(t *testing.T) {
	for _, v := range []any{[]any{}, []string{"a"}, map[string]any{}} {
		if got, err := stringFn(v); err == nil || got != nil {
			t.Errorf("string(%#v) = %v, %v; want refused", v, got, err)
		}
	}
	if got, err := stringFn(strings.Repeat("s", 2*maxProducedBytes)); err != nil || len(got.(string)) != 2*maxProducedBytes {
		t.Errorf("string of a string: %v", err)
	}
}

// TestMemoryBudgetBound: expr refuses a rule once its allocations reach
// the budget (memory >= budget), so a range of evalMemoryBudget-1
// elements is the largest a rule may build.
func TestMemoryBudgetBound(t *testing.T) {
	for _, tt := range []struct {
		n     int
		match bool
	}{{evalMemoryBudget - 1, true}, {evalMemoryBudget, false}} {
		s := mustLoad(t, limitsHead+fmt.Sprintf("rules:\n  - name: r\n    when: 'len(1..%d) > 0'\n", tt.n))
		d := s.EvaluateTrace(NewEvaluator(), &Env{})
		if d.Trace[0].Matched != tt.match || !tt.match && !strings.Contains(d.Trace[0].Error, "memory budget exceeded") {
			t.Errorf("range of %d elements: %+v", tt.n, d.Trace[0])
		}
	}
}

// TestTimeBudgetBound: the message's deadline is EvalTimeBudget after its
// start; a loop step before the deadline goes on, one after it stops the
// rule. The smallest honest test without a clock in budget: the deadline
// is checked as set, and tick is tried on either side of it.
func TestTimeBudgetBound(t *testing.T) {
	start := time.Now()
	var b budget
	b.start(start, 0)
	if got := b.deadline.Sub(start); got != EvalTimeBudget {
		t.Fatalf("deadline %v after the start, want %v", got, EvalTimeBudget)
	}
	stops := func(b *budget) (stopped bool) {
		defer func() {
			r := recover()
			stopped = r != nil && errors.Is(r.(error), errBudget)
		}()
		b.tick()
		return false
	}
	for _, tt := range []struct {
		name string
		b    budget
		stop bool
	}{
		{"before the deadline", budget{deadline: time.Now().Add(time.Hour)}, false},
		{"after the deadline", budget{deadline: time.Now().Add(-time.Nanosecond)}, true},
		{"once exceeded", budget{deadline: time.Now().Add(time.Hour), exceeded: true}, true},
	} {
		if got := stops(&tt.b); got != tt.stop || tt.b.exceeded != tt.stop {
			t.Errorf("%s: stopped %v, exceeded %v; want %v", tt.name, got, tt.b.exceeded, tt.stop)
		}
	}
}

// TestRuleCountBound: a set of maxRules rules and groups compiles; one
// more is refused, once, at the item past the bound.
func TestRuleCountBound(t *testing.T) {
	src := func(rules int) string {
		var b strings.Builder
		b.WriteString(limitsHead + "rules:\n  - {group: g, rules: [{name: in-group, when: 'true'}]}\n")
		for i := range rules - 2 {
			fmt.Fprintf(&b, "  - {name: r%d, when: 'true'}\n", i)
		}
		return b.String()
	}
	s, err := LoadBytes("r.yaml", []byte(src(maxRules)))
	if err != nil || len(s.Rules()) != maxRules {
		t.Fatalf("%d rules and groups: %v", maxRules, err)
	}
	_, err = LoadBytes("r.yaml", []byte(src(maxRules+1)))
	want := fmt.Sprintf("r.yaml:%d:5: rules: more than %d rules and groups in the set", maxRules+3, maxRules)
	if err == nil || err.Error() != want {
		t.Errorf("%d rules and groups: %v, want %q", maxRules+1, err, want)
	}
}

// TestRuleSetBytesBound: the files of a rules directory are read up to
// maxSetBytes together; one byte more is refused. A file that is not a
// regular one (a link to /dev/zero) is refused, not read.
func TestRuleSetBytesBound(t *testing.T) {
	pad := func(head string, n int) []byte { return []byte(head + "# " + strings.Repeat("x", n-len(head)-2)) }
	write := func(dir string, lastSize int) {
		must(t, os.MkdirAll(dir, 0o755))
		sizes := []int{maxFileSize, maxFileSize, maxFileSize, maxFileSize - 100, lastSize}
		for i, n := range sizes {
			head := "version: 1\n"
			if i == 0 {
				head = limitsHead + "rules:\n  - {name: a, when: 'true'}\n"
			}
			must(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.yaml", i)), pad(head, n), 0o644))
		}
	}
	root := t.TempDir()
	atBound, past := filepath.Join(root, "at"), filepath.Join(root, "past")
	write(atBound, maxSetBytes-(4*maxFileSize-100))
	write(past, maxSetBytes-(4*maxFileSize-100)+1)
	if s, err := Load(atBound); err != nil || len(s.Files) != 5 {
		t.Errorf("%d bytes in all: %v", maxSetBytes, err)
	}
	want := fmt.Sprintf("4.yaml:1:1: the rules files are larger than %d bytes together", maxSetBytes)
	if _, err := Load(past); err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("%d bytes in all: %v, want %q", maxSetBytes+1, err, want)
	}

	dir := filepath.Join(root, "zero")
	must(t, os.MkdirAll(dir, 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(limitsHead+"rules: []\n"), 0o644))
	must(t, os.Symlink("/dev/zero", filepath.Join(dir, "b.yaml")))
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "b.yaml:1:1: cannot read: read "+filepath.Join(dir, "b.yaml")+": not a regular file") {
		t.Errorf("a link to /dev/zero: %v", err)
	}
}
