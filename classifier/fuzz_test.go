package classifier

import (
	"errors"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/triage-dev/triage/ticket"
)

// FuzzDecode: any input decodes or fails with one of the two errors, never
// panics, and what comes out respects the bounds and is clean text.
func FuzzDecode(f *testing.F) {
	for _, file := range sampleMails(f) {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(envMail))
	f.Add([]byte("Subject: =?utf-8?B?w6?= =?x?Q?=FF?=\r\nContent-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n"))
	opts := DecodeOptions{MaxBytes: 1 << 20, MaxDepth: 6, MaxParts: 40, MaxBodyBytes: 2048, MaxHeaders: 64}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := Decode(raw, opts)
		if err != nil {
			if !errors.Is(err, ErrUnparseable) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(m.Body) > opts.MaxBodyBytes {
			t.Errorf("body %d bytes over %d", len(m.Body), opts.MaxBodyBytes)
		}
		if len(m.Attachments) > opts.MaxParts || len(m.Headers) > opts.MaxHeaders || len(m.Defects) > maxDefects {
			t.Errorf("bounds: %d attachments, %d headers, %d defects", len(m.Attachments), len(m.Headers), len(m.Defects))
		}
		if !utf8.ValidString(m.Body) || strings.ContainsRune(m.Body, '\r') {
			t.Errorf("body not clean UTF-8: %q", m.Body)
		}
		oneLine := []string{m.Subject, m.From.Name, m.From.Address, m.ReplyTo.Name, m.MessageID, m.InReplyTo, m.TicketRef}
		for _, a := range m.Attachments {
			oneLine = append(oneLine, a.Name, a.Type)
			if a.Size < 0 {
				t.Errorf("negative size %d", a.Size)
			}
		}
		for _, a := range append(append([]ticket.Address{}, m.To...), m.Cc...) {
			oneLine = append(oneLine, a.Name, a.Address)
		}
		for k, v := range m.Headers {
			oneLine = append(oneLine, k, v)
			if len(v) > maxHeaderValueBytes {
				t.Errorf("header %s value %d bytes", k, len(v))
			}
		}
		oneLine = append(oneLine, m.References...)
		for _, s := range oneLine {
			if !utf8.ValidString(s) || strings.ContainsAny(s, "\r\n") {
				t.Errorf("single-line value not clean: %q", s)
			}
		}
		env := m.Env()
		if !strings.HasPrefix(env.Text, m.Subject) {
			t.Errorf("text does not start with the subject")
		}
		// Keeping the content changes nothing else: the same body and
		// attachments, each with its bytes.
		keep := opts
		keep.KeepContent = true
		mk, err := Decode(raw, keep)
		if err != nil {
			t.Fatalf("with KeepContent: %v", err)
		}
		if mk.Body != m.Body || len(mk.Content.Attachments) != len(m.Attachments) || !utf8.ValidString(mk.Content.HTML) {
			t.Fatalf("KeepContent changed the decoding: body %q vs %q, %d files vs %d attachments", mk.Body, m.Body, len(mk.Content.Attachments), len(m.Attachments))
		}
		for i, f := range mk.Content.Attachments {
			if f.Attachment != m.Attachments[i] || f.Size != len(f.Data) {
				t.Fatalf("attachment %d: %+v with %d bytes, want %+v", i, f.Attachment, len(f.Data), m.Attachments[i])
			}
		}
	})
}
