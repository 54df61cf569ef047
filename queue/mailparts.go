package queue

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"path"
	"strings"

	"github.com/emersion/go-message/textproto"

	"github.com/triage-dev/triage/ticket"
)

// Bounds on the attachments a tracker sink takes out of the original mail
// (hostile input): the daemon already refuses mail over 25 MiB.
const (
	maxMailParts       = 1000
	maxMailDepth       = 20
	maxAttachmentBytes = 25 << 20 // all attachments of one mail together
)

// mailAttachment is one attached part of the original mail, its transfer
// encoding undone: the bytes the sender attached.
type mailAttachment struct {
	Name string
	Type string
	Data []byte
}

// attachmentsOf takes the attachments out of t.Raw. The parts that count
// are those the classifier lists in t.Attachments, found by the same
// rules in the same order (a part is an attachment unless it is a
// multipart, or text/plain or text/html without a file name and not
// marked attachment); so each takes its decoded name from t.Attachments.
//
// The walk uses mime/multipart and undoes only the transfer encoding:
// go-message's entities also convert text/* parts to UTF-8, and an
// attached text file must reach the tracker byte for byte.
func attachmentsOf(t *ticket.Ticket) ([]mailAttachment, error) {
	if len(t.Raw) == 0 || len(t.Attachments) == 0 {
		return nil, nil
	}
	br := bufio.NewReader(bytes.NewReader(t.Raw))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return nil, fmt.Errorf("read original mail header: %w", err)
	}
	w := partWalker{known: t.Attachments}
	if err := w.walk(h.Get, br, 0); err != nil {
		return nil, err
	}
	return w.out, nil
}

type partWalker struct {
	known []ticket.Attachment
	out   []mailAttachment
	parts int
	total int
}

func (w *partWalker) walk(get func(string) string, body io.Reader, depth int) error {
	if w.parts++; w.parts > maxMailParts || depth > maxMailDepth {
		return nil // the classifier skipped these too
	}
	mediaType, params, err := mime.ParseMediaType(get("Content-Type"))
	if err != nil {
		mediaType = strings.ToLower(strings.TrimSpace(strings.Split(get("Content-Type"), ";")[0]))
	}
	if mediaType == "" {
		mediaType = "text/plain"
	}
	disposition, dparams, _ := mime.ParseMediaType(get("Content-Disposition"))
	fileName := dparams["filename"]
	if fileName == "" {
		fileName = params["name"]
	}
	switch {
	case strings.HasPrefix(mediaType, "multipart/"):
		if params["boundary"] == "" {
			return nil // read as text by the classifier
		}
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return nil // io.EOF, or the rest is unreadable: the classifier stopped there too
			}
			if err := w.walk(p.Header.Get, p, depth+1); err != nil {
				return err
			}
		}
	case mediaType == "message/rfc822" || mediaType == "message/global":
		return w.add(get, body, "forwarded.eml", mediaType)
	case (mediaType == "text/plain" || mediaType == "text/html") && fileName == "" && disposition != "attachment":
		return nil
	default:
		return w.add(get, body, fileName, mediaType)
	}
}

// transferDecoded undoes a part's Content-Transfer-Encoding.
func transferDecoded(cte string, body io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &base64Cleaner{r: body})
	case "quoted-printable":
		return quotedprintable.NewReader(body)
	}
	return body
}

// base64Cleaner drops what a base64 body may hold besides the alphabet
// (line breaks, spaces, stray characters mailers add), as decoders in mail
// clients do; encoding/base64 skips only CR and LF.
type base64Cleaner struct{ r io.Reader }

func (c *base64Cleaner) Read(p []byte) (int, error) {
	for {
		n, err := c.r.Read(p)
		k := 0
		for _, b := range p[:n] {
			if b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '+' || b == '/' || b == '=' {
				p[k] = b
				k++
			}
		}
		if k > 0 || err != nil {
			return k, err
		}
	}
}

func (w *partWalker) add(get func(string) string, body io.Reader, name, mediaType string) error {
	body = transferDecoded(get("Content-Transfer-Encoding"), body)
	b, err := io.ReadAll(io.LimitReader(body, int64(maxAttachmentBytes-w.total)+1))
	if err != nil {
		return fmt.Errorf("attachment %d: %w", len(w.out)+1, err)
	}
	if w.total += len(b); w.total > maxAttachmentBytes {
		return fmt.Errorf("attachments exceed %d bytes", maxAttachmentBytes)
	}
	a := mailAttachment{Name: name, Type: mediaType, Data: b}
	if i := len(w.out); i < len(w.known) && w.known[i].Name != "" {
		a.Name = w.known[i].Name // the classifier's decoding (RFC 2231, encoded words, any charset)
	} else if dec, err := new(mime.WordDecoder).DecodeHeader(name); err == nil {
		a.Name = dec
	}
	if a.Name = path.Base(strings.ReplaceAll(a.Name, `\`, "/")); a.Name == "." || a.Name == "/" || a.Name == "" {
		a.Name = fmt.Sprintf("attachment-%d", len(w.out)+1)
	}
	if a.Type == "" {
		a.Type = "application/octet-stream"
	}
	w.out = append(w.out, a)
	return nil
}
