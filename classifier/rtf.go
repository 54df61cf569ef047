package classifier

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Outlook often stores a winmail.dat's body only as compressed RTF
// (PR_RTF_COMPRESSED). Both steps are hand-written, no maintained Go
// library being served by the module proxy: the decompression after
// MS-OXRTFCP (TestDecompressRTF checks the specification's example) and a
// text extraction that reads the HTML Outlook encapsulates (MS-OXRTFEX
// \fromhtml1) or else the RTF's own text. Both are bounded by their output
// and never recurse (FuzzRTF).

var errRTF = errors.New("malformed compressed RTF")

// rtfPrebuf is the dictionary's initial content (MS-OXRTFCP 2.1.2.1).
const rtfPrebuf = "{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern \\fscript \\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0\\blue0\r\n\\par \\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx"

const (
	rtfCompressed   = 0x75465a4c // "LZFu"
	rtfUncompressed = 0x414c454d // "MELA"
	maxRTFDepth     = 256        // groups deeper than this are read as text of the group they are in
)

// decompressRTF undoes MS-OXRTFCP compression, producing at most maxBytes.
func decompressRTF(b []byte, maxBytes int) ([]byte, error) {
	if len(b) < 16 {
		return nil, fmt.Errorf("header cut short: %w", errRTF)
	}
	rawSize := int(binary.LittleEndian.Uint32(b[4:]))
	magic := binary.LittleEndian.Uint32(b[8:])
	data := b[16:]
	limit := min(rawSize, maxBytes)
	if limit < 0 {
		limit = maxBytes
	}
	switch magic {
	case rtfUncompressed:
		return data[:min(len(data), limit)], nil
	case rtfCompressed:
	default:
		return nil, fmt.Errorf("unknown compression %#x: %w", magic, errRTF)
	}
	var dict [4096]byte
	copy(dict[:], rtfPrebuf)
	wpos := len(rtfPrebuf)
	out := make([]byte, 0, min(limit, 64<<10))
	for i := 0; i < len(data) && len(out) < limit; {
		control := data[i]
		i++
		for bit := 0; bit < 8 && i < len(data) && len(out) < limit; bit++ {
			if control&(1<<bit) == 0 {
				c := data[i]
				i++
				out = append(out, c)
				dict[wpos] = c
				wpos = (wpos + 1) % len(dict)
				continue
			}
			if i+1 >= len(data) {
				return out, nil
			}
			ref := int(data[i])<<8 | int(data[i+1])
			i += 2
			offset, length := ref>>4, ref&0xf+2
			if offset == wpos {
				return out, nil // the end marker
			}
			for k := 0; k < length && len(out) < limit; k++ {
				c := dict[(offset+k)%len(dict)]
				out = append(out, c)
				dict[wpos] = c
				wpos = (wpos + 1) % len(dict)
			}
		}
	}
	return out, nil
}

// rtfSkipped are destinations whose text is not the message's.
var rtfSkipped = map[string]bool{
	"fonttbl": true, "colortbl": true, "stylesheet": true, "info": true, "pict": true, "object": true,
	"header": true, "footer": true, "headerl": true, "headerr": true, "footerl": true, "footerr": true,
	"listtable": true, "listoverridetable": true, "rsidtbl": true, "xmlnstbl": true, "fldinst": true,
	"themedata": true, "colorschememapping": true, "latentstyles": true, "datastore": true, "generator": true,
}

// rtfState is what a group changes and its end restores.
type rtfState struct {
	skip    bool // text is not output
	htmlrtf bool // inside \htmlrtf … \htmlrtf0: RTF-only rendering of encapsulated HTML
	uc      int  // characters to skip after \uN
}

// rtfReader walks an RTF document once, collecting its text.
type rtfReader struct {
	rtf       []byte
	i         int // next byte to read
	out       strings.Builder
	pending   []byte // \'hh bytes awaiting decoding as a run
	codepage  int
	fromHTML  bool
	stack     []rtfState
	cur       rtfState
	skipChars int // fallback characters still to skip after \uN
	depthOver int // groups opened beyond maxRTFDepth, ignored
}

// rtfText returns the text of an RTF document, read up to maxBytes: the
// encapsulated HTML converted when the RTF says \fromhtml1, else its text.
func rtfText(rtf []byte, maxBytes int) string {
	r := &rtfReader{rtf: rtf, codepage: 1252, stack: make([]rtfState, 0, 16), cur: rtfState{uc: 1}}
	for r.i < len(rtf) && r.out.Len() < maxBytes {
		r.step()
	}
	r.flush()
	s := strings.ToValidUTF8(r.out.String(), "\uFFFD")
	if r.fromHTML {
		return htmlToText(s)
	}
	return strings.Trim(cleanText(s), "\n")
}

// flush decodes the pending \'hh bytes in the document's code page.
func (r *rtfReader) flush() {
	if len(r.pending) == 0 {
		return
	}
	s, _ := decodeBytes(fmt.Sprintf("windows-%d", r.codepage), r.pending) // best effort if unknown
	r.out.WriteString(s)
	r.pending = r.pending[:0]
}

// hidden reports whether text in the current group is not output.
func (r *rtfReader) hidden() bool { return r.cur.skip || r.cur.htmlrtf }

// emit outputs s unless the current group is hidden.
func (r *rtfReader) emit(s string) {
	if r.hidden() {
		return
	}
	r.flush()
	r.out.WriteString(s)
}

// step reads one character, group delimiter or control sequence.
func (r *rtfReader) step() {
	c := r.rtf[r.i]
	r.i++
	switch c {
	case '{':
		r.openGroup()
	case '}':
		r.closeGroup()
	case '\r', '\n':
	case '\\':
		r.control()
	default:
		r.plain(c)
	}
}

func (r *rtfReader) openGroup() {
	if len(r.stack) >= maxRTFDepth {
		r.depthOver++
		return
	}
	r.stack = append(r.stack, r.cur)
}

func (r *rtfReader) closeGroup() {
	if r.depthOver > 0 {
		r.depthOver--
		return
	}
	if n := len(r.stack); n > 0 {
		r.cur = r.stack[n-1]
		r.stack = r.stack[:n-1]
	}
}

// plain outputs a literal character unless it is a \uN fallback.
func (r *rtfReader) plain(c byte) {
	if r.skipChars > 0 {
		r.skipChars--
		return
	}
	r.emit(string([]byte{c}))
}

// control reads what follows a backslash: a control symbol or word.
func (r *rtfReader) control() {
	if r.i >= len(r.rtf) {
		return
	}
	c := r.rtf[r.i]
	if !isASCIILetter(c) {
		r.i++
		r.symbol(c)
		return
	}
	word, param, hasParam := r.controlWord()
	r.apply(word, param, hasParam)
}

func (r *rtfReader) symbol(c byte) {
	switch c {
	case '\'':
		r.hexByte()
	case '*':
		r.cur.skip = true
		if strings.HasPrefix(string(r.rtf[r.i:min(len(r.rtf), r.i+8)]), "\\htmltag") {
			r.cur.skip = !r.fromHTML
		}
	case '\\', '{', '}':
		r.emit(string(c))
	case '~':
		r.emit("\u00a0")
	case '_':
		r.emit("-")
	case '\r', '\n':
		r.emit("\n")
	}
}

// hexByte reads the hh of \'hh into the pending run.
func (r *rtfReader) hexByte() {
	b, ok := unhex2(string(r.rtf[r.i:min(r.i+2, len(r.rtf))]))
	if !ok {
		return
	}
	r.i += 2
	if r.skipChars > 0 {
		r.skipChars--
		return
	}
	if r.hidden() {
		return
	}
	if r.pending = append(r.pending, b); len(r.pending) >= 4096 {
		r.flush()
	}
}

// controlWord reads a control word, its optional signed parameter and
// the space that may delimit it; both are bounded in length.
func (r *rtfReader) controlWord() (word string, param int, hasParam bool) {
	rtf := r.rtf
	start := r.i
	for r.i < len(rtf) && isASCIILetter(rtf[r.i]) && r.i-start < 32 {
		r.i++
	}
	word = string(rtf[start:r.i])
	neg := r.i < len(rtf) && rtf[r.i] == '-'
	if neg {
		r.i++
	}
	for digits := 0; r.i < len(rtf) && rtf[r.i] >= '0' && rtf[r.i] <= '9' && digits < 10; digits++ {
		param, hasParam = param*10+int(rtf[r.i]-'0'), true
		r.i++
	}
	if neg {
		param = -param
	}
	if r.i < len(rtf) && rtf[r.i] == ' ' {
		r.i++
	}
	return word, param, hasParam
}

// apply acts on a control word.
func (r *rtfReader) apply(word string, param int, hasParam bool) {
	switch word {
	case "par", "line":
		r.emit("\n")
	case "tab":
		r.emit("\t")
	case "u":
		r.emit(string(unicodeParam(param)))
		r.skipChars = r.cur.uc
	case "uc":
		r.cur.uc = min(max(param, 0), 8)
	case "ansicpg":
		r.codepage = param
	case "fromhtml":
		r.fromHTML = !hasParam || param != 0
	case "htmlrtf":
		r.cur.htmlrtf = !hasParam || param != 0
	case "bin":
		r.i += min(max(param, 0), len(r.rtf)-r.i)
	default:
		if rtfSkipped[word] {
			r.cur.skip = true
		}
	}
}

// unicodeParam is the rune of \uN, whose N is a signed 16-bit number.
func unicodeParam(param int) rune {
	r := rune(param)
	if r < 0 {
		r += 0x10000
	}
	if !utf8.ValidRune(r) {
		r = utf8.RuneError
	}
	return r
}

func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
