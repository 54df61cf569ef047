package classifier

import (
	"encoding/base64"
	"fmt"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/triage-dev/triage/rules"
)

// multipart20KB is a typical help-desk mail of about 20 KB: a reply chain
// as text and HTML alternatives (quoted-printable) and a base64 log.
func multipart20KB() []byte {
	var plain, html strings.Builder
	for i := 0; plain.Len() < 5000; i++ {
		fmt.Fprintf(&plain, "> Zeile %d: Der Drucker im 3. OG zeigt wieder Fehler 0x8007000%d – bitte prüfen.\n", i, i%10)
	}
	html.WriteString("<html><head><style>p{margin:0}</style></head><body>")
	for i := 0; html.Len() < 8000; i++ {
		fmt.Fprintf(&html, "<p style=\"font-family:Calibri\">Zeile %d: Der Drucker im 3.&nbsp;OG zeigt wieder <b>Fehler</b> &ndash; bitte pr&uuml;fen.</p>\n", i)
	}
	html.WriteString("</body></html>")
	qp := func(s string) string {
		var b strings.Builder
		w := quotedprintable.NewWriter(&b)
		_, _ = w.Write([]byte(s))
		_ = w.Close()
		return b.String()
	}
	log := []byte(strings.Repeat("2026-11-27T09:14:03Z spooler: job 4711 failed: paper jam tray 2\n", 70))
	enc := base64.StdEncoding.EncodeToString(log)
	var lines []string
	for len(enc) > 76 {
		lines = append(lines, enc[:76])
		enc = enc[76:]
	}
	lines = append(lines, enc)

	var b strings.Builder
	b.WriteString("Return-Path: <ann@example.com>\r\nReceived: from mail.example.com by mx.example.com; Fri, 27 Nov 2026 09:14:05 +0100\r\n")
	b.WriteString("From: =?utf-8?Q?J=C3=B6rg_M=C3=BCller?= <joerg@example.com>\r\nTo: IT Helpdesk <helpdesk@example.com>\r\n")
	b.WriteString("Cc: team@example.com\r\nSubject: =?utf-8?Q?Re:_[#4711]_Drucker_im_3._OG_st=C3=B6rt?=\r\n")
	b.WriteString("Date: Fri, 27 Nov 2026 09:14:03 +0100\r\nMessage-ID: <bench@mail.example.com>\r\n")
	b.WriteString("In-Reply-To: <ticket.4711.1@helpdesk.example.com>\r\nReferences: <ticket.4711.1@helpdesk.example.com>\r\n")
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"mixed\"\r\n\r\n")
	b.WriteString("--mixed\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n")
	b.WriteString("--alt\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	b.WriteString(qp(plain.String()))
	b.WriteString("\r\n--alt\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	b.WriteString(qp(html.String()))
	b.WriteString("\r\n--alt--\r\n")
	b.WriteString("--mixed\r\nContent-Type: text/plain; name=\"spooler.log\"\r\nContent-Disposition: attachment; filename=\"spooler.log\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	b.WriteString(strings.Join(lines, "\r\n"))
	b.WriteString("\r\n--mixed--\r\n")
	return []byte(b.String())
}

func BenchmarkDecode20KBMultipart(b *testing.B) {
	raw := multipart20KB()
	if len(raw) < 19000 || len(raw) > 23000 {
		b.Fatalf("sample is %d bytes", len(raw))
	}
	m, err := Decode(raw, DecodeOptions{})
	if err != nil || len(m.Attachments) != 1 || !strings.Contains(m.Body, "Zeile 3") || len(m.Defects) > 0 {
		b.Fatalf("sample decodes wrong: %v %+v", err, m)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(raw, DecodeOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClassify(b *testing.B) {
	set := loadTestRules(b)
	raw := multipart20KB()
	c := New()
	t, err := c.Classify(set, raw, Meta{})
	if err != nil || t.Class.Runbook != "kb/printer" || t.Class.Fields["error_code"] == "" {
		b.Fatalf("sample classifies wrong: %v %+v", err, t)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Classify(set, raw, Meta{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHTMLToText(b *testing.B) {
	var html strings.Builder
	for i := 0; html.Len() < 20000; i++ {
		fmt.Fprintf(&html, "<tr><td style=\"x\">Zeile %d</td><td>&uuml;ber &amp; mehr</td></tr>\n", i)
	}
	s := html.String()
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		htmlToText(s)
	}
}

// BenchmarkEvaluateExampleRules evaluates examples/rules.yaml on every
// example mail (decoded once beforehand); ns/op is per mail.
func BenchmarkEvaluateExampleRules(b *testing.B) {
	set, raws := exampleMails(b)
	var envs []rules.Env
	for _, raw := range raws {
		m, err := Decode(raw, DecodeOptions{Threading: set.Threading})
		if err != nil {
			b.Fatal(err)
		}
		env := m.Env()
		set.ApplyCalendar(env)
		envs = append(envs, *env)
	}
	ev := rules.NewEvaluator()
	env := new(rules.Env)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		// A fresh copy each time: the evaluator caches lower-cased text in
		// the Env, which a new message would not have.
		*env = envs[i%len(envs)]
		set.Evaluate(ev, env)
	}
}

// exampleMails loads examples/rules.yaml and every examples/mail/*.eml.
func exampleMails(b testing.TB) (*rules.Set, [][]byte) {
	b.Helper()
	set, err := rules.Load("../examples/rules.yaml")
	if err != nil {
		b.Fatal(err)
	}
	paths, err := filepath.Glob("../examples/mail/*.eml")
	if err != nil || len(paths) == 0 {
		b.Fatalf("example mail: %v", err)
	}
	raws := make([][]byte, 0, len(paths))
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		raws = append(raws, raw)
	}
	return set, raws
}

// BenchmarkDecodeExampleMails decodes every example mail with the example
// rules' threading, as the daemon does; ns/op is per mail.
func BenchmarkDecodeExampleMails(b *testing.B) {
	set, raws := exampleMails(b)
	c := New()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := c.Decode(set, raws[i%len(raws)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClassifyExampleMails decodes and classifies every example mail
// as daemon.handle does (Decode, then ClassifyMail); ns/op is per mail.
func BenchmarkClassifyExampleMails(b *testing.B) {
	set, raws := exampleMails(b)
	c := New()
	received := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		m, err := c.Decode(set, raws[i%len(raws)])
		if err != nil {
			b.Fatal(err)
		}
		c.ClassifyMail(set, m, Meta{Account: "helpdesk", Mailbox: "INBOX", UID: uint32(i), UIDValidity: 1, ReceivedAt: received})
	}
}
