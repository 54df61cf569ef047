package classifier

import (
	"bytes"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
	"golang.org/x/text/unicode/norm"
)

// init adds to go-message's charset table (the one table every decoding
// here uses: bodies through message.New, header words and RFC 2231
// parameters through decodeBytes) the labels mailers use that it lacks.
// charset.RegisterEncoding changes go-message's package state; it is the
// library's extension point for this, meant to be called from an init.
//
// Mail in the wild labels windows-1252 text as ISO-8859-1 or US-ASCII, so
// those labels decode as windows-1252 (as browsers do); the C1 range they
// would otherwise produce is never meant in mail. GBK is a superset of
// GB2312, and mailers label GBK text GB2312.
func init() {
	for enc, labels := range map[encoding.Encoding][]string{
		charmap.Windows1252: {"us-ascii", "ascii", "ansi_x3.4-1968", "iso-8859-1", "iso_8859-1", "iso-8859-1:1987",
			"latin1", "latin-1", "l1", "cp819", "ibm819", "ansi_x3.110-1983"},
		charmap.ISO8859_10:      {"iso_8859-10"},
		charmap.Windows874:      {"iso_8859-11"},
		charmap.ISO8859_13:      {"iso_8859-13"},
		charmap.ISO8859_16:      {"iso8859-16"},
		japanese.ShiftJIS:       {"cp932", "x-ms-cp932"},
		korean.EUCKR:            {"cp949", "ks_c_5601", "uhc", "x-windows-949"},
		simplifiedchinese.GBK:   {"gb2312", "euc-cn", "x-euc-cn"},
		traditionalchinese.Big5: {"cp950"},
	} {
		for _, label := range labels {
			charset.RegisterEncoding(label, enc)
		}
	}
}

// decodeBytes converts b from the named charset to valid UTF-8 with
// go-message's charset table. known is false when the charset is unknown;
// the text is then decoded best effort: kept as UTF-8 when valid, else as
// windows-1252. UTF-8, and the empty label RFC 2231 allows, pass through
// as go-message passes UTF-8, made valid.
func decodeBytes(label string, b []byte) (s string, known bool) {
	label = strings.ToLower(strings.Trim(strings.TrimSpace(label), `"'`))
	if label == "" || label == "utf-8" {
		return strings.ToValidUTF8(string(b), "\uFFFD"), true
	}
	r, err := charset.Reader(label, bytes.NewReader(b))
	if err != nil {
		return bestEffort(b), false
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return bestEffort(b), true
	}
	return strings.ToValidUTF8(string(out), "\uFFFD"), true
}

// bestEffort decodes bytes of unknown charset: UTF-8 when valid, else
// windows-1252 (which maps every byte).
func bestEffort(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out, err := charmap.Windows1252.NewDecoder().Bytes(b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return string(out)
}

// bestEffortString is bestEffort for a string, returning valid UTF-8
// unchanged without copying it.
func bestEffortString(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return bestEffort([]byte(s))
}

// cleanText makes decoded text safe and uniform: valid UTF-8, LF line
// ends, no C0 controls but tab and newline, C1 controls mapped through
// windows-1252 (or dropped), no byte-order marks.
// Text is NFC-normalized, so rules written with composed characters match
// text a mailer sent decomposed (windows-1258 always is).
func cleanText(s string) string {
	return norm.NFC.String(cleanRunes(s))
}

// cleanRunes is cleanText but for the normalization. Clean text (the
// common case) is returned as is, without allocating.
func cleanRunes(s string) string {
	var b strings.Builder
	start := 0 // start of the pending span copied unchanged
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != 0x7F && c < utf8.RuneSelf || c == '\n' || c == '\t' {
			i++
			continue
		}
		r, size := rune(c), 1
		if c >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
			if !(r == utf8.RuneError && size == 1) && !(r >= 0x80 && r <= 0x9F) && r != '\uFEFF' {
				i += size
				continue
			}
		}
		if start == 0 {
			b.Grow(len(s))
		}
		b.WriteString(s[start:i])
		i += size
		start = i
		switch {
		case r == utf8.RuneError:
			b.WriteRune('\uFFFD')
		case r == '\r':
			if i < len(s) && s[i] == '\n' {
				continue // the \n stays in the next span
			}
			b.WriteByte('\n')
		case r >= 0x80 && r <= 0x9F:
			// ISO-8859-1 labelled text decodes these bytes to controls;
			// the five windows-1252 leaves undefined are dropped.
			if m := charmap.Windows1252.DecodeByte(byte(r)); m != utf8.RuneError {
				b.WriteRune(m)
			}
		default:
			// other controls and byte-order marks are dropped
		}
	}
	if start == 0 {
		return s // nothing to change
	}
	b.WriteString(s[start:])
	return b.String()
}

// cleanLine is cleanText for a single-line value (a header, a name): every
// run of whitespace and line breaks becomes one space, so a decoded header
// can never carry a line break into anything built from it.
func cleanLine(s string) string {
	s = cleanText(s)
	if !strings.ContainsAny(s, "\n\t") && !strings.Contains(s, "  ") {
		return strings.TrimSpace(s)
	}
	return strings.Join(strings.Fields(s), " ")
}
