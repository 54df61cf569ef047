package problems

import (
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// conceptsYAML is the help-desk lexicon: concept → its word forms in the
// languages of the sample mail (the file says how to extend it).
//
//go:embed concepts.yaml
var conceptsYAML []byte

// conceptPrefix marks a concept feature. Tokens are letters, digits and
// connectors only, so no word of a mail can be taken for a concept.
const conceptPrefix = "#"

// conceptWord is how a feature reads in a summary: a concept by its name
// ("#not_working" as "not working"), a word as it is.
func conceptWord(t string) string {
	if name, ok := strings.CutPrefix(t, conceptPrefix); ok {
		return strings.ReplaceAll(name, "_", " ")
	}
	return t
}

// conceptMode says how a mail's words that name a concept are compared.
// The detector uses defaultConcepts; the others stay for the measurement
// that chose it (TestCorpusQuality).
type conceptMode int

const (
	noConcepts     conceptMode = iota // words as written
	conceptReplace                    // the concept instead of its words
	conceptAdd                        // the concept beside its words
)

// defaultConcepts and defaultConceptBoost (the weight of a concept
// feature against a word's) won the measurement on both labelled days
// (docs/problems.md).
const (
	defaultConcepts     = conceptReplace
	defaultConceptBoost = 2.0
)

// phrase is one word form of a concept, as tokens.
type phrase struct {
	tokens  []string
	concept string // with conceptPrefix
}

// lexicon finds concepts in a mail's tokens: its forms indexed by their
// first token, longest first, so one map lookup per token finds every
// candidate.
type lexicon struct {
	byFirst map[string][]phrase
	forms   int
}

// maxPhraseTokens bounds a form's tokens, and so the look-ahead per token.
const maxPhraseTokens = 10

// parseLexicon reads a lexicon: a YAML mapping of concept names to lists
// of forms. Each form is folded and tokenised as mail is; a form that
// yields no token, a token shorter than two characters (a lone CJK
// character would match nothing cut into pairs), more than
// maxPhraseTokens tokens, or the tokens of another concept's form is an
// error.
func parseLexicon(raw []byte) (*lexicon, error) {
	var doc map[string][]string
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("concept lexicon: %w", err)
	}
	l := &lexicon{byFirst: map[string][]phrase{}}
	seen := map[string]string{}
	var errs []error
	folder := newFolder()
	for concept, forms := range doc {
		name := conceptPrefix + strings.Join(Tokens(fold(folder, concept)), "_")
		if name == conceptPrefix {
			return nil, fmt.Errorf("concept lexicon: concept %q has no name", concept)
		}
		for _, form := range forms {
			toks := words(fold(folder, form), maxPhraseTokens+1)
			key := strings.Join(toks, " ")
			switch {
			case len(toks) == 0 || len(toks) > maxPhraseTokens:
				errs = append(errs, fmt.Errorf("concept lexicon: %s: form %q has %d words, want 1 to %d", concept, form, len(toks), maxPhraseTokens))
				continue
			case slices.ContainsFunc(toks, func(t string) bool { return len([]rune(t)) < 2 }):
				errs = append(errs, fmt.Errorf("concept lexicon: %s: form %q has a word of one character", concept, form))
				continue
			case seen[key] == concept: // the same once folded (micrófono, microfono)
				continue
			case seen[key] != "":
				errs = append(errs, fmt.Errorf("concept lexicon: %s: form %q is also a form of %s", concept, form, seen[key]))
				continue
			}
			seen[key] = concept
			l.byFirst[toks[0]] = append(l.byFirst[toks[0]], phrase{tokens: toks, concept: name})
			l.forms++
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, ps := range l.byFirst {
		slices.SortStableFunc(ps, func(a, b phrase) int { return len(b.tokens) - len(a.tokens) })
	}
	return l, nil
}

// defaultLexicon is the embedded lexicon, parsed once; TestLexicon keeps
// it parseable, so a failure here is a broken build.
var defaultLexicon = sync.OnceValue(func() *lexicon {
	l, err := parseLexicon(conceptsYAML)
	if err != nil {
		panic(err)
	}
	return l
})

// apply returns the tokens with concepts in place of (conceptReplace) or
// beside (conceptAdd) the words that name them, matched in token order,
// the longest form first. Replacing never lengthens the tokens, so it
// rewrites tokens in place (no allocation per mail); adding leaves them
// as they are; with noConcepts they are returned as they are.
func (l *lexicon) apply(tokens []string, mode conceptMode) []string {
	if mode == noConcepts || l == nil {
		return tokens
	}
	var out []string
	if mode == conceptReplace {
		out = tokens[:0] // writes stay at or behind the reads
	} else {
		out = make([]string, 0, len(tokens)+len(tokens)/4)
	}
	for i := 0; i < len(tokens); {
		n, concept := l.match(tokens[i:])
		if n == 0 {
			out = append(out, tokens[i])
			i++
			continue
		}
		if mode == conceptAdd {
			out = append(out, tokens[i:i+n]...)
		}
		out = append(out, concept)
		i += n
	}
	return out
}

// match returns the tokens and the concept of the longest form that
// tokens start with, or 0.
func (l *lexicon) match(tokens []string) (int, string) {
	for _, p := range l.byFirst[tokens[0]] {
		if len(p.tokens) <= len(tokens) && slices.Equal(p.tokens, tokens[:len(p.tokens)]) {
			return len(p.tokens), p.concept
		}
	}
	return 0, ""
}
