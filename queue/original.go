package queue

import (
	"bytes"
)

// maxLineOctets is RFC 5322's limit for a line without its CRLF.
const maxLineOctets = 998

// cleanOriginal returns raw made safe to forward, changed only where the
// original is hostile or not valid on the wire (it returns raw itself when
// nothing needs to change):
//
//   - header fields named X-Triage-* are removed: only the ones triage adds
//     may reach the tracker, a sender must not be able to set its own tier;
//   - NUL and bare CR in the header section become spaces, so a receiving
//     MTA that ends lines at a bare CR cannot see an injected field;
//   - header lines over 998 octets are folded, at white space where there is
//     some (unfolding restores the value), else after a ';' or ',' or, in
//     the last resort, anywhere;
//   - a bare CR in the body becomes a line ending (SMTP DATA allows CR only
//     before LF; a bare CR around a dot is how SMTP smuggling starts);
//   - parts with body lines over 998 octets are re-encoded (shortenBodyLines);
//   - an mbox "From " line and lines starting with white space before the
//     first field are dropped: after triage's own fields they would become
//     a header field or continue triage's last one (the classifier ignores
//     them too).
func cleanOriginal(raw []byte) []byte {
	return shortenBodyLines(repairOriginal(raw))
}

// ForwardOverhead is how many bytes forwarding raw (smtp and lmtp sinks)
// sets aside beside it: a repaired copy, and a re-encoded one when body
// lines are too long; 0 for the usual message forwarded as it is. The
// daemon counts it against max_buffered_bytes.
func ForwardOverhead(raw []byte) int64 {
	raw, end, repair := needsRepair(raw)
	var n int64
	if repair {
		n += int64(len(raw))
	}
	if hasLongLine(raw[end:]) {
		n += int64(reencodedCap(len(raw)))
	}
	return n
}

// repairOriginal is cleanOriginal without the body's line lengths.
func repairOriginal(raw []byte) []byte {
	raw, end, repair := needsRepair(raw)
	if !repair {
		return raw
	}
	hdr, body := raw[:end], raw[end:]
	eol := lineEnding(raw)
	out := make([]byte, 0, len(raw)+len(raw)/maxLineOctets*3+16)
	out = appendFoldedHeader(out, hdr, eol, isTriageField)
	return appendBody(out, body, eol)
}

// needsRepair returns raw without what precedes its first header field,
// where its header ends, and whether its header or body must be repaired
// before it is forwarded.
func needsRepair(raw []byte) ([]byte, int, bool) {
	raw = trimHeaderStart(raw)
	end := headerEnd(raw)
	return raw, end, headerNeedsCleaning(raw[:end]) || hasBareCR(raw[end:])
}

// trimHeaderStart drops what comes before the first header field and is no
// field: an mbox "From " separator line and lines led by white space, or by
// a NUL or bare CR, which cleaning makes white space.
func trimHeaderStart(raw []byte) []byte {
	for len(raw) > 0 && (raw[0] == ' ' || raw[0] == '\t' || raw[0] == 0 ||
		raw[0] == '\r' && !bytes.HasPrefix(raw, []byte("\r\n")) || bytes.HasPrefix(raw, []byte("From "))) {
		i := bytes.IndexByte(raw, '\n')
		if i < 0 {
			return raw[:0]
		}
		raw = raw[i+1:]
	}
	return raw
}

// appendFoldedHeader appends the header lines of hdr with NUL and CR made
// spaces and each line folded to maxLineOctets after its field name,
// leaving out the fields drop (if not nil) names and those whose name
// cannot fit on a line.
func appendFoldedHeader(out, hdr []byte, eol string, drop func(line []byte) bool) []byte {
	skipping := false
	for l := range bytes.Lines(hdr) {
		line, lineEOL := splitEOL(l)
		line = sanitizeHeaderLine(line) // before the name is judged: a CR may hide one
		continuation := len(line) > 0 && (line[0] == ' ' || line[0] == '\t')
		after := 0 // a fold must come after the field name and its colon
		if !continuation {
			after = bytes.IndexByte(line, ':') + 1
			// A name that cannot fit on a line cannot be folded: the field goes.
			skipping = (drop != nil && drop(line)) || after >= maxLineOctets-1
		}
		if skipping {
			continue
		}
		out = appendFolded(out, line, eol, after)
		if lineEOL != "" {
			out = append(out, eol...)
		}
	}
	return out
}

// splitEOL splits a physical line into its content and its line ending.
func splitEOL(l []byte) ([]byte, string) {
	switch {
	case bytes.HasSuffix(l, []byte("\r\n")):
		return l[:len(l)-2], "\r\n"
	case bytes.HasSuffix(l, []byte("\n")):
		return l[:len(l)-1], "\n"
	}
	return l, ""
}

func headerNeedsCleaning(hdr []byte) bool {
	if bytes.IndexByte(hdr, 0) >= 0 || hasBareCR(hdr) {
		return true
	}
	for l := range bytes.Lines(hdr) {
		line, _ := splitEOL(l)
		if len(line) > maxLineOctets || isTriageField(line) {
			return true
		}
	}
	return false
}

// hasBareCR reports a CR not followed by LF: each CRLF holds one CR.
func hasBareCR(b []byte) bool {
	return bytes.Count(b, []byte("\r")) != bytes.Count(b, []byte("\r\n"))
}

// isTriageField reports whether a header line starts a field named X-Triage-*.
func isTriageField(line []byte) bool {
	const prefix = "x-triage-"
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return false
	}
	name := bytes.TrimRight(line[:colon], " \t")
	return len(name) > len(prefix) && bytes.EqualFold(name[:len(prefix)], []byte(prefix)) && !bytes.ContainsAny(name, " \t")
}

// sanitizeHeaderLine replaces NUL and (bare) CR with spaces.
func sanitizeHeaderLine(line []byte) []byte {
	if bytes.IndexByte(line, 0) < 0 && bytes.IndexByte(line, '\r') < 0 {
		return line
	}
	c := bytes.Clone(line)
	for i, b := range c {
		if b == 0 || b == '\r' {
			c[i] = ' '
		}
	}
	return c
}

// appendFolded appends line, folded so that no physical line exceeds
// maxLineOctets and no fold comes before octet `after` (the end of the
// field name). It copies each octet once: a 1 MB line costs 1 MB.
func appendFolded(out, line []byte, eol string, after int) []byte {
	lead := false // a space goes before line: a fold was inserted
	for {
		room := maxLineOctets // octets of line that fit on this physical line
		if lead {
			room--
		}
		if len(line) <= room {
			break
		}
		if lead {
			out = append(out, ' ')
		}
		// Fold before the last white space that leaves text on this line.
		cut := bytes.LastIndexAny(line[:room+1], " \t")
		if cut > 0 && cut >= after && len(bytes.TrimLeft(line[:cut], " \t")) > 0 {
			out = append(out, line[:cut]...)
			out = append(out, eol...)
			line, lead = line[cut:], false // starts with the white space: a continuation
			continue
		}
		// No white space: insert a fold, after a separator if there is one.
		cut = bytes.LastIndexAny(line[:room], ";,") + 1
		if cut <= 1 || cut < after {
			cut = room
		}
		out = append(out, line[:cut]...)
		out = append(out, eol...)
		line, lead, after = line[cut:], true, 0
	}
	if lead {
		out = append(out, ' ')
	}
	return append(out, line...)
}

// appendBody appends body with every bare CR turned into eol.
func appendBody(out, body []byte, eol string) []byte {
	for {
		i := bytes.IndexByte(body, '\r')
		if i < 0 {
			return append(out, body...)
		}
		out = append(out, body[:i]...)
		if i+1 < len(body) && body[i+1] == '\n' {
			out = append(out, '\r', '\n')
			body = body[i+2:]
			continue
		}
		out = append(out, eol...)
		body = body[i+1:]
	}
}
