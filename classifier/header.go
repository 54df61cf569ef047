package classifier

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/triage-dev/triage/internal/clip"
)

// maxHeaderBlockBytes bounds one header block; go-message uses the same.
const maxHeaderBlockBytes = 1 << 20

// rawField is one header field as it appeared: canonical name and the
// unfolded, trimmed, undecoded value.
type rawField struct {
	Key   string
	Value string
}

// headerBlock is the top-level header of a message.
type headerBlock struct {
	Fields []rawField
	Body   []byte // everything after the blank line
}

// Get returns the first raw value of the named header, or "".
func (h *headerBlock) Get(key string) string {
	for _, f := range h.Fields {
		if f.Key == key {
			return f.Value
		}
	}
	return ""
}

// Has reports whether the named header is present.
func (h *headerBlock) Has(key string) bool {
	return slices.ContainsFunc(h.Fields, func(f rawField) bool { return f.Key == key })
}

// join returns every raw value of the named header, in order, joined by
// sep.
func (h *headerBlock) join(key, sep string) string {
	var vs []string
	for _, f := range h.Fields {
		if f.Key == key {
			vs = append(vs, f.Value)
		}
	}
	return strings.Join(vs, sep)
}

// scanHeader splits raw into its top-level header fields and body. It is
// lenient where go-message is strict: a line without a colon, a leading
// continuation line or a bad field name is dropped with a defect instead of
// ending the header. An mbox "From " envelope line is skipped. maxFields
// bounds how many fields are kept.
//
// The fields are appended to fields[:0] (nil or a slice a decoder reuses).
// The header block is converted to one string once: unfolded values and
// canonical keys are substrings of it, so an ordinary field costs no
// allocation.
func scanHeader(raw []byte, maxFields int, defects *defectList, fields []rawField) headerBlock {
	// First pass: where the header block ends (the same loop as below).
	consumed, bodyStart, overflow := 0, -1, false
	for rest := raw; len(rest) > 0; {
		line, next, _ := bytes.Cut(rest, []byte{'\n'})
		n := len(rest) - len(next)
		if len(line) == 0 || len(line) == 1 && line[0] == '\r' {
			bodyStart = consumed + n
			break
		}
		// The line that would pass the bound is not read: one field line
		// as long as the message must not count as within it.
		if consumed+n > maxHeaderBlockBytes {
			overflow = true
			break
		}
		consumed += n
		rest = next
	}
	s := string(raw[:consumed]) // the blank line not included

	h := headerBlock{Fields: fields[:0]}
	if bodyStart >= 0 {
		h.Body = raw[bodyStart:]
	}
	first := true
	curStart, curEnd := -1, 0 // the field being assembled: s[curStart:curEnd], folding included
	flush := func() {
		if curStart < 0 {
			return
		}
		cur := s[curStart:curEnd]
		i := strings.IndexByte(cur, ':')
		key := textproto.CanonicalMIMEHeaderKey(strings.TrimRight(cur[:i], " \t"))
		if len(h.Fields) < maxFields {
			h.Fields = append(h.Fields, rawField{Key: key, Value: unfold(cur[i+1:])})
		} else {
			defects.add("too many header fields; extra fields ignored")
		}
		curStart = -1
	}
	pos := 0
	for line := range strings.Lines(s) {
		lineStart := pos
		pos += len(line)
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		switch {
		case line[0] == ' ' || line[0] == '\t':
			if curStart < 0 {
				defects.add("header continuation line without a field")
				continue
			}
			curEnd = lineStart + len(line)
		case first && strings.HasPrefix(line, "From "):
			// mbox envelope line of an exported message
		default:
			flush()
			if !validFieldName(line) {
				defects.add("header line without a colon or with a bad field name")
				break
			}
			curStart, curEnd = lineStart, lineStart+len(line)
		}
		first = false
	}
	if overflow {
		defects.add("header block exceeds 1 MiB; rest ignored")
	}
	flush()
	return h
}

// validFieldName reports whether line starts with "name:" where name is
// printable ASCII without a colon (trailing blanks before the colon occur
// in the wild and are tolerated).
func validFieldName(line string) bool {
	i := strings.IndexByte(line, ':')
	if i <= 0 {
		return false
	}
	name := strings.TrimRight(line[:i], " \t")
	return len(name) > 0 && !strings.ContainsFunc(name, func(r rune) bool { return r < 33 || r > 126 })
}

// unfold joins a folded value: each line trimmed, joined by one space. A
// value on one line is returned as a substring of v.
func unfold(v string) string {
	if strings.IndexByte(v, '\n') < 0 {
		return strings.Trim(v, " \t\r")
	}
	var b strings.Builder
	b.Grow(len(v))
	for l := range strings.SplitSeq(v, "\n") {
		l = strings.Trim(l, " \t\r")
		if len(l) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(l)
	}
	return b.String()
}

// TicketID is the stable id of a message: the first 32 hex digits of
// SHA-256 over the Message-ID, From, Date and Subject raw header values
// (unfolded, trimmed) joined by "\n", or over raw when the message has no
// Message-ID.
func TicketID(raw []byte) string {
	var d defectList
	h := scanHeader(raw, defaultMaxHeaders, &d, nil)
	id, _ := ticketID(&h, raw, nil)
	return id
}

// ticketID is TicketID of a scanned header, assembling the hashed key in
// buf (nil or one to reuse), which it returns.
func ticketID(h *headerBlock, raw []byte, buf []byte) (string, []byte) {
	mid := h.Get("Message-Id")
	var sum [sha256.Size]byte
	if mid == "" {
		sum = sha256.Sum256(raw)
	} else {
		buf = append(buf[:0], mid...)
		for _, k := range [...]string{"From", "Date", "Subject"} {
			buf = append(buf, '\n')
			buf = append(buf, h.Get(k)...)
		}
		sum = sha256.Sum256(buf)
	}
	return hex.EncodeToString(sum[:16]), buf
}

// decodeHeaderValue turns a raw header value into clean single-line text:
// 8-bit bytes as UTF-8 when valid else windows-1252, RFC 2047 encoded
// words decoded in any charset.
func decodeHeaderValue(v string, defects *defectList) string {
	if !utf8.ValidString(v) {
		defects.add("8-bit bytes in a header; decoded as windows-1252")
		v = bestEffort([]byte(v))
	}
	return cleanLine(decodeWords(v, defects))
}

// decodeWords decodes RFC 2047 encoded words; it is the one decoder of
// every header, display names included. Adjacent words of one charset are
// joined before conversion, because mailers split multi-byte characters
// across words (why mime.WordDecoder does not serve: TestOneWordDecoder);
// whitespace between encoded words is dropped. Malformed words stay as
// they are.
func decodeWords(s string, defects *defectList) string {
	if !strings.Contains(s, "=?") {
		return s // no encoded word
	}
	var out strings.Builder
	var pending []byte // decoded bytes of adjacent words in pendingCharset
	pendingCharset := ""
	flush := func() {
		if pendingCharset == "" {
			return
		}
		text, known := decodeBytes(pendingCharset, pending)
		if !known {
			defects.add("unknown charset " + quoteShort(pendingCharset) + "; decoded best effort")
		}
		out.WriteString(text)
		pending = pending[:0]
		pendingCharset = ""
	}
	for {
		start := strings.Index(s, "=?")
		if start < 0 {
			break
		}
		charset, content, n, ok := parseWord(s[start:])
		if !ok {
			flush()
			out.WriteString(s[:start+2])
			s = s[start+2:]
			continue
		}
		between := s[:start]
		if pendingCharset != "" && strings.TrimLeft(between, " \t") == "" {
			// only whitespace since the last word: dropped
		} else {
			flush()
			out.WriteString(between)
		}
		if pendingCharset != "" && !strings.EqualFold(pendingCharset, charset) {
			flush()
		}
		pendingCharset = charset
		pending = append(pending, content...)
		s = s[start+n:]
	}
	flush()
	out.WriteString(s)
	return out.String()
}

// parseWord parses one encoded word at the start of s: charset (any RFC
// 2231 language suffix removed), decoded bytes and the word's length.
func parseWord(s string) (charset string, content []byte, n int, ok bool) {
	// =?charset?E?text?=
	rest := s[2:]
	i := strings.IndexByte(rest, '?')
	if i <= 0 || i > 64 || len(rest) < i+3 || rest[i+2] != '?' {
		return "", nil, 0, false
	}
	charset = rest[:i]
	if strings.ContainsAny(charset, " \t()<>@,;:\"/[]=") {
		return "", nil, 0, false
	}
	if star := strings.IndexByte(charset, '*'); star >= 0 {
		charset = charset[:star]
	}
	enc := rest[i+1]
	text := rest[i+3:]
	j := strings.Index(text, "?=")
	if j < 0 || strings.ContainsAny(text[:j], " \t") {
		return "", nil, 0, false
	}
	text = text[:j]
	switch enc {
	case 'B', 'b':
		b, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(text, "="))
			if err != nil {
				return "", nil, 0, false
			}
		}
		content = b
	case 'Q', 'q':
		content = decodeQ(text)
	default:
		return "", nil, 0, false
	}
	return charset, content, 2 + i + 3 + j + 2, true
}

// decodeQ decodes RFC 2047 Q text; a bad escape stays literal.
func decodeQ(s string) []byte {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '_':
			c = ' '
		case '=':
			if v, ok := unhex2(s[i+1:]); ok {
				c, i = v, i+2
			}
		}
		b = append(b, c)
	}
	return b
}

// unhex2 decodes the two hex digits s starts with.
func unhex2(s string) (byte, bool) {
	if len(s) < 2 {
		return 0, false
	}
	v, err := strconv.ParseUint(s[:2], 16, 8)
	return byte(v), err == nil
}

// quoteShort quotes s for a defect message, cut to 40 bytes.
func quoteShort(s string) string {
	s = cleanLine(s)
	if len(s) > 40 {
		s = clip.UTF8(s, 40) + "…"
	}
	return `"` + s + `"`
}
