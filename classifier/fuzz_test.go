package classifier

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
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
		checkDecodedBounds(t, m, opts)
		checkOneLine(t, m)
		checkFormatFields(t, m)
		env := m.Env()
		if !strings.HasPrefix(env.Text, m.Subject) {
			t.Errorf("text does not start with the subject")
		}
		checkKeepContent(t, raw, opts, m)
	})
}

// checkDecodedBounds checks that a decoded mail respects opts' bounds and
// has a clean body.
func checkDecodedBounds(t *testing.T, m *Mail, opts DecodeOptions) {
	t.Helper()
	if len(m.Body) > opts.MaxBodyBytes {
		t.Errorf("body %d bytes over %d", len(m.Body), opts.MaxBodyBytes)
	}
	if len(m.Attachments) > opts.MaxParts || len(m.Headers) > opts.MaxHeaders || len(m.Defects) > maxDefects {
		t.Errorf("bounds: %d attachments, %d headers, %d defects", len(m.Attachments), len(m.Headers), len(m.Defects))
	}
	if !utf8.ValidString(m.Body) || strings.ContainsRune(m.Body, '\r') {
		t.Errorf("body not clean UTF-8: %q", m.Body)
	}
}

// checkOneLine checks that every single-line value is clean UTF-8 without
// line breaks, and the sizes and header lengths are within bounds.
func checkOneLine(t *testing.T, m *Mail) {
	t.Helper()
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
}

// checkKeepContent checks that decoding raw again with KeepContent changes
// nothing else: the same body and attachments, each with its bytes.
func checkKeepContent(t *testing.T, raw []byte, opts DecodeOptions, m *Mail) {
	t.Helper()
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
}

// FuzzTNEF: any winmail.dat parses or fails with errTNEF, never panics, and
// what it keeps is bounded clean text.
func FuzzTNEF(f *testing.F) {
	outlook := samplePart(f, "tnef-outlook", "application/ms-tnef")
	f.Add(outlook)
	f.Add(outlook[:len(outlook)/3])
	f.Add(samplePart(f, "tnef-with-text", "application/ms-tnef"))
	f.Add(tnefStream(tnefAttr(2, 0x00069002, make([]byte, 14)), tnefAttr(2, 0x00069005, []byte{1, 0, 0, 0, 0x1f, 0x10, 0x07, 0x37, 1, 0, 0, 0, 4, 0, 0, 0, 'a', 0, 0, 0})))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseTNEF(b)
		if err != nil {
			if !errors.Is(err, errTNEF) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(c.Attachments) > maxTNEFAttachments {
			t.Errorf("%d attachments", len(c.Attachments))
		}
		for _, a := range c.Attachments {
			if a.Size < 0 || a.Size > len(b) || !utf8.ValidString(a.Name+a.Type+a.ContentID) ||
				strings.ContainsAny(a.Name+a.Type+a.ContentID, "\r\n") || strings.ContainsAny(a.Name, `/\`) {
				t.Errorf("attachment %+v", a)
			}
		}
		if !utf8.ValidString(c.Body) || strings.ContainsRune(c.Body, '\r') {
			t.Errorf("body not clean: %q", c.Body)
		}
	})
}

// FuzzCMS: any S/MIME structure is parsed or refused, within the bounds,
// never a panic; a signed one walks like the mail it wraps.
func FuzzCMS(f *testing.F) {
	for _, s := range []struct{ sample, marker string }{
		{"smime-opaque-signed", "smime.p7m"}, {"smime-clear-signed", "smime.p7s"}, {"smime-encrypted", "smime.p7m"},
	} {
		f.Add(samplePart(f, s.sample, s.marker))
	}
	f.Add(berNest(70, true))
	f.Add([]byte{0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x06, 0x09})
	opts := DecodeOptions{MaxBytes: 1 << 20, MaxDepth: 6, MaxParts: 40, MaxBodyBytes: 2048, MaxHeaders: 64}
	f.Fuzz(func(t *testing.T, b []byte) {
		if p7, err := parseCMS(b); err == nil {
			_ = signerAddress(p7)
		}
		raw := wrapPart("Content-Type: application/pkcs7-mime; smime-type=signed-data\r\nContent-Transfer-Encoding: base64",
			[]byte(base64.StdEncoding.EncodeToString(b)))
		m, err := Decode(raw, opts)
		if err != nil {
			t.Fatal(err)
		}
		checkFormatFields(t, m)
		if len(m.Body) > opts.MaxBodyBytes || !utf8.ValidString(m.Body) {
			t.Errorf("body %d bytes", len(m.Body))
		}
	})
}

// FuzzInvite: any calendar part gives an invite or an error, never a
// panic, and the invite's text is bounded clean lines.
func FuzzInvite(f *testing.F) {
	f.Add(samplePart(f, "invite-outlook", "text/calendar"), "")
	f.Add([]byte("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;TZID=X:20261201T100000\r\nDURATION:PT1H\r\nORGANIZER:mailto:\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"), "REQUEST")
	f.Add([]byte("BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nTZID:X\r\nBEGIN:STANDARD\r\nDTSTART:16010101T030000\r\nTZOFFSETTO:-0530\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nEND:VCALENDAR\r\n"), "")
	f.Fuzz(func(t *testing.T, b []byte, method string) {
		if len(b) > maxCalendarBytes {
			return
		}
		inv, err := parseInvite(b, method)
		if err != nil {
			return
		}
		for _, s := range []string{inv.Method, inv.Summary, inv.Location, inv.Organizer.Name, inv.Organizer.Address} {
			if !utf8.ValidString(s) || strings.ContainsAny(s, "\r\n") || len(s) > maxHeaderValueBytes {
				t.Errorf("invite field not one clean bounded line: %q", s)
			}
		}
	})
}

// FuzzForwardBlocks: forwarded-block detection on any text is bounded and
// gives clean one-line fields.
func FuzzForwardBlocks(f *testing.F) {
	for _, name := range []string{"forward-thunderbird", "forward-outlook-german", "forward-apple", "forward-none"} {
		raw, err := os.ReadFile(filepath.Join("testdata", "mail", name+".eml"))
		if err != nil {
			f.Fatal(err)
		}
		m, err := Decode(raw, DecodeOptions{})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(m.Body)
	}
	f.Add("-----元のメッセージ-----\n差出人： 佐藤 <sato@example.jp>\n送信日時： 2026年11月26日\n件名： x")
	f.Fuzz(func(t *testing.T, body string) {
		got := inlineForwards(body, maxForwarded)
		if len(got) > maxForwarded {
			t.Errorf("%d records", len(got))
		}
		for _, f := range got {
			if !f.Inline || f.From.Address == "" && f.From.Name == "" && f.Subject == "" {
				t.Errorf("empty record %+v", f)
			}
		}
	})
}

// FuzzDSN: any delivery-status body gives a bounded bounce_info or none.
func FuzzDSN(f *testing.F) {
	f.Add([]byte("Reporting-MTA: dns; mx\r\n\r\nFinal-Recipient: rfc822; a@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550\r\n"))
	f.Add([]byte("\r\n\r\nStatus: 4.0.0\r\n\r\n\r\nOriginal-Recipient: x\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var d defectList
		info := parseDSN(b, &d)
		if info == nil {
			return
		}
		m := &Mail{BounceInfo: info}
		checkFormatFields(t, m)
		if info.Recipient != info.Recipients[0].Recipient {
			t.Errorf("first recipient %q != %q", info.Recipient, info.Recipients[0].Recipient)
		}
	})
}

// FuzzRTF: compressed RTF from a winmail.dat decompresses and converts
// within its bounds, never panicking, to clean text.
func FuzzRTF(f *testing.F) {
	f.Add([]byte{0x2d, 0, 0, 0, 0x2b, 0, 0, 0, 0x4c, 0x5a, 0x46, 0x75, 0xf1, 0xc5, 0xc7, 0xa7,
		0x03, 0x00, 0x0a, 0x00, 0x72, 0x63, 0x70, 0x67, 0x31, 0x32, 0x35, 0x42, 0x32, 0x0a, 0xf3, 0x20,
		0x68, 0x65, 0x6c, 0x09, 0x00, 0x20, 0x62, 0x77, 0x05, 0xb0, 0x6c, 0x64, 0x7d, 0x0a, 0x80, 0x0f, 0xa0})
	f.Add(append([]byte{0, 0, 0, 0, 0x40, 0, 0, 0, 0x4d, 0x45, 0x4c, 0x41, 0, 0, 0, 0},
		`{\rtf1\ansi\fromhtml1{\*\htmltag64 <p>}\htmlrtf x\htmlrtf0 a\u8364?\'e4{\*\mhtmltag1 y}}`...))
	const limit = 4096
	f.Fuzz(func(t *testing.T, b []byte) {
		raw, err := decompressRTF(b, limit)
		if err != nil {
			if !errors.Is(err, errRTF) {
				t.Fatalf("unexpected error %v", err)
			}
			raw = b // the converter meets raw RTF too
		}
		if len(raw) > limit && err == nil {
			t.Fatalf("%d bytes over %d", len(raw), limit)
		}
		s := rtfText(raw, limit)
		if !utf8.ValidString(s) || strings.ContainsRune(s, '\r') {
			t.Errorf("text not clean: %q", s)
		}
	})
}
