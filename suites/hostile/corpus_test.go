package hostile

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/triage-dev/triage/internal/testkit"
)

// outcome is what the daemon must do with a sample.
type outcome int

const (
	forwardLMTP outcome = iota // forwarded by the lmtp sink into Dovecot's Forwarded folder
	forwardSMTP                // forwarded by the smtp sink to the in-process SMTP server
	quarantineLarge
	quarantineUnparseable
	// failedSMTP: the SMTP server refuses the message for good (larger
	// than the tracker's message size limit, smtpMaxMessage); it is filed
	// in the failed folder, not lost and not retried forever.
	failedSMTP
)

func (o outcome) String() string {
	return [...]string{"forward via lmtp", "forward via smtp", "quarantine (too large)", "quarantine (unparseable)", "failed (smtp)"}[o]
}

func (o outcome) forwarded() bool { return o == forwardLMTP || o == forwardSMTP }

// sample is one hostile message and what must become of it.
type sample struct {
	name string
	raw  []byte
	want outcome
}

// sizes are the byte counts of the generated corpus: the full sizes under
// TRIAGE_FULL=1, a tenth of them otherwise (CI).
type sizes struct {
	maxMessage  int64 // max_message_bytes of the main run
	attachment  int   // decoded size of the big attachment (forwarded)
	base64Body  int   // encoded size of the useless base64 body (over the limit)
	semicolons  int   // `;` in one Content-Type
	foldedBytes int   // one folded header field
	nestedLong  int   // bytes of 5,000-octet lines in the nested-multipart mail
}

func corpusSizes() sizes {
	if testkit.FullSize() {
		return sizes{maxMessage: 40 << 20, attachment: 25 << 20, base64Body: 50 << 20, semicolons: 1_000_000, foldedBytes: 100 << 10, nestedLong: 20 << 20}
	}
	return sizes{maxMessage: 4 << 20, attachment: 5 << 19, base64Body: 5 << 20, semicolons: 1_000_000, foldedBytes: 100 << 10, nestedLong: 2 << 20}
}

// committedCorpus reads testdata/mail: small hand-made samples. Each carries
// an X-Hostile-Id header naming it; X-Hostile-Sink: smtp routes it to the
// smtp sink.
func committedCorpus(t *testing.T) []sample {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "mail", "*.eml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no committed samples: %v", err)
	}
	sort.Strings(files)
	var out []sample
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want := forwardLMTP
		switch {
		case bytes.Contains(raw, []byte("\r\nX-Hostile-Expect: failed\r\n")):
			want = failedSMTP
		case bytes.Contains(raw, []byte("\r\nX-Hostile-Sink: smtp\r\n")):
			want = forwardSMTP
		}
		out = append(out, sample{name: strings.TrimSuffix(filepath.Base(f), ".eml"), raw: raw, want: want})
	}
	return out
}

const commonHeader = "From: Ann Example <ann@example.com>\r\nTo: helpdesk@example.com\r\nDate: Fri, 27 Nov 2026 10:00:00 +0100\r\n"

// mail builds a generated sample with the id header first.
func mail(name string, want outcome, header, body string) sample {
	var b strings.Builder
	b.Grow(len(header) + len(body) + 256)
	b.WriteString("X-Hostile-Id: " + name + "\r\n")
	if want == forwardSMTP || want == failedSMTP {
		b.WriteString("X-Hostile-Sink: smtp\r\n")
	}
	b.WriteString(commonHeader)
	fmt.Fprintf(&b, "Message-ID: <%s@hostile.test>\r\n", name)
	b.WriteString(header)
	b.WriteString("\r\n")
	b.WriteString(body)
	return sample{name: name, raw: []byte(b.String()), want: want}
}

// words returns n octets of space-separated words (foldable text).
func words(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "word%d ", i)
	}
	return strings.TrimSpace(b.String()[:n])
}

// base64Lines encodes data in 76-column lines.
func base64Lines(data []byte) string {
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	b.Grow(len(enc) + len(enc)/76*2 + 2)
	for len(enc) > 76 {
		b.WriteString(enc[:76])
		b.WriteString("\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc)
	b.WriteString("\r\n")
	return b.String()
}

// junk is deterministic binary noise without any header-like line.
func junk(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	// A PNG signature first: no header field can be found at the start.
	copy(b, "\x89PNG\r\n\x1a\n\x00\x00")
	return b
}

// generatedCorpus builds the samples too big or too regular to commit.
// nestedMultipart is the body of a multipart (boundary prefix0) holding
// levels more multiparts, one in the other, the innermost holding one
// text/plain part with text.
func nestedMultipart(prefix string, levels int, text string) string {
	var b strings.Builder
	for i := range levels {
		fmt.Fprintf(&b, "--%s%d\r\nContent-Type: multipart/mixed; boundary=\"%s%d\"\r\n\r\n", prefix, i, prefix, i+1)
	}
	fmt.Fprintf(&b, "--%s%d\r\nContent-Type: text/plain\r\n\r\n%s", prefix, levels, text)
	for i := levels; i >= 0; i-- {
		fmt.Fprintf(&b, "--%s%d--\r\n", prefix, i)
	}
	return b.String()
}

func generatedCorpus(sz sizes) []sample {
	var out []sample
	add := func(s sample) { out = append(out, s) }

	// 2,000-character header lines: foldable text, one unbroken token, a
	// long References list.
	refs := make([]string, 0, 80)
	for i := range 80 {
		refs = append(refs, fmt.Sprintf("<ref-%04d-%s@hostile.test>", i, strings.Repeat("r", 10)))
	}
	add(mail("long-header-lines", forwardSMTP,
		"Subject: printer "+words(2000)+"\r\n"+
			"X-Long-Token: "+strings.Repeat("A", 2000)+"\r\n"+
			"References: "+strings.Join(refs, " ")+"\r\n",
		"Long lines.\r\n"))
	add(mail("long-header-lines-lmtp", forwardLMTP,
		"Subject: "+words(2000)+"\r\nX-Long-Token: "+strings.Repeat("B", 2000)+"\r\n",
		"Long lines.\r\n"))

	// 100 KB folded header fields.
	var folded strings.Builder
	folded.WriteString("X-Folded:")
	for folded.Len() < sz.foldedBytes {
		folded.WriteString(" " + words(70) + "\r\n")
	}
	add(mail("folded-100k", forwardLMTP, folded.String()+"Subject: folded header\r\n", "Folded.\r\n"))
	var foldedSubject strings.Builder
	foldedSubject.WriteString("Subject: vpn")
	for foldedSubject.Len() < sz.foldedBytes {
		foldedSubject.WriteString("\r\n " + words(70))
	}
	add(mail("folded-subject-100k", forwardSMTP, foldedSubject.String()+"\r\n", "Folded subject.\r\n"))

	// 50 levels of multipart nesting.
	add(mail("nested-multipart-50", forwardSMTP,
		"Subject: nested multipart\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"n0\"\r\n",
		nestedMultipart("n", 50, "deep text\r\n")))

	// 100 levels of message/rfc822.
	inner := "From: deep@example.com\r\nSubject: deepest\r\n\r\nbottom\r\n"
	for i := range 100 {
		inner = fmt.Sprintf("From: l%d@example.com\r\nSubject: level %d\r\nMIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n%s", i, i, inner)
	}
	add(mail("nested-rfc822-100", forwardLMTP,
		"Subject: forwarded many times\r\nMIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n", inner))

	// A million `;` parameters.
	add(mail("million-semicolons", forwardLMTP,
		"Subject: params\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8"+strings.Repeat(";", sz.semicolons)+"\r\n",
		"Params.\r\n"))
	add(mail("many-params", forwardSMTP,
		"Subject: params smtp\r\nMIME-Version: 1.0\r\nContent-Type: text/plain;"+strings.Repeat(" a=b;", 20_000)+" charset=utf-8\r\n",
		"Params.\r\n"))

	// A part whose Content-Type carries 120,000 parameters in folded lines
	// (1.2 MB of part header): the decoder reads a capped part header, and
	// the forwarder passes it on unchanged.
	var params strings.Builder
	params.WriteString("--P\r\nContent-Type: text/plain; charset=utf-8")
	for i := range 120_000 {
		fmt.Fprintf(&params, ";\r\n p%d=v", i)
	}
	params.WriteString("\r\n\r\nThe printer on floor 3 jams.\r\n--P--\r\n")
	add(mail("part-params-120k", forwardLMTP, "Subject: many parameters\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=P\r\n", params.String()))

	// 20 nested multiparts, the innermost part at depth 20 (as deep as the
	// decoder and the re-encoder go) with 5,000-octet lines, 20 MB in all at
	// full size: re-encoded for LMTP in one pass, not a copy per level
	// (which took gigabytes).
	add(mail("nested-20-long-lines", forwardLMTP,
		"Subject: nested long lines\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"d0\"\r\n",
		nestedMultipart("d", 19, strings.Repeat(strings.Repeat("x", 5000)+"\r\n", sz.nestedLong/5002))))

	// One level deeper than the re-encoder goes: the long lines at depth 21
	// are split, not re-encoded; nothing else changes.
	add(mail("split-nested-21-long-lines", forwardLMTP,
		"Subject: nested long lines, too deep\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"e0\"\r\n",
		nestedMultipart("e", 21, strings.Repeat(strings.Repeat("y", 3000)+"\r\n", 20))))

	// Just past the decoder's counting bounds: each is skipped or cut
	// with a defect, the mail is forwarded whole.
	var parts strings.Builder
	for i := range 1001 {
		fmt.Fprintf(&parts, "--M\r\nContent-Type: text/plain\r\n\r\npart %d\r\n", i)
	}
	parts.WriteString("--M--\r\n")
	add(mail("parts-1001", forwardLMTP, "Subject: many parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=M\r\n", parts.String()))
	var fields strings.Builder
	for i := range 1001 {
		fmt.Fprintf(&fields, "X-Field-%d: v\r\n", i)
	}
	add(mail("header-fields-1001", forwardLMTP, "Subject: many fields\r\n"+fields.String(), "Fields.\r\n"))
	var block strings.Builder
	for block.Len() <= 1<<20 {
		block.WriteString("X-Filler: " + words(120) + "\r\n")
	}
	add(mail("header-block-over-1mib", forwardLMTP, "Subject: a big header\r\n"+block.String(), "Big header.\r\n"))
	addrs := make([]string, 501)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("user%d@example.com", i)
	}
	add(mail("addresses-501", forwardLMTP, "Subject: many recipients\r\nCc: "+strings.Join(addrs, ",\r\n ")+"\r\n", "Recipients.\r\n"))
	refs101 := make([]string, 101)
	for i := range refs101 {
		refs101[i] = fmt.Sprintf("<r%d@hostile.test>", i)
	}
	add(mail("references-101", forwardLMTP, "Subject: long thread\r\nReferences: "+strings.Join(refs101, "\r\n ")+"\r\n", "Thread.\r\n"))
	add(mail("text-body-over-1mib", forwardLMTP, "Subject: printer log\r\n",
		strings.Repeat(words(12)+"\r\n", (1<<20)/70+2000)))
	var defects strings.Builder
	for i := range 60 {
		fmt.Fprintf(&defects, "--D\r\nContent-Type: text/plain; charset=x-bogus-%d\r\n\r\nodd charset %d\r\n", i, i)
	}
	defects.WriteString("--D--\r\n")
	add(mail("defects-60", forwardLMTP, "Subject: unknown charsets\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=D\r\n", defects.String()))
	if html := 4<<20 + 100<<10; int64(html) < sz.maxMessage {
		// Only at full size: the CI limit is below the HTML bound.
		add(mail("html-over-4mib", forwardLMTP, "Subject: html report\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n",
			strings.Repeat("<p>"+words(12)+"</p>\r\n", html/80)))
	}

	// A body line of 5,000 octets, which the SMTP server's 2,000-octet line
	// limit would refuse: the forwarder re-encodes the part, both sinks
	// deliver it.
	longLine := "--L\r\nContent-Type: text/plain\r\n\r\n" + words(5000) + "\r\n--L--\r\n"
	add(mail("long-body-line", forwardLMTP, "Subject: long body line\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=L\r\n", longLine))
	add(mail("long-body-line-smtp", forwardSMTP, "Subject: long body line\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=L\r\n", longLine))

	// Under triage's own limit but over the tracker's: refused for good.
	add(mail("over-tracker-limit-smtp", failedSMTP,
		"Subject: logs for the tracker\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"t\"\r\n",
		"--t\r\nContent-Type: text/plain\r\n\r\nLogs attached.\r\n--t\r\nContent-Type: application/octet-stream; name=\"logs.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"+
			base64Lines(junk(smtpMaxMessage*5/4, 3))+"--t--\r\n"))

	// Zero bytes and binary junk: nothing to parse.
	out = append(out, sample{name: "zero-byte", raw: []byte{}, want: quarantineUnparseable})
	out = append(out, sample{name: "binary-junk", raw: junk(64<<10, 1), want: quarantineUnparseable})
	out = append(out, sample{name: "whitespace-only", raw: []byte("\r\n\r\n \t\r\n"), want: quarantineUnparseable})

	// A big attachment under the limit: forwarded.
	att := junk(sz.attachment, 2)
	add(mail("big-attachment", forwardLMTP,
		"Subject: crash dump attached\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"big\"\r\n",
		"--big\r\nContent-Type: text/plain\r\n\r\nThe dump.\r\n--big\r\nContent-Type: application/octet-stream; name=\"dump.bin\"\r\nContent-Disposition: attachment; filename=\"dump.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"+
			base64Lines(att)+"--big--\r\n"))

	// Half that attachment again, its base64 in one line (as some scripts
	// send it): re-encoded for the LMTP forward, within the memory bound.
	add(mail("one-line-attachment", forwardLMTP,
		"Subject: export attached\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"one\"\r\n",
		"--one\r\nContent-Type: text/plain\r\n\r\nThe export.\r\n--one\r\nContent-Type: application/octet-stream; name=\"export.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"+
			base64.StdEncoding.EncodeToString(junk(sz.attachment/2, 4))+"\r\n--one--\r\n"))

	// A base64 body over the limit that decodes to nothing useful.
	line := strings.Repeat("AAAA", 19) + "\r\n" // 78 octets per line, decodes to zeros
	body := strings.Repeat(line, sz.base64Body/len(line)+1)
	add(mail("base64-over-limit", quarantineLarge,
		"Subject: nothing\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n", body))
	return out
}

// limitCorpus is the smaller-limit run: messages of exactly the limit are
// forwarded, one octet more is quarantined.
func limitCorpus(limit int) []sample {
	fill := func(name string, want outcome, size int) sample {
		s := mail(name, want, "Subject: printer size test\r\n", "")
		pad := size - len(s.raw)
		if pad < 2 {
			panic("limit too small")
		}
		line := strings.Repeat("x", 76) + "\r\n"
		var b strings.Builder
		for b.Len()+len(line) <= pad-2 {
			b.WriteString(line)
		}
		b.WriteString(strings.Repeat("y", pad-2-b.Len()))
		b.WriteString("\r\n")
		s.raw = append(s.raw, b.String()...)
		return s
	}
	var folded strings.Builder
	folded.WriteString("X-Folded:")
	for folded.Len() < 100<<10 {
		folded.WriteString(" " + words(70) + "\r\n")
	}
	return []sample{
		fill("at-limit", forwardSMTP, limit),
		fill("at-limit-lmtp", forwardLMTP, limit),
		fill("over-limit", quarantineLarge, limit+1),
		mail("folded-100k-over-limit", quarantineLarge, folded.String()+"Subject: folded\r\n", "x\r\n"),
		mail("small-ok", forwardSMTP, "Subject: small\r\n", "ok\r\n"),
		{name: "zero-byte", raw: nil, want: quarantineUnparseable},
	}
}
