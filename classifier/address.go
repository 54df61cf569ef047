package classifier

import (
	"io"
	"mime"
	"strings"
)

// addrPair is one parsed mailbox: display name and addr-spec as written.
type addrPair struct{ name, addr string }

// wordDecoder decodes the encoded words of display names for the fast
// address path as net/mail would with headerCharsetReader, holding the
// unknown charsets met until the caller knows the fast path succeeded.
type wordDecoder struct {
	dec     mime.WordDecoder
	unknown []string // unknown charset labels, in order
	failed  bool     // the charset reader failed: net/mail must decide
}

func (w *wordDecoder) reset() {
	if w.dec.CharsetReader == nil {
		w.dec.CharsetReader = w.charsetReader
	}
	w.unknown, w.failed = w.unknown[:0], false
}

// charsetReader is headerCharsetReader recording instead of reporting.
func (w *wordDecoder) charsetReader(label string, r io.Reader) (io.Reader, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxHeaderBlockBytes))
	if err != nil {
		w.failed = true
		return nil, err
	}
	s, known := decodeBytes(label, b)
	if !known {
		w.unknown = append(w.unknown, label)
	}
	return strings.NewReader(s), nil
}

// fastAddressList parses the address lists nearly all mail carries
// (`a@b`, `Name <a@b>`, `"Name" <a@b>`, comma-separated) exactly as
// net/mail's AddressParser.ParseList would, appending to out. net/mail
// allocates an error for every address it first tries as a bare addr-spec
// and several strings per address; here names and addresses are
// substrings of v. ok is false for anything outside that subset (comments,
// groups, escapes, encoded words, domain literals, quoted local parts,
// control characters, syntax errors): the caller then uses net/mail. v
// must be valid UTF-8 (bytes >= 0x80 are then parts of multibyte runes,
// which net/mail accepts in atoms and quoted strings).
//
// Encoded words in a display name are decoded with wd as net/mail decodes
// them; wd.unknown lists the unknown charsets met.
func fastAddressList(v string, out []addrPair, wd *wordDecoder) ([]addrPair, bool) {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c < ' ' && c != '\t', c == 0x7F, c == '(', c == ')', c == '\\', c == ':', c == ';', c == '[', c == ']':
			return out, false
		}
	}
	p := v
	for {
		p = skipWSP(p)
		if p != "" && p[0] == ',' {
			p = p[1:]
			continue
		}
		name, addr, rest, ok := fastAddress(p, wd)
		if !ok {
			return out, false
		}
		out = append(out, addrPair{name, addr})
		p = skipWSP(rest)
		if p == "" {
			break
		}
		if p[0] != ',' {
			return out, false
		}
		for p != "" && p[0] == ',' {
			p = skipWSP(p[1:])
		}
		if p == "" {
			break
		}
	}
	return out, true
}

// fastAddress is net/mail's parseAddress on the subset: a bare addr-spec
// is tried first, then `[phrase] <addr-spec>`.
func fastAddress(p string, wd *wordDecoder) (name, addr, rest string, ok bool) {
	p = skipWSP(p)
	if p == "" {
		return "", "", "", false
	}
	spec, rest, res := fastAddrSpec(p)
	switch res {
	case specOK:
		return "", spec, rest, true
	case specUnsupported:
		return "", "", "", false
	}
	if p[0] != '<' {
		if strings.Contains(p, "=?") {
			name, p, ok = decodedPhrase(p, wd)
		} else {
			name, p, ok = fastPhrase(p)
		}
		if !ok {
			return "", "", "", false
		}
	}
	p = skipWSP(p)
	if p == "" || p[0] != '<' {
		return "", "", "", false
	}
	spec, rest, res = fastAddrSpec(p[1:])
	if res != specOK || rest == "" || rest[0] != '>' {
		return "", "", "", false
	}
	return name, spec, rest[1:], true
}

const (
	specOK          = iota
	specNone        // not an addr-spec here; net/mail backtracks
	specUnsupported // outside the fast subset
)

// fastAddrSpec is net/mail's consumeAddrSpec: dot-atom "@" dot-atom.
func fastAddrSpec(p string) (spec, rest string, res int) {
	p = skipWSP(p)
	if p == "" {
		return "", "", specNone
	}
	if p[0] == '"' {
		// A quoted local part is rare: only whether it is one matters.
		if _, after, ok := fastQuoted(p); ok && after != "" && after[0] == '@' {
			return "", "", specUnsupported
		}
		return "", "", specNone
	}
	local, after := atomRun(p)
	if !strictDotAtom(local) || after == "" || after[0] != '@' {
		return "", "", specNone
	}
	d := skipWSP(after[1:])
	if d == "" {
		return "", "", specNone
	}
	domain, rest := atomRun(d)
	if !strictDotAtom(domain) {
		return "", "", specNone
	}
	if len(d) == len(after)-1 {
		// No blank after the "@": the addr-spec is as written.
		return p[:len(local)+1+len(domain)], rest, specOK
	}
	return local + "@" + domain, rest, specOK
}

// fastPhrase is net/mail's consumePhrase without comments and encoded
// words: words (atoms, dots allowed, or quoted strings) joined by one
// space, ending at the first thing that is not a word. ok is false when
// there is no word. Atoms separated by single spaces, or a single word, are
// returned as a substring of s.
func fastPhrase(s string) (phrase, rest string, ok bool) {
	pos, words := 0, 0
	start, end := 0, 0 // s[start:end] is the phrase while simple
	simple, firstQuoted := true, false
	var b strings.Builder
	for {
		pos = len(s) - len(skipWSP(s[pos:]))
		if pos == len(s) {
			break
		}
		quoted := s[pos] == '"'
		var ws, we, next int // the word is s[ws:we]; next follows it
		if quoted {
			content, after, ok := fastQuoted(s[pos:])
			if !ok {
				break
			}
			ws, we, next = pos+1, pos+1+len(content), len(s)-len(after)
		} else {
			atom, after := atomRun(s[pos:])
			if atom == "" {
				break
			}
			ws, we, next = pos, pos+len(atom), len(s)-len(after)
		}
		switch {
		case words == 0:
			start, end, firstQuoted = ws, we, quoted
		case simple && !quoted && !firstQuoted && ws == end+1 && s[end] == ' ':
			end = we
		default:
			if simple {
				simple = false
				b.WriteString(s[start:end])
			}
			b.WriteByte(' ')
			b.WriteString(s[ws:we])
		}
		words++
		pos = next
	}
	if words == 0 {
		return "", s[pos:], false
	}
	if simple {
		return s[start:end], s[pos:], true
	}
	return b.String(), s[pos:], true
}

// decodedPhrase is net/mail's consumePhrase with encoded words, step for
// step: adjacent encoded words are joined without a space. ok is false
// where net/mail would fail or the charset reader failed.
func decodedPhrase(p string, wd *wordDecoder) (phrase, rest string, ok bool) {
	var words []string
	var sb strings.Builder
	for {
		p = skipWSP(p)
		if p == "" {
			break
		}
		var word string
		isEncoded := false
		if p[0] == '"' {
			w, after, ok := fastQuoted(p)
			if !ok {
				break
			}
			word, p = w, after
		} else {
			a, after := atomRun(p)
			if a == "" {
				break
			}
			word, p = a, after
			if dec, err := wd.dec.Decode(a); err == nil {
				word, isEncoded = dec, true
			} else if wd.failed {
				return "", p, false
			}
		}
		switch {
		case isEncoded:
			sb.WriteString(word)
		case sb.Len() > 0:
			words = append(words, sb.String(), word)
			sb.Reset()
		default:
			words = append(words, word)
		}
	}
	if sb.Len() > 0 {
		words = append(words, sb.String())
	}
	if len(words) == 0 {
		return "", p, false
	}
	return strings.Join(words, " "), p, true
}

// fastQuoted reads a quoted-string without escapes: its content and what
// follows. ok is false when it is unclosed or holds a character net/mail
// rejects.
func fastQuoted(p string) (content, rest string, ok bool) {
	for i := 1; i < len(p); i++ {
		switch c := p[i]; {
		case c == '"':
			return p[1:i], p[i+1:], true
		case c == ' ' || c == '\t' || c >= 0x80 || '!' <= c && c <= '~' && c != '\\':
		default:
			return "", p, false
		}
	}
	return "", p, false
}

// atomRun splits off the leading run of atext, dots included.
func atomRun(p string) (atom, rest string) {
	for i := 0; i < len(p); i++ {
		if !isAtext(p[i], true) {
			return p[:i], p[i:]
		}
	}
	return p, ""
}

// strictDotAtom: non-empty, no leading, trailing or double dot.
func strictDotAtom(a string) bool {
	return a != "" && a[0] != '.' && a[len(a)-1] != '.' && !strings.Contains(a, "..")
}

// isAtext is net/mail's isAtext for one byte of valid UTF-8.
func isAtext(c byte, dot bool) bool {
	switch c {
	case '.':
		return dot
	case '(', ')', '<', '>', '[', ']', ':', ';', '@', '\\', ',', '"':
		return false
	}
	return '!' <= c && c <= '~' || c >= 0x80
}

func skipWSP(p string) string {
	for len(p) > 0 && (p[0] == ' ' || p[0] == '\t') {
		p = p[1:]
	}
	return p
}
