package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/triage-dev/triage/classifier"
	"github.com/triage-dev/triage/rules"
)

func runTest(_ context.Context, s Streams, args []string) int {
	fs := newFlagSet(s, "test", "test [-v] [--coverage] RULES [TESTFILE...]")
	verbose := fs.Bool("v", false, "also list the tests that pass")
	coverage := fs.Bool("coverage", false, "also list the rules that no test makes match")
	pos, code, ok := parseOrExit(fs, args)
	if !ok {
		return code
	}
	if len(pos) < 1 {
		return usageError(fs, "want a RULES file or directory")
	}
	set, ok := loadRules(s.Err, "test", pos[0])
	if !ok {
		return exitFail
	}
	tests := append([]rules.Test(nil), set.Tests...)
	for _, path := range pos[1:] {
		more, err := rules.LoadTests(path)
		if err != nil {
			printLoadError(s.Err, "test", err)
			return exitFail
		}
		tests = append(tests, more...)
	}

	results := set.RunTests(tests, classifier.TestEnvFor(set))
	passed, failed := 0, 0
	for _, r := range results {
		if len(r.Failures) == 0 {
			passed++
			if *verbose {
				fmt.Fprintf(s.Out, "ok   %s:%d: %s\n", r.Test.File, r.Test.Line, r.Test.Name)
			}
			continue
		}
		failed++
		fmt.Fprintf(s.Out, "FAIL %s:%d: %s: %s\n", r.Test.File, r.Test.Line, r.Test.Name, strings.Join(r.Failures, "; "))
	}
	fmt.Fprintf(s.Out, "%d passed, %d failed\n", passed, failed)
	if *coverage {
		printCoverage(s, set, results)
	}
	if len(results) == 0 {
		fmt.Fprintln(s.Err, "triage test: no tests found")
	}
	if failed > 0 {
		return exitFail
	}
	return exitOK
}

// printCoverage lists the rules no test makes match, with their place.
func printCoverage(s Streams, set *rules.Set, results []rules.TestResult) {
	uncovered := set.Uncovered(results)
	total := countRules(set)
	fmt.Fprintf(s.Out, "coverage: %d of %d rules matched by a test\n", total-len(uncovered), total)
	for _, r := range uncovered {
		fmt.Fprintf(s.Out, "not covered %s:%d: %s\n", r.File, r.Line, r.Name)
	}
}
