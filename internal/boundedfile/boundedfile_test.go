package boundedfile

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, n int) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, make([]byte, n), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "zero")
	if err := os.Symlink("/dev/zero", link); err != nil {
		t.Fatal(err)
	}
	linkToFile := filepath.Join(dir, "link")
	if err := os.Symlink(write("target", 7), linkToFile); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		path    string
		wantLen int
		wantErr error
	}{
		{"at the bound", write("ten", 10), 10, nil},
		{"empty", write("empty", 0), 0, nil},
		{"one byte over", write("eleven", 11), 0, ErrTooLarge},
		{"a FIFO is not opened", fifo, 0, ErrNotRegular},
		{"a link to /dev/zero", link, 0, ErrNotRegular},
		{"a directory", dir, 0, ErrNotRegular},
		{"a link to a file", linkToFile, 7, nil},
		{"missing", filepath.Join(dir, "missing"), 0, os.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := Read(tc.path, 10)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if len(data) != tc.wantLen {
				t.Errorf("%d bytes, want %d", len(data), tc.wantLen)
			}
		})
	}
}
