// Package clip shortens text for places with a size limit (header fields,
// log lines, error messages) without splitting a UTF-8 sequence.
package clip

import (
	"strconv"
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
