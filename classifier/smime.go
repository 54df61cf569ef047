package classifier

import (
	"bufio"
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-message"
	gmtextproto "github.com/emersion/go-message/textproto"
	"github.com/smallstep/pkcs7"

	"github.com/triage-dev/triage/internal/clip"
	"github.com/triage-dev/triage/ticket"
)

// Bounds on a CMS (S/MIME) structure, checked before the library sees it.
// pkcs7 converts BER to DER recursively, one Go frame and one object per
// nested element, without a bound of its own (TestCMSNestingBound): a
// hostile 25 MiB part of nested two-byte headers would recurse millions
// deep and allocate a node per two bytes.
const (
	maxCMSBytes   = 16 << 20 // an opaque-signed message, attachments included
	maxCMSDepth   = 64       // real CMS nests about 12 deep
	maxCMSObjects = 1 << 18  // elements; openssl's streamed content is a few per KiB
)

var errCMSBounds = errors.New("CMS structure over its bounds")

// isCMS: an S/MIME part, opaque (pkcs7-mime, smime.p7m) or a detached
// signature (pkcs7-signature, smime.p7s).
func isCMS(mediaType, name string) bool {
	switch mediaType {
	case "application/pkcs7-mime", "application/x-pkcs7-mime",
		"application/pkcs7-signature", "application/x-pkcs7-signature":
		return true
	}
	lower := strings.ToLower(name)
	return mediaType == "application/octet-stream" && (strings.HasSuffix(lower, ".p7m") || strings.HasSuffix(lower, ".p7s"))
}

// cms handles an S/MIME part. Enveloped data only marks the mail
// encrypted. Signed data is parsed: its content is walked as the part it
// wraps, and the signer's address recorded. A detached signature stays an
// attachment and gives the signer. Anything unreadable is an attachment.
func (w *walker) cms(e *message.Entity, params map[string]string, name, mediaType string, depth int, sink *textSink) {
	smimeType := strings.ToLower(params["smime-type"])
	if smimeType == "enveloped-data" || smimeType == "authenveloped-data" {
		w.mail.Encrypted = true
		w.drain(e.Body)
		return
	}
	b := w.read(e.Body, maxCMSBytes+1, "S/MIME part")
	detached := strings.HasSuffix(mediaType, "signature") || strings.HasSuffix(strings.ToLower(name), ".p7s")
	if smimeType == "certs-only" {
		w.addFile(attachmentOf(name, mediaType, len(b)), b)
		return
	}
	p7, err := parseCMS(b)
	if err != nil {
		w.defects.add("unreadable S/MIME structure: " + quoteShort(err.Error()))
		w.addFile(attachmentOf(name, mediaType, len(b)), b)
		return
	}
	if len(p7.Signers) == 0 && p7.Content == nil {
		// Enveloped or encrypted data without an smime-type saying so.
		w.mail.Encrypted = true
		return
	}
	w.mail.Signed = true
	if w.mail.Signer == "" {
		w.mail.Signer = signerAddress(p7)
	}
	if detached || p7.Content == nil {
		w.addFile(attachmentOf(name, mediaType, len(b)), b)
		return
	}
	if depth+1 > w.opts.MaxDepth {
		w.defects.add(fmt.Sprintf("MIME nesting deeper than %d; parts skipped", w.opts.MaxDepth))
		return
	}
	inner, err := entityOf(p7.Content, w.defects)
	if inner == nil {
		w.defects.add("unreadable S/MIME content: " + quoteShort(err.Error()))
		return
	}
	w.walk(inner, err, depth+1, sink)
}

// attachmentOf is the attachment record of a part w did not descend into.
func attachmentOf(name, mediaType string, size int) ticket.Attachment {
	return ticket.Attachment{Name: name, Type: mediaType, Size: size}
}

// read reads a part to its end, at most n bytes; what it could not decode
// is a defect naming the part (what), and what was decoded is kept.
func (w *walker) read(body io.Reader, n int64, what string) []byte {
	b, err := io.ReadAll(w.d.limit(body, n))
	if err != nil {
		w.defects.add(what + ": " + quoteShort(err.Error()) + "; kept what was decoded")
	}
	return b
}

// drain reads a part to its end, bounded, so a multipart reader can go on.
func (w *walker) drain(r io.Reader) {
	if _, err := io.Copy(io.Discard, w.d.limit(r, int64(w.opts.MaxBytes))); err != nil {
		w.defects.add("part: " + quoteShort(err.Error()) + "; skipped")
	}
}

// entityOf reads a MIME entity (header and body) from b, with the part
// header bounds. A nil entity comes with the error that prevented it.
func entityOf(b []byte, defects *defectList) (*message.Entity, error) {
	br := bufio.NewReader(bytes.NewReader(b))
	th, err := gmtextproto.ReadHeader(br)
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	h := message.Header{Header: th}
	capPartHeader(&h, defects)
	return newEntity(h, br, defects)
}

// parseCMS checks b against the CMS bounds, then parses it with pkcs7.
func parseCMS(b []byte) (*pkcs7.PKCS7, error) {
	if len(b) > maxCMSBytes {
		return nil, fmt.Errorf("%d bytes over %d: %w", len(b), maxCMSBytes, errCMSBounds)
	}
	if !berWithin(b, maxCMSDepth, maxCMSObjects) {
		return nil, fmt.Errorf("nesting over %d or more than %d elements: %w", maxCMSDepth, maxCMSObjects, errCMSBounds)
	}
	p7, err := pkcs7.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("pkcs7: %w", err)
	}
	return p7, nil
}

// berWithin walks the tag and length headers of BER data without
// recursion and reports whether its nesting stays within maxDepth and its
// element count within maxObjects. Malformed data passes: the parser
// rejects it no deeper than this walk went.
func berWithin(b []byte, maxDepth, maxObjects int) bool {
	var ends []int // end offset of each open constructed element, or berIndefinite
	objects := 0
	for i := 0; i < len(b); {
		for len(ends) > 0 && ends[len(ends)-1] != berIndefinite && i >= ends[len(ends)-1] {
			ends = ends[:len(ends)-1]
		}
		if n := len(ends); n > 0 && ends[n-1] == berIndefinite && i+1 < len(b) && b[i] == 0 && b[i+1] == 0 {
			ends = ends[:n-1]
			i += 2
			continue
		}
		objects++
		if objects > maxObjects {
			return false
		}
		tag, length, next, ok := berHeader(b, i)
		if !ok {
			return true
		}
		i = next
		constructed := tag&0x20 != 0
		switch {
		case constructed && length == berIndefinite:
			ends = append(ends, berIndefinite)
		case constructed:
			ends = append(ends, i+length)
		case length == berIndefinite:
			return true
		default:
			i += length
			continue
		}
		if len(ends) > maxDepth {
			return false
		}
	}
	return true
}

// berIndefinite is the length berHeader reports for an indefinite-length
// element.
const berIndefinite = -1

// berHeader reads the tag and length header of the BER element at b[i]
// and returns the offset of its contents; ok is false when b ends inside
// the header.
func berHeader(b []byte, i int) (tag byte, length, next int, ok bool) {
	tag = b[i]
	i++
	if tag&0x1f == 0x1f { // high tag number: base-128 digits
		for i < len(b) && b[i]&0x80 != 0 {
			i++
		}
		i++
	}
	if i >= len(b) {
		return tag, 0, i, false
	}
	l := int(b[i])
	i++
	switch {
	case l == 0x80:
		length = berIndefinite
	case l > 0x80:
		n := l & 0x7f
		if n > 4 || i+n > len(b) {
			return tag, 0, i, false
		}
		for _, c := range b[i : i+n] {
			length = length<<8 | int(c)
		}
		i += n
	default:
		length = l
	}
	return tag, length, i, true
}

// oidEmailAddress is PKCS #9 emailAddress, the address older certificates
// carry in their subject instead of a subjectAltName.
var oidEmailAddress = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}

// signerAddress is the address of the first signer's certificate, or "".
func signerAddress(p7 *pkcs7.PKCS7) string {
	var cert *x509.Certificate
	if len(p7.Signers) > 0 {
		cert = p7.GetOnlySigner()
	}
	if cert == nil && len(p7.Certificates) == 1 {
		cert = p7.Certificates[0]
	}
	if cert == nil {
		return ""
	}
	addr := ""
	if len(cert.EmailAddresses) > 0 {
		addr = cert.EmailAddresses[0]
	} else {
		for _, n := range cert.Subject.Names {
			if s, ok := n.Value.(string); ok && n.Type.Equal(oidEmailAddress) {
				addr = s
				break
			}
		}
	}
	return clip.UTF8(strings.ToLower(cleanLine(bestEffortString(addr))), maxHeaderValueBytes)
}
