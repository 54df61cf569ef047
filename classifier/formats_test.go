package classifier

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/triage-dev/triage/ticket"
)

// sampleBody returns the decoded body bytes of the single base64 part of
// a sample whose part header contains marker.
func samplePart(t testing.TB, sample, marker string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "mail", sample+".eml"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(raw), "\r\n", "\n")
	i := strings.Index(s, marker)
	if i < 0 {
		t.Fatalf("%s: no %q", sample, marker)
	}
	s = s[i:]
	s = s[strings.Index(s, "\n\n")+2:]
	if j := strings.Index(s, "\n--"); j >= 0 {
		s = s[:j]
	}
	b, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(s, "\n", ""))
	if err != nil {
		t.Fatalf("%s: %v", sample, err)
	}
	return b
}

// tnefAttr is one TNEF attribute, as gen_formats.py writes them.
func tnefAttr(level byte, id uint32, data []byte) []byte {
	var b bytes.Buffer
	b.WriteByte(level)
	_ = binary.Write(&b, binary.LittleEndian, id)
	_ = binary.Write(&b, binary.LittleEndian, uint32(len(data)))
	b.Write(data)
	b.Write([]byte{0, 0})
	return b.Bytes()
}

func tnefStream(attrs ...[]byte) []byte {
	b := []byte{0x78, 0x9f, 0x3e, 0x22, 0x1c, 0x4a}
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

// TestTNEF: triage reads winmail.dat by hand (see tnef.go: no maintained
// library is served by the module proxy); these are its outcomes on the
// generated Outlook sample and on hostile streams.
func TestTNEF(t *testing.T) {
	outlook := samplePart(t, "tnef-outlook", "application/ms-tnef")
	huge := binary.LittleEndian.AppendUint32(nil, 1)                     // one property…
	huge = binary.LittleEndian.AppendUint16(huge, ptUnicode)             // …a string…
	huge = binary.LittleEndian.AppendUint16(huge, prAttachLongName)      // …named…
	huge = binary.LittleEndian.AppendUint32(huge, 0xffffffff)            // …with 4 billion values
	hugeLen := binary.LittleEndian.AppendUint32(nil, 1)                  // one property…
	hugeLen = binary.LittleEndian.AppendUint16(hugeLen, ptBinary)        // …binary…
	hugeLen = binary.LittleEndian.AppendUint16(hugeLen, prAttachDataObj) // …data…
	hugeLen = binary.LittleEndian.AppendUint32(hugeLen, 1)               // …one value…
	hugeLen = binary.LittleEndian.AppendUint32(hugeLen, 0xfffffff0)      // …of 4 GiB
	rend := tnefAttr(2, 0x00069002, make([]byte, 14))
	tests := []struct {
		name    string
		in      []byte
		wantErr bool
		want    []string // attachment names
		body    string
		cut     bool
	}{
		{name: "outlook sample", in: outlook, want: []string{"Fehlerprotokoll März.pdf", "Screenshot Anmeldung.png"}, body: "startet SAP nicht mehr"},
		{name: "empty", in: nil, wantErr: true},
		{name: "no signature", in: []byte("PK\x03\x04 not a tnef file"), wantErr: true},
		{name: "signature only", in: tnefStream(), want: nil},
		{name: "cut in the first attribute", in: outlook[:12], wantErr: true},
		{name: "cut later", in: outlook[:len(outlook)/2], want: []string{"Fehlerprotokoll März.pdf", "SCREEN~1.PNG"}, body: "startet SAP", cut: true},
		{name: "attribute length past the end", in: tnefStream(tnefAttr(1, 0x00069007, []byte{0xe4, 4, 0, 0}), []byte{1, 0x0c, 0x80, 2, 0, 0xff, 0xff, 0xff, 0x7f}), cut: true},
		{name: "4 billion property values", in: tnefStream(rend, tnefAttr(2, 0x00069005, huge)), want: []string{""}},
		{name: "4 GiB property", in: tnefStream(rend, tnefAttr(2, 0x00069005, hugeLen)), want: []string{""}},
		{name: "attachments past the bound", in: tnefStream(bytes.Repeat(rend, maxTNEFAttachments+50)), want: make([]string, maxTNEFAttachments)},
		{name: "unknown property type", in: tnefStream(rend, tnefAttr(2, 0x00069005, []byte{1, 0, 0, 0, 0x99, 0x99, 0x07, 0x37, 1, 2, 3, 4})), want: []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseTNEF(tt.in)
			if tt.wantErr {
				if !errors.Is(err, errTNEF) {
					t.Fatalf("err = %v, want errTNEF", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, a := range c.Attachments {
				names = append(names, a.Name)
			}
			if strings.Join(names, "|") != strings.Join(tt.want, "|") || len(names) != len(tt.want) {
				t.Errorf("attachments %q, want %q", names, tt.want)
			}
			if !strings.Contains(c.Body, tt.body) || tt.body == "" && c.Body != "" {
				t.Errorf("body %q, want %q", c.Body, tt.body)
			}
			if c.Truncated != tt.cut {
				t.Errorf("truncated = %v, want %v", c.Truncated, tt.cut)
			}
		})
	}
}

// berNest is n nested constructed elements around an empty one, in
// definite or indefinite form.
func berNest(n int, indefinite bool) []byte {
	if indefinite {
		return append(append(bytes.Repeat([]byte{0x30, 0x80}, n), 0x04, 0x00), bytes.Repeat([]byte{0, 0}, n)...)
	}
	header := func(l int) []byte {
		switch {
		case l < 0x80:
			return []byte{0x30, byte(l)}
		case l < 0x10000:
			return []byte{0x30, 0x82, byte(l >> 8), byte(l)}
		}
		return []byte{0x30, 0x83, byte(l >> 16), byte(l >> 8), byte(l)}
	}
	lengths := make([]int, n) // content length of each level, innermost first
	l := 2
	for k := range lengths {
		lengths[k] = l
		l += len(header(l))
	}
	var b []byte
	for k := n - 1; k >= 0; k-- {
		b = append(b, header(lengths[k])...)
	}
	return append(b, 0x04, 0x00)
}

// TestCMSNestingBound: pkcs7.Parse converts BER to DER by recursion, one
// frame and one node per element with no bound of its own, so the depth
// and element count are checked first (berWithin). Real S/MIME passes.
func TestCMSNestingBound(t *testing.T) {
	opaque := samplePart(t, "smime-opaque-signed", "smime.p7m")
	detached := samplePart(t, "smime-clear-signed", "smime.p7s")
	enveloped := samplePart(t, "smime-encrypted", "smime.p7m")
	flat := append([]byte{0x30, 0x80}, bytes.Repeat([]byte{0x04, 0x00}, maxCMSObjects+10)...)
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"opaque signed sample", opaque, true},
		{"detached signature sample", detached, true},
		{"enveloped sample", enveloped, true},
		{"63 deep", berNest(maxCMSDepth-1, false), true},
		{"65 deep", berNest(maxCMSDepth+1, false), false},
		{"100,000 deep indefinite", berNest(100000, true), false},
		{"100,000 deep definite", berNest(100000, false), false},
		{"too many elements", flat, false},
		{"length beyond the data", []byte{0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x02, 0x01, 0x01}, true},
		{"length of 5 bytes", []byte{0x30, 0x85, 1, 1, 1, 1, 1}, true},
		{"high tag number cut", []byte{0x3f, 0x81, 0x81}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := berWithin(tt.in, maxCMSDepth, maxCMSObjects); got != tt.ok {
				t.Fatalf("berWithin = %v, want %v", got, tt.ok)
			}
			_, err := parseCMS(tt.in)
			if !tt.ok && !errors.Is(err, errCMSBounds) {
				t.Fatalf("parseCMS err = %v, want errCMSBounds", err)
			}
		})
	}
	p7, err := parseCMS(opaque)
	if err != nil || signerAddress(p7) != "ann.signer@example.gov" || !bytes.Contains(p7.Content, []byte("0x80090016")) {
		t.Fatalf("opaque sample: %v", err)
	}
}

// wrapPart is a mail whose only part is the given body.
func wrapPart(header string, body []byte) []byte {
	return []byte("From: a@example.com\r\nSubject: s\r\nDate: Fri, 27 Nov 2026 09:14:03 +0100\r\nMIME-Version: 1.0\r\n" +
		header + "\r\n\r\n" + string(body))
}

// TestHostileFormats: hostile S/MIME, calendar and forwarded parts decode
// to specific bounded outcomes.
func TestHostileFormats(t *testing.T) {
	hugeICS := "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:x\r\n" + strings.Repeat("ATTENDEE:mailto:a@example.com\r\n", 100000) + "END:VEVENT\r\nEND:VCALENDAR\r\n"
	deepICS := "BEGIN:VCALENDAR\r\n" + strings.Repeat("BEGIN:X\r\n", 10000) + strings.Repeat("END:X\r\n", 10000) + "END:VCALENDAR\r\n"
	secondly := strings.Replace(string(samplePartText(t, "invite-outlook")), "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10", "RRULE:FREQ=SECONDLY", 1)
	byHour := strings.Replace(string(samplePartText(t, "invite-outlook")), "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10", "RRULE:FREQ=YEARLY;BYHOUR=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23;BYMINUTE=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59", 1)
	tests := []struct {
		name   string
		raw    []byte
		defect string
		check  func(*Mail) error
	}{
		{
			name:   "100,000-line invite",
			raw:    wrapPart("Content-Type: text/calendar; method=REQUEST", []byte(hugeICS)),
			defect: "calendar part over 256 KiB; not read",
			check:  noInvite,
		},
		{
			name:  "10,000 nested calendar components",
			raw:   wrapPart("Content-Type: text/calendar", []byte(deepICS)),
			check: func(m *Mail) error { return inviteWith(m, "", "") },
		},
		{
			name: "time zone rule every second",
			raw:  wrapPart("Content-Type: text/calendar", []byte(secondly)),
			// The STANDARD observance is ignored, so December counts as daylight time.
			check: func(m *Mail) error { return inviteWith(m, "REQUEST", "2026-12-01T10:00:00+02:00") },
		},
		{
			name:  "time zone rule of 1440 onsets a day",
			raw:   wrapPart("Content-Type: text/calendar", []byte(byHour)),
			check: func(m *Mail) error { return inviteWith(m, "REQUEST", "2026-12-01T10:00:00+02:00") },
		},
		{
			name:   "CMS nested 100,000 deep",
			raw:    wrapPart("Content-Type: application/pkcs7-mime; smime-type=signed-data\r\nContent-Transfer-Encoding: base64", []byte(base64.StdEncoding.EncodeToString(berNest(100000, true)))),
			defect: "unreadable S/MIME structure",
			check:  func(m *Mail) error { return attachments(m, "application/pkcs7-mime") },
		},
		{
			name:   "CMS with a 2 GiB length",
			raw:    wrapPart("Content-Type: application/pkcs7-mime; smime-type=signed-data\r\nContent-Transfer-Encoding: base64", []byte(base64.StdEncoding.EncodeToString([]byte{0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x06, 0x09}))),
			defect: "unreadable S/MIME structure",
			check:  func(m *Mail) error { return attachments(m, "application/pkcs7-mime") },
		},
		{
			name:  "enveloped S/MIME",
			raw:   wrapPart("Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\nContent-Transfer-Encoding: base64", []byte("MIAGCSqGSIb3DQEHA6CAMIACAQAxggFX")),
			check: func(m *Mail) error { return encryptedEmpty(m) },
		},
		{
			name:  "delivery status outside a report",
			raw:   wrapPart("Content-Type: message/delivery-status", []byte("Final-Recipient: rfc822; x@example.net\r\nStatus: 5.0.0\r\n")),
			check: func(m *Mail) error { return attachments(m, "message/delivery-status") },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			m, err := Decode(tt.raw, DecodeOptions{})
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			if tt.defect != "" && !strings.Contains(strings.Join(m.Defects, "\n"), tt.defect) {
				t.Errorf("defects %q lack %q", m.Defects, tt.defect)
			}
			if err := tt.check(m); err != nil {
				t.Error(err)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
				t.Errorf("allocated %d MiB decoding a %d KiB mail", alloc>>20, len(tt.raw)>>10)
			}
		})
	}
}

func samplePartText(t *testing.T, sample string) []byte {
	return samplePart(t, sample, "text/calendar")
}

func noInvite(m *Mail) error {
	if m.Invite != nil {
		return fmt.Errorf("invite %+v", *m.Invite)
	}
	return nil
}

func inviteWith(m *Mail, method, start string) error {
	if m.Invite == nil {
		return errors.New("no invite")
	}
	got := ""
	if !m.Invite.Start.IsZero() {
		got = m.Invite.Start.Format("2006-01-02T15:04:05Z07:00")
	}
	if m.Invite.Method != method || got != start {
		return fmt.Errorf("invite method %q start %q, want %q %q", m.Invite.Method, got, method, start)
	}
	return nil
}

func attachments(m *Mail, types ...string) error {
	var got []string
	for _, a := range m.Attachments {
		got = append(got, a.Type)
	}
	if strings.Join(got, "|") != strings.Join(types, "|") {
		return fmt.Errorf("attachments %q, want %q", got, types)
	}
	return nil
}

func encryptedEmpty(m *Mail) error {
	if !m.Encrypted || m.Body != "" || len(m.Attachments) != 0 {
		return fmt.Errorf("encrypted=%v body %q attachments %v", m.Encrypted, m.Body, m.Attachments)
	}
	return nil
}

// TestInlineForwards covers the marker and label forms one by one; the
// samples cover whole client layouts.
func TestInlineForwards(t *testing.T) {
	tests := []struct {
		name, body string
		want       []ticket.Forwarded
	}{
		{"none", "Hello\nFrom: here on\nSubject: later", nil},
		{"marker without a block", "-------- Forwarded Message --------\n\nno header here", nil},
		{"quoted marker", "> -----Original Message-----\n> From: Bob <bob@example.com>\n> Sent: Monday\n> Subject: Hi",
			[]ticket.Forwarded{{From: ticket.Address{Name: "Bob", Address: "bob@example.com", Domain: "example.com"}, Subject: "Hi", Date: "Monday", Inline: true}}},
		{"full-width colon", "-----元のメッセージ-----\n差出人： 佐藤 <sato@example.jp>\n送信日時： 2026年11月26日\n件名： パスワード",
			[]ticket.Forwarded{{From: ticket.Address{Name: "佐藤", Address: "sato@example.jp", Domain: "example.jp"}, Subject: "パスワード", Date: "2026年11月26日", Inline: true}}},
		{"RFC 5322 date", "Begin forwarded message:\n\nFrom: x@example.com\nDate: Thu, 26 Nov 2026 23:01:00 +0100\nSubject: s",
			[]ticket.Forwarded{{From: ticket.Address{Address: "x@example.com", Domain: "example.com"}, Subject: "s", Date: "2026-11-26T23:01:00+01:00", Inline: true}}},
		{"two blocks", "FW\n-----Original Message-----\nFrom: a@example.com\nSubject: one\n\n-----Original Message-----\nFrom: b@example.com\nSubject: two",
			[]ticket.Forwarded{
				{From: ticket.Address{Address: "a@example.com", Domain: "example.com"}, Subject: "one", Inline: true},
				{From: ticket.Address{Address: "b@example.com", Domain: "example.com"}, Subject: "two", Inline: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := inlineForwards(tt.body, maxForwarded)
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
	many := strings.Repeat("-----Original Message-----\nFrom: a@example.com\nSubject: s\n\n", 100)
	if n := len(inlineForwards(many, maxForwarded)); n != maxForwarded {
		t.Errorf("%d records, want %d", n, maxForwarded)
	}
}

// checkFormatFields: what the format parsers return is bounded, clean
// text, whatever the input.
func checkFormatFields(t *testing.T, m *Mail) {
	t.Helper()
	var oneLine []string
	if b := m.BounceInfo; b != nil {
		if len(b.Recipients) > maxDSNRecipients || len(b.Recipients) == 0 {
			t.Errorf("%d bounce recipients", len(b.Recipients))
		}
		for _, r := range b.Recipients {
			oneLine = append(oneLine, r.Recipient, r.Status, r.Action, r.Diagnostic)
		}
	}
	if i := m.Invite; i != nil {
		oneLine = append(oneLine, i.Method, i.Summary, i.Location, i.Organizer.Name, i.Organizer.Address)
	}
	if len(m.Forwarded) > maxForwarded {
		t.Errorf("%d forwarded", len(m.Forwarded))
	}
	for _, f := range m.Forwarded {
		oneLine = append(oneLine, f.From.Name, f.From.Address, f.Subject, f.Date, f.MessageID)
	}
	for _, a := range m.Attachments {
		oneLine = append(oneLine, a.ContentID)
	}
	oneLine = append(oneLine, m.Signer)
	for _, s := range oneLine {
		if !utf8.ValidString(s) || strings.ContainsAny(s, "\r\n") || len(s) > maxHeaderValueBytes {
			t.Errorf("field not one clean bounded line: %q", s)
		}
	}
}

// TestFormatsReachTicket: what the decoder reads from the formats reaches
// the ticket document and the rule environment; encrypted mail is a
// ticket like any other, never an error (which would quarantine it).
func TestFormatsReachTicket(t *testing.T) {
	set := loadTestRules(t)
	c := New()
	tests := []struct {
		sample string
		check  func(*ticket.Ticket) error
	}{
		{"smime-encrypted", func(tk *ticket.Ticket) error {
			if !tk.Encrypted || tk.Body != "" || len(tk.Attachments) != 0 {
				return fmt.Errorf("encrypted=%v body %q attachments %v", tk.Encrypted, tk.Body, tk.Attachments)
			}
			return nil
		}},
		{"smime-opaque-signed", func(tk *ticket.Ticket) error {
			if !tk.Signed || tk.Signer != "ann.signer@example.gov" || !strings.Contains(tk.Body, "0x80090016") {
				return fmt.Errorf("signed=%v signer %q body %q", tk.Signed, tk.Signer, tk.Body)
			}
			return nil
		}},
		{"dsn-postfix", func(tk *ticket.Ticket) error {
			if tk.BounceInfo == nil || len(tk.BounceInfo.Recipients) != 2 || tk.BounceInfo.Recipients[1].Status != "5.2.2" {
				return fmt.Errorf("bounce_info %+v", tk.BounceInfo)
			}
			return nil
		}},
		{"invite-gmail", func(tk *ticket.Ticket) error {
			if tk.Invite == nil || tk.Invite.Organizer.Address != "ann@example.com" || tk.Invite.End.Sub(tk.Invite.Start) != 30*time.Minute {
				return fmt.Errorf("invite %+v", tk.Invite)
			}
			return nil
		}},
		{"forward-gmail", func(tk *ticket.Ticket) error {
			if len(tk.Forwarded) != 1 || tk.Forwarded[0].From.Domain != "invoices-example.top" || !tk.Forwarded[0].Inline {
				return fmt.Errorf("forwarded %+v", tk.Forwarded)
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.sample, func(t *testing.T) {
			tk, err := c.Classify(set, readMail(t, tt.sample), Meta{})
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.check(tk); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestPlainMailFormatsEmpty: a mail without any of the formats has empty
// records and lists in its rule environment, never nil.
func TestPlainMailFormatsEmpty(t *testing.T) {
	m, err := Decode(readMail(t, "charset-us-ascii"), DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	env := m.Env()
	if env.BounceInfo.Recipients == nil || env.Forwarded == nil || env.Invite.Method != "" || env.Signed || env.Encrypted {
		t.Errorf("env of a plain mail: %+v %+v %+v", env.BounceInfo, env.Forwarded, env.Invite)
	}
}

// TestTNEFCountsAsParts: the files inside a winmail.dat count against
// MaxParts like MIME parts.
func TestTNEFCountsAsParts(t *testing.T) {
	rend := tnefAttr(2, 0x00069002, make([]byte, 14))
	title := tnefAttr(2, 0x00018010, []byte("f.txt\x00"))
	tnef := tnefStream(bytes.Repeat(append(append([]byte{}, rend...), title...), 150))
	raw := wrapPart("Content-Type: application/ms-tnef\r\nContent-Transfer-Encoding: base64", []byte(base64.StdEncoding.EncodeToString(tnef)))
	m, err := Decode(raw, DecodeOptions{MaxParts: 50})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Attachments) != 49 || !strings.Contains(strings.Join(m.Defects, "\n"), "more than 50 MIME parts") {
		t.Errorf("%d attachments, defects %q", len(m.Attachments), m.Defects)
	}
	m, err = Decode(raw, DecodeOptions{})
	if err != nil || len(m.Attachments) != 150 || m.Attachments[149].Name != "f.txt" {
		t.Errorf("default bounds: %v, %d attachments", err, len(m.Attachments))
	}
}

// TestDecompressRTF: the example of MS-OXRTFCP section 3.1.1.1, then
// hostile headers.
func TestDecompressRTF(t *testing.T) {
	spec := []byte{0x2d, 0, 0, 0, 0x2b, 0, 0, 0, 0x4c, 0x5a, 0x46, 0x75, 0xf1, 0xc5, 0xc7, 0xa7,
		0x03, 0x00, 0x0a, 0x00, 0x72, 0x63, 0x70, 0x67, 0x31, 0x32, 0x35, 0x42, 0x32, 0x0a, 0xf3, 0x20,
		0x68, 0x65, 0x6c, 0x09, 0x00, 0x20, 0x62, 0x77, 0x05, 0xb0, 0x6c, 0x64, 0x7d, 0x0a, 0x80, 0x0f, 0xa0}
	const want = "{\\rtf1\\ansi\\ansicpg1252\\pard hello world}\r\n"
	got, err := decompressRTF(spec, 1<<20)
	if err != nil || string(got) != want {
		t.Fatalf("decompressRTF = %q, %v; want %q", got, err, want)
	}
	cut, _ := decompressRTF(spec, 10)
	if string(cut) != want[:10] {
		t.Errorf("bounded to 10 bytes: %q", cut)
	}
	if s := rtfText(cut, 1<<20); s != "" {
		t.Errorf("text of a cut RTF header = %q", s)
	}
	full, _ := decompressRTF(spec, 1<<20)
	if s := rtfText(full, 1<<20); s != "hello world" {
		t.Errorf("rtfText = %q", s)
	}
	huge := append([]byte{0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x4c, 0x5a, 0x46, 0x75, 0, 0, 0, 0}, bytes.Repeat([]byte{0xff, 0x00, 0x0f}, 1000)...)
	if got, err := decompressRTF(huge, 4096); err != nil || len(got) > 4096 {
		t.Errorf("4 GiB raw size: %d bytes, %v", len(got), err)
	}
	for _, bad := range [][]byte{nil, spec[:15], append(append([]byte{}, spec[:8]...), "XXXXXXXX"...)} {
		if _, err := decompressRTF(bad, 1<<20); !errors.Is(err, errRTF) {
			t.Errorf("%q: err %v, want errRTF", bad, err)
		}
	}
}

// TestRTFText: the RTF Outlook writes, plain and encapsulating HTML.
func TestRTFText(t *testing.T) {
	tests := []struct{ name, rtf, want string }{
		{"plain", `{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0\fswiss Arial;}}{\colortbl;\red0\green0\blue0;}\pard\f0\fs20 Outlook crashes.\par Error 0x80004005\'e4\par}`, "Outlook crashes.\nError 0x80004005ä"},
		{"unicode with fallback", `{\rtf1\ansi\uc1 Gr\u252\'fc\u223 ?e}`, "Grüße"},
		{"from html", `{\rtf1\ansi\ansicpg1252\fromhtml1 \deff0{\fonttbl{\f0\fswiss Arial;}}{\*\htmltag19 <html>}{\*\htmltag2 \par }{\*\htmltag50 <body>}\htmlrtf {\htmlrtf0 {\*\htmltag64 <p>}\htmlrtf {\htmlrtf0 Printer on floor 3\htmlrtf }\htmlrtf0 {\*\htmltag72 </p>}{\*\htmltag64 <p>}jams.{\*\htmltag72 </p>}{\*\htmltag58 </body>}{\*\htmltag27 </html>}}`, "Printer on floor 3\njams."},
		{"skipped destinations", `{\rtf1{\*\generator Riched20;}{\info{\author X}}{\pict\pngblip 89504e47}Text}`, "Text"},
		{"escapes", `{\rtf1 a\{b\}c\\d\~e\_f\tab g}`, "a{b}c\\d\u00a0e-f\tg"},
		{"unbalanced", `}}}{{{\rtf1 text`, "text"},
		{"deep", strings.Repeat("{", 10000) + "deep" + strings.Repeat("}", 10000), "deep"},
		{"binary", `{\rtf1 a\bin4 \}{}b}`, "ab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rtfText([]byte(tt.rtf), 1<<20); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if got := rtfText([]byte(`{\rtf1 `+strings.Repeat("x", 5000)+`}`), 100); len(got) > 101 {
		t.Errorf("bounded read gave %d bytes", len(got))
	}
}
