package queue

import (
	"bufio"
	"bytes"
	"mime"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/emersion/go-message/textproto"

	"github.com/triage-dev/triage/examples"
)

func TestSanitizeHeaderText(t *testing.T) {
	tests := []struct {
		name, in string
		limit    int
		want     string
	}{
		{"plain", "kb/vpn", 100, "kb/vpn"},
		{"crlf injection", "kb/vpn\r\nBcc: evil@example.com", 100, "kb/vpn Bcc: evil@example.com"},
		{"bare lf", "a\nb", 100, "a b"},
		{"bare cr", "a\rb", 100, "a b"},
		{"nul", "a\x00b", 100, "a b"},
		{"tab and runs", " a\t\t b  ", 100, "a b"},
		{"c1 next line", "a\u0085b", 100, "a b"},
		{"unicode line separator", "a\u2028b\u2029c", 100, "a b c"},
		{"bom", "\ufeffa", 100, "a"},
		{"invalid utf8", "a\xffb", 100, "a\uFFFDb"},
		{"del", "a\x7fb", 100, "a b"},
		{"limit on rune boundary", "ääää", 5, "ää"},
		{"limit ascii", strings.Repeat("x", 50), 10, strings.Repeat("x", 10)},
		{"only controls", "\r\n\x00", 10, ""},
		{"non-ascii kept", "Grüße 日本", 100, "Grüße 日本"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sanitizeHeaderText(tt.in, tt.limit); got != tt.want {
				t.Errorf("sanitizeHeaderText(%q, %d) = %q, want %q", tt.in, tt.limit, got, tt.want)
			}
		})
	}
}

// checkHeaderField asserts that field is exactly one well-formed header line
// set (folded with eol+space), every physical line ≤ 998 octets.
func checkHeaderField(t *testing.T, field, name, eol string) {
	t.Helper()
	if !strings.HasPrefix(field, name+":") || !strings.HasSuffix(field, eol) {
		t.Fatalf("field %q: want %q prefix and %q suffix", field, name, eol)
	}
	lines := strings.Split(strings.TrimSuffix(field, eol), eol)
	for i, l := range lines {
		if len(l) > 998 {
			t.Errorf("line %d is %d octets", i, len(l))
		}
		if i > 0 && !strings.HasPrefix(l, " ") {
			t.Errorf("continuation line %d does not start with a space: %q", i, l)
		}
		if strings.ContainsAny(l, "\r\n\x00") {
			t.Errorf("line %d holds CR, LF or NUL: %q", i, l)
		}
	}
}

func TestFormatHeader(t *testing.T) {
	long := strings.Repeat("x", 5000)
	words := strings.Repeat("word ", 1000)
	tests := []struct {
		name, value string
		wantValue   string // decoded, unfolded
	}{
		{"ascii", "kb/vpn", "kb/vpn"},
		{"utf8", "Grüße aus Köln", "Grüße aus Köln"},
		{"injection", "L2\r\nBcc: evil@example.com", "L2 Bcc: evil@example.com"},
		{"long token", long, long[:maxHeaderValue]},
		{"many words", words, strings.TrimSpace(words[:maxHeaderValue])},
		{"long utf8", strings.Repeat("ü", 3000), strings.Repeat("ü", maxHeaderValue/2)},
		{"empty", "", ""},
	}
	for _, eol := range []string{"\r\n", "\n"} {
		for _, tt := range tests {
			t.Run(tt.name+map[string]string{"\r\n": "/crlf", "\n": "/lf"}[eol], func(t *testing.T) {
				f := formatHeader("X-Triage-Runbook", tt.value, eol)
				checkHeaderField(t, f, "X-Triage-Runbook", eol)
				h, err := textproto.ReadHeader(bufio.NewReader(strings.NewReader(f + eol)))
				if err != nil {
					t.Fatalf("go-message cannot read %q: %v", f, err)
				}
				if n := len(h.Map()); n != 1 {
					t.Fatalf("want one field, got %d: %v", n, h.Map())
				}
				dec, err := new(mime.WordDecoder).DecodeHeader(h.Get("X-Triage-Runbook"))
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				if dec != tt.wantValue {
					t.Errorf("value round trip:\n got %q\nwant %q", dec, tt.wantValue)
				}
			})
		}
	}
}

// TestForwardMessage: the tag goes into the original Subject line in place,
// which is why forwardMessage edits raw bytes by hand: go-message's
// Header.Set would move Subject to the top and fold it anew (the "folded
// subject keeps its fold" and "encoded subject" cases below).
func TestForwardMessage(t *testing.T) {
	vpn := readMail(t, "vpn.eml")
	enc := readMail(t, "encoded-subject.eml")
	nosubj := readMail(t, "no-subject.eml")
	tests := []struct {
		name        string
		raw         []byte
		subject     string // ticket's decoded subject
		tag         string
		wantSubject string // first physical Subject line in the output; "" = unchanged raw
		wantAdded   string // a Subject field added in front (no Subject in raw)
	}{
		{name: "no tag leaves the message alone", raw: vpn},
		{name: "folded subject keeps its fold", raw: vpn, tag: "[L2][P2]",
			wantSubject: "Subject: [L2][P2] VPN drops every few minutes since the"},
		{name: "crlf message", raw: examples.ToCRLF(vpn), tag: "[L2][P2]",
			wantSubject: "Subject: [L2][P2] VPN drops every few minutes since the"},
		{name: "already tagged in raw", raw: bytes.Replace(vpn, []byte("Subject: VPN"), []byte("Subject: [L2][P2] VPN"), 1), tag: "[L2][P2]"},
		{name: "already tagged decoded", raw: enc, subject: "[L1][P3] Passwort", tag: "[L1][P3]"},
		{name: "encoded subject", raw: enc, tag: "[L1][P3]",
			wantSubject: "Subject: [L1][P3] =?utf-8?q?Passwort_vergessen_f=C3=BCr_SAP?="},
		{name: "non-ascii tag is encoded with its space", raw: enc, tag: "[Stufe 1 – Passwort]",
			wantSubject: "Subject: =?utf-8?q?[Stufe_1_=E2=80=93_Passwort]_?= =?utf-8?q?Passwort_vergessen_f=C3=BCr_SAP?="},
		{name: "hostile tag sanitized", raw: vpn, tag: "[L2]\r\nBcc: evil@example.com",
			wantSubject: "Subject: [L2] Bcc: evil@example.com VPN drops every few minutes since the"},
		{name: "missing subject is added", raw: nosubj, tag: "[L1][P4]", wantAdded: "Subject: [L1][P4]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk := sampleTicket(tt.raw)
			tk.Subject = tt.subject
			out := forwardMessage(tk, tt.tag)
			eol := lineEnding(tt.raw)
			added := triageHeaders(tk, eol)
			if !bytes.HasPrefix(out, []byte(added)) {
				t.Fatalf("output does not start with the triage headers:\n%s", out)
			}
			rest := out[len(added):]
			switch {
			case tt.wantAdded != "":
				want := strings.ReplaceAll(tt.wantAdded, "\n", eol)
				if !bytes.Equal(rest, append([]byte(want), tt.raw...)) {
					t.Errorf("want %q then the raw message, got:\n%s", want, rest)
				}
			case tt.wantSubject == "":
				if !bytes.Equal(rest, tt.raw) {
					t.Errorf("message changed:\n%s", rest)
				}
			default:
				s, e := findSubject(rest)
				if s < 0 {
					t.Fatal("no Subject in output")
				}
				if got := string(rest[s:e]); got != tt.wantSubject {
					t.Errorf("Subject line:\n got %q\nwant %q", got, tt.wantSubject)
				}
				rs, re := findSubject(tt.raw)
				// Everything but the first Subject line is byte-identical.
				if !bytes.Equal(rest[:s], tt.raw[:rs]) || !bytes.Equal(rest[e:], tt.raw[re:]) {
					t.Errorf("bytes outside the Subject line changed:\n%s", rest)
				}
			}
		})
	}
}

func TestForwardMessageLongSubjectFolds(t *testing.T) {
	raw := []byte("From: a@example.com\r\nSubject: " + strings.Repeat("y", 985) + "\r\n\r\nbody\r\n")
	out := forwardMessage(sampleTicket(raw), "[L2][P2]")
	for i, l := range strings.Split(string(out), "\r\n") {
		if len(l) > 998 {
			t.Errorf("line %d is %d octets", i, len(l))
		}
	}
	if !bytes.Contains(out, []byte("Subject: [L2][P2]\r\n "+strings.Repeat("y", 985)+"\r\n")) {
		t.Errorf("tag not folded in front of the long subject:\n%.300s", out)
	}
}

func TestTriageHeadersHostileTicket(t *testing.T) {
	hostile := "x\r\nBcc: evil@example.com\x00\n" + strings.Repeat("A", 5000)
	tk := sampleTicket(examples.ToCRLF(readMail(t, "vpn.eml")))
	tk.Class.Runbook = hostile
	tk.Class.Queue = "systems\nX-Injected: 1"
	tk.Class.Tier = "L2\r"
	tk.Class.Tags = []string{"a\r\nX-Evil: 1", strings.Repeat("ü", 3000)}
	tk.Class.Matched = append(tk.Class.Matched, struct {
		Rule        string `json:"rule"`
		Description string `json:"description,omitempty"`
	}{Rule: "r\nX-Rule: 1"})
	tk.ID = "id\r\nX-Id: 1"
	tk.Subject = "hello\r\nBcc: evil@example.com"
	out := forwardMessage(tk, sanitizeHeaderText("[L2] "+tk.Subject, maxSubjectTag))

	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(out)))
	if err != nil {
		t.Fatalf("go-message cannot read the forwarded header: %v", err)
	}
	var keys []string
	for f := h.Fields(); f.Next(); {
		keys = append(keys, f.Key())
		v := f.Value()
		if strings.ContainsAny(v, "\r\n\x00") {
			t.Errorf("%s holds CR/LF/NUL: %q", f.Key(), v)
		}
	}
	want := []string{
		"X-Triage-Tier", "X-Triage-Priority", "X-Triage-Queue", "X-Triage-Runbook", "X-Triage-Rules",
		"X-Triage-Tags", "X-Triage-Ticket-Id", "X-Triage-Response-Due", "X-Triage-Resolve-Due",
		"Return-Path", "Message-Id", "Date", "From", "To", "Subject", "Mime-Version", "Content-Type", "Content-Transfer-Encoding",
	}
	if !slices.Equal(keys, want) {
		t.Errorf("header set:\n got %v\nwant %v", keys, want)
	}
	for _, l := range strings.Split(string(out), "\r\n") {
		if len(l) > 998 {
			t.Errorf("line of %d octets", len(l))
		}
	}
	if got := h.Get("Subject"); !strings.HasPrefix(got, "[L2] hello Bcc: evil@example.com VPN") {
		t.Errorf("Subject = %q", got)
	}
}

// FuzzFormatHeader: whatever a rule or a mail puts in a value, the result
// is one well-formed field whose decoded value is the sanitized input.
func FuzzFormatHeader(f *testing.F) {
	for _, s := range []string{
		"kb/vpn", "a\r\nBcc: x@y", "\x00", "Grüße", "=?utf-8?q?=0D=0AX:_1?=", strings.Repeat("ü", 700),
		strings.Repeat("a ", 600), "\xff\xfe", "a\u2028b", " \t ", "",
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, v string, crlf bool) {
		eol := "\n"
		if crlf {
			eol = "\r\n"
		}
		field := formatHeader("X-Triage-Runbook", v, eol)
		checkHeaderField(t, field, "X-Triage-Runbook", eol)
		h, err := textproto.ReadHeader(bufio.NewReader(strings.NewReader(field + eol)))
		if err != nil {
			t.Fatalf("unreadable field %q: %v", field, err)
		}
		if n := len(h.Map()); n != 1 {
			t.Fatalf("%q parsed into %d fields", field, n)
		}
		want := sanitizeHeaderText(v, maxHeaderValue)
		if !utf8.ValidString(want) {
			t.Fatalf("sanitized value is not UTF-8: %q", want)
		}
		got := h.Get("X-Triage-Runbook")
		if mime.QEncoding.Encode("utf-8", want) != want { // encoded: decode to compare
			got, err = new(mime.WordDecoder).DecodeHeader(got)
			if err != nil {
				t.Fatalf("decode %q: %v", field, err)
			}
		}
		if got != want {
			t.Fatalf("round trip of %q:\n got %q\nwant %q", v, got, want)
		}
	})
}

// FuzzForwardMessage: any raw message and tag give the triage headers, then
// the cleaned raw bytes (cleanOriginal) with at most the first Subject line
// changed.
func FuzzForwardMessage(f *testing.F) {
	f.Add([]byte("Subject: hi\r\n\r\nbody"), "[L1]")
	f.Add([]byte("From: a@b\nSubject: x\n y\n\nbody\n"), "[L2][P2]")
	f.Add([]byte("\r\n\r\nSubject: not a header"), "t")
	f.Add([]byte("subject:"), "[é]")
	f.Add([]byte("Subject: [L1] done\n\n"), "[L1]")
	f.Add([]byte("no header at all"), "")
	f.Fuzz(func(t *testing.T, raw []byte, tag string) {
		tk := sampleTicket(raw)
		tk.Subject = ""
		out := forwardMessage(tk, tag)
		raw = cleanOriginal(raw) // the forwarded original: hostile parts repaired
		// Its line ending, not the received one's: cleaning may drop every
		// line (" 0\n" is a continuation before any field).
		added := triageHeaders(tk, lineEnding(raw))
		if !bytes.HasPrefix(out, []byte(added)) {
			t.Fatal("triage headers missing")
		}
		rest := out[len(added):]
		rs, re := findSubject(raw)
		clean := sanitizeHeaderText(tag, maxSubjectTag)
		switch {
		case clean == "":
			if !bytes.Equal(rest, raw) {
				t.Fatal("message changed without a tag")
			}
		case rs < 0:
			if !bytes.HasSuffix(rest, raw) || !bytes.HasPrefix(rest, []byte("Subject:")) {
				t.Fatalf("want an added Subject then raw, got %q", rest)
			}
		default:
			s, e := findSubject(rest)
			// A fold may follow the tag; everything after the original line is untouched.
			if s != rs || !bytes.Equal(rest[:s], raw[:rs]) || !bytes.HasSuffix(rest[e:], raw[re:]) {
				t.Fatalf("bytes outside the Subject line changed: %q → %q", raw, rest)
			}
			if !bytes.Contains(rest[s:], []byte(clean)) && !bytes.Contains(rest[s:], []byte("=?utf-8?")) {
				t.Fatalf("tag %q not in %q", clean, rest[s:])
			}
		}
	})
}
