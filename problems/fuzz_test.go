package problems

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzObserve: whatever a mail's subject and body hold, cleaning,
// tokenising, finding concepts and observing return without panic,
// within the token bound, and tokens are valid UTF-8 when the input is;
// concepts replace at least one word each, or stand beside their words.
func FuzzObserve(f *testing.F) {
	for _, path := range corpora {
		for _, m := range loadCorpus(f, path) {
			f.Add(m.Subject, m.Body)
		}
	}
	f.Add("Re: Re: AW: [#1]", "> quote\n-- \nsig")
	f.Add(strings.Repeat("ü-", 5000), strings.Repeat("會議室b2.14 ", 3000))
	f.Add("Mot de passe", strings.Repeat("mot de passe mot de ", 500)+"비밀번호를 パスワード 密码错误 zugriff verweigert")
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
		for _, tok := range toks {
			if strings.HasPrefix(tok, conceptPrefix) {
				t.Fatalf("word %q taken for a concept", tok)
			}
		}
		added, replaced := defaultLexicon().apply(toks, conceptAdd), defaultLexicon().apply(slices.Clone(toks), conceptReplace)
		countConcepts := func(ts []string) (n int) {
			for _, tok := range ts {
				if strings.HasPrefix(tok, conceptPrefix) {
					n++
				}
			}
			return n
		}
		concepts := countConcepts(added)
		if countConcepts(replaced) != concepts || len(replaced) > len(toks) || len(added) != len(toks)+concepts {
			t.Fatalf("%d tokens, %d with concepts replacing, %d beside (%d concepts)", len(toks), len(replaced), len(added), concepts)
		}
		n++
		m, _ := d.Observe(Mail{ID: string(rune('a'+n%26)) + subject[:min(len(subject), 8)], Sender: "x@example.com", Subject: subject, Body: body, At: t0})
		if m.Similar < 1 || m.Sender < 1 {
			t.Fatalf("match %+v", m)
		}
	})
}
