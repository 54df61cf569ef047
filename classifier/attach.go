package classifier

import (
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/triage-dev/triage/internal/clip"
)

// attachmentName finds a part's file name: Content-Disposition filename,
// else Content-Type name; RFC 2231 (any charset, continuations) and
// encoded words (which Outlook puts inside quotes) both decoded.
func attachmentName(disposition, contentType string, defects *defectList) string {
	for _, src := range [...]struct{ value, param string }{
		{disposition, "filename"},
		{contentType, "name"},
	} {
		if src.value == "" {
			continue
		}
		if name, ok := paramText(src.value, src.param, defects); ok {
			if name = safeFileName(name); name != "" {
				return name
			}
		}
	}
	return ""
}

// paramText returns the decoded text of a header parameter.
func paramText(headerValue, name string, defects *defectList) (string, bool) {
	raw, charset, extended, ok := headerParam(headerValue, name)
	if !ok {
		return "", false
	}
	if extended {
		s, known := decodeBytes(charset, raw)
		if !known {
			defects.add("unknown charset " + quoteShort(charset) + " in a parameter; decoded best effort")
		}
		return s, true
	}
	return decodeWords(bestEffortHeader(string(raw), defects), defects), true
}

// paramPiece is one RFC 2231 section of a parameter.
type paramPiece struct {
	n        int
	extended bool
	value    string
}

// headerParam extracts one parameter from a structured header value such
// as `attachment; filename*0*=utf-8”%E2%82%AC; filename*1=".txt"`. It
// returns the raw bytes, the RFC 2231 charset, and whether the value was
// RFC 2231 encoded. name* wins over continuations, which win over name.
// mime.ParseMediaType is not used because it drops RFC 2231 values in any
// charset but UTF-8 and fails whole headers over one bad parameter.
func headerParam(v, name string) (raw []byte, charset string, extended, ok bool) {
	name = strings.ToLower(name)
	var plain, star *paramPiece
	var pieces []paramPiece
	for _, p := range splitParams(v)[1:] {
		k, val, found := strings.Cut(p, "=")
		if !found {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		val = unquote(strings.TrimSpace(val))
		switch {
		case k == name:
			if plain == nil {
				plain = &paramPiece{value: val}
			}
		case k == name+"*":
			if star == nil {
				star = &paramPiece{extended: true, value: val}
			}
		case strings.HasPrefix(k, name+"*"):
			sec := k[len(name)+1:]
			ext := strings.HasSuffix(sec, "*")
			n, err := strconv.Atoi(strings.TrimSuffix(sec, "*"))
			if err != nil || n < 0 || n > 999 {
				continue
			}
			pieces = append(pieces, paramPiece{n: n, extended: ext, value: val})
		}
	}
	switch {
	case star != nil:
		charset, b := decodeExtended(star.value, true)
		return b, charset, true, true
	case len(pieces) > 0:
		sort.SliceStable(pieces, func(i, j int) bool { return pieces[i].n < pieces[j].n })
		var b []byte
		for i, p := range pieces {
			if p.extended {
				cs, part := decodeExtended(p.value, i == 0)
				if i == 0 {
					charset = cs
					extended = true
				}
				b = append(b, part...)
			} else {
				b = append(b, p.value...)
			}
		}
		return b, charset, extended, true
	case plain != nil:
		return []byte(plain.value), "", false, true
	}
	return nil, "", false, false
}

// decodeExtended decodes an RFC 2231 extended value; the first section
// carries charset'language'.
func decodeExtended(v string, first bool) (charset string, b []byte) {
	if first {
		if cs, rest, ok := strings.Cut(v, "'"); ok {
			if _, after, ok := strings.Cut(rest, "'"); ok {
				charset, v = cs, after
			}
		}
	}
	if s, err := url.PathUnescape(v); err == nil {
		return charset, []byte(s)
	}
	return charset, []byte(v)
}

// splitParams splits a header value at semicolons outside quotes: the
// value, then at most maxParams parameters (the rest is dropped).
func splitParams(v string) []string {
	v = v[:paramsEnd(v)]
	var out []string
	start := 0
	scanParams(v, func(i int) bool {
		out = append(out, v[start:i])
		start = i + 1
		return true
	})
	return append(out, v[start:])
}

// paramsEnd returns where the parameters of a header value past the
// first maxParams begin, or len(v) when it has no more.
func paramsEnd(v string) int {
	if strings.Count(v, ";") <= maxParams {
		return len(v) // quoted semicolons only make fewer parameters
	}
	end, n := len(v), 0
	scanParams(v, func(i int) bool {
		n++
		if n > maxParams {
			end = i
			return false
		}
		return true
	})
	return end
}

// scanParams calls at with the index of each semicolon of v outside
// quotes, until at returns false.
func scanParams(v string, at func(int) bool) {
	inQuote, escaped := false, false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case escaped:
			escaped = false
		case c == '\\' && inQuote:
			escaped = true
		case c == '"':
			inQuote = !inQuote
		case c == ';' && !inQuote:
			if !at(i) {
				return
			}
		}
	}
}

// unquote removes the quotes of a quoted-string and its backslash escapes.
// A value with an unbalanced quote loses only the quote.
func unquote(v string) string {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return strings.Trim(v, `"`)
	}
	v = v[1 : len(v)-1]
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// safeFileName keeps a file name displayable and harmless: one line, no
// directory part, bounded length.
func safeFileName(name string) string {
	name = cleanLine(name)
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.TrimSpace(name)
	if name == "." || name == ".." {
		return ""
	}
	return clip.UTF8(name, maxAttachmentName)
}

// nameFromSubject makes a forwarded message's file name from its subject.
func nameFromSubject(subject string) string {
	subject = strings.NewReplacer("/", "_", `\`, "_").Replace(cleanLine(subject))
	return clip.UTF8(subject, maxAttachmentName-len(".eml")) + ".eml"
}
