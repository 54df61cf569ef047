package queue

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/triage-dev/triage/internal/smtptest"
	"github.com/triage-dev/triage/internal/testkit"
)

func longBodyLine(t *testing.T, b []byte) {
	t.Helper()
	if hasLongLine(b[headerEnd(b):]) {
		t.Fatalf("a body line is still over 998 octets:\n%.300q", b)
	}
}

func TestShortenBodyLinesReencodes(t *testing.T) {
	html := "<html><body>" + strings.Repeat("<p>Größe überschritten – 磁盘已满 </p>", 150) + "</body></html>"
	logLine := strings.Repeat("ERROR 0x80070005 access denied; ", 200)
	pdf := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0, 1, 2, 0xff, 'P', 'D', 'F'}, 500)) // one 4,668-octet line
	inner := "From: b@example.com\r\nSubject: inner\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + logLine + "\r\n"
	tests := []struct{ name, raw string }{
		{"html in 8bit", "From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n" +
			"Content-Transfer-Encoding: 8bit\r\n\r\n" + html + "\r\n"},
		{"no MIME at all", "From: a@example.com\r\nSubject: x\r\n\r\nshort line\r\n" + logLine + "\r\nlast\r\n"},
		{"LF line endings", "From: a@example.com\nSubject: x\n\n" + logLine + "\n"},
		{"alternative with base64 attachment", "From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: multipart/mixed; boundary=\"mix\"\r\n\r\npreamble\r\n--mix\r\n" +
			"Content-Type: multipart/alternative; boundary=alt\r\n\r\n--alt\r\nContent-Type: text/plain\r\n\r\nplain text\r\n" +
			"--alt\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n" + html + "\r\n--alt--\r\n" +
			"\r\n--mix\r\nContent-Type: application/pdf; name=r.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + pdf + "\r\n--mix--\r\n"},
		{"quoted-printable without soft breaks", "From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
			strings.Repeat("Gr=FC=DFe ", 300) + "\r\n"},
		{"attached message", "From: a@example.com\r\nSubject: fwd\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n" + inner + "--b--\r\n"},
		{"long part header", "From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: application/octet-stream\r\n" +
			"Content-Disposition: attachment; filename=\"" + strings.Repeat("A", 3000) + ".txt\"\r\nContent-Transfer-Encoding: base64\r\n\r\neA==\r\n--b--\r\n"},
		{"binary octet-stream", "From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n" +
			"Content-Transfer-Encoding: binary\r\n\r\n" + strings.Repeat("\x00\x01binary", 400)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(tt.raw)
			if !hasLongLine(in) {
				t.Fatal("the sample has no long line")
			}
			out := cleanOriginal(in)
			longBodyLine(t, out)
			want, got := testkit.DecodedParts(t, in), testkit.DecodedParts(t, out)
			if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
				t.Errorf("decoded parts changed:\n got %.300q\nwant %.300q", got, want)
			}
			if again := cleanOriginal(out); !bytes.Equal(again, out) {
				t.Error("cleaning again changed the message")
			}
		})
	}
}

func TestShortenBodyLinesSplitsWhatCannotBeRebuilt(t *testing.T) {
	long := strings.Repeat("a", 3000) + " " + strings.Repeat("ü", 800)
	tests := []struct{ name, raw string }{
		{"unterminated multipart", "Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n" + long + "\r\n"},
		{"unknown transfer encoding", "Subject: x\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n" + long + "\r\n"},
		{"malformed header", "Subject: x\r\nno colon here\r\n\r\n" + long},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(tt.raw)
			out := cleanOriginal(in)
			longBodyLine(t, out)
			if strings.ReplaceAll(string(out), "\r\n", "") != strings.ReplaceAll(tt.raw, "\r\n", "") {
				t.Errorf("splitting changed more than line breaks:\n%.300q", out)
			}
			if !strings.HasPrefix(string(out), tt.raw[:headerEnd(in)]) {
				t.Error("the header changed")
			}
		})
	}
}

func TestShortenBodyLinesLeavesShortLinesAlone(t *testing.T) {
	for _, n := range []int{0, 997, 998} {
		in := []byte("Subject: x\r\n\r\n" + strings.Repeat("x", n) + "\r\nend")
		if out := shortenBodyLines(in); &out[0] != &in[0] {
			t.Errorf("a %d-octet line: message rebuilt", n)
		}
	}
	in := []byte("Subject: x\r\n\r\n" + strings.Repeat("x", 999))
	if out := shortenBodyLines(in); bytes.Equal(out, in) {
		t.Error("a 999-octet line was left")
	}
}

// TestMailForwardsLongLines: go-smtp's server refuses lines over 2,000
// octets (as strict MTAs refuse them over 998); the forward arrives, and
// reads as the original.
func TestMailForwardsLongLines(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	sink, err := New("q", Config{Type: "smtp", Settings: &SMTPConfig{Addr: srv.Addr, TLS: "none", From: "t@h.test", To: StringList{"a@t.test"}}}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	raw := "From: Ann <ann@example.com>\r\nTo: helpdesk@example.com\r\nSubject: log\r\nMessage-ID: <long@example.com>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		strings.Repeat("ERROR disk full on /var ", 400) + "\r\nAnn\r\n"
	if err := sink.Send(context.Background(), sampleTicket([]byte(raw))); err != nil {
		t.Fatalf("forward with a 9,600-octet line: %v", err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("got %d messages", len(msgs))
	}
	longBodyLine(t, msgs[0].Data)
	if got, want := testkit.DecodedParts(t, msgs[0].Data), testkit.DecodedParts(t, []byte(raw)); strings.Join(got, "\x00") != strings.Join(want, "\x00") {
		t.Errorf("the forward reads\n%.300q\nwant\n%.300q", got, want)
	}
}

func TestHasLongLine(t *testing.T) {
	x := strings.Repeat
	tests := []struct {
		name, in string
		want     bool
	}{
		{"empty", "", false},
		{"998 octets", x("x", 998), false},
		{"999 octets", x("x", 999), true},
		{"998 then LF", x("x", 998) + "\n", false},
		{"999 then LF", x("x", 999) + "\n", true},
		{"998 then CRLF", x("x", 998) + "\r\n", false},
		{"998 then a final CR", x("x", 998) + "\r", false},
		{"999 then a final CR", x("x", 999) + "\r", true},
		{"997, CR, CRLF", x("x", 997) + "\r\r\n", false},
		{"a bare CR ends no line", x("x", 500) + "\r" + x("x", 500) + "\n", true},
		{"long line between short ones", "a\r\n" + x("x", 999) + "\r\nb", true},
		{"short lines after blank ones", "\n\n" + x("x", 998) + "\n" + x("x", 998), false},
		{"2000 octets", x("x", 2000), true},
	}
	for _, tt := range tests {
		if got := hasLongLine([]byte(tt.in)); got != tt.want {
			t.Errorf("%s: hasLongLine = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// nestedLongLines is a multipart nested depth deep whose innermost part has
// size bytes of 5,000-octet lines.
func nestedLongLines(depth, size int) []byte {
	var b strings.Builder
	b.WriteString("Subject: nested\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"d0\"\r\n\r\n")
	for i := range depth - 1 {
		fmt.Fprintf(&b, "--d%d\r\nContent-Type: multipart/mixed; boundary=\"d%d\"\r\n\r\n", i, i+1)
	}
	fmt.Fprintf(&b, "--d%d\r\nContent-Type: text/plain\r\n\r\n", depth-1)
	b.WriteString(strings.Repeat(strings.Repeat("x", 5000)+"\r\n", size/5002))
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--d%d--\r\n", i)
	}
	return []byte(b.String())
}

// TestRewriteNestedMultipartMemory: re-encoding a multipart nested as deep
// as the rewrite goes allocates about the output once, not a copy per
// level (go-message's multipart reader copies each part: 20 levels of a
// 2 MB mail cost over 80 MB that way).
func TestRewriteNestedMultipartMemory(t *testing.T) {
	msg := nestedLongLines(maxRewriteDepth, 2<<20)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	out := shortenBodyLines(msg)
	runtime.ReadMemStats(&after)
	if hasLongLine(out[headerEnd(out):]) || bytes.Equal(out, msg) {
		t.Fatal("not re-encoded")
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(4*len(msg)) {
		t.Errorf("re-encoding a %d-byte mail nested %d deep allocated %d bytes, want under 4×", len(msg), maxRewriteDepth, alloc)
	}
	got := testkit.DecodedParts(t, out)
	want := testkit.DecodedParts(t, msg)
	if len(got) != len(want) || len(got) == 0 || got[len(got)-1] != want[len(want)-1] {
		t.Errorf("re-encoded mail decodes to other parts (%d, want %d)", len(got), len(want))
	}
	// One level deeper than the rewrite goes: lines are split instead.
	deep := nestedLongLines(maxRewriteDepth+1, 1<<16)
	if out := shortenBodyLines(deep); hasLongLine(out[headerEnd(out):]) || bytes.Contains(out, []byte("quoted-printable")) {
		t.Error("a structure deeper than maxRewriteDepth was not split line by line")
	}
}
