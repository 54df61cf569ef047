package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWrite: the file holds the new data with the given mode, an existing
// file is replaced, and no temporary file is left behind; a missing
// directory is an error that leaves nothing.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "rules.yaml")
	for _, tc := range []struct {
		data string
		perm os.FileMode
	}{{"first", 0o644}, {"second, longer than the first", 0o600}} {
		if err := Write(name, []byte(tc.data), tc.perm); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(name)
		if err != nil || string(got) != tc.data {
			t.Fatalf("content %q, %v; want %q", got, err, tc.data)
		}
		if st, err := os.Stat(name); err != nil || st.Mode().Perm() != tc.perm {
			t.Errorf("mode %v, %v; want %v", st.Mode().Perm(), err, tc.perm)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Errorf("directory holds %d entries (%v), want only rules.yaml", len(entries), err)
	}
	if err := Write(filepath.Join(dir, "missing", "x"), []byte("x"), 0o600); err == nil {
		t.Error("write into a missing directory: no error")
	}
}
