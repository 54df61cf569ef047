package classifier

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/triage-dev/triage/ticket"
)

// TNEF (Outlook's winmail.dat, MS-OXTNEF) is read by hand: no maintained
// Go library is served by the module proxy (github.com/teamwork/tnef is
// not), and triage needs only the attachment list and a plain, HTML or
// RTF body (rtf.go). The reader never recurses, keeps no attachment content and checks
// every length against what is left (TestTNEF, FuzzTNEF).

// Bounds on a winmail.dat.
const (
	maxTNEFAttachments = 200
	maxTNEFBodyBytes   = defaultMaxBodyBytes
)

var errTNEF = errors.New("malformed TNEF")

const tnefSignature = 0x223e9f78

// TNEF attribute ids (the low word of the attribute) and MAPI property ids.
const (
	attBody           = 0x800c
	attAttachData     = 0x800f
	attAttachTitle    = 0x8010
	attAttachRendData = 0x9002
	attMAPIProps      = 0x9003
	attAttachment     = 0x9005
	attOemCodepage    = 0x9007

	prBody             = 0x1000
	prRTFCompressed    = 0x1009
	prHTML             = 0x1013
	prDisplayName      = 0x3001
	prAttachDataObj    = 0x3701
	prAttachFilename   = 0x3704
	prAttachLongName   = 0x3707
	prAttachMimeTag    = 0x370e
	prAttachContentID  = 0x3712
	ptString8          = 0x001e
	ptUnicode          = 0x001f
	ptBinary           = 0x0102
	ptObject           = 0x000d
	ptMultiValueFlag   = 0x1000
	tnefLevelMessage   = 1
	tnefLevelAttaching = 2
)

// tnefContent is what triage keeps of a winmail.dat.
type tnefContent struct {
	Attachments []ticket.File // the files inside, their bytes slices of the stream
	Body        string        // plain text; HTML converted
	Truncated   bool          // the stream ended inside an attribute
}

// tnefAttachment collects one attachment's attributes and properties.
type tnefAttachment struct {
	title, longName, mimeTag, contentID string
	data, obj                           []byte // attAttachData; the PR_ATTACH_DATA_OBJ property
}

func (a *tnefAttachment) record() ticket.File {
	name := cmp.Or(a.longName, a.title)
	data := a.data
	if len(data) == 0 {
		data = a.obj
	}
	typ := strings.ToLower(cleanLine(a.mimeTag))
	if typ == "" || !strings.Contains(typ, "/") {
		typ = "application/octet-stream"
	}
	return ticket.File{Attachment: ticket.Attachment{Name: safeFileName(name), Type: typ, Size: len(data), ContentID: cleanCID(a.contentID)}, Data: data}
}

// isTNEF: a winmail.dat part, by type or by its name.
func isTNEF(mediaType, name string) bool {
	return mediaType == "application/ms-tnef" || mediaType == "application/vnd.ms-tnef" ||
		strings.EqualFold(name, "winmail.dat")
}

// tnef reads a winmail.dat: its attachments replace it in the list, and
// its body is the mail's when the mail has no other. An unreadable one
// stays an attachment, with a defect.
func (w *walker) tnef(body io.Reader, name, mediaType string) {
	b := w.read(body, int64(w.opts.MaxBytes), "winmail.dat")
	c, err := parseTNEF(b)
	if err == nil && len(c.Attachments) == 0 && c.Body == "" && c.Truncated {
		err = fmt.Errorf("cut short before any content: %w", errTNEF)
	}
	if err != nil {
		w.defects.add("unreadable winmail.dat: " + quoteShort(err.Error()))
		w.addFile(ticket.Attachment{Name: name, Type: mediaType, Size: len(b)}, b)
		return
	}
	if c.Truncated {
		w.defects.add("winmail.dat cut short; kept what was read")
	}
	for _, f := range c.Attachments {
		// Each file inside counts as a part against MaxParts.
		if w.parts++; w.parts > w.opts.MaxParts {
			w.defects.add(fmt.Sprintf("more than %d MIME parts; rest skipped", w.opts.MaxParts))
			w.stopped = true
			break
		}
		w.addFile(f.Attachment, f.Data)
	}
	w.tnefBody = cmp.Or(w.tnefBody, c.Body)
}

// tnefParser is what parseTNEF gathers from the attributes read so far.
type tnefParser struct {
	c        tnefContent
	cur      *tnefAttachment // the attachment whose attributes are being read
	plain    string
	html     string
	rtf      []byte
	codepage int
}

// parseTNEF reads the attribute stream of a TNEF file. A stream cut short
// after at least one whole attribute keeps what was read.
func parseTNEF(b []byte) (tnefContent, error) {
	var p tnefParser
	r := tnefReader{b: b}
	if sig, ok := readLE[uint32](&r); !ok || sig != tnefSignature {
		return p.c, fmt.Errorf("no TNEF signature: %w", errTNEF)
	}
	if _, ok := readLE[uint16](&r); !ok { // legacy key
		return p.c, fmt.Errorf("truncated: %w", errTNEF)
	}
	attributes := 0
	for r.left() > 0 {
		level, ok1 := readLE[uint8](&r)
		id, ok2 := readLE[uint32](&r)
		length, ok3 := readLE[uint32](&r)
		if !ok1 || !ok2 || !ok3 || uint64(length) > uint64(r.left()) {
			if attributes == 0 {
				return p.c, fmt.Errorf("truncated attribute: %w", errTNEF)
			}
			p.c.Truncated = true
			break // keep what was read before the cut
		}
		data := r.bytes(int(length))
		readLE[uint16](&r) // checksum, not verified: a wrong one changes nothing we keep
		attributes++
		p.attribute(level, id&0xffff, data)
	}
	p.flush()
	p.c.Body = p.body()
	return p.c, nil
}

// flush records the attachment being read, up to maxTNEFAttachments.
func (p *tnefParser) flush() {
	if p.cur != nil && len(p.c.Attachments) < maxTNEFAttachments {
		p.c.Attachments = append(p.c.Attachments, p.cur.record())
	}
	p.cur = nil
}

// attribute takes in one attribute of the given level and id (low 16 bits).
func (p *tnefParser) attribute(level uint8, id uint32, data []byte) {
	switch id {
	case attAttachRendData:
		p.flush()
		p.cur = &tnefAttachment{}
	case attAttachTitle:
		if p.cur != nil {
			p.cur.title = tnefString8(data, p.codepage)
		}
	case attAttachData:
		if p.cur != nil {
			p.cur.data = data
		}
	case attAttachment:
		if p.cur != nil {
			readMAPIProps(data, p.attachmentProp)
		}
	case attBody:
		if level == tnefLevelMessage && p.plain == "" {
			p.plain = tnefString8(data, p.codepage)
		}
	case attMAPIProps:
		if level == tnefLevelMessage {
			readMAPIProps(data, p.messageProp)
		}
	case attOemCodepage:
		if len(data) >= 4 {
			p.codepage = int(binary.LittleEndian.Uint32(data))
		}
	}
}

// attachmentProp takes in a MAPI property of the current attachment.
func (p *tnefParser) attachmentProp(pid, ptype uint16, v []byte) {
	switch pid {
	case prAttachLongName:
		p.cur.longName = mapiString(ptype, v, p.codepage)
	case prAttachFilename, prDisplayName:
		if p.cur.title == "" {
			p.cur.title = mapiString(ptype, v, p.codepage)
		}
	case prAttachMimeTag:
		p.cur.mimeTag = mapiString(ptype, v, p.codepage)
	case prAttachContentID:
		p.cur.contentID = mapiString(ptype, v, p.codepage)
	case prAttachDataObj:
		p.cur.obj = v
	}
}

// messageProp takes in a MAPI property of the message: the first body of
// each kind wins.
func (p *tnefParser) messageProp(pid, ptype uint16, v []byte) {
	switch {
	case pid == prBody && p.plain == "":
		p.plain = mapiString(ptype, v, p.codepage)
	case pid == prHTML && p.html == "":
		p.html = mapiString(ptype, v, p.codepage)
	case pid == prRTFCompressed && p.rtf == nil:
		p.rtf = v
	}
}

// body is the message text: the plain body, else the HTML one, else the
// compressed RTF one.
func (p *tnefParser) body() string {
	switch {
	case strings.TrimSpace(p.plain) != "":
		return strings.Trim(cleanText(p.plain), "\n")
	case p.html != "":
		return strings.Trim(htmlToText(p.html), "\n")
	case p.rtf != nil:
		// An unreadable RTF body leaves the body empty; the files still count.
		if raw, err := decompressRTF(p.rtf, maxTNEFBodyBytes*htmlSourceFactor); err == nil {
			return strings.Trim(rtfText(raw, maxTNEFBodyBytes*htmlSourceFactor), "\n")
		}
	}
	return ""
}

// readMAPIProps calls fn with each property of an encoded MAPI property
// list (MS-OXTNEF 2.1.3.4) and its value (the first, for a multi-valued
// one); it stops at the first property it cannot read.
func readMAPIProps(b []byte, fn func(id, ptype uint16, v []byte)) {
	r := tnefReader{b: b}
	count, ok := readLE[uint32](&r)
	if !ok {
		return
	}
	for i := uint32(0); i < count && r.left() > 0; i++ {
		ptype, ok1 := readLE[uint16](&r)
		pid, ok2 := readLE[uint16](&r)
		if !ok1 || !ok2 {
			return
		}
		if pid >= 0x8000 { // named property: GUID, kind, then an id or a name
			r.bytes(16)
			kind, ok := readLE[uint32](&r)
			if !ok {
				return
			}
			if kind == 0 {
				readLE[uint32](&r)
			} else {
				n, ok := readLE[uint32](&r)
				if !ok || !r.skipPadded(n) {
					return
				}
			}
		}
		values := uint32(1)
		base := ptype &^ ptMultiValueFlag
		variable := base == ptString8 || base == ptUnicode || base == ptBinary || base == ptObject
		if ptype&ptMultiValueFlag != 0 || variable {
			if values, ok = readLE[uint32](&r); !ok {
				return
			}
		}
		for j := uint32(0); j < values; j++ {
			var v []byte
			if variable {
				n, ok := readLE[uint32](&r)
				if !ok || uint64(n) > uint64(r.left()) {
					return
				}
				v = r.bytes(int(n))
				r.bytes(pad4(int(n)))
			} else {
				size := mapiFixedSize(base)
				if size == 0 || size > r.left() {
					return // an unknown type: its size is unknown too
				}
				v = r.bytes(size)
			}
			if j == 0 {
				fn(pid, base, v)
			}
		}
	}
}

// mapiFixedSize is the encoded size of a fixed-size MAPI type, 0 if
// unknown.
func mapiFixedSize(t uint16) int {
	switch t {
	case 0x0002, 0x0003, 0x0004, 0x000a, 0x000b: // int16 (padded), int32, float, error, bool
		return 4
	case 0x0005, 0x0006, 0x0007, 0x0014, 0x0040: // double, currency, apptime, int64, systime
		return 8
	case 0x0048: // CLSID
		return 16
	}
	return 0
}

// mapiString decodes a string property: UTF-16LE, or 8-bit text in the
// file's code page; binary values (PR_HTML) are read as 8-bit text.
func mapiString(ptype uint16, v []byte, codepage int) string {
	if ptype != ptUnicode {
		return tnefString8(v, codepage)
	}
	u := make([]uint16, len(v)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(v[2*i:])
	}
	return strings.TrimRight(strings.ToValidUTF8(string(utf16.Decode(u)), "\uFFFD"), "\x00")
}

// tnefString8 decodes 8-bit text without its terminating NULs: UTF-8 when
// it is valid, else the declared Windows code page, else windows-1252.
func tnefString8(b []byte, codepage int) string {
	if len(b) > maxTNEFBodyBytes {
		b = b[:maxTNEFBodyBytes]
	}
	b = bytes.TrimRight(b, "\x00")
	if utf8.Valid(b) {
		return string(b)
	}
	if codepage >= 874 && codepage <= 1258 {
		s, _ := decodeBytes(fmt.Sprintf("windows-%d", codepage), b) // best effort if unknown
		return s
	}
	return bestEffort(b)
}

// tnefReader reads little-endian values from b; every read reports
// whether b held enough.
type tnefReader struct {
	b   []byte
	off int
}

func (r *tnefReader) left() int { return len(r.b) - r.off }

func (r *tnefReader) bytes(n int) []byte {
	if n < 0 || n > r.left() {
		n = r.left()
	}
	v := r.b[r.off : r.off+n]
	r.off += n
	return v
}

// readLE reads a little-endian T from r, reporting whether r held it.
func readLE[T uint8 | uint16 | uint32](r *tnefReader) (T, bool) {
	var v T
	n, err := binary.Decode(r.b[r.off:], binary.LittleEndian, &v)
	r.off += n
	return v, err == nil
}

// skipPadded skips n bytes and their padding to 4, reporting whether b
// held them.
func (r *tnefReader) skipPadded(n uint32) bool {
	if uint64(n) > uint64(r.left()) {
		return false
	}
	r.bytes(int(n))
	r.bytes(pad4(int(n)))
	return true
}

func pad4(n int) int { return (4 - n%4) % 4 }
