package examples

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Extract writes Files into dir (rules.yaml and mail/*.eml, which the rules'
// own tests read), creating the directories it needs.
func Extract(dir string) error {
	return fs.WalkDir(Files, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(p))
		if e.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := fs.ReadFile(Files, p)
		if err != nil {
			return fmt.Errorf("example %s: %w", p, err)
		}
		if err := os.WriteFile(target, b, 0o644); err != nil {
			return fmt.Errorf("example %s: %w", p, err)
		}
		return nil
	})
}
