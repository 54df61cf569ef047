package queue

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// maxRewriteDepth bounds the recursion into nested multiparts and attached
// messages, as the decoder's depth does; deeper structures are split line
// by line instead.
const maxRewriteDepth = 20

// shortenBodyLines returns msg (header, blank line, body) with no body line
// over 998 octets. RFC 5321 allows no longer line, and SMTP and LMTP peers
// refuse or cut one (go-smtp at 2,000 octets, Postfix splits at 2,048), yet
// real mail has them: HTML from web mailers, logs pasted into one line. A
// part with such lines is re-encoded, which changes no decoded byte: text
// as quoted-printable, anything else as base64, inside multiparts and
// attached messages too. Only where the structure cannot be rebuilt (a
// broken multipart, an unknown transfer encoding, nesting deeper than
// maxRewriteDepth) are long lines split, as Postfix would. msg itself is
// returned when no line is too long.
func shortenBodyLines(msg []byte) []byte {
	if !hasLongLine(msg[headerEnd(msg):]) {
		return msg
	}
	if out, err := reencodeMessage(msg); err == nil && !hasLongLine(out[headerEnd(out):]) {
		return out
	}
	return splitLongLines(msg)
}

// hasLongLine reports a line (without its line ending) over 998 octets.
func hasLongLine(b []byte) bool {
	for l := range bytes.Lines(b) {
		if len(bytes.TrimSuffix(bytes.TrimSuffix(l, []byte("\n")), []byte("\r"))) > maxLineOctets {
			return true
		}
	}
	return false
}

// reencodeMessage rebuilds a message with its long-lined parts re-encoded,
// in one pass into one buffer: every part is a slice of msg, and what is
// re-encoded streams from its decoder to its encoder to the output, so a
// structure nested n deep costs no n copies of itself.
func reencodeMessage(msg []byte) ([]byte, error) {
	h, body, err := splitHeader(msg)
	if err != nil {
		return nil, err
	}
	cte := h.Get("Content-Transfer-Encoding")
	h, writeBody, err := rewriteEntity(h, body, 0)
	if err != nil {
		return nil, err
	}
	if h.Get("Content-Transfer-Encoding") != cte && !h.Has("Mime-Version") {
		// The encoding is only understood in a MIME message.
		h.Add("MIME-Version", "1.0")
	}
	var out bytes.Buffer
	out.Grow(reencodedCap(len(msg)))
	if err := textproto.WriteHeader(&out, h); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if err := writeBody(&out); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// reencodedCap is the room reencodeMessage sets aside for a message of n
// bytes (quoted-printable and base64 grow it), and what ForwardOverhead
// counts for it.
func reencodedCap(n int) int { return n + n/8 }

// splitHeader reads the header of an entity (header, blank line, body)
// and returns its body as a slice of b, not a copy.
func splitHeader(b []byte) (textproto.Header, []byte, error) {
	r := bytes.NewReader(b)
	br := bufio.NewReader(r)
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return h, nil, fmt.Errorf("header: %w", err)
	}
	return h, b[len(b)-r.Len()-br.Buffered():], nil
}

// rewriteEntity returns the header an entity will be written with and the
// function that writes its body: unchanged when it has no long line,
// else rebuilt part by part, or re-encoded.
func rewriteEntity(h textproto.Header, body []byte, depth int) (textproto.Header, func(io.Writer) error, error) {
	h, err := foldLongFields(h)
	if err != nil {
		return h, nil, err
	}
	if !hasLongLine(body) {
		return h, func(w io.Writer) error { _, err := w.Write(body); return err }, nil
	}
	if depth > maxRewriteDepth {
		return h, nil, errors.New("nested too deep")
	}
	mediaType, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		// RFC 2045 default for a missing or unreadable Content-Type.
		mediaType, params = "text/plain", nil
	}
	cte := h.Get("Content-Transfer-Encoding")
	switch {
	case strings.HasPrefix(mediaType, "multipart/"):
		parts, err := splitParts(body, params["boundary"])
		if err != nil {
			return h, nil, err
		}
		return h, func(w io.Writer) error { return writeMultipart(w, parts, params["boundary"], depth) }, nil
	case (mediaType == "message/rfc822" || mediaType == "message/global") && isIdentityEncoding(cte):
		ih, ibody, err := splitHeader(body)
		if err != nil {
			return h, nil, err
		}
		ih, writeInner, err := rewriteEntity(ih, ibody, depth+1)
		if err != nil {
			return h, nil, err
		}
		return h, func(w io.Writer) error {
			if err := textproto.WriteHeader(w, ih); err != nil {
				return fmt.Errorf("header: %w", err)
			}
			return writeInner(w)
		}, nil
	}
	decoded, err := transferDecoder(cte, body)
	if err != nil {
		return h, nil, err
	}
	text := strings.HasPrefix(mediaType, "text/")
	if text {
		h.Set("Content-Transfer-Encoding", "quoted-printable")
	} else {
		h.Set("Content-Transfer-Encoding", "base64")
	}
	return h, func(w io.Writer) error { return encodeLeaf(w, decoded, text) }, nil
}

// encodeLeaf streams a decoded leaf into w: text as quoted-printable (line
// breaks stay line breaks, everything else is exact), the rest as base64.
func encodeLeaf(w io.Writer, decoded io.Reader, text bool) error {
	var enc io.WriteCloser
	if text {
		enc = quotedprintable.NewWriter(w)
	} else {
		enc = base64.NewEncoder(base64.StdEncoding, &lineBreaker{w: w})
	}
	if _, err := io.Copy(enc, decoded); err != nil {
		return fmt.Errorf("re-encode: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("re-encode: %w", err)
	}
	if !text {
		// base64 ends its last line; a decoder skips the CRLF. (Text
		// keeps its own ending: a CRLF there would be content.)
		_, err := io.WriteString(w, "\r\n")
		return err
	}
	return nil
}

// lineBreaker writes CRLF after every 76 octets, as base64 in mail wants.
type lineBreaker struct {
	w    io.Writer
	line int // octets on the current line
}

func (l *lineBreaker) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		room := 76 - l.line
		if room == 0 {
			if _, err := io.WriteString(l.w, "\r\n"); err != nil {
				return 0, err
			}
			l.line, room = 0, 76
		}
		k := min(room, len(p))
		if _, err := l.w.Write(p[:k]); err != nil {
			return 0, err
		}
		l.line += k
		p = p[k:]
	}
	return n, nil
}

// writeMultipart writes the parts of a multipart body with the same
// boundary, each rewritten. The preamble and epilogue, text no MIME reader
// shows, are dropped.
func writeMultipart(w io.Writer, parts [][]byte, boundary string, depth int) error {
	mw := textproto.NewMultipartWriter(w)
	if err := mw.SetBoundary(boundary); err != nil {
		return fmt.Errorf("multipart: %w", err)
	}
	for i, part := range parts {
		ph, pbody, err := splitHeader(part)
		if err != nil {
			return fmt.Errorf("multipart part %d: %w", i+1, err)
		}
		ph, writeBody, err := rewriteEntity(ph, pbody, depth+1)
		if err != nil {
			return err
		}
		pw, err := mw.CreatePart(ph)
		if err != nil {
			return fmt.Errorf("multipart part %d: %w", i+1, err)
		}
		if err := writeBody(pw); err != nil {
			return err
		}
	}
	if err := mw.Close(); err != nil {
		return fmt.Errorf("multipart: %w", err)
	}
	return nil
}

// splitParts returns the parts of a multipart body as slices of it, each
// without the line break that belongs to the delimiter after it. It is
// hand-written because go-message's multipart reader copies every part,
// and a copy per level of nesting is what made a 20 MB mail of 30 nested
// multiparts cost gigabytes (TestRewriteNestedMultipartMemory); the
// writing side is go-message's.
func splitParts(body []byte, boundary string) ([][]byte, error) {
	if boundary == "" {
		return nil, errors.New("multipart without boundary")
	}
	delim := []byte("--" + boundary)
	var parts [][]byte
	start := -1
	for pos := 0; pos < len(body); {
		next := len(body)
		if i := bytes.IndexByte(body[pos:], '\n'); i >= 0 {
			next = pos + i + 1
		}
		line := bytes.TrimRight(body[pos:next], "\r\n")
		if rest, ok := bytes.CutPrefix(line, delim); ok {
			closing := bytes.HasPrefix(rest, []byte("--"))
			if closing {
				rest = rest[2:]
			}
			if len(bytes.TrimRight(rest, " \t")) == 0 {
				if start >= 0 {
					part := body[start:pos]
					part = bytes.TrimSuffix(part, []byte("\n"))
					part = bytes.TrimSuffix(part, []byte("\r"))
					parts = append(parts, part)
				}
				if closing {
					if len(parts) == 0 {
						return nil, errors.New("multipart without parts")
					}
					return parts, nil
				}
				start = next
			}
		}
		pos = next
	}
	return nil, errors.New("multipart: no closing delimiter")
}

// foldLongFields returns h with every physical line over 998 octets folded
// as repairOriginal folds the top-level header (appendFoldedHeader): a
// part's or an attached message's header is body text to SMTP.
func foldLongFields(h textproto.Header) (textproto.Header, error) {
	var raws [][]byte
	long := false
	for f := h.Fields(); f.Next(); {
		raw, err := f.Raw()
		if err != nil {
			return h, fmt.Errorf("header field %s: %w", f.Key(), err)
		}
		raws = append(raws, raw)
		long = long || hasLongLine(raw)
	}
	if !long {
		return h, nil
	}
	var folded textproto.Header
	for _, raw := range slices.Backward(raws) { // AddRaw puts each field on top
		if hasLongLine(raw) {
			raw = appendFoldedHeader(nil, raw, "\r\n", nil)
		}
		if len(raw) > 0 { // a field whose name cannot fit on a line goes
			folded.AddRaw(raw)
		}
	}
	return folded, nil
}

func isIdentityEncoding(cte string) bool {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "", "7bit", "8bit", "binary":
		return true
	}
	return false
}

// transferDecoder undoes a Content-Transfer-Encoding with go-message's
// decoders; an encoding it does not know is an error (the part cannot be
// re-encoded faithfully), and so is base64 that does not decode. The
// header message.New gets holds the encoding alone: a charset would have
// it decode the text to UTF-8, changing its bytes.
func transferDecoder(cte string, body []byte) (io.Reader, error) {
	var h message.Header
	h.Set("Content-Transfer-Encoding", cte)
	e, err := message.New(h, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("transfer encoding: %w", err)
	}
	return e.Body, nil
}

// splitLongLines breaks every body line over 998 octets, after the last
// space that fits or else on a character boundary: the last resort, what
// Postfix does to every such line.
func splitLongLines(msg []byte) []byte {
	end := headerEnd(msg)
	eol := lineEnding(msg)
	out := make([]byte, 0, len(msg)+len(msg)/maxLineOctets*2+2)
	out = append(out, msg[:end]...)
	for l := range bytes.Lines(msg[end:]) {
		line, lineEOL := splitEOL(l)
		for len(line) > maxLineOctets {
			cut := bytes.LastIndexByte(line[:maxLineOctets+1], ' ')
			if cut <= 0 {
				cut = maxLineOctets
				for cut > maxLineOctets-utf8.UTFMax && !utf8.RuneStart(line[cut]) {
					cut--
				}
			}
			out = append(out, line[:cut]...)
			out = append(out, eol...)
			line = line[cut:]
		}
		out = append(out, line...)
		out = append(out, lineEOL...)
	}
	return out
}
