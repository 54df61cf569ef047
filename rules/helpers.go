package rules

import (
	"errors"
	"fmt"
	"net/textproto"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The helpers below are registered with expr.Function. expr checks argument
// types at compile time against the declared signatures, so a type switch
// failing here means a bug or a value expr could not type (then it errors,
// it never panics).

var errArgs = errors.New("invalid arguments")

// stringsOf returns the strings of a []string or []any argument.
func stringsOf(v any) ([]string, error) {
	switch l := v.(type) {
	case []string:
		return l, nil
	case []any:
		out := make([]string, len(l))
		for i, x := range l {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("list item %d is %T, not a string", i, x)
			}
			out[i] = s
		}
		return out, nil
	case nil:
		return nil, nil
	}
	return nil, fmt.Errorf("expected a list of strings, got %T", v)
}

func lowerList(l []string) []string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = strings.ToLower(s)
	}
	return out
}

// textAndList decodes (text, list), lowering the text when lowerText is
// set and the list when lowerItems is set.
func textAndList(p []any, lowerText, lowerItems bool) (string, []string, error) {
	if len(p) != 2 {
		return "", nil, errArgs
	}
	text, ok := p[0].(string)
	if !ok {
		return "", nil, fmt.Errorf("expected a string, got %T", p[0])
	}
	list, err := stringsOf(p[1])
	if err != nil {
		return "", nil, err
	}
	if lowerText {
		text = strings.ToLower(text)
	}
	if lowerItems {
		list = lowerList(list)
	}
	return text, list, nil
}

// helper wraps a matcher over lowered text and list into expr's calling
// convention.
func helper(match func(string, []string) bool, lowerText, lowerItems bool) func(...any) (any, error) {
	return func(p ...any) (any, error) {
		text, list, err := textAndList(p, lowerText, lowerItems)
		if err != nil {
			return nil, err
		}
		return match(text, list), nil
	}
}

var (
	containsAnyFn                = helper(containsAnyLower, true, true)
	containsAllFn                = helper(containsAllLower, true, true)
	containsAnyWordFn            = helper(containsAnyWordLower, true, true)
	containsAnyListLoweredFn     = helper(containsAnyLower, true, false)
	containsAllListLoweredFn     = helper(containsAllLower, true, false)
	containsAnyWordListLoweredFn = helper(containsAnyWordLower, true, false)
)

// containsAnyLower reports whether text holds any non-empty item; both are
// lower-cased already.
func containsAnyLower(text string, list []string) bool {
	for _, w := range list {
		if w != "" && strings.Contains(text, w) {
			return true
		}
	}
	return false
}

// containsAllLower reports whether text holds every non-empty item.
func containsAllLower(text string, list []string) bool {
	for _, w := range list {
		if w != "" && !strings.Contains(text, w) {
			return false
		}
	}
	return true
}

// containsAnyWordLower reports whether any item occurs in text on word
// boundaries.
func containsAnyWordLower(text string, list []string) bool {
	for _, w := range list {
		if containsWord(text, w) {
			return true
		}
	}
	return false
}

// containsWord reports whether w occurs in text with a boundary on both
// sides. A boundary is the edge of the text or a neighbouring rune that is
// not a letter, digit or mark. Scripts written without spaces between words
// (Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar) have no visible word
// boundaries, so a match touching one of them counts as bounded.
func containsWord(text, w string) bool {
	if w == "" {
		return false
	}
	for off := 0; off <= len(text)-len(w); {
		i := strings.Index(text[off:], w)
		if i < 0 {
			return false
		}
		start := off + i
		if boundedAt(text, start, start+len(w)) {
			return true
		}
		_, size := utf8.DecodeRuneInString(text[start:])
		off = start + size
	}
	return false
}

// boundedAt reports whether the match text[start:end] has a word boundary
// on both sides.
func boundedAt(text string, start, end int) bool {
	first, _ := utf8.DecodeRuneInString(text[start:end])
	last, _ := utf8.DecodeLastRuneInString(text[start:end])
	return boundaryAt(text[:start], first, true) && boundaryAt(text[end:], last, false)
}

// boundaryAt reports whether the text beside a match (before it when
// before is set) leaves a word boundary next to edge, the match's rune on
// that side.
func boundaryAt(side string, edge rune, before bool) bool {
	if side == "" {
		return true
	}
	var r rune
	if before {
		r, _ = utf8.DecodeLastRuneInString(side)
	} else {
		r, _ = utf8.DecodeRuneInString(side)
	}
	if !isWordRune(r) || !isWordRune(edge) {
		return true
	}
	return unspacedScript(r) || unspacedScript(edge)
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

var unspacedScripts = []*unicode.RangeTable{unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Thai, unicode.Lao, unicode.Khmer, unicode.Myanmar}

func unspacedScript(r rune) bool {
	if r < 0x0E00 { // below Thai: none of these scripts
		return false
	}
	if r == 'ー' { // katakana-hiragana prolonged sound mark is Common script
		return true
	}
	return unicode.IsOneOf(unspacedScripts, r)
}

// matchesAnyFn compiles its patterns on every call: it serves lists that
// are not constant. Constant lists go through matchesAnyCompiledFn.
func matchesAnyFn(p ...any) (any, error) {
	text, list, err := textAndList(p, false, false)
	if err != nil {
		return nil, err
	}
	for _, pat := range list {
		re, err := regexp.Compile(pat)
		if err != nil {
			return nil, fmt.Errorf("matchesAny: bad regex %q: %w", pat, err)
		}
		if re.MatchString(text) {
			return true, nil
		}
	}
	return false, nil
}

func matchesAnyCompiledFn(p ...any) (any, error) {
	if len(p) != 2 {
		return nil, errArgs
	}
	text, ok := p[0].(string)
	res, ok2 := p[1].(regexList)
	if !ok || !ok2 {
		return nil, errArgs
	}
	for _, re := range res {
		if re.MatchString(text) {
			return true, nil
		}
	}
	return false, nil
}

// domainOf returns the lower-cased domain of an address ("Ann <ann@Example.COM>"
// → "example.com"), or "" when there is none.
func domainOf(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	d := strings.TrimRight(strings.TrimSpace(addr[i+1:]), ">. \t")
	return strings.ToLower(d)
}

func domainOfFn(p ...any) (any, error) {
	if len(p) != 1 {
		return nil, errArgs
	}
	s, ok := p[0].(string)
	if !ok {
		return nil, fmt.Errorf("expected a string, got %T", p[0])
	}
	return domainOf(s), nil
}

// headerFn backs header("Name"), rewritten at compile time to
// _header(headers, "Name") so it can read the environment.
func headerFn(p ...any) (any, error) {
	if len(p) != 2 {
		return nil, errArgs
	}
	h, _ := p[0].(map[string]string)
	name, ok := p[1].(string)
	if !ok {
		return nil, fmt.Errorf("expected a string, got %T", p[1])
	}
	if v, ok := h[name]; ok {
		return v, nil
	}
	return h[textproto.CanonicalMIMEHeaderKey(name)], nil
}

// headerUnpatched exists only so the checker knows header's signature;
// every call is rewritten before it could run.
func headerUnpatched(...any) (any, error) {
	return nil, errors.New("header: call was not rewritten")
}
