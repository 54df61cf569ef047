package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadSizeBound: Load reads a triage.yaml of exactly maxConfigBytes;
// one byte more is refused, and a link to /dev/zero is refused after
// reading one byte past the bound, not read without end.
func TestLoadSizeBound(t *testing.T) {
	dir := t.TempDir()
	pad := func(name string, n int) string {
		b := []byte(validConfig + "#")
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, append(b, bytes.Repeat([]byte("x"), n-len(b))...), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	zero := filepath.Join(dir, "zero.yaml")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, path string
		refused    bool
	}{
		{"at the bound", pad("at.yaml", maxConfigBytes), false},
		{"one past", pad("past.yaml", maxConfigBytes+1), true},
		{"/dev/zero", zero, true},
	} {
		_, err := Load(tt.path)
		if refused := err != nil && strings.Contains(err.Error(), tt.path+":1:1: config file larger than 1 MiB"); refused != tt.refused {
			t.Errorf("%s: %v; want refused for its size: %v", tt.name, err, tt.refused)
		}
	}
}
