package examples

import (
	"fmt"
	"os"
)

// Extract writes Files into dir (rules.yaml and mail/*.eml, which the rules'
// own tests read), creating the directories it needs. dir must not hold
// those files yet: every caller extracts into a fresh directory.
func Extract(dir string) error {
	if err := os.CopyFS(dir, Files); err != nil {
		return fmt.Errorf("examples: %w", err)
	}
	return nil
}
