package cli

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestMessageSizeBound: explain and replay read a message of exactly
// maxMessageBytes; one byte more is refused, from a file or stdin
// (readMessage) and from an mbox (the next message is still read).
func TestMessageSizeBound(t *testing.T) {
	src := bytes.Repeat([]byte("m"), maxMessageBytes+1)
	for _, tt := range []struct {
		n       int
		wantErr error
	}{{maxMessageBytes, nil}, {maxMessageBytes + 1, errMessageTooLarge}} {
		raw, err := readMessage(bytes.NewReader(src[:tt.n]))
		switch {
		case !errors.Is(err, tt.wantErr):
			t.Errorf("%d bytes: %v, want %v", tt.n, err, tt.wantErr)
		case err == nil && len(raw) != tt.n:
			t.Errorf("%d bytes: read %d", tt.n, len(raw))
		}
	}

	msg := "Subject: s\n\n" + strings.Repeat("b", 100) + "\n"
	in := "From a@x\n" + msg + "\nFrom b@x\nSubject: next\n"
	for _, tt := range []struct {
		max  int
		want []string
	}{
		{len(msg), []string{msg, "Subject: next\n"}},
		{len(msg) - 1, []string{"TOO LARGE", "Subject: next\n"}},
	} {
		got, err := readAllMbox(t, in, tt.max)
		if err != nil || strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("mbox message of %d bytes, limit %d: %q, %v", len(msg), tt.max, got, err)
		}
	}
}
