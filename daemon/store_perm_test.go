package daemon

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The state directory and database are private, also when the directory
// existed with a wider mode.
func TestStorePermissions(t *testing.T) {
	for _, tt := range []struct {
		name   string
		before os.FileMode // 0 = does not exist
	}{{"created", 0}, {"existing 0755", 0o755}} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			if tt.before != 0 {
				if err := os.Mkdir(dir, tt.before); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(dir, tt.before); err != nil {
					t.Fatal(err)
				}
			}
			s, err := OpenStore(dir, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for p, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "state.db"): 0o600} {
				st, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if got := st.Mode().Perm(); got != want {
					t.Errorf("%s: mode %v, want %v", p, got, want)
				}
			}
		})
	}
}
