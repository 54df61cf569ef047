package problems

import (
	"cmp"
	"container/heap"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/transform"

	"github.com/triage-dev/triage/internal/clip"
)

// Defaults, chosen by measurement on testdata/day.yaml (docs/problems.md).
const (
	DefaultWindow     = 2 * time.Hour
	DefaultMinSize    = 3
	DefaultThreshold  = 0.45
	DefaultMaxTracked = 50_000
	DefaultMaxGroups  = 20_000
	// MaxRelated caps the earlier tickets a match names.
	MaxRelated = 20
)

// Bounds that keep a flood of mail from growing memory or time beyond the
// tracked mails: the words behind a group's summary, the mails a feature
// is looked up in (a feature in more is too common to tell mails apart),
// the subject kept for reports.
const (
	maxGroupWords  = 48
	maxPosting     = 16
	maxSubjectKept = 120
)

// Config tunes a Detector; zero fields take the defaults.
type Config struct {
	Window     time.Duration // how long a mail counts
	MinSize    int           // mails a group needs to be a problem
	Threshold  float64       // cosine similarity to a group's mail that joins its group
	MaxTracked int           // mails kept; the oldest go first beyond it
	MaxGroups  int           // groups kept; the oldest mails go first beyond it
}

// WithDefaults returns c with its zero fields set to the defaults.
func (c Config) WithDefaults() Config {
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.MinSize <= 0 {
		c.MinSize = DefaultMinSize
	}
	if c.Threshold <= 0 {
		c.Threshold = DefaultThreshold
	}
	if c.MaxTracked <= 0 {
		c.MaxTracked = DefaultMaxTracked
	}
	if c.MaxGroups <= 0 {
		c.MaxGroups = DefaultMaxGroups
	}
	return c
}

// Mail is what the detector reads of a message.
type Mail struct {
	ID        string // the ticket id: observing it twice counts it once
	MessageID string
	Sender    string // address; compared case-insensitively
	Subject   string
	Body      string
	At        time.Time // arrival
	// NoGroup counts the mail for its sender only: automatic replies and
	// bounces say nothing about a problem.
	NoGroup bool
}

// Match is what the detector knows of a mail once it has seen it.
type Match struct {
	Group     string    // the group it joined, "" with NoGroup
	Problem   string    // the group's id once it has MinSize mails, else ""
	Size      int       // the problem's mails in the window, this one included; 0 without a problem
	FirstSeen time.Time // the group's first mail; zero without a problem
	Summary   string    // the group's most common words; "" without a problem
	Similar   int       // mails of its group in the window, this one included
	Sender    int       // mails from its sender in the window, this one included
	Related   []string  // ids of the problem's earlier mails, newest first, at most MaxRelated
}

// Record is what the detector learnt from one mail, for the caller to
// persist and hand to Restore after a restart.
type Record struct {
	ID        string    `json:"id"`
	MessageID string    `json:"message_id,omitempty"`
	Sender    string    `json:"sender"`
	Subject   string    `json:"subject,omitempty"`
	At        time.Time `json:"at"`
	Group     string    `json:"group,omitempty"`
	Terms     []uint32  `json:"terms,omitempty"`
	Weights   []float32 `json:"weights,omitempty"`
	Words     []string  `json:"words,omitempty"`
}

// Problem describes one group of at least MinSize mails in the window.
type Problem struct {
	ID        string
	Size      int
	FirstSeen time.Time
	LastSeen  time.Time
	Summary   string
	Mails     []Record // in arrival order; Terms and Weights left out
}

type entry struct {
	rec   Record
	group *group
	terms []term
	score float64 // similarity to the mail being observed, valid when round matches
	round uint64
}

// posted is a tracked mail in a feature's posting list, with the
// feature's weight in it.
type posted struct {
	e *entry
	w float32
}

type wordCount struct {
	word string
	n    int
}

type group struct {
	id          string
	first, last time.Time
	members     []*entry // in arrival order
	words       []wordCount
}

// Detector groups similar mail within a window. It is safe for concurrent
// use.
type Detector struct {
	cfg      Config
	mode     featureMode
	concepts conceptMode
	cboost   float64 // weight of a concept feature against a word's
	lex      *lexicon

	folders sync.Pool // of newFolder's transformers, reused (each is not safe for concurrent use)

	mu      sync.Mutex
	x       *hasher
	byID    map[string]*entry
	expiry  entryHeap
	groups  map[string]*group
	posting map[uint32][]posted // feature → the newest maxPosting tracked mails with it
	df      map[uint32]int32
	docs    int // tracked mails with features
	senders map[string]int
	round   uint64           // counts Observe calls, to reset entry scores lazily
	tf      map[uint32]count // scratch for Observe
	weights []term           // scratch for Observe
	scored  []*entry         // scratch for Observe
}

// New returns an empty Detector.
func New(cfg Config) *Detector {
	return &Detector{
		cfg: cfg.WithDefaults(), mode: defaultMode, concepts: defaultConcepts, cboost: defaultConceptBoost, lex: defaultLexicon(), x: newHasher(),
		folders: sync.Pool{New: func() any { return newFolder() }},
		byID:    map[string]*entry{}, groups: map[string]*group{}, posting: map[uint32][]posted{},
		df: map[uint32]int32{}, senders: map[string]int{},
	}
}

// Config returns the detector's settings with defaults applied.
func (d *Detector) Config() Config { return d.cfg }

// Observe adds m (unless its id was seen within the window) and returns
// what the detector knows of it, with the Record to persist (nil when the
// mail was already known).
func (d *Detector) Observe(m Mail) (Match, *Record) {
	// Cleaning and tokenising need no state: outside the lock, so
	// concurrent handlers only queue for the scoring.
	folder := d.folders.Get().(transform.Transformer)
	tokens := mailTokens(folder, m.Subject, m.Body)
	d.folders.Put(folder)
	features := d.lex.apply(tokens, d.concepts)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire(m.At)
	if e, ok := d.byID[m.ID]; ok {
		return d.match(e), nil
	}
	rec := Record{ID: m.ID, MessageID: m.MessageID, Sender: strings.ToLower(m.Sender),
		Subject: clip.UTF8(m.Subject, maxSubjectKept), At: m.At}
	var v []term
	if !m.NoGroup && len(tokens) > 0 {
		d.tf = rawFeatures(d.x, features, d.mode, d.tf)
		v = vector(d.tf, d.df, d.docs, d.cboost, &d.weights)
		rec.Words = topWords(d.x, features, d.df, d.docs)
		if g := d.best(v); g != nil {
			rec.Group = g.id
		} else {
			rec.Group = groupID(m.ID)
		}
		rec.Terms, rec.Weights = make([]uint32, len(v)), make([]float32, len(v))
		for i, t := range v {
			rec.Terms[i], rec.Weights[i] = t.h, t.w
		}
	}
	e := d.add(rec, v)
	return d.match(e), &rec
}

// Restore adds persisted records, oldest first, to their groups as they
// were, then drops what is older than the window before now.
func (d *Detector) Restore(recs []Record, now time.Time) {
	slices.SortStableFunc(recs, func(a, b Record) int { return a.At.Compare(b.At) })
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range recs {
		if _, ok := d.byID[r.ID]; ok || len(r.Terms) != len(r.Weights) {
			continue
		}
		v := make([]term, 0, min(len(r.Terms), maxTerms))
		for i := range min(len(r.Terms), maxTerms) {
			v = append(v, term{h: r.Terms[i], w: r.Weights[i]})
		}
		r.Words = r.Words[:min(len(r.Words), maxWords)]
		d.add(r, v)
	}
	d.expire(now)
}

// Expire drops what is older than the window before now.
func (d *Detector) Expire(now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire(now)
}

// Open counts the problems (groups of at least MinSize mails) in the window.
func (d *Detector) Open() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, g := range d.groups {
		if len(g.members) >= d.cfg.MinSize {
			n++
		}
	}
	return n
}

// Tracked is the number of mails in the window.
func (d *Detector) Tracked() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.byID)
}

// Problems lists the open problems, largest first.
func (d *Detector) Problems() []Problem {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Problem
	for _, g := range d.groups {
		if len(g.members) < d.cfg.MinSize {
			continue
		}
		p := Problem{ID: g.id, Size: len(g.members), FirstSeen: g.first, LastSeen: g.last, Summary: summaryOf(g.words, len(g.members))}
		for _, e := range g.members {
			r := e.rec
			r.Terms, r.Weights = nil, nil
			p.Mails = append(p.Mails, r)
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Problem) int { return cmp.Or(b.Size-a.Size, a.FirstSeen.Compare(b.FirstSeen)) })
	return out
}

// groupID names the group a mail starts: stable, short, from its ticket id.
func groupID(ticketID string) string {
	return "p-" + clip.UTF8(ticketID, 12)
}

// best returns the group of the tracked mail most similar to v (single
// link), if that mail is at least the threshold similar.
func (d *Detector) best(v []term) *group {
	d.round++
	d.scored = d.scored[:0]
	for _, t := range v {
		for _, p := range d.posting[t.h] {
			if p.e.round != d.round {
				p.e.round, p.e.score = d.round, 0
				d.scored = append(d.scored, p.e)
			}
			p.e.score += float64(t.w) * float64(p.w)
		}
	}
	var best *entry
	score := d.cfg.Threshold
	for _, e := range d.scored {
		if e.score > score || (e.score == score && best != nil && e.rec.At.Before(best.rec.At)) {
			best, score = e, e.score
		}
	}
	clear(d.scored) // keep no pointers to mails that may expire
	if best == nil {
		return nil
	}
	return best.group
}

// add tracks a mail with its vector and group (created when new).
func (d *Detector) add(rec Record, v []term) *entry {
	for len(d.byID) >= d.cfg.MaxTracked && d.expiry.Len() > 0 {
		d.drop(heap.Pop(&d.expiry).(*entry))
	}
	e := &entry{rec: rec, terms: v}
	d.byID[rec.ID] = e
	heap.Push(&d.expiry, e)
	d.senders[rec.Sender]++
	if rec.Group == "" {
		return e
	}
	g := d.groups[rec.Group]
	if g == nil {
		for len(d.groups) >= d.cfg.MaxGroups && d.expiry.Len() > 1 {
			d.drop(heap.Pop(&d.expiry).(*entry))
		}
		g = &group{id: rec.Group, first: rec.At}
		d.groups[g.id] = g
	}
	e.group = g
	g.members = append(g.members, e)
	g.last = rec.At
	d.docs++
	for _, t := range v {
		d.df[t.h]++
		ps := append(d.posting[t.h], posted{e, t.w})
		if len(ps) > maxPosting {
			// A common feature: the newest mails with it are the likeliest
			// to be reported again.
			ps = slices.Delete(ps, 0, 1)
		}
		d.posting[t.h] = ps
	}
	for _, w := range rec.Words {
		i := slices.IndexFunc(g.words, func(c wordCount) bool { return c.word == w })
		switch {
		case i >= 0:
			g.words[i].n++
		case len(g.words) < maxGroupWords:
			g.words = append(g.words, wordCount{w, 1})
		}
	}
	return e
}

// expire drops mails older than the window before now.
func (d *Detector) expire(now time.Time) {
	cutoff := now.Add(-d.cfg.Window)
	for d.expiry.Len() > 0 && d.expiry[0].rec.At.Before(cutoff) {
		d.drop(heap.Pop(&d.expiry).(*entry))
	}
}

// drop forgets a mail already popped from the expiry heap.
func (d *Detector) drop(e *entry) {
	delete(d.byID, e.rec.ID)
	if d.senders[e.rec.Sender]--; d.senders[e.rec.Sender] <= 0 {
		delete(d.senders, e.rec.Sender)
	}
	g := e.group
	if g == nil {
		return
	}
	d.docs--
	for _, t := range e.terms {
		if d.df[t.h]--; d.df[t.h] <= 0 {
			delete(d.df, t.h)
		}
		ps := d.posting[t.h]
		if i := slices.IndexFunc(ps, func(p posted) bool { return p.e == e }); i >= 0 {
			ps = slices.Delete(ps, i, i+1)
		}
		if len(ps) == 0 {
			delete(d.posting, t.h)
		} else {
			d.posting[t.h] = ps
		}
	}
	if i := slices.Index(g.members, e); i >= 0 {
		g.members = slices.Delete(g.members, i, i+1)
	}
	if len(g.members) == 0 {
		delete(d.groups, g.id)
	}
}

// match reports what is known of e now.
func (d *Detector) match(e *entry) Match {
	m := Match{Sender: d.senders[e.rec.Sender], Similar: 1}
	g := e.group
	if g == nil {
		return m
	}
	m.Group = g.id
	m.Similar = len(g.members)
	if len(g.members) < d.cfg.MinSize {
		return m
	}
	m.Problem, m.Size, m.FirstSeen = g.id, len(g.members), g.first
	m.Summary = summaryOf(g.words, len(g.members))
	for i := len(g.members) - 1; i >= 0 && len(m.Related) < MaxRelated; i-- {
		if o := g.members[i]; o != e && !o.rec.At.After(e.rec.At) {
			m.Related = append(m.Related, o.rec.ID)
		}
	}
	return m
}

// entryHeap orders tracked mails by arrival, oldest first.
type entryHeap []*entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].rec.At.Before(h[j].rec.At) }
func (h entryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *entryHeap) Push(x any)        { *h = append(*h, x.(*entry)) }
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
