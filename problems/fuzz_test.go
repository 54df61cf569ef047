package problems

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzObserve: whatever a mail's subject and body hold, cleaning,
// tokenising and observing return without panic, within the token bound,
// and tokens are valid UTF-8 when the input is.
func FuzzObserve(f *testing.F) {
	for _, path := range corpora {
		for _, m := range loadCorpus(f, path) {
			f.Add(m.Subject, m.Body)
		}
	}
	f.Add("Re: Re: AW: [#1]", "> quote\n-- \nsig")
	f.Add(strings.Repeat("ü-", 5000), strings.Repeat("會議室b2.14 ", 3000))
	d := New(Config{MaxTracked: 100, MaxGroups: 50})
	n := 0
	f.Fuzz(func(t *testing.T, subject, body string) {
		toks := mailTokens(nil, subject, body)
		if len(toks) > maxTokens+1 {
			t.Fatalf("%d tokens", len(toks))
		}
		if utf8.ValidString(subject) && utf8.ValidString(body) {
			for _, tok := range toks {
				if !utf8.ValidString(tok) {
					t.Fatalf("invalid token %q", tok)
				}
			}
		}
		n++
		m, _ := d.Observe(Mail{ID: string(rune('a'+n%26)) + subject[:min(len(subject), 8)], Sender: "x@example.com", Subject: subject, Body: body, At: t0})
		if m.Similar < 1 || m.Sender < 1 {
			t.Fatalf("match %+v", m)
		}
	})
}
