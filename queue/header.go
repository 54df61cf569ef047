package queue

import (
	"bytes"
	"mime"
	"net"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"

	"github.com/triage-dev/triage/ticket"
)

// Limits for header values taken from mail and rules (hostile input). With
// a name below 30 octets and values of at most maxHeaderValue octets before
// encoding, no header line can exceed RFC 5322's 998 octets: go-message
// folds plain values at spaces, and Q-encoded words are at most 75 octets.
const (
	maxHeaderValue = 900
	maxSubjectTag  = 200
)

// sanitizeHeaderText makes s safe as an unstructured header value: valid
// UTF-8, no control characters (CR, LF, NUL, TAB, C1, line separators
// become spaces so words do not run together), runs of spaces collapsed,
// trimmed, and at most limit octets.
func sanitizeHeaderText(s string, limit int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(min(len(s), limit+8))
	space := false
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == '\u2028' || r == '\u2029' || r == '\uFEFF' {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		if b.Len()+utf8.RuneLen(r) > limit {
			break
		}
		b.WriteRune(r)
	}
	return strings.TrimRight(b.String(), " ")
}

// formatHeader renders one header field, ending in eol: the value
// sanitized, RFC 2047-encoded when it is not printable ASCII and folded
// (go-message's SetText and WriteHeader).
func formatHeader(name, value, eol string) string {
	var h message.Header
	h.SetText(name, sanitizeHeaderText(value, maxHeaderValue))
	var b strings.Builder
	// Cannot fail: the names are constants and a sanitized value has no CR or LF.
	_ = textproto.WriteHeader(&b, h.Header)
	field := strings.TrimSuffix(b.String(), "\r\n") // the blank line ending a header
	if eol != "\r\n" {
		field = strings.ReplaceAll(field, "\r\n", eol)
	}
	return field
}

// triageHeaders are the X-Triage-* fields prepended to a forwarded message,
// in this order. Empty optional values are left out.
func triageHeaders(t *ticket.Ticket, eol string) string {
	d := newTemplateData(t)
	var b strings.Builder
	add := func(name, v string, always bool) {
		if v == "" && !always {
			return
		}
		b.WriteString(formatHeader(name, v, eol))
	}
	add("X-Triage-Tier", d.Tier, true)
	add("X-Triage-Priority", d.Priority, true)
	add("X-Triage-Queue", d.Queue, true)
	add("X-Triage-Runbook", d.Runbook, false)
	add("X-Triage-Rules", strings.Join(d.Rules, ", "), false)
	add("X-Triage-Tags", strings.Join(d.Tags, ", "), false)
	add("X-Triage-Ticket-Id", t.ID, true)
	add("X-Triage-Response-Due", d.ResponseDue, false)
	add("X-Triage-Resolve-Due", d.ResolveDue, false)
	add("X-Triage-Problem", d.Problem, false)
	return b.String()
}

// lineEnding is the raw message's own line ending, so added lines match.
func lineEnding(raw []byte) string {
	if i := bytes.IndexByte(raw, '\n'); i > 0 && raw[i-1] == '\r' {
		return "\r\n"
	}
	if i := bytes.IndexByte(raw, '\n'); i >= 0 {
		return "\n"
	}
	return "\r\n"
}

// headerEnd is the offset of the blank line ending the header section, or
// len(raw) when there is none.
func headerEnd(raw []byte) int {
	if len(raw) > 0 && raw[0] == '\n' || bytes.HasPrefix(raw, []byte("\r\n")) {
		return 0
	}
	best := len(raw)
	if i := bytes.Index(raw, []byte("\n\r\n")); i >= 0 && i+1 < best {
		best = i + 1
	}
	if i := bytes.Index(raw, []byte("\n\n")); i >= 0 && i+1 < best {
		best = i + 1
	}
	return best
}

// findSubject returns the start and end (exclusive, before the line ending)
// of the first physical line of the Subject field, or -1.
func findSubject(raw []byte) (start, end int) {
	for l := range bytes.Lines(raw[:headerEnd(raw)]) {
		line := bytes.TrimSuffix(bytes.TrimSuffix(l, []byte("\n")), []byte("\r"))
		if len(line) >= 8 && bytes.EqualFold(line[:8], []byte("subject:")) {
			return start, start + len(line)
		}
		start += len(l)
	}
	return -1, -1
}

// forwardParts is raw with the X-Triage-* headers prepended and, when tag
// is not empty, the Subject's first line prefixed with it. Nothing else of
// the message changes but what cleanOriginal must repair. The message is
// returned in pieces, slices of the cleaned original between the edits, and
// written piece by piece: joining them would hold a second copy of a
// message that may be tens of megabytes.
func forwardParts(t *ticket.Ticket, tag string) net.Buffers {
	raw := cleanOriginal(t.Raw)
	eol := lineEnding(raw)
	added := []byte(triageHeaders(t, eol))

	tag = sanitizeHeaderText(tag, maxSubjectTag)
	if tag == "" {
		return net.Buffers{added, raw}
	}
	start, end := findSubject(raw)
	if start < 0 {
		return net.Buffers{added, []byte(formatHeader("Subject", tag, eol)), raw}
	}
	line := raw[start:end]
	rest := bytes.TrimLeft(line[len("subject:"):], " \t")
	if bytes.HasPrefix(rest, []byte(tag)) || strings.HasPrefix(strings.TrimSpace(t.Subject), tag) {
		return net.Buffers{added, raw}
	}
	encTag := tag
	if e := mime.QEncoding.Encode("utf-8", tag+" "); e != tag+" " {
		encTag = e // the space sits inside the encoded-word: a decoder drops whitespace between two encoded-words
	}
	var subject bytes.Buffer
	subject.Write(line[:len("subject:")])
	subject.WriteByte(' ')
	subject.WriteString(encTag)
	if len(rest) > 0 {
		if len("Subject: ")+len(encTag)+1+len(rest) > 998 {
			subject.WriteString(eol)
		}
		subject.WriteByte(' ')
		subject.Write(rest)
	}
	return net.Buffers{added, raw[:start], subject.Bytes(), raw[end:]}
}

// partsLen is the length of the message forwardParts returns.
func partsLen(parts net.Buffers) int {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	return n
}
