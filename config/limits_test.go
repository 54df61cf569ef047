package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestLoadSizeBound: Load reads a triage.yaml of exactly maxConfigBytes;
// one byte more is refused, and a link to /dev/zero or a FIFO is refused
// without being read (or, for the FIFO, opened: that would block).
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
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, path string
		refusal    string // "" when it loads (a valid config padded by a comment)
	}{
		{"at the bound", pad("at.yaml", maxConfigBytes), ""},
		{"one past", pad("past.yaml", maxConfigBytes+1), ":1:1: config file larger than 1 MiB"},
		{"/dev/zero", zero, ": not a regular file"},
		{"a FIFO, never opened", fifo, ": not a regular file"},
	} {
		_, err := Load(tt.path)
		if tt.refusal == "" {
			if err != nil {
				t.Errorf("%s: %v; want it loaded", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.path+tt.refusal) {
			t.Errorf("%s: %v; want %q", tt.name, err, tt.path+tt.refusal)
		}
	}
}
