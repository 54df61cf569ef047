package classifier

import (
	"bytes"
	"crypto/sha256"
	"testing"
)

// TestDecodeContent: the content a tracker sink uploads is the decoded
// bytes of each attachment, in the ticket's order, with the HTML source
// of an alternative whose plain part made the body.
func TestDecodeContent(t *testing.T) {
	raw := []byte("From: a@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n" +
		"--o\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n" +
		"--a\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain text\r\n" +
		"--a\r\nContent-Type: text/html; charset=iso-8859-1\r\n\r\n<p>gr\xfc\xdfe</p>\r\n--a--\r\n" +
		"--o\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename*=utf-8''%C3%A4.bin\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC/w==\r\n" +
		"--o\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nhello\r\n--o--\r\n")
	c, err := DecodeContent(raw)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(raw, DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.HTML != "<p>grüße</p>" {
		t.Errorf("HTML %q", c.HTML)
	}
	if m.Body != "plain text" || m.Content != nil {
		t.Errorf("body %q, content without KeepContent %v", m.Body, m.Content)
	}
	if len(c.Attachments) != len(m.Attachments) || len(c.Attachments) != 2 {
		t.Fatalf("%d attachments, ticket has %d", len(c.Attachments), len(m.Attachments))
	}
	for i, f := range c.Attachments {
		if f.Attachment != m.Attachments[i] || f.Size != len(f.Data) {
			t.Errorf("attachment %d: %+v vs %+v", i, f.Attachment, m.Attachments[i])
		}
	}
	if !bytes.Equal(c.Attachments[0].Data, []byte{0, 1, 2, 0xff}) || c.Attachments[0].Name != "ä.bin" {
		t.Errorf("binary attachment %q %x", c.Attachments[0].Name, c.Attachments[0].Data)
	}
	if sha256.Sum256(c.Attachments[1].Data) != sha256.Sum256([]byte("Subject: inner\r\n\r\nhello")) {
		t.Errorf("forwarded message %q", c.Attachments[1].Data)
	}
}
