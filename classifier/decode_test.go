package classifier

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/triage-dev/triage/rules"
	"github.com/triage-dev/triage/ticket"
)

// envMail is a message that sets every mail field of the Env.
const envMail = "From: \"Müller, Jörg\" <J.Mueller@Example.COM>\r\n" +
	"Reply-To: =?utf-8?Q?J=C3=B6rg?= <jm@Example.com>\r\n" +
	"To: Help Desk <helpdesk@example.com>, second@example.org\r\n" +
	"Cc: boss@EXAMPLE.com\r\n" +
	"Subject: =?iso-8859-1?Q?Drucker_kaputt?= [#77]\r\n" +
	"Date: Fri, 27 Nov 2026 10:00:00 +0100\r\n" +
	"Message-ID: <m1@example.com>\r\n" +
	"In-Reply-To: <ticket.77.x@helpdesk.example.com>\r\n" +
	"References: <a@example.com>\r\n\t<ticket.77.x@helpdesk.example.com>\r\n" +
	"X-Custom: =?utf-8?B?w6TDtsO8?=\r\n" +
	"X-Priority: 1\r\n" +
	"List-Id: <it.example.com>\r\n" +
	"Auto-Submitted: auto-generated\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=b\r\n" +
	"\r\n" +
	"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nDer Drucker ist kaputt.\r\n" +
	"--b\r\nContent-Type: application/pdf; name=scan.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n" +
	"--b--\r\n"

func TestEnvFields(t *testing.T) {
	m, err := Decode([]byte(envMail), DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	env := m.Env()
	date := time.Date(2026, 11, 27, 10, 0, 0, 0, time.FixedZone("", 3600))
	tests := []struct {
		field string
		got   any
		want  any
	}{
		{"subject", env.Subject, "Drucker kaputt [#77]"},
		{"body", env.Body, "Der Drucker ist kaputt."},
		{"text", env.Text, "Drucker kaputt [#77]\nDer Drucker ist kaputt.\nscan.pdf"},
		{"from", env.From, ticket.Address{Name: "Müller, Jörg", Address: "j.mueller@example.com", Domain: "example.com"}},
		{"reply_to", env.ReplyTo, ticket.Address{Name: "Jörg", Address: "jm@example.com", Domain: "example.com"}},
		{"to", env.To, []ticket.Address{
			{Name: "Help Desk", Address: "helpdesk@example.com", Domain: "example.com"},
			{Address: "second@example.org", Domain: "example.org"}}},
		{"cc", env.Cc, []ticket.Address{{Address: "boss@example.com", Domain: "example.com"}}},
		{"recipients", env.Recipients, []string{"helpdesk@example.com", "second@example.org", "boss@example.com"}},
		{"headers[X-Custom]", env.Headers["X-Custom"], "äöü"},
		{"header(x-priority)", env.Header("x-priority"), "1"},
		{"headers[Subject]", env.Headers["Subject"], "Drucker kaputt [#77]"},
		{"attachments", env.Attachments, []ticket.Attachment{{Name: "scan.pdf", Type: "application/pdf", Size: 9}}},
		{"size", env.Size, len(envMail)},
		{"date", env.Date.Equal(date), true},
		{"message_id", env.MessageID, "<m1@example.com>"},
		{"in_reply_to", env.InReplyTo, "<ticket.77.x@helpdesk.example.com>"},
		{"references", env.References, []string{"<a@example.com>", "<ticket.77.x@helpdesk.example.com>"}},
		{"auto_reply", env.AutoReply, true},
		{"bounce", env.Bounce, false},
		{"list", env.List, true},
		{"ticket_ref", env.TicketRef, "77"},
		// left to the classifier / evaluator
		{"duplicate", env.Duplicate, false},
		{"account", env.Account, ""},
		{"tier", env.Tier, ""},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %#v, want %#v", tt.field, tt.got, tt.want)
		}
	}
}

// A bare message leaves no nil slice or map for expr to trip over.
func TestEnvEmptyCollections(t *testing.T) {
	m, err := Decode([]byte("Subject: hi\r\n\r\nbody\r\n"), DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	env := m.Env()
	if env.To == nil || env.Cc == nil || env.Recipients == nil || env.Attachments == nil ||
		env.References == nil || env.Headers == nil {
		t.Errorf("nil collection in %+v", env)
	}
	if (&Mail{}).Env().Headers == nil {
		t.Error("zero Mail gives nil headers")
	}
}

func TestTicketRef(t *testing.T) {
	custom := rules.Threading{
		Subject:   []*regexp.Regexp{regexp.MustCompile(`INC-(\d+)`), regexp.MustCompile(`\[#(\d+)\]`)},
		MessageID: []*regexp.Regexp{regexp.MustCompile(`<t(\d+)@desk>`), regexp.MustCompile(`<other(\d+)@x>`)},
	}
	tests := []struct {
		name      string
		headers   string
		threading rules.Threading
		want      string
	}{
		{"default subject", "Subject: Re: [#12] x", rules.Threading{}, "12"},
		{"default ignores message id", "Subject: x\r\nIn-Reply-To: <t5@desk>", rules.Threading{}, ""},
		{"custom subject order", "Subject: [#1] INC-2", custom, "2"},
		{"custom replaces default", "Subject: [#1]", rules.Threading{Subject: custom.Subject[:1]}, ""},
		{"in-reply-to", "Subject: Re: x\r\nIn-Reply-To: <t7@desk>", custom, "7"},
		{"references", "Subject: Re: x\r\nReferences: <a@b> <t8@desk>", custom, "8"},
		{"pattern order before id order", "Subject: x\r\nReferences: <other1@x> <t9@desk>", custom, "9"},
		{"subject wins", "Subject: INC-3\r\nIn-Reply-To: <t7@desk>", custom, "3"},
		{"encoded subject", "Subject: =?utf-8?Q?R=C3=A9:_INC-44?=", custom, "44"},
		{"no group", "Subject: TICKET42", rules.Threading{Subject: []*regexp.Regexp{regexp.MustCompile(`TICKET\d+`)}}, "TICKET42"},
		{"none", "Subject: hello", custom, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode([]byte(tt.headers+"\r\n\r\nbody\r\n"), DecodeOptions{Threading: tt.threading})
			if err != nil {
				t.Fatal(err)
			}
			if m.TicketRef != tt.want {
				t.Errorf("ticket_ref = %q, want %q", m.TicketRef, tt.want)
			}
		})
	}
}

func TestDetectFlags(t *testing.T) {
	tests := []struct {
		name                  string
		headers               string
		auto, bounce, listing bool
	}{
		{"plain", "From: a@b.c", false, false, false},
		{"auto-submitted", "Auto-Submitted: auto-generated", true, false, false},
		{"auto-submitted no", "Auto-Submitted: no", false, false, false},
		{"auto-submitted comment", "Auto-Submitted: No (manual)", false, false, false},
		{"x-autoreply", "X-Autoreply: yes", true, false, false},
		{"x-autorespond", "X-Autorespond: x", true, false, false},
		{"x-autogenerated reply", "X-Autogenerated: Reply", true, false, false},
		{"precedence auto_reply", "Precedence: auto_reply", true, false, false},
		{"outlook ooo", "X-Auto-Response-Suppress: All\r\nSubject: Out of Office: x", true, false, false},
		{"outlook swedish", "X-Auto-Response-Suppress: All\r\nSubject: Autosvar: x", true, false, false},
		{"outlook plain", "X-Auto-Response-Suppress: All\r\nSubject: Printer", false, false, false},
		{"ooo subject alone", "Subject: Out of Office", false, false, false},
		{"dsn", "Content-Type: multipart/report; report-type=\"delivery-status\"; boundary=x", false, true, false},
		{"mdn is no bounce", "Content-Type: multipart/report; report-type=disposition-notification; boundary=x", false, false, false},
		// The top-level Content-Type is cut after maxParams parameters, as
		// every part's is: a report-type past them is not read.
		{"dsn report-type last of maxParams", "Content-Type: multipart/report; boundary=x" + manyParams(maxParams-2) + "; report-type=delivery-status", false, true, false},
		{"dsn report-type past maxParams", "Content-Type: multipart/report; boundary=x" + manyParams(maxParams) + "; report-type=delivery-status", false, false, false},
		{"mailer-daemon", "From: MAILER-DAEMON@mx.example.com", false, true, false},
		{"postmaster", "From: Mail System <Postmaster@example.com>", false, true, false},
		{"list-id", "List-Id: <x.example.com>", false, false, true},
		{"precedence bulk", "Precedence: bulk", false, false, true},
		{"precedence junk", "Precedence: junk", false, false, true},
		{"precedence list", "Precedence: list", false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode([]byte(tt.headers+"\r\n\r\n--x--\r\n"), DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if m.AutoReply != tt.auto || m.Bounce != tt.bounce || m.List != tt.listing {
				t.Errorf("auto_reply=%v bounce=%v list=%v, want %v %v %v", m.AutoReply, m.Bounce, m.List, tt.auto, tt.bounce, tt.listing)
			}
		})
	}
}

func TestDecodeHeaderValues(t *testing.T) {
	tests := []struct {
		raw, want string
		defect    bool
	}{
		{"plain", "plain", false},
		{"=?utf-8?q?a_b?= =?utf-8?q?c?=", "a bc", false},
		{"=?UTF-8?B?w6Q=?= x", "ä x", false},
		{"=?shift_jis?B?g3CDWIOPgVuDaA==?=", "パスワード", false},
		{"=?ISO-2022-JP?B?GyRCJVElOSVvITwlSRsoQg==?=", "パスワード", false},
		{"=?windows-1252?Q?=93quoted=94?=", "“quoted”", false},
		{"=?iso-8859-1?Q?=80uro?=", "€uro", false}, // windows-1252 mislabelled as latin-1
		{"=?iso-8859-15?Q?=A4?=", "€", false},
		{"=?utf-8*de?Q?Gr=C3=BC=C3=9Fe?=", "Grüße", false},
		{"=?utf-8?B?w6?= =?utf-8?B?pA==?=", "ä", false},   // unpadded base64, split character
		{"=?utf-8?B?!!!?= x", "=?utf-8?B?!!!?= x", false}, // bad base64 stays literal
		{"=?x-unknown?Q?caf=E9?=", "café", true},
		{"a\r\n injected: header", "a injected: header", false},
		{"=?utf-8?Q?a=0D=0AInjected:_x?=", "a Injected: x", false},
		{"tab\there", "tab here", false},
		{"nul\x00byte", "nulbyte", false},
		{"broken =?utf-8?Q?unterminated", "broken =?utf-8?Q?unterminated", false},
		{"caf\xe9", "café", true},
	}
	for _, tt := range tests {
		var d defectList
		got := decodeHeaderValue(tt.raw, &d)
		if got != tt.want {
			t.Errorf("decodeHeaderValue(%q) = %q, want %q", tt.raw, got, tt.want)
		}
		if (len(d.list) > 0) != tt.defect {
			t.Errorf("decodeHeaderValue(%q) defects = %q", tt.raw, d.list)
		}
	}
}

func TestHeaderParam(t *testing.T) {
	tests := []struct {
		value, param, want string
	}{
		{`attachment; filename="a b.txt"`, "filename", "a b.txt"},
		{`attachment; filename=plain.txt`, "filename", "plain.txt"},
		{`attachment; FILENAME="x.txt"`, "filename", "x.txt"},
		{`attachment; filename="q\"uote.txt"`, "filename", `q"uote.txt`},
		{`attachment; filename="semi;colon.txt"`, "filename", "semi;colon.txt"},
		{`attachment; filename*=iso-8859-1''M%E4rz.pdf`, "filename", "März.pdf"},
		{`attachment; filename*=UTF-8'de'Gr%C3%BC%C3%9Fe.txt`, "filename", "Grüße.txt"},
		{`attachment; filename*0*=utf-8''%E2%82%AC; filename*1=".txt"`, "filename", "€.txt"},
		{`attachment; filename*1*=%A4.txt; filename*0*=iso-8859-15''`, "filename", "€.txt"},
		{`attachment; filename="fallback.txt"; filename*=utf-8''pr%C3%A9f%C3%A9r%C3%A9.txt`, "filename", "préféré.txt"},
		{`attachment; filename="=?utf-8?Q?M=C3=A4rz.pdf?="`, "filename", "März.pdf"},
		{`attachment; filename*=shift_jis''%83%8D%83O.txt`, "filename", "ログ.txt"},
		{`attachment; filename*=x-bogus''abc.txt`, "filename", "abc.txt"},
		{`attachment; filename="unbalanced.txt`, "filename", "unbalanced.txt"},
		{`text/plain; name=log.txt; charset=utf-8`, "name", "log.txt"},
		{`attachment`, "filename", ""},
	}
	for _, tt := range tests {
		var d defectList
		got, _ := paramText(tt.value, tt.param, &d)
		if got != tt.want {
			t.Errorf("paramText(%q) = %q, want %q", tt.value, got, tt.want)
		}
	}
}

func TestSafeFileName(t *testing.T) {
	for in, want := range map[string]string{
		"../../etc/passwd":          "passwd",
		`C:\fakepath\report.xlsx`:   "report.xlsx",
		"line\r\nbreak.txt":         "line break.txt",
		"..":                        "",
		strings.Repeat("ä", 300):    strings.Repeat("ä", 127),
		"  spaced  name .txt ":      "spaced name .txt",
		"ctrl\x01\x02char.bin":      "ctrlchar.bin",
		"normal file (1).pdf":       "normal file (1).pdf",
		"\u202etxt.exe":             "\u202etxt.exe", // display-only trick; kept, it is a name not a path
		"dir/":                      "",
		"subject/with/slashes.eml ": "slashes.eml",
	} {
		if got := safeFileName(in); got != want {
			t.Errorf("safeFileName(%q) = %q, want %q", in, got, want)
		}
	}
	if got := nameFromSubject("Re: a/b\\c"); got != "Re: a_b_c.eml" {
		t.Errorf("nameFromSubject = %q", got)
	}
}

func TestHTMLToText(t *testing.T) {
	tests := []struct{ html, want string }{
		{"<p>a</p><p>b</p>", "a\nb"},
		{"a<br>b<br/>c", "a\nb\nc"},
		{"a<br><br><br><br>b", "a\n\nb"},
		{"x &amp; y &lt;z&gt; &eacute; &#8364; &#x20AC; &nbsp;!", "x & y <z> é € € !"},
		{"<head><title>T</title><style>s{}</style></head><body>visible</body>", "visible"},
		{"<head><title>T</title><body>unclosed head</body>", "unclosed head"},
		{"<script>alert(1)</script>after", "after"},
		{"<!-- hidden -->shown", "shown"},
		{"<a href='http://x'>link text</a>", "link text"},
		{"  lots   of \n\n  space  ", "lots of space"},
		{"<ul><li>one</li><li>two</li></ul>", "- one\n- two"},
		{"<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "a b\nc"},
		{"<pre>  keep\n    indent</pre>", "keep\n    indent"},
		{"<img src=x alt='error 0x1'>", "error 0x1"},
		{"<div>unterminated <b>bold", "unterminated bold"},
		{"<<<>>>", "<<<>>>"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := htmlToText(tt.html); got != tt.want {
			t.Errorf("htmlToText(%q) = %q, want %q", tt.html, got, tt.want)
		}
	}
}

func TestCleanText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ascii", "ascii"},
		{"a\r\nb\rc", "a\nb\nc"},
		{"bad\xffutf8", "bad\uFFFDutf8"},
		{"\u0080\u0093x\u0094", "€“x”"},
		{"\uFEFFbom", "bom"},
		{"e\u0301", "é"}, // NFC
		{"tab\tkept\x07bell", "tab\tkeptbell"},
	}
	for _, tt := range tests {
		if got := cleanText(tt.in); got != tt.want {
			t.Errorf("cleanText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLookupCharset(t *testing.T) {
	for _, label := range []string{
		"UTF-8", "us-ascii", "ISO-8859-1", "iso-8859-2", "iso-8859-3", "iso-8859-4", "iso-8859-5",
		"iso-8859-6", "iso-8859-7", "iso-8859-8", "iso-8859-9", "iso-8859-10", "iso-8859-11",
		"iso-8859-13", "iso-8859-14", "iso-8859-15", "iso-8859-16", "windows-1250", "windows-1251",
		"windows-1252", "windows-1253", "windows-1254", "windows-1255", "windows-1256", "windows-1257",
		"windows-1258", "KOI8-R", "koi8-u", "Shift_JIS", "EUC-JP", "ISO-2022-JP", "EUC-KR", "GB2312",
		"GBK", "GB18030", "Big5", "UTF-16", "utf-16le", "cp932", "cp949", "ks_c_5601-1987", "latin1",
		`"utf-8"`, "cp1252", "iso8859-15", "x-sjis",
	} {
		if _, known := decodeBytes(label, []byte("a")); !known {
			t.Errorf("charset %q not supported", label)
		}
	}
	if _, known := decodeBytes("x-klingon", []byte("a")); known {
		t.Error("unknown charset resolved")
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		opts DecodeOptions
		want error
	}{
		{"empty", "", DecodeOptions{}, ErrUnparseable},
		{"blank", " \r\n\r\n", DecodeOptions{}, ErrUnparseable},
		{"junk", "\x00\x01\x02\xff\xfe no header here", DecodeOptions{}, ErrUnparseable},
		{"body only", "\r\nonly a body", DecodeOptions{}, ErrUnparseable},
		{"too large", "Subject: x\r\n\r\n" + strings.Repeat("x", 100), DecodeOptions{MaxBytes: 50}, ErrTooLarge},
		{"headers only", "Subject: x", DecodeOptions{}, nil},
		{"mbox line", "From someone Fri Nov 27 10:00:00 2026\r\nSubject: x\r\n\r\nb", DecodeOptions{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.raw), tt.opts)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDecodeBounds(t *testing.T) {
	t.Run("body truncated", func(t *testing.T) {
		raw := "Subject: x\r\n\r\n" + strings.Repeat("ä", 1000)
		m, err := Decode([]byte(raw), DecodeOptions{MaxBodyBytes: 101})
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Body) > 101 || !strings.HasPrefix(m.Body, "ää") || strings.ContainsRune(m.Body, '\uFFFD') {
			t.Errorf("body %d bytes: %q", len(m.Body), m.Body)
		}
		if !hasDefect(m, "truncated") {
			t.Errorf("defects = %q", m.Defects)
		}
	})
	t.Run("parts", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("Subject: x\r\nContent-Type: multipart/mixed; boundary=p\r\n\r\n")
		for i := range 50 {
			fmt.Fprintf(&b, "--p\r\nContent-Type: application/octet-stream; name=f%d.bin\r\n\r\nx\r\n", i)
		}
		b.WriteString("--p--\r\n")
		m, err := Decode([]byte(b.String()), DecodeOptions{MaxParts: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Attachments) != 9 || !hasDefect(m, "MIME parts") {
			t.Errorf("%d attachments, defects %q", len(m.Attachments), m.Defects)
		}
	})
	t.Run("depth", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("Subject: x\r\nContent-Type: multipart/mixed; boundary=d0\r\n\r\n")
		for i := 1; i <= 5; i++ {
			fmt.Fprintf(&b, "--d%d\r\nContent-Type: multipart/mixed; boundary=d%d\r\n\r\n", i-1, i)
		}
		b.WriteString("--d5\r\nContent-Type: text/plain\r\n\r\nDEEP\r\n--d5--\r\n")
		for i := 4; i >= 0; i-- {
			fmt.Fprintf(&b, "--d%d--\r\n", i)
		}
		for _, tt := range []struct {
			depth   int
			visible bool
		}{{6, true}, {5, false}} {
			m, err := Decode([]byte(b.String()), DecodeOptions{MaxDepth: tt.depth})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(m.Body, "DEEP") != tt.visible || hasDefect(m, "nesting") == tt.visible {
				t.Errorf("MaxDepth %d: body %q defects %q", tt.depth, m.Body, m.Defects)
			}
		}
	})
	t.Run("headers", func(t *testing.T) {
		raw := strings.Repeat("X-A: 1\r\n", 30) + "Subject: late\r\n\r\nb"
		m, err := Decode([]byte(raw), DecodeOptions{MaxHeaders: 10})
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != "" || len(m.Headers) != 1 || !hasDefect(m, "header fields") {
			t.Errorf("subject %q, %d headers, defects %q", m.Subject, len(m.Headers), m.Defects)
		}
	})
	t.Run("header value length", func(t *testing.T) {
		m, err := Decode([]byte("X-Long: "+strings.Repeat("y", 10000)+"\r\n\r\nb"), DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Headers["X-Long"]) != maxHeaderValueBytes {
			t.Errorf("header value %d bytes", len(m.Headers["X-Long"]))
		}
	})
	t.Run("references", func(t *testing.T) {
		m, err := Decode([]byte("References: "+strings.Repeat("<a@b> ", 500)+"\r\n\r\nb"), DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(m.References) != maxReferences {
			t.Errorf("%d references", len(m.References))
		}
	})
}

func hasDefect(m *Mail, substr string) bool {
	for _, d := range m.Defects {
		if strings.Contains(d, substr) {
			return true
		}
	}
	return false
}

// The id ignores everything but the four headers, and the raw bytes when
// there is no Message-ID.
func TestTicketID(t *testing.T) {
	base := "Message-ID: <x@y>\r\nFrom: a@b\r\nDate: Fri, 27 Nov 2026 10:00:00 +0100\r\nSubject: s\r\n"
	id := TicketID([]byte(base + "\r\nbody"))
	same := []string{
		base + "Received: by relay\r\n\r\nbody",                               // added trace header
		base + "\r\nother body",                                               // same headers
		"Received: x\r\n" + base + "\r\nbody",                                 // prepended header
		strings.Replace(base, "Subject: s", "Subject:   s  ", 1) + "\r\nbody", // whitespace
		strings.ReplaceAll(base, "\r\n", "\n") + "\nbody",                     // LF line ends
	}
	for _, raw := range same {
		if got := TicketID([]byte(raw)); got != id {
			t.Errorf("id of %q differs", raw)
		}
	}
	different := []string{
		strings.Replace(base, "Subject: s", "Subject: t", 1) + "\r\nbody",
		strings.Replace(base, "<x@y>", "<x@z>", 1) + "\r\nbody",
		strings.Replace(base, "a@b", "c@d", 1) + "\r\nbody",
		strings.Replace(base, "10:00:00", "10:00:01", 1) + "\r\nbody",
	}
	for _, raw := range different {
		if TicketID([]byte(raw)) == id {
			t.Errorf("id of %q is the same", raw)
		}
	}
	noID := "From: a@b\r\nSubject: s\r\n\r\nbody"
	if TicketID([]byte(noID)) == TicketID([]byte(noID+"!")) {
		t.Error("without Message-ID the body must count")
	}
	if m, _ := Decode([]byte(base+"\r\nbody"), DecodeOptions{}); m.ID != id || len(id) != 32 {
		t.Errorf("Decode id %q, TicketID %q", m.ID, id)
	}
}

func TestParseDate(t *testing.T) {
	want := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	for _, s := range []string{
		"Fri, 27 Nov 2026 10:00:00 +0100",
		"Fri, 27 Nov 2026 10:00:00 +0100 (CET)",
		"27 Nov 2026 09:00:00 GMT",
		"Fri, 27 Nov 2026 10:00 +0100",
		"Friday, 27 November 2026 10:00:00 +0100",
		"2026-11-27T09:00:00Z",
		"Fri Nov 27 09:00:00 2026",
		"2026-11-27 10:00:00 +0100",
		"2026-11-27 09:00:00", // no zone: UTC
	} {
		got, ok := parseDate(s)
		if !ok || !got.Equal(want) {
			t.Errorf("parseDate(%q) = %v, %v", s, got, ok)
		}
	}
	for _, s := range []string{"", "yesterday", "32 Nov 2026 10:00:00 +0100"} {
		if _, ok := parseDate(s); ok {
			t.Errorf("parseDate(%q) accepted", s)
		}
	}
}

func TestParseDateZoneNames(t *testing.T) {
	tests := []struct {
		in   string
		want string // UTC, RFC 3339
	}{
		{"Fri, 27 Nov 2026 10:00:00 CET", "2026-11-27T09:00:00Z"},
		{"Fri, 27 Nov 2026 10:00:00 CEST", "2026-11-27T08:00:00Z"},
		{"Fri, 27 Nov 2026 04:00:00 EST", "2026-11-27T09:00:00Z"},
		{"Fri, 27 Nov 2026 02:00:00 PDT", "2026-11-27T09:00:00Z"},
		{"Fri, 27 Nov 2026 18:00:00 JST", "2026-11-27T09:00:00Z"},
		{"Fri, 27 Nov 2026 19:30:00 ACDT", "2026-11-27T09:00:00Z"},
		{"Fri Nov 27 10:00:00 CET 2026", "2026-11-27T09:00:00Z"}, // date(1), zone in the middle
		{"Fri, 27 Nov 2026 09:00:00 GMT", "2026-11-27T09:00:00Z"},
		{"Fri, 27 Nov 2026 09:00:00 IST", "2026-11-27T09:00:00Z"},         // ambiguous: UTC
		{"Fri, 27 Nov 2026 10:00:00 +0100 (EST)", "2026-11-27T09:00:00Z"}, // the offset wins over a comment
	}
	for _, tt := range tests {
		got, ok := parseDate(tt.in)
		if !ok || got.UTC().Format(time.RFC3339) != tt.want {
			t.Errorf("parseDate(%q) = %v, %v; want %s", tt.in, got.UTC(), ok, tt.want)
		}
	}
}

// manyParams is n header parameters "; pI=v".
func manyParams(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "; p%d=v", i)
	}
	return b.String()
}
