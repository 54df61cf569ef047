package classifier

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// The decoder's bounds, each at exactly the bound (kept whole, no defect)
// and one past it (cut, with the README's defect). The sizes come from the
// constants, so a changed bound moves its test.

const limitsHeader = "From: a@example.com\r\nDate: Fri, 27 Nov 2026 10:00:00 +0100\r\nSubject: x\r\n"

// nestedMail is depth multiparts, one inside the other, whose innermost
// part is the text "DEEP".
func nestedMail(depth int) string {
	var b strings.Builder
	b.WriteString(limitsHeader + "Content-Type: multipart/mixed; boundary=d0\r\n\r\n")
	for i := 1; i < depth; i++ {
		fmt.Fprintf(&b, "--d%d\r\nContent-Type: multipart/mixed; boundary=d%d\r\n\r\n", i-1, i)
	}
	fmt.Fprintf(&b, "--d%d\r\nContent-Type: text/plain\r\n\r\nDEEP\r\n", depth-1)
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--d%d--\r\n", i)
	}
	return b.String()
}

// partsMail is a multipart of n attachments: n+1 parts with itself.
func partsMail(n int) string {
	var b strings.Builder
	b.WriteString(limitsHeader + "Content-Type: multipart/mixed; boundary=p\r\n\r\n")
	for i := range n {
		fmt.Fprintf(&b, "--p\r\nContent-Type: application/octet-stream; name=f%d.bin\r\n\r\nx\r\n", i)
	}
	b.WriteString("--p--\r\n")
	return b.String()
}

// onePart is a multipart/mixed with one part of the given header.
func onePart(header, body string) string {
	return limitsHeader + "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\n" + header + "\r\n\r\n" + body + "\r\n--b--\r\n"
}

// fieldsMail has n top-level header fields, the last one X-Last.
func fieldsMail(n int) string {
	var b strings.Builder
	b.WriteString(limitsHeader) // 3 fields
	for i := 3; i < n-1; i++ {
		fmt.Fprintf(&b, "X-F%d: v\r\n", i)
	}
	b.WriteString("X-Last: here\r\n\r\nbody")
	return b.String()
}

// headerBlockMail has a header block (the field lines, without the blank
// line) of exactly n bytes; its last field is X-Last.
func headerBlockMail(n int) string {
	last := "X-Last: here\r\n"
	pad := n - len(limitsHeader) - len(last)
	var b strings.Builder
	b.WriteString(limitsHeader)
	for pad > 0 {
		line := min(pad, 8000) // fields stay far below defaultMaxHeaders
		if pad-line > 0 && pad-line < len("X-P: \r\n") {
			line = pad - len("X-P: \r\n") // leave room for a whole last line
		}
		b.WriteString("X-P: " + strings.Repeat("p", line-len("X-P: \r\n")) + "\r\n")
		pad -= line
	}
	b.WriteString(last + "\r\nthe body")
	return b.String()
}

// htmlMail is an HTML mail whose source is n bytes of markup ending in
// the text end.
func htmlMail(n int, end string) string {
	const open = "<p>"
	pad := n - len(open) - len(end)
	return limitsHeader + "Content-Type: text/html\r\n\r\n" + open +
		strings.Repeat("<i></i>", pad/7) + strings.Repeat(" ", pad%7) + end
}

// addressList is n addresses.
func addressList(n int) string {
	list := make([]string, n)
	for i := range list {
		list[i] = fmt.Sprintf("u%d@example.com", i)
	}
	return strings.Join(list, ", ")
}

func idList(n int) string {
	return strings.Repeat("<a@b> ", n)
}

func TestDecodeLimits(t *testing.T) {
	// Fixed parts of the part header of partHeaderMail, counted as
	// capPartHeader counts: name and value of each field.
	ctField := "Content-Type: application/pdf; name=r.pdf"
	ctBytes := len("Content-Type") + len("application/pdf; name=r.pdf")
	partHeaderMail := func(total int) string {
		return onePart("X-Pad: "+strings.Repeat("x", total-ctBytes-len("X-Pad"))+"\r\n"+ctField, "%PDF")
	}
	ctCut := fmt.Sprintf("more than %d parameters in Content-Type; rest ignored", maxParams)
	cdCut := fmt.Sprintf("more than %d parameters in Content-Disposition; rest ignored", maxParams)
	koi8 := "\xf0\xd2\xc9\xd7\xc5\xd4" // "Привет" in KOI8-R
	longName := func(n int) string {
		return onePart(`Content-Type: application/octet-stream`+"\r\n"+`Content-Disposition: attachment; filename="`+strings.Repeat("n", n)+`"`, "x")
	}

	sizeHeader := limitsHeader + "Content-Type: application/octet-stream\r\n\r\n"
	tests := []struct {
		name    string
		raw     string
		wantErr error
		defects []string // the defects the mail must have, in order; nil = none
		check   func(m *Mail) string
	}{
		{name: "message at the bound", raw: padTo(sizeHeader, defaultMaxBytes),
			check: func(m *Mail) string {
				return want(m.Size == defaultMaxBytes && len(m.Attachments) == 1 && m.Attachments[0].Size == defaultMaxBytes-len(sizeHeader), "size %d, attachments %+v", m.Size, m.Attachments)
			}},
		{name: "message one past", raw: padTo(sizeHeader, defaultMaxBytes+1), wantErr: ErrTooLarge},

		{name: "nesting at the bound", raw: nestedMail(defaultMaxDepth),
			check: func(m *Mail) string { return want(m.Body == "DEEP", "body %q", m.Body) }},
		{name: "nesting one past", raw: nestedMail(defaultMaxDepth + 1),
			defects: []string{fmt.Sprintf("MIME nesting deeper than %d; parts skipped", defaultMaxDepth)},
			check:   func(m *Mail) string { return want(m.Body == "", "body %q", m.Body) }},

		{name: "parts at the bound", raw: partsMail(defaultMaxParts - 1),
			check: func(m *Mail) string {
				return want(len(m.Attachments) == defaultMaxParts-1, "%d attachments", len(m.Attachments))
			}},
		{name: "parts one past", raw: partsMail(defaultMaxParts),
			defects: []string{fmt.Sprintf("more than %d MIME parts; rest skipped", defaultMaxParts)},
			check: func(m *Mail) string {
				return want(len(m.Attachments) == defaultMaxParts-1, "%d attachments", len(m.Attachments))
			}},

		{name: "text body at the bound", raw: limitsHeader + "\r\n" + strings.Repeat("a", defaultMaxBodyBytes),
			check: func(m *Mail) string {
				return want(m.Body == strings.Repeat("a", defaultMaxBodyBytes), "body of %d bytes", len(m.Body))
			}},
		{name: "text body one past", raw: limitsHeader + "\r\n" + strings.Repeat("a", defaultMaxBodyBytes+1),
			defects: []string{fmt.Sprintf("body longer than %d bytes; truncated", defaultMaxBodyBytes)},
			check: func(m *Mail) string {
				return want(m.Body == strings.Repeat("a", defaultMaxBodyBytes), "body of %d bytes", len(m.Body))
			}},

		{name: "HTML source at the bound", raw: htmlMail(defaultMaxBodyBytes*htmlSourceFactor, "END"),
			check: func(m *Mail) string {
				return want(strings.HasSuffix(m.Body, "END"), "body ends %q", m.Body[max(0, len(m.Body)-10):])
			}},
		{name: "HTML source one past", raw: htmlMail(defaultMaxBodyBytes*htmlSourceFactor+1, "END"),
			defects: []string{fmt.Sprintf("body longer than %d bytes; truncated", defaultMaxBodyBytes)},
			check: func(m *Mail) string {
				return want(strings.HasSuffix(m.Body, "EN"), "body ends %q", m.Body[max(0, len(m.Body)-10):])
			}},

		{name: "header fields at the bound", raw: fieldsMail(defaultMaxHeaders),
			check: func(m *Mail) string { return want(m.Headers["X-Last"] == "here", "X-Last %q", m.Headers["X-Last"]) }},
		{name: "header fields one past", raw: fieldsMail(defaultMaxHeaders + 1),
			defects: []string{"too many header fields; extra fields ignored"},
			check:   func(m *Mail) string { return want(m.Headers["X-Last"] == "", "X-Last %q", m.Headers["X-Last"]) }},

		{name: "header block at the bound", raw: headerBlockMail(maxHeaderBlockBytes),
			check: func(m *Mail) string {
				return want(m.Headers["X-Last"] == "here" && m.Body == "the body", "X-Last %q, body %q", m.Headers["X-Last"], m.Body)
			}},
		{name: "header block one past", raw: headerBlockMail(maxHeaderBlockBytes + 1),
			defects: []string{fmt.Sprintf("header block exceeds %d MiB; rest ignored", maxHeaderBlockBytes>>20)},
			check: func(m *Mail) string {
				return want(m.Headers["X-Last"] == "" && m.Subject == "x" && m.Body == "", "X-Last %q, subject %q, body %q", m.Headers["X-Last"], m.Subject, m.Body)
			}},

		{name: "part header at the bound", raw: partHeaderMail(maxPartHeaderBytes),
			check: func(m *Mail) string {
				return want(len(m.Attachments) == 1 && m.Attachments[0].Name == "r.pdf", "attachments %+v", m.Attachments)
			}},
		{name: "part header one past", raw: partHeaderMail(maxPartHeaderBytes + 1),
			defects: []string{fmt.Sprintf("MIME part header over %d bytes; fields past it ignored", maxPartHeaderBytes)},
			check: func(m *Mail) string {
				return want(len(m.Attachments) == 0 && m.Body == "%PDF", "attachments %+v, body %q", m.Attachments, m.Body)
			}},

		{name: "Content-Type parameters at the bound", raw: onePart("Content-Type: text/plain"+params(maxParams-1)+"; charset=koi8-r", koi8),
			check: func(m *Mail) string { return want(m.Body == "Привет", "body %q", m.Body) }},
		{name: "Content-Type parameters one past", raw: onePart("Content-Type: text/plain"+params(maxParams)+"; charset=koi8-r", koi8),
			defects: []string{ctCut, "8-bit text without a charset; decoded as windows-1252"},
			check:   func(m *Mail) string { return want(m.Body == "ðÒÉ×ÅÔ", "body %q", m.Body) }},
		{name: "Content-Disposition parameters at the bound", raw: onePart("Content-Type: application/pdf\r\nContent-Disposition: attachment"+params(maxParams-1)+"; filename=late.pdf", "x"),
			check: func(m *Mail) string {
				return want(len(m.Attachments) == 1 && m.Attachments[0].Name == "late.pdf", "attachments %+v", m.Attachments)
			}},
		{name: "Content-Disposition parameters one past", raw: onePart("Content-Type: application/pdf\r\nContent-Disposition: attachment"+params(maxParams)+"; filename=late.pdf", "x"),
			defects: []string{cdCut},
			check: func(m *Mail) string {
				return want(len(m.Attachments) == 1 && m.Attachments[0].Name == "", "attachments %+v", m.Attachments)
			}},

		{name: "header value at the bound", raw: limitsHeader + "X-Long: " + strings.Repeat("y", maxHeaderValueBytes) + "\r\n\r\nb",
			check: func(m *Mail) string {
				return want(m.Headers["X-Long"] == strings.Repeat("y", maxHeaderValueBytes), "X-Long of %d bytes", len(m.Headers["X-Long"]))
			}},
		{name: "header value one past", raw: limitsHeader + "X-Long: " + strings.Repeat("y", maxHeaderValueBytes+1) + "\r\n\r\nb",
			check: func(m *Mail) string {
				return want(m.Headers["X-Long"] == strings.Repeat("y", maxHeaderValueBytes), "X-Long of %d bytes", len(m.Headers["X-Long"]))
			}},

		{name: "References at the bound", raw: limitsHeader + "References: " + idList(maxReferences) + "\r\n\r\nb",
			check: func(m *Mail) string {
				return want(len(m.References) == maxReferences, "%d references", len(m.References))
			}},
		{name: "References one past", raw: limitsHeader + "References: " + idList(maxReferences+1) + "\r\n\r\nb",
			check: func(m *Mail) string {
				return want(len(m.References) == maxReferences, "%d references", len(m.References))
			}},

		{name: "addresses at the bound", raw: limitsHeader + "To: " + addressList(maxAddresses) + "\r\n\r\nb",
			check: func(m *Mail) string {
				return want(len(m.To) == maxAddresses && m.To[maxAddresses-1].Address == fmt.Sprintf("u%d@example.com", maxAddresses-1), "%d addresses", len(m.To))
			}},
		{name: "addresses one past", raw: limitsHeader + "To: " + addressList(maxAddresses+1) + "\r\n\r\nb",
			defects: []string{"too many addresses; extra ignored"},
			check:   func(m *Mail) string { return want(len(m.To) == maxAddresses, "%d addresses", len(m.To)) }},

		{name: "attachment name at the bound", raw: longName(maxAttachmentName),
			check: func(m *Mail) string {
				return want(len(m.Attachments) == 1 && m.Attachments[0].Name == strings.Repeat("n", maxAttachmentName), "attachments %+v", m.Attachments)
			}},
		{name: "attachment name one past", raw: longName(maxAttachmentName + 1),
			check: func(m *Mail) string {
				return want(len(m.Attachments) == 1 && m.Attachments[0].Name == strings.Repeat("n", maxAttachmentName), "attachments %+v", m.Attachments)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode([]byte(tt.raw), DecodeOptions{})
			if tt.wantErr != nil || err != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if !slices.Equal(m.Defects, tt.defects) {
				t.Errorf("defects %q, want %q", m.Defects, tt.defects)
			}
			if tt.check != nil {
				if msg := tt.check(m); msg != "" {
					t.Error(msg)
				}
			}
		})
	}
}

// padTo fills s with body lines to exactly n bytes.
func padTo(s string, n int) string {
	var b strings.Builder
	b.Grow(n)
	b.WriteString(s)
	line := strings.Repeat("z", 998) + "\r\n"
	for b.Len()+len(line) <= n {
		b.WriteString(line)
	}
	b.WriteString(strings.Repeat("z", n-b.Len()))
	return b.String()
}

// want returns "" when ok, else the formatted problem.
func want(ok bool, format string, args ...any) string {
	if ok {
		return ""
	}
	return fmt.Sprintf(format, args...)
}

// TestDefectListBound: maxDefects distinct defects are all listed; one
// more is dropped, and a repeated one is listed once.
func TestDefectListBound(t *testing.T) {
	for _, n := range []int{maxDefects, maxDefects + 1} {
		var d defectList
		for i := range n {
			d.add(fmt.Sprintf("defect %d", i))
			d.add(fmt.Sprintf("defect %d", i))
		}
		if len(d.list) != maxDefects || d.list[maxDefects-1] != fmt.Sprintf("defect %d", maxDefects-1) {
			t.Errorf("%d defects added: %d listed, last %q", n, len(d.list), d.list[len(d.list)-1])
		}
	}
}
