package problems

import (
	"cmp"
	"hash"
	"hash/fnv"
	"math"
	"slices"
	"strings"
	"unicode"

	"golang.org/x/text/transform"
)

// featureMode says which features a mail is compared by. The detector
// uses defaultMode; the others stay for the measurement that chose it
// (TestCorpusQuality).
type featureMode int

const (
	wordUnigrams  featureMode = iota // each word
	wordBigrams                      // each word and each pair of neighbours
	charGrams                        // character 4-grams of each padded word
	wordsAndGrams                    // each word and its character 4-grams
)

// defaultMode won the measurement on testdata/day.yaml (docs/problems.md).
const defaultMode = wordUnigrams

// maxTerms bounds the features kept per mail: the highest weighted ones.
const maxTerms = 32

// maxSummaryTokens bounds the tokens a mail's summary words come from.
const maxSummaryTokens = 40

// maxWords bounds the words a mail contributes to its group's summary.
const maxWords = 6

// term is one feature of a mail with its weight.
type term struct {
	h uint32
	w float32
}

// hasher hashes tokens and token pairs to feature keys (FNV-1a: stable
// across restarts, so persisted features stay comparable).
type hasher struct {
	h   hash.Hash32
	buf []byte
}

func newHasher() *hasher { return &hasher{h: fnv.New32a()} }

func (x *hasher) sum(parts ...string) uint32 {
	x.buf = x.buf[:0]
	for i, p := range parts {
		if i > 0 {
			x.buf = append(x.buf, ' ')
		}
		x.buf = append(x.buf, p...)
	}
	x.h.Reset()
	_, _ = x.h.Write(x.buf)
	return x.h.Sum32()
}

// count is how often a feature occurs in a mail and whether it names a
// thing (a host, a device, a path: see isName).
type count struct {
	n       int32
	name    bool
	concept bool
}

// nameBoost multiplies the weight of a feature that names a thing: such
// names are what reports of one problem share across languages, and what
// tells "printer PRN-3OG-01 offline" from "printer PRN-2OG-03 out of toner".
const nameBoost = 3

// isName reports whether a token names a thing rather than says something:
// it holds a connector (prn-3og-01, vpn.example.com) or letters and digits.
func isName(t string) bool {
	if strings.HasPrefix(t, conceptPrefix) {
		return false
	}
	return strings.IndexFunc(t, isConnector) >= 0 ||
		(strings.IndexFunc(t, unicode.IsDigit) >= 0 && strings.IndexFunc(t, unicode.IsLetter) >= 0)
}

// rawFeatures counts the features of a mail's tokens into tf (cleared
// first; nil makes a new map) and returns it.
func rawFeatures(x *hasher, tokens []string, mode featureMode, tf map[uint32]count) map[uint32]count {
	if tf == nil {
		tf = make(map[uint32]count, 2*len(tokens))
	}
	clear(tf)
	add := func(h uint32, name bool) {
		c := tf[h]
		c.n++
		c.name = c.name || name
		tf[h] = c
	}
	for i, t := range tokens {
		name := isName(t)
		if strings.HasPrefix(t, conceptPrefix) {
			h := x.sum(t)
			c := tf[h]
			c.n++
			c.concept = true
			tf[h] = c
			continue
		}
		if mode == wordsAndGrams {
			add(x.sum(t), name)
		}
		switch mode {
		case charGrams, wordsAndGrams:
			padded := []rune("_" + t + "_")
			if len(padded) <= 4 {
				add(x.sum(string(padded)), name)
			}
			for j := 0; j+4 <= len(padded); j++ {
				add(x.sum(string(padded[j:j+4])), name)
			}
		default:
			add(x.sum(t), name)
			if mode == wordBigrams && i > 0 {
				add(x.sum(tokens[i-1], t), false)
			}
		}
	}
	return tf
}

// idf is the smoothed inverse document frequency of a feature seen in df
// of docs mails.
func idf(df int32, docs int) float64 {
	return math.Log(float64(docs+1)/float64(df+1)) + 1
}

// vector weights raw features by TF-IDF (sublinear tf), names ×nameBoost
// and concepts ×conceptBoost, keeps the maxTerms
// highest and scales them to unit length. scratch is reused for the
// weighing; the result is a slice of its own, kept as long as the mail.
func vector(tf map[uint32]count, df map[uint32]int32, docs int, conceptBoost float64, scratch *[]term) []term {
	v := (*scratch)[:0]
	for h, c := range tf {
		w := (1 + math.Log(float64(c.n))) * idf(df[h], docs)
		if c.name {
			w *= nameBoost
		}
		if c.concept {
			w *= conceptBoost
		}
		v = append(v, term{h: h, w: float32(w)})
	}
	// Highest weight first; the hash breaks ties so the choice is stable.
	slices.SortFunc(v, func(a, b term) int { return cmp.Or(cmp.Compare(b.w, a.w), cmp.Compare(a.h, b.h)) })
	*scratch = v
	v = slices.Clone(v[:min(len(v), maxTerms)])
	var n float64
	for _, t := range v {
		n += float64(t.w) * float64(t.w)
	}
	n = math.Sqrt(n)
	for i := range v {
		v[i].w = float32(float64(v[i].w) / n)
	}
	return v
}

// topWords are the mail's maxWords rarest words (by the window's document
// frequency, names first), in the order they appear: the stuff of a group's
// summary. tokens are the mail's features, so a concept counts as one
// word whatever the language, shown by its name ("password").
func topWords(x *hasher, tokens []string, df map[uint32]int32, docs int) []string {
	type ranked struct {
		word string
		pos  int
		w    float64
	}
	rs := make([]ranked, 0, maxSummaryTokens)
	// The subject and the opening lines say what a mail is about.
	for i, t := range tokens[:min(len(tokens), maxSummaryTokens)] {
		if len(t) < 3 || slices.ContainsFunc(rs, func(r ranked) bool { return r.word == t }) {
			continue
		}
		w := idf(df[x.sum(t)], docs)
		if isName(t) {
			w *= nameBoost
		}
		rs = append(rs, ranked{t, i, w})
	}
	slices.SortStableFunc(rs, func(a, b ranked) int { return cmp.Compare(b.w, a.w) })
	rs = rs[:min(len(rs), maxWords)]
	slices.SortFunc(rs, func(a, b ranked) int { return a.pos - b.pos })
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = conceptWord(r.word)
	}
	return out
}

// mailTokens is the cleaned subject and body of a mail as tokens.
// folder is newFolder's transformer, reused; nil builds one.
func mailTokens(folder transform.Transformer, subject, body string) []string {
	return Tokens(fold(folder, CleanSubject(subject)) + "\n" + cleanBody(folder, body))
}

// Summary joins a group's most common words into a short label.
func summaryOf(words []wordCount, size int) string {
	ranked := slices.Clone(words)
	// Most common first; among equals, names (prn-3og-01) before words.
	slices.SortStableFunc(ranked, func(a, b wordCount) int {
		return cmp.Or(b.n-a.n, cmp.Compare(b2i(isName(a.word)), b2i(isName(b.word))))
	})
	need := max(1, (size+1)/2)
	var out []string
	for _, w := range ranked {
		if len(out) == 4 || (w.n < need && len(out) > 0) {
			break
		}
		out = append(out, w.word)
	}
	return strings.Join(out, " ")
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
