package cli

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// readAllMbox collects every message (as strings, "TOO LARGE" for one over
// the limit) or the first error.
func readAllMbox(t *testing.T, in string, maxMessage int) ([]string, error) {
	t.Helper()
	mr := newMboxReader(strings.NewReader(in), maxMessage)
	var out []string
	for i := 0; i < 10000; i++ {
		raw, tooLarge, err := mr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if tooLarge {
			out = append(out, "TOO LARGE")
			continue
		}
		out = append(out, string(raw))
	}
	t.Fatal("mbox reader does not end")
	return nil, nil
}

func TestMboxReader(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		max     int
		want    []string
		wantErr error
	}{
		{name: "empty file", in: "", want: nil},
		{
			name: "two messages",
			in:   "From a@x Thu Nov 26 10:00:00 2026\nSubject: one\n\nbody 1\n\nFrom b@x Thu Nov 26 10:01:00 2026\nSubject: two\n\nbody 2\n\n",
			want: []string{"Subject: one\n\nbody 1\n", "Subject: two\n\nbody 2\n"},
		},
		{
			name: "CRLF lines",
			in:   "From a@x\r\nSubject: one\r\n\r\nbody\r\n\r\nFrom b@x\r\nSubject: two\r\n\r\nx\r\n",
			want: []string{"Subject: one\r\n\r\nbody\r\n", "Subject: two\r\n\r\nx\r\n"},
		},
		{
			name: "mboxrd escapes are undone once",
			in:   "From a@x\nSubject: s\n\n>From here\n>>From there\n> From not escaped\n\n",
			want: []string{"Subject: s\n\nFrom here\n>From there\n> From not escaped\n"},
		},
		{
			name: "From line without a blank line before it is body text",
			in:   "From a@x\nSubject: s\n\nline\nFrom the desk of Ann\n",
			want: []string{"Subject: s\n\nline\nFrom the desk of Ann\n"},
		},
		{
			name: "blank lines inside and at the end of a message are kept but the separator's",
			in:   "From a@x\nSubject: s\n\npara 1\n\n\npara 2\n\n\nFrom b@x\nSubject: t\n\n",
			want: []string{"Subject: s\n\npara 1\n\n\npara 2\n\n", "Subject: t\n"},
		},
		{
			name: "last message without trailing newline",
			in:   "From a@x\nSubject: s\n\nno newline",
			want: []string{"Subject: s\n\nno newline"},
		},
		{
			name: "message over the limit is reported, the next one still read",
			in:   "From a@x\nSubject: big\n\n" + strings.Repeat("x", 100) + "\n\nFrom b@x\nSubject: ok\n\n",
			max:  50,
			want: []string{"TOO LARGE", "Subject: ok\n"},
		},
		{
			name: "long separator line is skipped whole",
			in:   "From a@x " + strings.Repeat("y", 200000) + "\nSubject: s\n\nb\n",
			want: []string{"Subject: s\n\nb\n"},
		},
		{
			name:    "not an mbox",
			in:      "Subject: plain eml\n\nbody\n",
			wantErr: errNotMbox,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			max := tc.max
			if max == 0 {
				max = 1 << 20
			}
			got, err := readAllMbox(t, tc.in, max)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				return
			}
			if strings.Join(got, "\x00") != strings.Join(tc.want, "\x00") || len(got) != len(tc.want) {
				t.Errorf("messages:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// FuzzMboxRoundTrip checks that any set of messages written as mboxrd reads
// back unchanged, and that arbitrary input never panics or loops. The seed
// input is split into messages at NUL bytes.
func FuzzMboxRoundTrip(f *testing.F) {
	f.Add([]byte("Subject: a\n\nbody\n"))
	f.Add([]byte("Subject: a\n\nFrom me\n>From you\n\x00Subject: b\r\n\r\n\r\n"))
	f.Add([]byte("\x00\x00From \n\n\n"))
	f.Add([]byte(">>>From x\n\nFrom y\n\x00\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Arbitrary bytes as an mbox: must end, never panic.
		mr := newMboxReader(bytes.NewReader(append([]byte("From x\n"), data...)), 1<<16)
		for i := 0; ; i++ {
			if i > len(data)+2 {
				t.Fatalf("more messages than input lines")
			}
			if _, _, err := mr.Next(); err != nil {
				break
			}
		}

		var msgs [][]byte
		for _, m := range bytes.Split(data, []byte{0}) {
			// writeMbox terminates each message with a newline; a message
			// that lacks one cannot round-trip byte for byte.
			if len(m) > 0 && m[len(m)-1] != '\n' {
				m = append(m, '\n')
			}
			msgs = append(msgs, m)
		}
		var buf bytes.Buffer
		if err := writeMbox(&buf, msgs); err != nil {
			t.Fatal(err)
		}
		mr = newMboxReader(&buf, 1<<30)
		for i, want := range msgs {
			got, tooLarge, err := mr.Next()
			if err != nil || tooLarge {
				t.Fatalf("message %d: err %v, tooLarge %v", i, err, tooLarge)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("message %d:\n got %q\nwant %q", i, got, want)
			}
		}
		if _, _, err := mr.Next(); err != io.EOF {
			t.Fatalf("after the last message: %v, want EOF", err)
		}
	})
}

// writeMbox writes messages in mboxrd format, the inverse of mboxReader
// (tests and fuzzing use it to build archives).
func writeMbox(w io.Writer, msgs [][]byte) error {
	for _, msg := range msgs {
		if _, err := io.WriteString(w, "From triage@example.com Thu Nov 26 10:00:00 2026\n"); err != nil {
			return err
		}
		for len(msg) > 0 {
			line := msg
			if i := bytes.IndexByte(msg, '\n'); i >= 0 {
				line = msg[:i+1]
			}
			msg = msg[len(line):]
			if bytes.HasPrefix(bytes.TrimLeft(line, ">"), mboxFrom) {
				if _, err := w.Write(mboxEsc); err != nil {
					return err
				}
			}
			if _, err := w.Write(line); err != nil {
				return err
			}
		}
		if _, err := io.WriteString(w, "\n"); err != nil {
			return err
		}
	}
	return nil
}
