package classifier

import (
	"encoding/base64"
	"io"
	"mime/quotedprintable"
	"strings"

	"github.com/emersion/go-message"
)

// entity is one MIME entity as the walker sees it: the three header fields
// that shape its content and its decoded body. newEntity does what
// go-message's message.New does (transfer decoding, charset conversion to
// UTF-8, the same quirks) without building a header map or parsing the
// Content-Type twice per part, which was a large share of decoding a small
// mail.
type entity struct {
	contentType string // raw values, "" when absent
	disposition string
	body        io.Reader

	// From Content-Type as message.Header.ContentType returns it: on a
	// parse error mediaType is the raw value and params are empty.
	mediaType string
	params    []mediaParam
	ctErr     error

	// What message.New would have reported: an unknown charset error
	// replaces an unknown encoding error.
	unknownEncoding bool
	unknownCharset  bool

	paramBuf [4]mediaParam
}

type mediaParam struct{ key, value string }

// param returns the value of a (lower-case) parameter.
func (e *entity) param(key string) string {
	for _, p := range e.params {
		if p.key == key {
			return p.value
		}
	}
	return ""
}

func (e *entity) hasParam(key string) bool {
	for _, p := range e.params {
		if p.key == key {
			return true
		}
	}
	return false
}

// newEntity builds the entity of a part with these header values, as
// message.New(header, body) does.
func newEntity(contentType, transferEncoding, disposition string, body io.Reader) *entity {
	e := new(entity)
	e.init(contentType, transferEncoding, disposition, body)
	return e
}

// init is newEntity into e, which a decoder reuses.
func (e *entity) init(contentType, transferEncoding, disposition string, body io.Reader) {
	*e = entity{contentType: contentType, disposition: disposition}
	e.mediaType, e.params, e.ctErr = parseContentType(contentType, e.paramBuf[:0])

	// Like go-message: multipart entities keep their body undecoded
	// whatever Content-Transfer-Encoding claims (go-message issue 48).
	if !strings.HasPrefix(e.mediaType, "multipart/") {
		switch strings.ToLower(transferEncoding) {
		case "quoted-printable":
			body = quotedprintable.NewReader(body)
		case "base64":
			body = base64.NewDecoder(base64.StdEncoding, &whitespaceReplacingReader{wrapped: body})
		case "7bit", "8bit", "binary", "":
		default:
			e.unknownEncoding = true
		}
	}
	// RFC 2046 section 4.1.2: charset only applies to text/*.
	if strings.HasPrefix(e.mediaType, "text/") && e.hasParam("charset") {
		if r, ok := charsetReader(e.param("charset"), body); ok {
			body = r
		} else {
			e.unknownCharset = true
		}
	}
	e.body = body
}

// charsetReader is go-message's: UTF-8 and US-ASCII pass through, the rest
// go through message.CharsetReader (registered by go-message/charset).
func charsetReader(label string, r io.Reader) (io.Reader, bool) {
	label = strings.ToLower(label)
	if label == "utf-8" || label == "us-ascii" {
		return r, true
	}
	if message.CharsetReader == nil {
		return r, false
	}
	cr, err := message.CharsetReader(label, r)
	if err != nil {
		return r, false
	}
	return cr, true
}

// whitespaceReplacingReader is go-message's: spaces and tabs become line
// feeds so base64 bodies indented against the spec still decode.
type whitespaceReplacingReader struct {
	wrapped io.Reader
}

func (r *whitespaceReplacingReader) Read(p []byte) (int, error) {
	n, err := r.wrapped.Read(p)
	for i := 0; i < n; i++ {
		if p[i] == ' ' || p[i] == '\t' {
			p[i] = '\n'
		}
	}
	return n, err
}

// parseContentType is message.Header.ContentType of a header whose
// Content-Type is v, with the parameters appended to buf: "" is text/plain
// and a value that does not parse is returned whole with the error.
func parseContentType(v string, buf []mediaParam) (string, []mediaParam, error) {
	if v == "" {
		return "text/plain", nil, nil
	}
	if mt, params, ok := fastMediaType(v, buf); ok {
		return mt, params, nil
	}
	var h message.Header
	h.Set("Content-Type", v)
	mt, m, err := h.ContentType()
	return mt, appendParams(buf, m), err
}

// isAttachment reports whether a Content-Disposition value, parsed as
// message.Header.ContentDisposition does, is "attachment". A value that
// does not parse counts as its raw text.
func isAttachment(v string) bool {
	if v == "" {
		return false
	}
	var buf [4]mediaParam
	if disp, _, ok := fastMediaType(v, buf[:0]); ok {
		return disp == "attachment"
	}
	var h message.Header
	h.Set("Content-Disposition", v)
	disp, _, _ := h.ContentDisposition()
	return strings.EqualFold(disp, "attachment")
}

func appendParams(buf []mediaParam, m map[string]string) []mediaParam {
	for k, v := range m {
		buf = append(buf, mediaParam{k, v})
	}
	return buf
}

// fastMediaType parses the common shape of a media type value, ASCII
// `type/subtype; key=value; key="value"`, to exactly what mime.ParseMediaType
// and go-message's parameter decoding return, without allocating when the
// value is lower case. ok is false for anything else (RFC 2231 parameters,
// escapes, encoded words, duplicates, syntax errors), which the caller
// hands to the full parser.
func fastMediaType(v string, buf []mediaParam) (mediaType string, params []mediaParam, ok bool) {
	for i := 0; i < len(v); i++ {
		if v[i] >= 0x80 {
			return "", nil, false
		}
	}
	base := v
	if i := strings.IndexByte(v, ';'); i >= 0 {
		base = v[:i]
	}
	mediaType = lowerASCII(trimASCIISpace(base))
	typ, rest := consumeMIMEToken(mediaType)
	if typ == "" {
		return "", nil, false
	}
	if rest != "" {
		if rest[0] != '/' {
			return "", nil, false
		}
		sub, rest := consumeMIMEToken(rest[1:])
		if sub == "" || rest != "" {
			return "", nil, false
		}
	}
	params = buf
	rest = v[len(base):]
	for {
		rest = trimASCIILeftSpace(rest)
		if rest == "" {
			break
		}
		if rest[0] != ';' {
			return "", nil, false
		}
		rest = trimASCIILeftSpace(rest[1:])
		var key string
		key, rest = consumeMIMEToken(rest)
		if key == "" || strings.IndexByte(key, '*') >= 0 {
			return "", nil, false
		}
		key = lowerASCII(key)
		rest = trimASCIILeftSpace(rest)
		if rest == "" || rest[0] != '=' {
			return "", nil, false
		}
		rest = trimASCIILeftSpace(rest[1:])
		var value string
		if rest != "" && rest[0] == '"' {
			end := strings.IndexAny(rest[1:], "\"\\\r\n")
			if end < 0 || rest[1+end] != '"' {
				return "", nil, false
			}
			value, rest = rest[1:1+end], rest[2+end:]
		} else {
			value, rest = consumeMIMEToken(rest)
			if value == "" {
				return "", nil, false
			}
		}
		if strings.Contains(value, "=?") {
			return "", nil, false
		}
		for _, p := range params {
			if p.key == key {
				return "", nil, false
			}
		}
		params = append(params, mediaParam{key, value})
	}
	return mediaType, params, true
}

// consumeMIMEToken is mime's consumeToken: the leading RFC 2045 token.
func consumeMIMEToken(v string) (token, rest string) {
	for i := 0; i < len(v); i++ {
		if !isMIMETokenChar(v[i]) {
			return v[:i], v[i:]
		}
	}
	return v, ""
}

func isMIMETokenChar(c byte) bool { return mimeTokenChars[c] }

// mimeTokenChars: US-ASCII CHAR except SPACE, CTLs and tspecials.
var mimeTokenChars = func() (t [256]bool) {
	for c := '!'; c <= '~'; c++ {
		t[c] = !strings.ContainsRune(`()<>@,;:\"/[]?=`, c)
	}
	return t
}()

// trimASCIISpace is strings.TrimSpace for ASCII input.
func trimASCIISpace(s string) string {
	s = trimASCIILeftSpace(s)
	for len(s) > 0 && isASCIISpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func trimASCIILeftSpace(s string) string {
	for len(s) > 0 && isASCIISpace(s[0]) {
		s = s[1:]
	}
	return s
}

func isASCIISpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// lowerASCII lower-cases ASCII s, allocating only when it has upper case.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// containsFoldASCII reports whether s contains sub (lower-case ASCII)
// ignoring ASCII case.
func containsFoldASCII(s, sub string) bool {
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}
