package testkit

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-message"
)

// DecodedParts reads a message with go-message and lists every leaf part
// as "media/type: decoded content", text line breaks as LF, descending
// into attached messages ("attached " prefixed). Two messages whose lists
// are equal carry the same content however each was transfer-encoded.
func DecodedParts(t testing.TB, raw []byte) []string {
	t.Helper()
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) {
		t.Fatalf("go-message cannot read %.200q: %v", raw, err)
	}
	var out []string
	err = e.Walk(func(_ []int, part *message.Entity, err error) error {
		if err != nil {
			return err
		}
		mt, _, _ := part.Header.ContentType()
		if strings.HasPrefix(mt, "multipart/") {
			return nil
		}
		b, err := io.ReadAll(part.Body)
		if err != nil {
			return err
		}
		if mt == "message/rfc822" {
			for _, l := range DecodedParts(t, b) {
				out = append(out, "attached "+l)
			}
			return nil
		}
		out = append(out, mt+": "+strings.ReplaceAll(string(b), "\r\n", "\n"))
		return nil
	})
	if err != nil {
		t.Fatalf("reading the parts: %v", err)
	}
	return out
}
