package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeRulesExample: the rules file in the README's rules reference
// loads, and its tests pass, beside the shipped examples/mail: every file it
// names ships with the repository.
func TestReadmeRulesExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	ref := string(readme)
	i := strings.Index(ref, "## Rules reference")
	if i < 0 {
		t.Fatal("README has no rules reference")
	}
	block := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindStringSubmatch(ref[i:])
	if block == nil {
		t.Fatal("no yaml block in the rules reference")
	}
	dir := t.TempDir()
	copyExamples(t, dir) // rules.yaml and mail/ from examples
	rules := writeFile(t, filepath.Join(dir, "readme-rules.yaml"), block[1])
	for _, m := range regexp.MustCompile(`mail: (\S+)`).FindAllStringSubmatch(block[1], -1) {
		if _, err := os.Stat(filepath.Join("../../examples", m[1])); err != nil {
			t.Errorf("the README's rules example names %s, which examples/ does not ship", m[1])
		}
	}
	r := runMain(t, "", "test", rules)
	if r.code != 0 {
		t.Errorf("the README's rules example: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}
