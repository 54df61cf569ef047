package secret

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	full := filepath.Join(dir, "pw")
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(full, []byte("s3cret\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, MaxFileBytes+1), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SECRET_TEST_SET", "from-env")
	t.Setenv("SECRET_TEST_EMPTY", "")
	tests := []struct {
		name, env, path, want, wantErr string
	}{
		{"env", "SECRET_TEST_SET", "", "from-env", ""},
		{"env wins over file", "SECRET_TEST_SET", full, "from-env", ""},
		{"env unset", "SECRET_TEST_UNSET", "", "", "SECRET_TEST_UNSET is not set"},
		{"env empty", "SECRET_TEST_EMPTY", "", "", "SECRET_TEST_EMPTY is not set"},
		{"file, newline dropped", "", full, "s3cret", ""},
		{"file empty", "", empty, "", "is empty"},
		{"file missing", "", filepath.Join(dir, "nope"), "", "read secret file"},
		{"file over 64 KiB", "", big, "", "read secret file: read " + big + ": file too large"},
		{"a FIFO is not opened", "", fifo, "", "read secret file: read " + fifo + ": not a regular file"},
		{"nothing", "", "", "", "no secret configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Read(tt.env, tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("= %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
