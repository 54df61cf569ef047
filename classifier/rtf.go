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

// rtfText returns the text of an RTF document, read up to maxBytes: the
// encapsulated HTML converted when the RTF says \fromhtml1, else its text.
func rtfText(rtf []byte, maxBytes int) string {
	var out strings.Builder
	var pending []byte // \'hh bytes awaiting decoding as a run
	codepage, fromHTML := 1252, false
	stack := make([]rtfState, 0, 16)
	cur := rtfState{uc: 1}
	skipChars := 0 // fallback characters still to skip after \uN
	depthOver := 0
	flush := func() {
		if len(pending) == 0 {
			return
		}
		s, known := decodeBytes(fmt.Sprintf("windows-%d", codepage), pending)
		if !known {
			s = bestEffort(pending)
		}
		out.WriteString(s)
		pending = pending[:0]
	}
	emit := func(s string) {
		if cur.skip || cur.htmlrtf {
			return
		}
		flush()
		out.WriteString(s)
	}
	for i := 0; i < len(rtf) && out.Len() < maxBytes; {
		c := rtf[i]
		switch c {
		case '{':
			i++
			if len(stack) >= maxRTFDepth {
				depthOver++
				continue
			}
			stack = append(stack, cur)
			continue
		case '}':
			i++
			if depthOver > 0 {
				depthOver--
				continue
			}
			if n := len(stack); n > 0 {
				cur = stack[n-1]
				stack = stack[:n-1]
			}
			continue
		case '\r', '\n':
			i++
			continue
		case '\\':
		default:
			i++
			if skipChars > 0 {
				skipChars--
				continue
			}
			if cur.skip || cur.htmlrtf {
				continue
			}
			flush()
			out.WriteByte(c)
			continue
		}
		// A control word or symbol.
		i++
		if i >= len(rtf) {
			break
		}
		c = rtf[i]
		if !isASCIILetter(c) {
			i++
			switch c {
			case '\'':
				if i+1 < len(rtf) && isHex(rtf[i]) && isHex(rtf[i+1]) {
					b := unhex(rtf[i])<<4 | unhex(rtf[i+1])
					i += 2
					if skipChars > 0 {
						skipChars--
					} else if !cur.skip && !cur.htmlrtf {
						if pending = append(pending, b); len(pending) >= 4096 {
							flush()
						}
					}
				}
			case '*':
				cur.skip = true
				if strings.HasPrefix(string(rtf[i:min(len(rtf), i+8)]), "\\htmltag") {
					cur.skip = !fromHTML
				}
			case '\\', '{', '}':
				emit(string(c))
			case '~':
				emit("\u00a0")
			case '_':
				emit("-")
			case '\r', '\n':
				emit("\n")
			}
			continue
		}
		start := i
		for i < len(rtf) && isASCIILetter(rtf[i]) && i-start < 32 {
			i++
		}
		word := string(rtf[start:i])
		param, hasParam := 0, false
		neg := i < len(rtf) && rtf[i] == '-'
		if neg {
			i++
		}
		for digits := 0; i < len(rtf) && rtf[i] >= '0' && rtf[i] <= '9' && digits < 10; digits++ {
			param, hasParam = param*10+int(rtf[i]-'0'), true
			i++
		}
		if neg {
			param = -param
		}
		if i < len(rtf) && rtf[i] == ' ' {
			i++
		}
		switch word {
		case "par", "line":
			emit("\n")
		case "tab":
			emit("\t")
		case "u":
			r := rune(param)
			if r < 0 {
				r += 0x10000
			}
			if !utf8.ValidRune(r) {
				r = utf8.RuneError
			}
			emit(string(r))
			skipChars = cur.uc
		case "uc":
			cur.uc = min(max(param, 0), 8)
		case "ansicpg":
			codepage = param
		case "fromhtml":
			fromHTML = !hasParam || param != 0
		case "htmlrtf":
			cur.htmlrtf = !hasParam || param != 0
		case "bin":
			i += min(max(param, 0), len(rtf)-i)
		default:
			if rtfSkipped[word] {
				cur.skip = true
			}
		}
	}
	flush()
	s := strings.ToValidUTF8(out.String(), "\uFFFD")
	if fromHTML {
		return htmlToText(s)
	}
	return strings.Trim(cleanText(s), "\n")
}

func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
