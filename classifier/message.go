package classifier

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"mime"
	"mime/quotedprintable"
	"net/textproto"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/triage-dev/triage/rules"
)

// DefaultTestDate is the Date of an inline test message that gives none.
const DefaultTestDate = "Fri, 27 Nov 2026 10:00:00 +0100"

// BuildMessage renders an inline test message (rules YAML `message:`) as
// an RFC 5322 message, so rule tests go through the real decoder: UTF-8
// subject as encoded words, body quoted-printable UTF-8, a fixed Date and
// a Message-ID derived from the content when not given. Header values are
// flattened to one line; names that are not valid field names are dropped.
func BuildMessage(m *rules.InlineMessage) []byte {
	type field struct{ key, value string }
	date := cmp.Or(m.Date, DefaultTestDate)
	fields := []field{
		{"From", m.From},
		{"To", strings.Join(m.To, ", ")},
		{"Cc", strings.Join(m.Cc, ", ")},
		{"Subject", m.Subject},
		{"Date", date},
		{"Message-Id", testMessageID(m, date)},
		{"Mime-Version", "1.0"},
		{"Content-Type", "text/plain; charset=utf-8"},
		{"Content-Transfer-Encoding", "quoted-printable"},
	}
	for _, k := range slices.Sorted(maps.Keys(m.Headers)) {
		if !validFieldName(k + ":") {
			continue
		}
		ck := textproto.CanonicalMIMEHeaderKey(k)
		if ck == "Content-Type" || ck == "Content-Transfer-Encoding" || ck == "Mime-Version" {
			continue // the body below is always UTF-8 quoted-printable
		}
		// Keys that differ only in case: the first is added, the next
		// replaces it.
		if i := slices.IndexFunc(fields, func(f field) bool { return textproto.CanonicalMIMEHeaderKey(f.key) == ck }); i >= 0 {
			fields[i].value = m.Headers[k]
		} else {
			fields = append(fields, field{k, m.Headers[k]})
		}
	}

	var b bytes.Buffer
	for _, f := range fields {
		v := cleanLine(f.value)
		if v == "" {
			continue
		}
		if f.key == "Subject" || !isASCII(v) && !isAddressField(f.key) {
			v = mime.QEncoding.Encode("utf-8", v)
		}
		fmt.Fprintf(&b, "%s: %s\r\n", f.key, v)
	}
	b.WriteString("\r\n")
	body := strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n")
	qp := quotedprintable.NewWriter(&b)
	// Writes to a bytes.Buffer cannot fail.
	_, _ = qp.Write([]byte(body))
	_ = qp.Close()
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// isAddressField: address headers keep raw UTF-8 names (RFC 6532), which
// the decoder reads, instead of encoded words that would need quoting.
func isAddressField(key string) bool {
	switch textproto.CanonicalMIMEHeaderKey(key) {
	case "From", "To", "Cc", "Reply-To", "Sender":
		return true
	}
	return false
}

func isASCII(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r >= utf8.RuneSelf })
}

// testMessageID is a Message-ID that is stable for the same test message.
func testMessageID(m *rules.InlineMessage, date string) string {
	h := sha256.New()
	for _, s := range []string{m.From, strings.Join(m.To, ","), strings.Join(m.Cc, ","), m.Subject, date, m.Body} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return "<test." + hex.EncodeToString(h.Sum(nil)[:12]) + "@triage.invalid>"
}

// TestEnvFor returns the build function of set's rule tests, for
// rules.Set.RunTests: it reads a test's Mail or renders its Message, and
// decodes it with set's threading patterns.
func TestEnvFor(set *rules.Set) func(rules.Test) (*rules.Env, error) {
	opts := DecodeOptions{Threading: set.Threading}
	return func(t rules.Test) (*rules.Env, error) { return testEnv(t, opts) }
}

func testEnv(t rules.Test, opts DecodeOptions) (*rules.Env, error) {
	var raw []byte
	switch {
	case t.Mail != "":
		b, err := rules.ReadTestMail(t.Mail)
		if err != nil {
			return nil, fmt.Errorf("test %q: %w", t.Name, err)
		}
		raw = b
	case t.Message != nil:
		raw = BuildMessage(t.Message)
	default:
		return nil, fmt.Errorf("test %q: %w", t.Name, errNoTestMail)
	}
	m, err := Decode(raw, opts)
	if err != nil {
		return nil, fmt.Errorf("test %q: %w", t.Name, err)
	}
	return m.Env(), nil
}

var errNoTestMail = errors.New("neither mail nor message given")
