package classifier

import (
	"bufio"
	"bytes"
	"cmp"
	"io"
	"strings"

	gmtextproto "github.com/emersion/go-message/textproto"

	"github.com/triage-dev/triage/internal/clip"
	"github.com/triage-dev/triage/ticket"
)

// Bounds on a delivery-status part: bytes read and recipients kept.
const (
	maxDSNBytes      = 64 << 10
	maxDSNRecipients = 100
	maxDiagnostic    = 1000 // bytes of a Diagnostic-Code
)

// isReportPart: the machine-readable parts of a multipart/report (RFC
// 6522) that follow its human-readable first part. They are read for
// bounce_info or skipped, never listed as attachments or forwarded mail:
// the returned message is the desk's own mail coming back.
func isReportPart(mediaType string) bool {
	switch mediaType {
	case "message/delivery-status", "message/global-delivery-status",
		"text/rfc822-headers", "message/global-headers", "message/rfc822", "message/global":
		return true
	}
	return false
}

// reportPart reads the first delivery-status part into BounceInfo and
// skips the others.
func (w *walker) reportPart(body io.Reader, mediaType string) {
	if !strings.HasSuffix(mediaType, "delivery-status") || w.mail.BounceInfo != nil {
		w.drain(body)
		return
	}
	b := w.read(body, maxDSNBytes, "delivery status")
	w.drain(body)
	if info := parseDSN(b, w.defects); info != nil {
		w.mail.BounceInfo = info
	}
}

// parseDSN reads the per-recipient blocks of a delivery-status body (RFC
// 3464 section 2: header-like blocks separated by blank lines, the first
// about the message). It returns nil when no block names a recipient.
func parseDSN(b []byte, defects *defectList) *ticket.BounceInfo {
	br := bufio.NewReader(bytes.NewReader(b))
	var recipients []ticket.BounceRecipient
	for len(recipients) < maxDSNRecipients {
		for {
			c, err := br.Peek(1)
			if err != nil {
				return bounceInfo(recipients)
			}
			if c[0] != '\r' && c[0] != '\n' {
				break
			}
			_, _ = br.ReadByte() // a peeked byte is there to read
		}
		h, err := gmtextproto.ReadHeader(br)
		if err != nil {
			defects.add("malformed delivery status: " + quoteShort(err.Error()))
			break
		}
		r := ticket.BounceRecipient{
			Recipient:  cmp.Or(dsnValue(h.Get("Final-Recipient")), dsnValue(h.Get("Original-Recipient"))),
			Status:     firstToken(h.Get("Status")),
			Action:     strings.ToLower(firstToken(h.Get("Action"))),
			Diagnostic: clip.UTF8(cleanLine(bestEffortString(h.Get("Diagnostic-Code"))), maxDiagnostic),
		}
		if r.Recipient != "" || r.Status != "" || r.Action != "" {
			recipients = append(recipients, r)
		}
	}
	return bounceInfo(recipients)
}

func bounceInfo(recipients []ticket.BounceRecipient) *ticket.BounceInfo {
	if len(recipients) == 0 {
		return nil
	}
	return &ticket.BounceInfo{BounceRecipient: recipients[0], Recipients: recipients}
}

// dsnValue is the address of a typed recipient field ("rfc822;
// Ann@Example.com") without its type, lower-cased, one clean line.
func dsnValue(v string) string {
	if _, after, ok := strings.Cut(v, ";"); ok {
		v = after
	}
	v = strings.ToLower(strings.Trim(strings.TrimSpace(cleanLine(bestEffortString(v))), "<>"))
	return clip.UTF8(v, maxHeaderValueBytes)
}

// firstToken is the first word of a field, without a trailing comment.
func firstToken(v string) string {
	f := strings.Fields(cleanLine(bestEffortString(v)))
	if len(f) == 0 {
		return ""
	}
	return clip.UTF8(f[0], 64)
}
