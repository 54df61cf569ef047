package queue

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/emersion/go-message/textproto"
)

func TestCleanOriginal(t *testing.T) {
	long := strings.Repeat("word ", 400) // 2000 octets with spaces
	token := strings.Repeat("A", 2000)
	tests := []struct {
		name string
		raw  string
		want string // "" = unchanged (the same slice back)
	}{
		{name: "clean mail unchanged", raw: "From: a@b.c\r\nSubject: hi\r\n\r\nbody\r\n"},
		{name: "lf mail unchanged", raw: "From: a@b.c\nSubject: hi\n\nbody\n"},
		{name: "no body unchanged", raw: "Subject: hi"},
		{name: "mbox From line dropped",
			raw:  "From sender@example.com Mon Nov 30 10:00:00 2026\r\nFrom: a@b.c\r\nSubject: hi\r\n\r\nbody\r\n",
			want: "From: a@b.c\r\nSubject: hi\r\n\r\nbody\r\n"},
		{name: "white-space-led first lines dropped",
			raw:  " X-Triage-Queue: security\r\n\tBcc: evil@x\r\nFrom: a@b.c\r\n\r\nb\r\n",
			want: "From: a@b.c\r\n\r\nb\r\n"},
		{name: "x-triage fields removed with their folds",
			raw:  "X-Triage-Tier: L3\r\nFrom: a@b.c\r\nx-triage-priority : P1\r\n  folded\r\nSubject: hi\r\nX-Triaged: keep\r\n\r\nX-Triage-Tier: body stays\r\n",
			want: "From: a@b.c\r\nSubject: hi\r\nX-Triaged: keep\r\n\r\nX-Triage-Tier: body stays\r\n"},
		{name: "nul and bare cr in the header become spaces",
			raw:  "Subject: a\rBcc: evil@x\x00\r\nFrom: a@b.c\r\n\r\nbody\r\n",
			want: "Subject: a Bcc: evil@x \r\nFrom: a@b.c\r\n\r\nbody\r\n"},
		{name: "bare cr in the body becomes a line end",
			raw:  "Subject: s\r\n\r\none\r.\rMAIL FROM:<x>\r\ntwo\r\n",
			want: "Subject: s\r\n\r\none\r\n.\r\nMAIL FROM:<x>\r\ntwo\r\n"},
		{name: "bare cr in an lf body becomes lf",
			raw:  "Subject: s\n\none\r.\rtwo\n",
			want: "Subject: s\n\none\n.\ntwo\n"},
		{name: "long line folded at spaces",
			raw:  "Subject: " + long + "\r\n\r\nb\r\n",
			want: "Subject: " + foldAt(long, "\r\n") + "\r\n\r\nb\r\n"},
		{name: "long token folded anywhere",
			raw:  "X-T: " + token + "\r\n\r\nb\r\n",
			want: "X-T:\r\n " + token[:997] + "\r\n " + token[997:1994] + "\r\n " + token[1994:] + "\r\n\r\nb\r\n"},
		{name: "a million semicolons in one pass",
			raw:  "Content-Type: text/plain" + strings.Repeat(";", 1_000_000) + "\r\n\r\nb\r\n",
			want: "Content-Type:\r\n text/plain" + strings.Repeat(";", 987) + strings.Repeat("\r\n "+strings.Repeat(";", 997), 1002) + "\r\n " + strings.Repeat(";", 1_000_000-987-1002*997) + "\r\n\r\nb\r\n"},
		{name: "a field name too long for any line is dropped",
			raw:  "From: a@b.c\r\n" + strings.Repeat("N", 1200) + ": v\r\n folded\r\nSubject: s\r\n\r\nb\r\n",
			want: "From: a@b.c\r\nSubject: s\r\n\r\nb\r\n"},
		{name: "no fold inside the field name",
			raw:  "X-" + strings.Repeat("n", 990) + ":" + strings.Repeat("v", 100) + "\r\n\r\nb\r\n",
			want: "X-" + strings.Repeat("n", 990) + ":" + strings.Repeat("v", 5) + "\r\n " + strings.Repeat("v", 95) + "\r\n\r\nb\r\n"},
		{name: "long parameter list folded after separators",
			raw:  "Content-Type: text/plain" + strings.Repeat(";", 1500) + "\r\n\r\nb\r\n",
			want: "Content-Type:\r\n text/plain" + strings.Repeat(";", 987) + "\r\n " + strings.Repeat(";", 513) + "\r\n\r\nb\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := []byte(tt.raw)
			got := cleanOriginal(raw)
			if tt.want == "" {
				if &got[0] != &raw[0] || len(got) != len(raw) {
					t.Fatalf("changed a clean message: %q", got)
				}
				return
			}
			if string(got) != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
			checkCleaned(t, got)
		})
	}
}

// foldAt folds s the way appendFolded does for "Subject: " + s.
func foldAt(s, eol string) string {
	out := appendFolded(nil, []byte("Subject: "+s), eol, len("Subject:"))
	return strings.TrimPrefix(string(out), "Subject: ")
}

// checkCleaned asserts the invariants of cleanOriginal's output.
func checkCleaned(t *testing.T, out []byte) {
	t.Helper()
	end := headerEnd(out)
	for _, line := range bytes.Split(out[:end], []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > maxLineOctets {
			t.Fatalf("header line of %d octets", len(line))
		}
		if bytes.ContainsAny(line, "\r\x00") {
			t.Fatalf("bare CR or NUL in header line %q", line)
		}
		if isTriageField(line) {
			t.Fatalf("X-Triage field left: %q", line)
		}
	}
	if hasBareCR(out[end:]) {
		t.Fatal("bare CR left in the body")
	}
	if hasLongLine(out[end:]) {
		t.Fatal("body line over 998 octets left")
	}
}

// FuzzCleanOriginal: whatever the input, the output has no line over 998
// octets (header or body), no NUL or bare CR in the header, no X-Triage-* field and no bare
// CR at all; cleaning is idempotent, and go-message reads the header when it
// read the original's.
func FuzzCleanOriginal(f *testing.F) {
	for _, s := range []string{
		"Subject: hi\r\n\r\nbody", "X-Triage-Tier: L3\r\n\r\n", "Subject: a\rBcc: b\r\n\r\n",
		"X: " + strings.Repeat("a", 1200) + "\n\n", "X: " + strings.Repeat("a b;", 600) + "\r\n\r\n",
		"\r\n\r\nbody\r.\r", "no header", "", "\r", "x-triage-:\r\n\r\n",
		"Subject: x\r\n\r\n" + strings.Repeat("long ", 250),
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\n" + strings.Repeat("QUJD", 300) + "\r\n--b--\r\n",
		"Content-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\n" + strings.Repeat("\xc3\xbc", 600) + "\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		out := cleanOriginal(raw)
		checkCleaned(t, out)
		if again := cleanOriginal(out); !bytes.Equal(again, out) {
			t.Fatalf("not idempotent:\n%q\n%q", out, again)
		}
		if _, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw))); err == nil {
			if _, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(out))); err != nil {
				t.Fatalf("go-message read the original's header but not the cleaned one: %v\n%q", err, out)
			}
		}
	})
}

// BenchmarkCleanOriginal: the common case (nothing to repair) only scans;
// a hostile header of a million ';' is folded in one pass; an HTML part in
// one 20 kB line is re-encoded.
func BenchmarkCleanOriginal(b *testing.B) {
	clean := []byte("From: a@b.c\r\nSubject: printer\r\n\r\n" + strings.Repeat("Body line of an ordinary mail.\r\n", 640))
	hostile := []byte("Content-Type: text/plain" + strings.Repeat(";", 1_000_000) + "\r\n\r\nb\r\n")
	longLine := []byte("From: a@b.c\r\nSubject: printer\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nprinter jams\r\n--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
		strings.Repeat("<p>Body line of an ordinary mail.</p>", 540) + "\r\n--b--\r\n")
	for _, bb := range []struct {
		name string
		raw  []byte
	}{{"clean-20KB", clean}, {"million-semicolons", hostile}, {"long-line-20KB", longLine}} {
		b.Run(bb.name, func(b *testing.B) {
			b.SetBytes(int64(len(bb.raw)))
			for b.Loop() {
				_ = cleanOriginal(bb.raw)
			}
		})
	}
}

// TestForwardOverhead: the bytes a forward sets aside beside the message
// are counted for the copies forwardParts makes, and only for them.
func TestForwardOverhead(t *testing.T) {
	long := strings.Repeat("x", 1200)
	tests := []struct {
		name string
		raw  string
		want func(n int64) int64
	}{
		{"forwarded as it is", "From: a@example.com\r\nSubject: hi\r\n\r\nhello\r\n", func(int64) int64 { return 0 }},
		{"long body line: re-encoded", "From: a@example.com\r\nSubject: hi\r\n\r\n" + long + "\r\n", func(n int64) int64 { return n + n/8 }},
		{"bare CR: repaired", "From: a@example.com\r\nSubject: hi\r\n\r\nab\rcd\r\n", func(n int64) int64 { return n }},
		{"triage's own field: repaired", "X-Triage-Tier: L3\r\nSubject: hi\r\n\r\nhello\r\n", func(n int64) int64 { return n }},
		{"both", "X-Triage-Tier: L3\r\nSubject: hi\r\n\r\n" + long + "\r\n", func(n int64) int64 { return 2*n + n/8 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := ForwardOverhead([]byte(tt.raw)), tt.want(int64(len(tt.raw))); got != want {
				t.Errorf("ForwardOverhead = %d, want %d", got, want)
			}
		})
	}
}
