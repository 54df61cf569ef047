package testkit

import (
	"bytes"
	"os"
	"testing"
)

// Golden compares got with the committed file path and reports the file's
// content and whether the two are equal. With update set (a test's
// -update flag) it first rewrites the file with got. hint, how to rewrite
// the file, goes with the error when it cannot be read.
func Golden(t testing.TB, path string, got []byte, update bool, hint string) (want []byte, equal bool) {
	t.Helper()
	if update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return got, true
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (%s)", err, hint)
	}
	return want, bytes.Equal(want, got)
}
