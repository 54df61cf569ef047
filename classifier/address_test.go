package classifier

import (
	"io"
	"mime"
	"net/mail"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
	"github.com/triage-dev/triage/internal/clip"
)

// TestOneWordDecoder: every header decodes encoded words with
// decodeWords, which joins adjacent words before converting them, because
// mailers split multi-byte characters across words. mime.WordDecoder (with
// go-message's charset reader) converts each word on its own and so
// garbles such a character, and it refuses the unpadded base64 mailers
// write: that is why decodeWords is hand-written (wantMime shows what the
// library makes of each case).
func TestOneWordDecoder(t *testing.T) {
	tests := []struct {
		name, words, want, wantMime string
	}{
		{"shift_jis character split", "=?shift_jis?B?kw==?= =?shift_jis?B?+g==?=", "日", "\ufffd\ufffd"},
		{"utf-8 character split, unpadded", "=?utf-8?B?w6?= =?utf-8?B?pA==?=", "ä", "=?utf-8?B?w6?= \xa4"},
		{"whole words", "=?utf-8?Q?J=C3=B6rg?= =?iso-8859-1?Q?M=FCller?=", "JörgMüller", "JörgMüller"},
	}
	lib := mime.WordDecoder{CharsetReader: charset.Reader}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, _ := lib.DecodeHeader(tt.words); got != tt.wantMime {
				t.Errorf("mime.WordDecoder: %q, want %q", got, tt.wantMime)
			}
			raw := "From: " + tt.words + " <a@example.com>\r\nReply-To: " + tt.words + " <r@example.com>\r\n" +
				"To: " + tt.words + " <b@example.com>, c@example.com (" + tt.words + ")\r\n" +
				"Subject: " + tt.words + "\r\nX-Note: " + tt.words + "\r\n" +
				"Date: Fri, 27 Nov 2026 10:00:00 +0100\r\n\r\nbody\r\n"
			m, err := Decode([]byte(raw), DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for field, got := range map[string]string{
				"subject": m.Subject, "x-note": m.Headers["X-Note"], "from": m.From.Name,
				"reply-to": m.ReplyTo.Name, "to[0]": m.To[0].Name, "to[1] comment": m.To[1].Name,
			} {
				if got != tt.want {
					t.Errorf("%s = %q, want %q", field, got, tt.want)
				}
			}
			if m.From.Address != "a@example.com" || len(m.To) != 2 || m.To[1].Address != "c@example.com" || len(m.Defects) > 0 {
				t.Errorf("from %+v, to %+v, defects %q", m.From, m.To, m.Defects)
			}
		})
	}
}

// TestDisplayNameSplitCharacter: the From name of a Shift_JIS character
// split across two encoded words is that character, as in the Subject.
func TestDisplayNameSplitCharacter(t *testing.T) {
	raw := "From: =?shift_jis?B?kw==?= =?shift_jis?B?+g==?= <tanaka@example.jp>\r\n" +
		"Subject: =?shift_jis?B?kw==?= =?shift_jis?B?+g==?=\r\n" +
		"Date: Fri, 27 Nov 2026 10:00:00 +0900\r\n\r\nbody\r\n"
	m, err := Decode([]byte(raw), DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.From.Name != "日" || m.From.Address != "tanaka@example.jp" || m.Subject != "日" || len(m.Defects) > 0 {
		t.Errorf("from %+v, subject %q, defects %q", m.From, m.Subject, m.Defects)
	}
}

func TestParseAddresses(t *testing.T) {
	tests := []struct {
		v       string
		want    string // name <address> | ...
		defects string
	}{
		{"Tom Baker <Tom@Example.com>", "Tom Baker <tom@example.com>", ""},
		{`"Baker, Tom" <tom@example.com>, ann@example.com`, "Baker, Tom <tom@example.com>|<ann@example.com>", ""},
		{"tom@example.com (Tom Baker)", "Tom Baker <tom@example.com>", ""},
		{`"=?utf-8?Q?J=C3=B6rg?=" <j@example.com>`, "Jörg <j@example.com>", ""},
		{"=?x-unknown?Q?J=F6rg?= <j@example.com>", "Jörg <j@example.com>", `unknown charset "x-unknown"; decoded best effort`},
		{"odd=?local@example.com", "<odd=?local@example.com>", ""},
		{"Mark \uffff? <m@example.com>", "Mark \ufffd? <m@example.com>", ""},
		{"Tom <tom@example.com", "Tom <tom@example.com>", `malformed address list "Tom <tom@example.com"`},
		{"J\xf6rg <j@example.com>", "Jörg <j@example.com>", "8-bit bytes in a header; decoded as windows-1252"},
	}
	for _, tt := range tests {
		var d defectList
		var got []string
		for _, a := range parseAddresses(tt.v, &d) {
			got = append(got, strings.TrimSpace(a.Name+" <"+a.Address+">"))
		}
		if strings.Join(got, "|") != tt.want || strings.Join(d.list, "|") != tt.defects {
			t.Errorf("parseAddresses(%q) = %q, defects %q; want %q, %q", tt.v, got, d.list, tt.want, tt.defects)
		}
	}
}

// FuzzParseAddresses: whatever the list, the addresses are those net/mail
// finds (hiding encoded words from it changes nothing it parses), and
// every name and address is clean single-line text.
func FuzzParseAddresses(f *testing.F) {
	for _, s := range []string{
		"Tom Baker <tom@example.com>", `"Baker, Tom" <tom@example.com>, ann@example.com`,
		"=?utf-8?Q?J=C3=B6rg?= <j@example.com>", "=?shift_jis?B?kw==?= =?shift_jis?B?+g==?= <t@example.jp>",
		"a@b (=?utf-8?Q?x?=)", "g: a@b, c@d;", "=?@=?", "\uffff=?x?Q?y?=@b",
	} {
		f.Add(s)
	}
	raw := mail.AddressParser{WordDecoder: &mime.WordDecoder{CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil }}}
	f.Fuzz(func(t *testing.T, v string) {
		var d defectList
		got := parseAddresses(v, &d)
		if len(got) > maxAddresses {
			t.Fatalf("%d addresses", len(got))
		}
		for _, a := range got {
			for _, s := range []string{a.Name, a.Address} {
				if !utf8.ValidString(s) || strings.ContainsAny(s, "\r\n") {
					t.Fatalf("%q: not clean: %q", v, s)
				}
			}
		}
		if !utf8.ValidString(v) || strings.Contains(v, wordMark) {
			return
		}
		list, err := raw.ParseList(v)
		if err != nil {
			return
		}
		for i, a := range list[:min(len(list), maxAddresses)] {
			if want := strings.ToLower(cleanLine(a.Address)); i >= len(got) || got[i].Address != clip.UTF8(want, maxHeaderValueBytes) {
				t.Fatalf("%q: addresses %+v; net/mail %+v", v, got, list)
			}
		}
	})
}

// FuzzDecodeHeaderValue: any value decodes to clean single-line text, and
// one without encoded words is only cleaned.
func FuzzDecodeHeaderValue(f *testing.F) {
	for _, s := range []string{
		"plain", "=?utf-8?q?a_b?= =?utf-8?q?c?=", "=?shift_jis?B?kw==?= =?shift_jis?B?+g==?=", "=?utf-8?B?w6?=",
		"=?x-unknown?Q?caf=E9?=", "caf\xe9", "a\r\n b", "=?utf-8*de?Q?x?=", "=?=?", "=??B??=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		var d defectList
		got := decodeHeaderValue(v, &d)
		if !utf8.ValidString(got) || strings.ContainsAny(got, "\r\n") {
			t.Fatalf("%q: not clean: %q", v, got)
		}
		if !strings.Contains(v, "=?") && !strings.Contains(bestEffort([]byte(v)), "=?") && got != cleanLine(bestEffort([]byte(v))) {
			t.Fatalf("%q: %q, want it only cleaned", v, got)
		}
	})
}
