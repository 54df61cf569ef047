// Package clip shortens text for places with a size limit (header fields,
// log lines, error messages) without splitting a UTF-8 sequence, and keeps
// the head of output that may be long (a command's stdout or stderr).
package clip

import (
	"bytes"
	"strconv"
	"sync"
	"unicode/utf8"
)

// UTF8 cuts s to at most n bytes without splitting a rune.
func UTF8(s string, n int) string {
	n = max(n, 0)
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Hint is s cut for an error message: at most n bytes, and when cut, an
// ellipsis and the full length, so a secret or a whole file never reaches
// a log while the reader still sees which value it was.
func Hint(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return UTF8(s, n) + "…(" + strconv.Itoa(len(s)) + " bytes)"
}

// Buffer keeps the first Max bytes written to it and counts them all. It
// never fails a write, so a child process writing into it never blocks on
// a full pipe, and it is safe for concurrent writes (stdout and stderr).
type Buffer struct {
	Max int

	mu  sync.Mutex
	buf bytes.Buffer
	n   int
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n += len(p)
	if room := b.Max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// String is what was kept: the first Max bytes.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Written is how many bytes were written, kept or not.
func (b *Buffer) Written() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}
