package rules

import (
	"errors"
	"slices"
	"strings"
)

// Case-insensitive helpers whose text is built from subject, body and text
// (and string constants) do not search their text themselves. Each distinct
// such text is a textSource; the words searched in it are numbered at load.
// Per message, the Evaluator's MatchIndex finds which words occur in which
// source: with many words one Aho-Corasick pass over the text answers them
// all; with few, each word is searched once, on first use. Every later call
// is a bitset lookup.

// acMinNeedles is the number of words from which one automaton pass over a
// text beats searching each word on its own (measured with the benchmarks).
const acMinNeedles = 4

// maxAutomatonCells bounds an automaton's transition table (int32 cells);
// beyond it the source falls back to searching word by word.
const maxAutomatonCells = 1 << 22

// Text fields a source can be built from.
const (
	fieldSubject = iota
	fieldBody
	fieldText
)

var sourceFields = map[string]int{"_subject_lc": fieldSubject, "_body_lc": fieldBody, "_text_lc": fieldText}

// sourcePart is one piece of a source: a lower-cased field or a literal.
type sourcePart struct {
	field int // -1 for a literal
	lit   string
}

// textSource is one lower-cased text searched by helpers, with its words.
type textSource struct {
	key       string
	parts     []sourcePart
	needles   []string         // lower-cased, unique, non-empty
	needleIdx map[string]int32 // load time only
	ac        *automaton       // nil: search word by word
}

// needleSet names words of one source by index; a program constant.
type needleSet []int32

// addNeedles numbers the non-empty words of a call in the source.
func (s *textSource) addNeedles(words []string) needleSet {
	out := make(needleSet, 0, len(words))
	for _, w := range words {
		if w == "" {
			continue
		}
		id, ok := s.needleIdx[w]
		if !ok {
			id = int32(len(s.needles))
			s.needleIdx[w] = id
			s.needles = append(s.needles, w)
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// finish builds the automaton once every call has added its words.
func (s *textSource) finish() {
	s.needleIdx = nil
	if len(s.needles) >= acMinNeedles {
		s.ac = buildAutomaton(s.needles)
	}
}

// automaton is an Aho-Corasick automaton as a dense DFA over byte classes.
// It stays hand-written because the module on offer (coregx/ahocorasick)
// returns overlapping matches only as a slice of every match, unbounded on
// hostile mail, and its other searches skip a word inside another ("mail" in
// "mailbox"); TestIndexAgreesWithNaive and FuzzIndex hold it to plain search.
type automaton struct {
	class  [256]uint16
	nClass int
	next   []int32 // state*nClass + class → state
	out    []int32 // needle ending at the state, or -1
	dict   []int32 // nearest state on the failure chain with out >= 0, or -1
}

func buildAutomaton(needles []string) *automaton {
	a := &automaton{}
	nc := 1 // class 0: bytes in no needle
	for _, n := range needles {
		for i := 0; i < len(n); i++ {
			if a.class[n[i]] == 0 {
				a.class[n[i]] = uint16(nc)
				nc++
			}
		}
	}
	a.nClass = nc
	total := 1
	for _, n := range needles {
		total += len(n)
	}
	if total*nc > maxAutomatonCells {
		return nil
	}
	a.next = make([]int32, nc, total*nc)
	a.out = []int32{-1}
	for id, n := range needles {
		s := int32(0)
		for i := 0; i < len(n); i++ {
			cell := int(s)*nc + int(a.class[n[i]])
			t := a.next[cell]
			if t == 0 {
				t = int32(len(a.out))
				a.next = append(a.next, make([]int32, nc)...)
				a.out = append(a.out, -1)
				a.next[cell] = t
			}
			s = t
		}
		a.out[s] = int32(id)
	}
	states := len(a.out)
	fail := make([]int32, states)
	a.dict = make([]int32, states)
	a.dict[0] = -1
	queue := make([]int32, 0, states)
	for c := 0; c < nc; c++ {
		if t := a.next[c]; t != 0 {
			queue = append(queue, t)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		f := fail[s]
		if a.out[f] >= 0 {
			a.dict[s] = f
		} else {
			a.dict[s] = a.dict[f]
		}
		row, frow := int(s)*nc, int(f)*nc
		for c := 0; c < nc; c++ {
			if t := a.next[row+c]; t != 0 {
				fail[t] = a.next[frow+c]
				queue = append(queue, t)
			} else {
				a.next[row+c] = a.next[frow+c]
			}
		}
	}
	return a
}

// MatchIndex is an Evaluator's per-message memo of word occurrences. It is
// reset for every message and must not be shared between goroutines.
type MatchIndex struct {
	budget  budget // this message's evaluation allowance
	env     *Env
	sources []*textSource
	state   []sourceState
}

// sourceState is what is known about one source in the current message.
type sourceState struct {
	built   bool
	scanned bool
	text    string
	known   []uint64 // needle searched
	found   []uint64 // needle occurs
	word    []uint64 // needle occurs on word boundaries
}

// reset prepares the index for a new message, reusing its memory.
func (x *MatchIndex) reset(sources []*textSource, env *Env) {
	x.env, x.sources = env, sources
	if cap(x.state) < len(sources) {
		x.state = make([]sourceState, len(sources))
	}
	x.state = x.state[:len(sources)]
	for i, src := range sources {
		st := &x.state[i]
		words := (len(src.needles) + 63) / 64
		st.built, st.scanned, st.text = false, false, ""
		st.known = clearBits(st.known, words)
		st.found = clearBits(st.found, words)
		st.word = clearBits(st.word, words)
	}
}

func clearBits(b []uint64, n int) []uint64 {
	if cap(b) < n {
		return make([]uint64, n)
	}
	b = b[:n]
	clear(b)
	return b
}

// text returns a source's text in the current message, built once, from
// the lower-cased copies of its fields.
func (x *MatchIndex) text(i int) string {
	st := &x.state[i]
	if st.built {
		return st.text
	}
	src := x.sources[i]
	if len(src.parts) == 1 {
		st.text = x.part(src.parts[0])
	} else {
		// Parts are memoized, so sizing the builder first costs no extra
		// lowering and saves its growth copies.
		n := 0
		for _, p := range src.parts {
			n += len(x.part(p))
		}
		var b strings.Builder
		b.Grow(n)
		for _, p := range src.parts {
			b.WriteString(x.part(p))
		}
		st.text = b.String()
	}
	st.built = true
	return st.text
}

func (x *MatchIndex) part(p sourcePart) string {
	e := x.env
	var raw string
	var lowered *string
	switch p.field {
	case fieldSubject:
		raw, lowered = e.Subject, &e.SubjectLower
	case fieldBody:
		raw, lowered = e.Body, &e.BodyLower
	case fieldText:
		raw, lowered = e.Text, &e.TextLower
	default:
		return p.lit
	}
	if *lowered != "" || raw == "" {
		return *lowered
	}
	*lowered = strings.ToLower(raw)
	return *lowered
}

// scan runs a source's automaton over its text once, recording every word.
func (x *MatchIndex) scan(i int) {
	st, src := &x.state[i], x.sources[i]
	text := x.text(i)
	a := src.ac
	s := int32(0)
	for p := 0; p < len(text); p++ {
		s = a.next[int(s)*a.nClass+int(a.class[text[p]])]
		t := s
		if a.out[t] < 0 {
			t = a.dict[t]
		}
		for ; t >= 0; t = a.dict[t] {
			id := a.out[t]
			st.found[id>>6] |= 1 << (uint(id) & 63)
			if st.word[id>>6]&(1<<(uint(id)&63)) == 0 && boundedAt(text, p+1-len(src.needles[id]), p+1) {
				st.word[id>>6] |= 1 << (uint(id) & 63)
			}
		}
	}
	for w := range st.known {
		st.known[w] = ^uint64(0)
	}
	st.scanned = true
}

// has reports whether needle id occurs in source i (as a word when word is set).
func (x *MatchIndex) has(i int, id int32, word bool) bool {
	st := &x.state[i]
	w, bit := id>>6, uint64(1)<<(uint(id)&63)
	if st.known[w]&bit == 0 {
		if x.sources[i].ac != nil && !st.scanned {
			x.scan(i)
		} else {
			text, n := x.text(i), x.sources[i].needles[id]
			if strings.Contains(text, n) {
				st.found[w] |= bit
				if containsWord(text, n) {
					st.word[w] |= bit
				}
			}
			st.known[w] |= bit
		}
	}
	if word {
		return st.word[w]&bit != 0
	}
	return st.found[w]&bit != 0
}

var errNoIndex = errors.New("internal: helper called without a match index")

// indexArgs decodes (index, source, needles) of the _ix helpers.
func indexArgs(p []any) (*MatchIndex, int, needleSet, error) {
	if len(p) != 3 {
		return nil, 0, nil, errArgs
	}
	x, _ := p[0].(*MatchIndex)
	i, ok1 := p[1].(int)
	ids, ok2 := p[2].(needleSet)
	if !ok1 || !ok2 {
		return nil, 0, nil, errArgs
	}
	if x == nil || i < 0 || i >= len(x.state) {
		return nil, 0, nil, errNoIndex
	}
	return x, i, ids, nil
}

// indexed is the _ix form of containsAll (all set), or of containsAny and
// containsAnyWord: the first needle whose presence differs from all decides.
func indexed(all, word bool) func(...any) (any, error) {
	return func(p ...any) (any, error) {
		x, i, ids, err := indexArgs(p)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			if x.has(i, id, word) != all {
				return !all, nil
			}
		}
		return all, nil
	}
}
