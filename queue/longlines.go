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

	"github.com/emersion/go-message/textproto"
)

// maxRewriteDepth bounds the recursion into nested multiparts and attached
// messages; deeper structures are split line by line instead.
const maxRewriteDepth = 30

// shortenBodyLines returns msg (header, blank line, body) with no body line
// over 998 octets. RFC 5321 allows no longer line, and SMTP and LMTP peers
// refuse or cut one (go-smtp at 2,000 octets, Postfix splits at 2,048), yet
// real mail has them: HTML from web mailers, logs pasted into one line. A
// part with such lines is re-encoded, which changes no decoded byte: text
// as quoted-printable, anything else as base64, inside multiparts and
// attached messages too. Only where the structure cannot be rebuilt (a
// broken multipart, an unknown transfer encoding) are long lines split, as
// Postfix would. msg itself is returned when no line is too long.
func shortenBodyLines(msg []byte) []byte {
	if !hasLongLine(msg[headerEnd(msg):]) {
		return msg
	}
	if out, err := reencodeMessage(msg, 0); err == nil && !hasLongLine(out[headerEnd(out):]) {
		return out
	}
	return splitLongLines(msg)
}

// hasLongLine reports a line (without its line ending) over 998 octets.
// It steps a window at a time, to the window's last line feed, rather than
// a line at a time: most forwarded mail has nothing to change.
func hasLongLine(b []byte) bool {
	const window = maxLineOctets + 2 // the longest line allowed, with CRLF
	for len(b) > maxLineOctets {
		w := b[:min(window, len(b))]
		last := bytes.LastIndexByte(w, '\n')
		if last < 0 {
			// No line feed: too long, unless this is the end and what
			// pushes it to 999 octets is a final CR.
			return len(w) == window || w[len(w)-1] != '\r'
		}
		// Only a line filling the whole window can be too long: 999
		// octets of content then LF (998 then CRLF is fine).
		if last == window-1 && bytes.IndexByte(w, '\n') == last && w[last-1] != '\r' {
			return true
		}
		b = b[last+1:]
	}
	return false
}

// reencodeMessage rebuilds one message (or MIME part: header, blank line,
// body) with its long-lined parts re-encoded.
func reencodeMessage(msg []byte, depth int) ([]byte, error) {
	r := bytes.NewReader(msg)
	br := bufio.NewReader(r)
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	body := msg[len(msg)-r.Len()-br.Buffered():] // what the header left, not a copy
	if h, err = foldLongFields(h); err != nil {
		return nil, err
	}
	cte := h.Get("Content-Transfer-Encoding")
	body, err = reencodeEntity(&h, body, depth)
	if err != nil {
		return nil, err
	}
	if h.Get("Content-Transfer-Encoding") != cte && !h.Has("Mime-Version") {
		// The encoding is only understood in a MIME message.
		h.Add("MIME-Version", "1.0")
	}
	var out bytes.Buffer
	out.Grow(len(msg) + len(msg)/8)
	if err := textproto.WriteHeader(&out, h); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	out.Write(body)
	return out.Bytes(), nil
}

// reencodeEntity returns the body of the entity with header h, re-encoded
// where it has long lines; h is changed to match.
func reencodeEntity(h *textproto.Header, body []byte, depth int) ([]byte, error) {
	if !hasLongLine(body) {
		return body, nil
	}
	if depth > maxRewriteDepth {
		return nil, errors.New("nested too deep")
	}
	mediaType, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		// RFC 2045 default for a missing or unreadable Content-Type.
		mediaType, params = "text/plain", nil
	}
	switch {
	case strings.HasPrefix(mediaType, "multipart/"):
		return reencodeMultipart(body, params["boundary"], depth)
	case mediaType == "message/rfc822" || mediaType == "message/global":
		if !isIdentityEncoding(h.Get("Content-Transfer-Encoding")) {
			break // an encoded attached message: re-encode it as a leaf
		}
		return reencodeMessage(body, depth+1)
	}
	// Decoded and encoded as a stream: a 30 MB one-line attachment costs
	// its encoded copy, nothing more.
	decoded, err := transferDecoder(h.Get("Content-Transfer-Encoding"), body)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Grow(len(body) + len(body)/8)
	var enc io.WriteCloser
	text := strings.HasPrefix(mediaType, "text/")
	if text {
		// Line breaks stay line breaks (CRLF), everything else is exact.
		enc = quotedprintable.NewWriter(&out)
		setTransferEncoding(h, "quoted-printable")
	} else {
		enc = base64.NewEncoder(base64.StdEncoding, &lineBreaker{w: &out})
		setTransferEncoding(h, "base64")
	}
	if _, err := io.Copy(enc, decoded); err != nil {
		return nil, fmt.Errorf("re-encode: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("re-encode: %w", err)
	}
	if !text {
		// base64 ends its last line; a decoder skips the CRLF. (Text
		// keeps its own ending: a CRLF there would be content.)
		out.WriteString("\r\n")
	}
	return out.Bytes(), nil
}

// lineBreaker writes CRLF after every 76 octets, as base64 in mail wants.
type lineBreaker struct {
	w    *bytes.Buffer
	line int // octets on the current line
}

func (l *lineBreaker) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		room := 76 - l.line
		if room == 0 {
			l.w.WriteString("\r\n")
			l.line, room = 0, 76
		}
		k := min(room, len(p))
		l.w.Write(p[:k])
		l.line += k
		p = p[k:]
	}
	return n, nil
}

// reencodeMultipart rebuilds a multipart body part by part with the same
// boundary. The preamble and epilogue, text no MIME reader shows, are
// dropped.
func reencodeMultipart(body []byte, boundary string, depth int) ([]byte, error) {
	if boundary == "" {
		return nil, errors.New("multipart without boundary")
	}
	var out bytes.Buffer
	out.Grow(len(body) + len(body)/8)
	mw := textproto.NewMultipartWriter(&out)
	if err := mw.SetBoundary(boundary); err != nil {
		return nil, fmt.Errorf("multipart: %w", err)
	}
	mr := textproto.NewMultipartReader(bytes.NewReader(body), boundary)
	// One buffer for every part's bytes: each is written out before the
	// next is read.
	var part bytes.Buffer
	part.Grow(len(body))
	parts := 0
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("multipart: %w", err)
		}
		part.Reset()
		if _, err := part.ReadFrom(p); err != nil {
			return nil, fmt.Errorf("multipart part %d: %w", parts+1, err)
		}
		b := part.Bytes()
		ph, err := foldLongFields(p.Header)
		if err != nil {
			return nil, fmt.Errorf("multipart part %d: %w", parts+1, err)
		}
		if b, err = reencodeEntity(&ph, b, depth+1); err != nil {
			return nil, err
		}
		pw, err := mw.CreatePart(ph)
		if err != nil {
			return nil, fmt.Errorf("multipart part %d: %w", parts+1, err)
		}
		if _, err := pw.Write(b); err != nil {
			return nil, fmt.Errorf("multipart part %d: %w", parts+1, err)
		}
		parts++
	}
	if parts == 0 {
		return nil, errors.New("multipart without parts")
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("multipart: %w", err)
	}
	return out.Bytes(), nil
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

// transferDecoder undoes a Content-Transfer-Encoding; an encoding it does
// not know is an error (the part cannot be re-encoded faithfully), and so
// is base64 that does not decode.
func transferDecoder(cte string, body []byte) (io.Reader, error) {
	if isIdentityEncoding(cte) {
		return bytes.NewReader(body), nil
	}
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		return quotedprintable.NewReader(bytes.NewReader(body)), nil
	case "base64":
		// The decoder skips CR and LF itself; spaces and tabs (indented
		// bodies) become line feeds, as go-message reads them.
		return base64.NewDecoder(base64.StdEncoding, &blankToNewline{r: bytes.NewReader(body)}), nil
	}
	return nil, fmt.Errorf("unknown transfer encoding %q", cte)
}

// blankToNewline turns spaces and tabs into line feeds.
type blankToNewline struct{ r io.Reader }

func (b *blankToNewline) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	for i, c := range p[:n] {
		if c == ' ' || c == '\t' {
			p[i] = '\n'
		}
	}
	return n, err
}

// setTransferEncoding replaces the Content-Transfer-Encoding field.
func setTransferEncoding(h *textproto.Header, cte string) {
	h.Del("Content-Transfer-Encoding")
	h.Add("Content-Transfer-Encoding", cte)
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
