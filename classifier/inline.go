package classifier

import (
	"net/url"
	"strings"

	"github.com/emersion/go-message"

	"github.com/triage-dev/triage/internal/clip"
)

// Bounds on inline-part detection: cid: references kept from the HTML,
// and the length of a content id.
const (
	maxCIDs      = 1000
	maxContentID = 255
)

// markInline fills the content id and the inline flag of the attachment
// just recorded: inline when its Content-Disposition says so or when it
// is a related part with a content id (RFC 2387: the root refers to it).
// resolveInline adds the parts the HTML refers to by cid:.
func (w *walker) markInline(h message.Header, disposition string) {
	i := len(w.mail.Attachments) - 1
	a := w.mail.Attachments[i]
	a.ContentID = cleanCID(h.Get("Content-Id"))
	a.Inline = strings.EqualFold(disposition, "inline") || a.ContentID != "" && w.container == "multipart/related"
	w.setAttachment(i, a)
}

// resolveInline marks the attachments whose content id the HTML used.
func (w *walker) resolveInline() {
	for i, a := range w.mail.Attachments {
		if a.ContentID != "" && w.cids[a.ContentID] {
			a.Inline = true
			w.setAttachment(i, a)
		}
	}
}

// collectCIDs adds the content ids of the cid: URLs in an HTML source to
// set (at most maxCIDs), creating it when needed.
func collectCIDs(src string, set map[string]bool) map[string]bool {
	rest := src
	for len(set) < maxCIDs {
		i := indexFold(rest, "cid:")
		if i < 0 {
			break
		}
		rest = rest[i+4:]
		end := strings.IndexAny(rest, "\"' <>)\t\r\n")
		if end < 0 {
			end = len(rest)
		}
		if cid := cleanCID(rest[:end]); cid != "" {
			if set == nil {
				set = map[string]bool{}
			}
			set[cid] = true
		}
		rest = rest[end:]
	}
	return set
}

// indexFold is strings.Index for an ASCII lower-case needle, ignoring the
// case of s.
func indexFold(s, needle string) int {
	for i := 0; i+len(needle) <= len(s); i++ {
		j := strings.IndexAny(s[i:], "cC")
		if j < 0 {
			return -1
		}
		i += j
		if i+len(needle) <= len(s) && strings.EqualFold(s[i:i+len(needle)], needle) {
			return i
		}
	}
	return -1
}

// cleanCID is a Content-ID or a cid: URL's id: without angle brackets or
// %-escapes (RFC 2392), one bounded line.
func cleanCID(v string) string {
	v = strings.Trim(strings.TrimSpace(v), "<>")
	if u, err := url.PathUnescape(v); err == nil {
		v = u
	}
	return clip.UTF8(cleanLine(bestEffortString(v)), maxContentID)
}
