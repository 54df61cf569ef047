package rules

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr/vm/runtime"
)

// Evaluation is bounded so that no rule, however written, can stall or
// exhaust the daemon on any mail:
//   - expr's memory budget (evalMemoryBudget) bounds the elements its
//     loops and ranges may allocate;
//   - the built-ins that build a string or list from their arguments
//     (repeat, replace, join, concat, string, and +) refuse, before
//     allocating, a result over maxProducedBytes (or maxProducedItems), and
//     toJSON, which renders whatever it is given, is not available;
//   - every message has EvalTimeBudget for all its rules, checked at each
//     step of a loop (filter, map, all, any, reduce, …) and by the bounded
//     built-ins. A rule that runs out counts as not matched, with the
//     reason in its trace, and a rule set whose own tests run out is not
//     activated.
const (
	EvalTimeBudget   = 500 * time.Millisecond
	evalMemoryBudget = 1_000_000
	maxProducedBytes = 4 << 20
	maxProducedItems = 1_000_000
)

// errBudget is what a rule that ran out of budget reports.
var errBudget = errors.New("evaluation budget exceeded")

// budget is one message's allowance, kept in the Evaluator's MatchIndex so
// the functions a rule calls can reach it through the environment.
type budget struct {
	deadline time.Time
	ticks    int
	exceeded bool
}

// start gives the message d from now (EvalTimeBudget when d is 0).
func (b *budget) start(now time.Time, d time.Duration) {
	*b = budget{deadline: now.Add(cmp.Or(d, EvalTimeBudget))}
}

// tick counts a loop step; it panics (recovered by the evaluator) once the
// message's time is up.
func (b *budget) tick() {
	b.ticks++
	// The clock is read at every step: one step can be slow (a scan of a
	// long text), so reading it every n steps would let n slow ones by.
	if b.exceeded || !b.deadline.IsZero() && time.Now().After(b.deadline) {
		b.exceeded = true
		panic(errBudget)
	}
}

func tooLarge(what string, n int) error {
	return fmt.Errorf("%s: result of %d bytes is over the %d MiB a rule may build: %w", what, n, maxProducedBytes>>20, errBudget)
}

// The bounded built-ins. Each checks the size of its result before
// building it.

func repeatFn(params ...any) (any, error) {
	s, n := params[0].(string), params[1].(int)
	if n < 0 {
		return nil, fmt.Errorf("repeat: negative count %d", n)
	}
	if n > 0 && len(s) > maxProducedBytes/n {
		return nil, tooLarge("repeat", len(s)*min(n, maxProducedBytes))
	}
	return strings.Repeat(s, n), nil
}

func replaceFn(params ...any) (any, error) {
	s, old, repl := params[0].(string), params[1].(string), params[2].(string)
	n := strings.Count(s, old)
	if old == "" {
		n = utf8.RuneCountInString(s) + 1
	}
	if grow := len(repl) - len(old); grow > 0 && n > 0 && grow > (maxProducedBytes-len(s))/n {
		return nil, tooLarge("replace", len(s)+n*grow)
	}
	return strings.ReplaceAll(s, old, repl), nil
}

func joinFn(params ...any) (any, error) {
	sep := ""
	if len(params) > 1 {
		sep = params[1].(string)
	}
	items, err := stringsOf(params[0])
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	total := 0
	for i, s := range items {
		total += len(s)
		if i > 0 {
			total += len(sep) // between items only: the result has no trailing one
		}
		if total > maxProducedBytes {
			return nil, tooLarge("join", total)
		}
	}
	return strings.Join(items, sep), nil
}

func concatFn(params ...any) (any, error) {
	total := 0
	for _, p := range params {
		switch l := p.(type) {
		case []any:
			total += len(l)
		case []string:
			total += len(l)
		default:
			return nil, fmt.Errorf("concat: %T is not a list", p)
		}
	}
	if total > maxProducedItems {
		return nil, fmt.Errorf("concat: %d items is over the %d a rule may build: %w", total, maxProducedItems, errBudget)
	}
	out := make([]any, 0, total)
	for _, p := range params {
		switch l := p.(type) {
		case []any:
			out = append(out, l...)
		case []string:
			for _, s := range l {
				out = append(out, s)
			}
		}
	}
	return out, nil
}

// stringFn is expr's string() for the values a rule converts: a list or a
// map, which fmt would render whole, is refused.
func stringFn(params ...any) (any, error) {
	switch v := params[0].(type) {
	case string:
		return v, nil
	case nil, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64, time.Time, time.Duration:
		return fmt.Sprint(v), nil
	}
	return nil, fmt.Errorf("string: %T cannot be converted in rules", params[0])
}

// addFn is + where the checker cannot tell the operands' types (a loop's
// #acc): strings are bounded as in concatStrings, the rest is expr's own +.
func addFn(params ...any) (any, error) {
	if a, ok := params[0].(string); ok {
		if b, ok := params[1].(string); ok {
			return concatStrings(a, b), nil
		}
	}
	return runtime.Add(params[0], params[1]), nil
}

func concatStrings(a, b string) string {
	if len(a) > maxProducedBytes-len(b) {
		panic(tooLarge("+", len(a)+len(b)))
	}
	return a + b
}

func tickFn(params ...any) (any, error) {
	params[0].(*MatchIndex).budget.tick()
	return params[1], nil
}
