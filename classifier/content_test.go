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

// TestDecodeContentKeepsTextBytes: a text file is handed on as it was
// sent; go-message would convert its charset to UTF-8 (a latin-1 log
// reached the tracker re-encoded). Text read as the body is still
// converted.
func TestDecodeContentKeepsTextBytes(t *testing.T) {
	tests := []struct {
		name, part string
		want       []byte // the file's bytes; nil: no file, the text is the body
		body       string
	}{
		{"latin-1 attachment", "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Disposition: attachment; filename=log.txt\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nGr=FC=DFe", []byte("Gr\xfc\xdfe"), ""},
		{"named by Content-Type", "Content-Type: text/plain; charset=windows-1252; name=a.txt\r\n\r\nPreis 5\x80", []byte("Preis 5\x80"), ""},
		{"csv without a name", "Content-Type: text/csv; charset=iso-8859-1\r\n\r\nst\xe4dt;1", []byte("st\xe4dt;1"), ""},
		{"latin-1 body text", "Content-Type: text/plain; charset=iso-8859-1\r\n\r\nGr\xfc\xdfe", nil, "Grüße"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := []byte("From: a@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n" + tt.part + "\r\n--o--\r\n")
			m, err := Decode(raw, DecodeOptions{KeepContent: true})
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == nil {
				if len(m.Content.Attachments) != 0 || m.Body != tt.body {
					t.Fatalf("files %d, body %q; want the body %q", len(m.Content.Attachments), m.Body, tt.body)
				}
				return
			}
			if len(m.Content.Attachments) != 1 || !bytes.Equal(m.Content.Attachments[0].Data, tt.want) || m.Attachments[0].Size != len(tt.want) {
				t.Fatalf("files %+v, want one holding %q", m.Content.Attachments, tt.want)
			}
		})
	}
}
