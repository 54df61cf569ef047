package classifier

import (
	"strings"
	"testing"
)

// A hostile Content-Type with a million ';' must not cost a million
// strings: a value splits into itself and at most maxParams parameters.
func TestSplitParamsBounded(t *testing.T) {
	tests := []struct {
		name string
		v    string
		want int
	}{
		{"normal", `attachment; filename="a;b.txt"; size=3`, 3},
		{"million semicolons", "text/plain" + strings.Repeat(";", 1_000_000), maxParams + 1},
		{"exactly the bound", "a" + strings.Repeat(";a", maxParams), maxParams + 1},
		{"one past the bound", "a" + strings.Repeat(";a", maxParams+1), maxParams + 1},
		{"quoted semicolons are no parameters", `a; x="` + strings.Repeat(";", 2*maxParams) + `"; y=1`, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := len(splitParams(tt.v)); got != tt.want {
				t.Errorf("len(splitParams) = %d, want %d", got, tt.want)
			}
		})
	}
	raw, _, _, ok := headerParam("attachment; filename=ok.txt"+strings.Repeat(";", 1_000_000), "filename")
	if !ok || string(raw) != "ok.txt" {
		t.Errorf("filename before the flood = %q, %v", raw, ok)
	}
}

// params returns n parameters, folded one per line, 10 bytes each.
func params(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(";\r\n p")
		b.WriteString(strings.Repeat("x", i%3))
		b.WriteString("=val")
	}
	return b.String()
}

// TestPartHeaderBounds: a part header is read up to maxPartHeaderBytes
// and a Content-Type or Content-Disposition up to maxParams parameters;
// what lies past a bound is not read, and the cut is a defect. The first
// case once took 18 s: 120,000 parameters in 1.2 MB of folded lines.
func TestPartHeaderBounds(t *testing.T) {
	koi8 := "\xf0\xd2\xc9\xd7\xc5\xd4" // "Привет" in KOI8-R
	part := func(header, body string) string {
		return "From: a@example.com\r\nSubject: x\r\nDate: Fri, 27 Nov 2026 10:00:00 +0100\r\n" +
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
			"--b\r\n" + header + "\r\n\r\n" + body + "\r\n--b--\r\n"
	}
	tooLarge := "MIME part header over 65536 bytes; fields past it ignored"
	ctCut := "more than 100 parameters in Content-Type; rest ignored"
	cdCut := "more than 100 parameters in Content-Disposition; rest ignored"
	tests := []struct {
		name        string
		raw         string
		body        string
		attachments int
		defects     []string
	}{
		{"120,000 parameters in 1.2 MB",
			part("Content-Type: text/plain; charset=koi8-r"+params(60000)+"; name=late.txt"+params(60000), "hello"),
			"hello", 0, []string{tooLarge}},
		{"fields past the header bound",
			part("X-Pad: "+strings.Repeat("x", maxPartHeaderBytes)+"\r\nContent-Type: application/pdf", "hello"),
			"hello", 0, []string{tooLarge}},
		{"charset within the parameter bound",
			part("Content-Type: text/plain; charset=koi8-r"+params(150), koi8),
			"Привет", 0, []string{ctCut}},
		{"charset past the parameter bound",
			part("Content-Type: text/plain"+params(100)+"; charset=koi8-r", koi8),
			"ðÒÉ×ÅÔ", 0, []string{ctCut, "8-bit text without a charset; decoded as windows-1252"}},
		{"file name past the parameter bound",
			part("Content-Type: text/plain\r\nContent-Disposition: inline"+params(100)+"; filename=late.txt", "hello"),
			"hello", 0, []string{cdCut}},
		{"exactly the parameter bound",
			part("Content-Type: text/plain"+params(99)+"; charset=koi8-r", koi8),
			"Привет", 0, nil},
		{"top level",
			"From: a@example.com\r\nDate: Fri, 27 Nov 2026 10:00:00 +0100\r\nContent-Type: text/plain" + params(100) + "; charset=koi8-r\r\n\r\n" + koi8,
			"ðÒÉ×ÅÔ", 0, []string{ctCut, "8-bit text without a charset; decoded as windows-1252"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode([]byte(tt.raw), DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if m.Body != tt.body || len(m.Attachments) != tt.attachments {
				t.Errorf("body %q, attachments %v; want %q, %d", m.Body, m.Attachments, tt.body, tt.attachments)
			}
			if strings.Join(m.Defects, "|") != strings.Join(tt.defects, "|") {
				t.Errorf("defects %q, want %q", m.Defects, tt.defects)
			}
		})
	}
}
