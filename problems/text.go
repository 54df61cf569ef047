package problems

import (
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/triage-dev/triage/internal/clip"
	"golang.org/x/text/cases"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// maxCleanInput bounds the text cleaned and tokenised per mail: the
// opening of a report says what it is about, and a 10 MB body must not
// cost more than a short one.
const maxCleanInput = 8 << 10

// subjectPrefix matches reply and forward prefixes in the languages of the
// sample mail, and ticket tags, repeated at the start of a subject.
var subjectPrefix = regexp.MustCompile(`(?i)^\s*((re|fw|fwd|aw|wg|tr|rv|sv|vs|antw|doorst|enc|res|r|i)\s*(\[\d+\])?\s*[:：]|\[[^\]]{0,40}\])\s*`)

// replyHeader matches the line (folded: no accents) that opens a quoted
// reply or a forwarded message: everything from it on is someone else's
// text.
var replyHeader = regexp.MustCompile(`(?i)^(-{2,}\s*(original message|ursprungliche nachricht|message d'origine|mensaje original|messaggio originale|forwarded message|weitergeleitete nachricht|message transfere|mensaje reenviado)\s*-{2,}|.{0,200}\b(wrote|schrieb|a ecrit|escribio|ha scritto|schreef|написал\(а\)|написал)\s*:|(from|von|de|da|van|от)\s?:\s.{0,200})$`)

// greetingWords open a salutation line; closingWords open the sign-off
// that a name and signature follow. Folded (lower case, no accents).
var (
	greetingWords = []string{"hi", "hello", "hey", "dear", "good morning", "good afternoon", "hallo", "guten morgen", "guten tag", "liebe", "lieber", "sehr geehrte", "moin", "servus", "bonjour", "bonsoir", "salut", "madame", "monsieur", "hola", "buenos dias", "buenas tardes", "estimado", "estimada", "buongiorno", "ciao", "gentile", "hoi", "beste", "ola", "bom dia", "здравствуите", "добрыи день", "привет", "안녕하세요", "お疲れ様です", "お世話になっております", "你好", "您好"}
	closingWords  = []string{"best regards", "kind regards", "regards", "best", "thanks", "thank you", "many thanks", "cheers", "br", "mit freundlichen grussen", "freundliche grusse", "viele grusse", "beste grusse", "gruss", "grusse", "lg", "vg", "mfg", "danke", "vielen dank", "cordialement", "bien cordialement", "merci", "bien a vous", "salutations", "saludos", "un saludo", "atentamente", "gracias", "muchas gracias", "cordiali saluti", "saluti", "grazie", "met vriendelijke groet", "groeten", "atenciosamente", "obrigado", "с уважением", "спасибо", "よろしくお願いします", "宜しくお願いします", "谢谢", "감사합니다"}
	// disclaimerWords mark a paragraph as legal boilerplate.
	disclaimerWords = []string{"confidential", "intended recipient", "disclaimer", "vertraulich", "confidentiel", "confidencial", "riservat", "vertrouwelijk", "конфиденциальн"}
)

// newFolder returns the transformer behind fold: it lower-cases,
// decomposes and drops combining marks, so "Grüße", "GRÜSSE" and "grusse"
// compare equal and "é" matches "e". Building one allocates its buffers,
// so the Detector keeps one.
func newFolder() transform.Transformer {
	return transform.Chain(norm.NFKD, runes.Remove(runes.In(unicode.Mn)), norm.NFC, cases.Fold())
}

// fold folds s with t (newFolder); nil builds one.
func fold(t transform.Transformer, s string) string {
	ascii := true
	for i := 0; i < len(s) && ascii; i++ {
		ascii = s[i] < utf8.RuneSelf
	}
	if ascii { // the common case, four times faster than the transform chain
		return strings.ToLower(s)
	}
	if t == nil {
		t = newFolder()
	}
	out, _, err := transform.String(t, s) // resets t first
	if err != nil {
		return strings.ToLower(s)
	}
	return out
}

// CleanSubject removes reply and forward prefixes and ticket tags.
func CleanSubject(s string) string {
	for range 8 {
		loc := subjectPrefix.FindStringIndex(s)
		if loc == nil || loc[1] == 0 {
			break
		}
		s = s[loc[1]:]
	}
	return strings.TrimSpace(s)
}

// CleanBody keeps what the sender wrote about the problem: it cuts at a
// quoted reply or forwarded message, drops quoted lines, a greeting line,
// the sign-off with everything after it (name, signature) and disclaimer
// paragraphs. The result is folded.
func CleanBody(body string) string { return cleanBody(nil, body) }

func cleanBody(folder transform.Transformer, body string) string {
	body = fold(folder, clip.UTF8(body, maxCleanInput))
	var paras [][]string
	var cur []string
	greeted := false
lines:
	for line := range strings.Lines(body) {
		line = strings.TrimRight(line, "\r\n")
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, ">"):
			continue
		case line == "-- " || trimmed == "--" || trimmed == "__" || strings.HasPrefix(trimmed, "________"):
			break lines
		case mayBeReplyHeader(trimmed) && replyHeader.MatchString(trimmed):
			break lines
		case trimmed == "":
			if len(cur) > 0 {
				paras = append(paras, cur)
				cur = nil
			}
			continue
		}
		if !greeted && len(paras) == 0 && len(cur) == 0 {
			greeted = true
			if len(trimmed) <= 60 && startsWithPhrase(trimmed, greetingWords) {
				continue
			}
		}
		if len(trimmed) <= 40 && startsWithPhrase(trimmed, closingWords) {
			break lines
		}
		cur = append(cur, trimmed)
	}
	if len(cur) > 0 {
		paras = append(paras, cur)
	}
	var b strings.Builder
	for _, p := range paras {
		text := strings.Join(p, " ")
		if slices.ContainsFunc(disclaimerWords, func(w string) bool { return strings.Contains(text, w) }) {
			continue
		}
		b.WriteString(text)
		b.WriteByte('\n')
	}
	return b.String()
}

// mayBeReplyHeader is a cheap test before replyHeader: such a line is
// short and ends in a colon, starts with dashes, or has a colon near its
// start ("From: …").
func mayBeReplyHeader(line string) bool {
	if len(line) > 300 {
		return false
	}
	return strings.HasSuffix(line, ":") || strings.HasPrefix(line, "--") || strings.Contains(line[:min(len(line), 8)], ":")
}

// startsWithPhrase reports whether s begins with one of the phrases,
// followed by the end or a non-letter.
func startsWithPhrase(s string, phrases []string) bool {
	for _, p := range phrases {
		if !strings.HasPrefix(s, p) {
			continue
		}
		r, _ := utf8.DecodeRuneInString(s[len(p):])
		if len(s) == len(p) || !unicode.IsLetter(r) {
			return true
		}
	}
	return false
}

// isCJK is a script written without spaces: its runs are cut into
// overlapping two-character tokens.
func isCJK(r rune) bool {
	if r < 0x1100 { // below Hangul Jamo: Latin, Greek, Cyrillic, …
		return false
	}
	// U+30FC, the long vowel mark inside katakana words (パスワード), is
	// of no script of its own.
	return r == 0x30FC || unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul)
}

// maxTokens bounds the tokens taken from one mail.
const maxTokens = 400

// Tokens splits folded text into words: runs of letters and digits, CJK
// runs as character bigrams. Pure numbers (counters, dates, times) and
// single letters are left out: they vary between reports of one problem.
func Tokens(text string) []string {
	out := words(text, maxTokens)
	return append(out, compounds(text, maxTokens-len(out))...)
}

// words are the words of Tokens, at most limit.
func words(text string, limit int) []string {
	var out []string
	emit := func(w string) {
		if len(out) >= limit {
			return
		}
		digits := !strings.ContainsFunc(w, func(r rune) bool { return !unicode.IsDigit(r) })
		if digits || utf8.RuneCountInString(w) < 2 {
			return
		}
		out = append(out, w)
	}
	start, cjkRun := -1, []int(nil)
	flushCJK := func(end int) {
		if len(cjkRun) == 1 {
			out = append(out, text[cjkRun[0]:end])
		}
		for i := 0; i+1 < len(cjkRun) && len(out) < limit; i++ {
			stop := end
			if i+2 < len(cjkRun) {
				stop = cjkRun[i+2]
			}
			out = append(out, text[cjkRun[i]:stop])
		}
		cjkRun = cjkRun[:0]
	}
	for i, r := range text {
		switch {
		case isCJK(r):
			if start >= 0 {
				emit(text[start:i])
				start = -1
			}
			cjkRun = append(cjkRun, i)
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mc, r):
			if len(cjkRun) > 0 {
				flushCJK(i)
			}
			if start < 0 {
				start = i
			}
		default:
			if len(cjkRun) > 0 {
				flushCJK(i)
			}
			if start >= 0 {
				emit(text[start:i])
				start = -1
			}
		}
		if len(out) >= limit {
			return out
		}
	}
	if len(cjkRun) > 0 {
		flushCJK(len(text))
	}
	if start >= 0 {
		emit(text[start:])
	}
	return out
}

// isConnector joins the parts of a name: a host, a path, a model number.
func isConnector(r rune) bool {
	switch r {
	case '-', '.', '_', '\\', '/', ':', '@':
		return true
	}
	return false
}

// compounds are the names in text written with connectors
// (prn-3og-01, vpn.example.com, fs01\projekte, b2.14): the words that
// mails about one thing share whatever their language. Each is a token
// besides its parts.
func compounds(text string, limit int) []string {
	var out []string
	keep := func(f string) {
		f = strings.TrimFunc(f, isConnector)
		if strings.IndexFunc(f, isConnector) >= 0 && strings.IndexFunc(f, unicode.IsLetter) >= 0 && len(f) <= 64 {
			out = append(out, f)
		}
	}
	start := -1
	for i, r := range text {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || isConnector(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			keep(text[start:i])
			start = -1
		}
		if len(out) >= limit {
			return out
		}
	}
	if start >= 0 && len(out) < limit {
		keep(text[start:])
	}
	return out
}
