package problems

import (
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// corpusMail is one labelled mail of testdata/day.yaml.
type corpusMail struct {
	At      int    `yaml:"at"` // minutes after 08:00 UTC
	From    string `yaml:"from"`
	Lang    string `yaml:"lang"`
	Problem string `yaml:"problem"` // "" for a one-off
	Subject string `yaml:"subject"`
	Body    string `yaml:"body"`
}

var corpusStart = time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)

// corpora are the labelled days. day.yaml chose the method and its
// settings; day2.yaml was written before the concept lexicon, and with
// day.yaml chose the lexicon's weight and the threshold; day3.yaml was
// written after those choices and measured held out, then showed the
// lexicon what it missed; day4.yaml was written after that and is held
// out: measured once, nothing tuned on it.
var corpora = []string{"testdata/day.yaml", "testdata/day2.yaml", "testdata/day3.yaml", "testdata/day4.yaml"}

// knownMisses are what the defaults fall short of the aim by on the days
// not used to choose them, measured and pinned rather than tuned away
// (which would make each day one more to fit): per problem below 85 %,
// the share of its mails in one problem, and the one-off mails inside a
// problem. TestCorpusQuality fails when a figure gets worse, and when a
// problem reaches 85 % (then drop it from here).
var knownMisses = map[string]struct {
	share   map[string]float64
	oneOffs int
}{
	"testdata/day3.yaml": {share: map[string]float64{"mfa": 0.6}},
	"testdata/day4.yaml": {share: map[string]float64{"badge": 0, "onedrive": 0, "zoom": 0.6}},
}

func loadCorpus(t testing.TB, path string) []corpusMail {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Mails []corpusMail `yaml:"mails"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	slices.SortStableFunc(doc.Mails, func(a, b corpusMail) int { return a.At - b.At })
	return doc.Mails
}

// quality is how well an assignment of mails to groups matches the labels.
type quality struct {
	recall    map[string]float64 // per problem: share of its mails in its largest problem
	minRecall float64
	falseIn   int // one-off mails inside a problem
	pairP     float64
	pairR     float64
}

// score rates groups (a group id per mail, in corpus order) where a group
// of at least minSize mails is a problem.
func score(mails []corpusMail, groups []string, minSize int) quality {
	size := map[string]int{}
	for _, g := range groups {
		size[g]++
	}
	q := quality{recall: map[string]float64{}, minRecall: 1}
	byLabel := map[string]map[string]int{}
	total := map[string]int{}
	for i, m := range mails {
		if m.Problem == "" {
			if size[groups[i]] >= minSize {
				q.falseIn++
			}
			continue
		}
		total[m.Problem]++
		if size[groups[i]] >= minSize {
			if byLabel[m.Problem] == nil {
				byLabel[m.Problem] = map[string]int{}
			}
			byLabel[m.Problem][groups[i]]++
		}
	}
	for label, n := range total {
		best := 0
		for _, c := range byLabel[label] {
			best = max(best, c)
		}
		q.recall[label] = float64(best) / float64(n)
		q.minRecall = math.Min(q.minRecall, q.recall[label])
	}
	var tp, fp, fn int
	for i := range mails {
		for j := i + 1; j < len(mails); j++ {
			same := mails[i].Problem != "" && mails[i].Problem == mails[j].Problem
			grouped := groups[i] == groups[j] && size[groups[i]] >= minSize
			switch {
			case same && grouped:
				tp++
			case grouped:
				fp++
			case same:
				fn++
			}
		}
	}
	q.pairP = float64(tp) / float64(max(tp+fp, 1))
	q.pairR = float64(tp) / float64(max(tp+fn, 1))
	return q
}

// runCosine groups the corpus with the Detector (cosine, single link),
// comparing features as mode says and concepts as cm says.
func runCosine(mails []corpusMail, mode featureMode, cm conceptMode, threshold float64) []string {
	return runCosineBoost(mails, mode, cm, defaultConceptBoost, threshold)
}

// runCosineBoost is runCosine with concept features weighed ×boost.
func runCosineBoost(mails []corpusMail, mode featureMode, cm conceptMode, boost, threshold float64) []string {
	d := New(Config{Threshold: threshold})
	d.mode, d.concepts, d.cboost = mode, cm, boost
	ids := make([]string, len(mails))
	for i, m := range mails {
		id := fmt.Sprintf("mail%03d", i)
		d.Observe(Mail{ID: id, Sender: m.From, Subject: m.Subject, Body: m.Body, At: corpusStart.Add(time.Duration(m.At) * time.Minute)})
		ids[i] = id
	}
	groups := make([]string, len(mails))
	for i, id := range ids {
		groups[i] = d.byID[id].rec.Group
	}
	return groups
}

// runMinHash groups the corpus by MinHash estimates of the Jaccard
// similarity of the features (no weights): a mail joins the group whose
// members it resembles most on average. The alternative the measurement
// compared the Detector with; brute force is fine on a corpus this size.
func runMinHash(mails []corpusMail, mode featureMode, cm conceptMode, threshold float64) []string {
	const k = 128
	x := newHasher()
	sig := func(tf map[uint32]count) [k]uint64 {
		var s [k]uint64
		for i := range s {
			s[i] = math.MaxUint64
		}
		for h := range tf {
			v := uint64(h)
			for i := range s {
				// k hash functions from one: odd multipliers, distinct offsets.
				hv := (v*(2*uint64(i)+0x9E3779B97F4A7C15) + uint64(i)*0xBF58476D1CE4E5B9) ^ (v >> 7)
				s[i] = min(s[i], hv)
			}
		}
		return s
	}
	type member struct {
		group string
		sig   [k]uint64
	}
	var seen []member
	groups := make([]string, len(mails))
	for i, m := range mails {
		s := sig(rawFeatures(x, defaultLexicon().apply(mailTokens(nil, m.Subject, m.Body), cm), mode, nil))
		sum, cnt := map[string]float64{}, map[string]int{}
		for _, o := range seen {
			eq := 0
			for j := range s {
				if s[j] == o.sig[j] {
					eq++
				}
			}
			sum[o.group] += float64(eq) / k
			cnt[o.group]++
		}
		best, bestScore := fmt.Sprintf("g%d", i), threshold
		keys := make([]string, 0, len(sum))
		for g := range sum {
			keys = append(keys, g)
		}
		sort.Strings(keys)
		for _, g := range keys {
			if avg := sum[g] / float64(cnt[g]); avg >= bestScore {
				best, bestScore = g, avg
			}
		}
		groups[i] = best
		seen = append(seen, member{best, s})
	}
	return groups
}

// TestCorpusQuality measures grouping on the labelled days and holds the
// detector's defaults to the aim on day.yaml and day2.yaml: at least 85 %
// of each problem's mails in one problem, no one-off mail in any; on the
// later days to the figures measured (knownMisses). With -v it
// prints the comparison that chose the method, features, concept
// handling, concept weight and threshold (docs/problems.md): per setting,
// pairwise precision and recall, the lowest share of a problem's mails in
// one problem, and the one-off mails inside a problem, the days side by
// side.
func TestCorpusQuality(t *testing.T) {
	days := make([][]corpusMail, len(corpora))
	for i, path := range corpora {
		days[i] = loadCorpus(t, path)
	}
	modes := []struct {
		name string
		mode featureMode
	}{{"word 1-grams", wordUnigrams}, {"word 1+2-grams", wordBigrams}, {"char 4-grams", charGrams}, {"words+4-grams", wordsAndGrams}}
	concepts := []struct {
		name  string
		cm    conceptMode
		boost float64 // cosine only: MinHash does not weigh features
	}{{"none", noConcepts, 1}, {"replace", conceptReplace, 1}, {"repl×1.5", conceptReplace, 1.5}, {"repl×2", conceptReplace, 2},
		{"repl×3", conceptReplace, 3}, {"add", conceptAdd, 1}, {"add×2", conceptAdd, 2}}
	var table strings.Builder
	fmt.Fprintf(&table, "%-8s %-15s %-8s %5s |", "method", "features", "concepts", "τ")
	for _, path := range corpora {
		fmt.Fprintf(&table, " %-30s |", path+": P R min off")
	}
	table.WriteByte('\n')
	for _, method := range []string{"cosine", "minhash"} {
		for _, m := range modes {
			for _, c := range concepts {
				if method == "minhash" && c.boost != 1 {
					continue
				}
				for _, th := range []float64{0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5} {
					fmt.Fprintf(&table, "%-8s %-15s %-8s %5.3f |", method, m.name, c.name, th)
					for _, mails := range days {
						var groups []string
						if method == "cosine" {
							groups = runCosineBoost(mails, m.mode, c.cm, c.boost, th)
						} else {
							groups = runMinHash(mails, m.mode, c.cm, th)
						}
						q := score(mails, groups, DefaultMinSize)
						fmt.Fprintf(&table, " %5.1f%% %5.1f%% %5.1f%% %2d       |", 100*q.pairP, 100*q.pairR, 100*q.minRecall, q.falseIn)
					}
					table.WriteByte('\n')
				}
			}
		}
	}
	t.Log("\n" + table.String())

	for i, path := range corpora {
		mails := days[i]
		for _, minSize := range []int{2, 3, 4, 5} {
			q := score(mails, runCosine(mails, defaultMode, defaultConcepts, DefaultThreshold), minSize)
			t.Logf("%s: min_size %d: pair P %.1f%% R %.1f%%, one-offs in a problem %d", path, minSize, 100*q.pairP, 100*q.pairR, q.falseIn)
		}
		q := score(mails, runCosine(mails, defaultMode, defaultConcepts, DefaultThreshold), DefaultMinSize)
		labels := make([]string, 0, len(q.recall))
		for l := range q.recall {
			labels = append(labels, l)
		}
		sort.Strings(labels)
		pinned := knownMisses[path]
		for _, l := range labels {
			t.Logf("%s: default: %-8s %5.1f%% of its mails in one problem", path, l, 100*q.recall[l])
			want, miss := pinned.share[l]
			switch {
			case !miss && q.recall[l] < 0.85:
				t.Errorf("%s: problem %s: %.1f%% of its mails in one problem, want at least 85%%", path, l, 100*q.recall[l])
			case miss && q.recall[l] < want-1e-9:
				t.Errorf("%s: problem %s: %.1f%% of its mails in one problem, was %.1f%%", path, l, 100*q.recall[l], 100*want)
			case miss && q.recall[l] >= 0.85:
				t.Errorf("%s: problem %s reaches %.1f%%: drop it from knownMisses", path, l, 100*q.recall[l])
			}
		}
		t.Logf("%s: default: one-off mails in a problem: %d; pair P %.1f%% R %.1f%%", path, q.falseIn, 100*q.pairP, 100*q.pairR)
		if q.falseIn > pinned.oneOffs {
			t.Errorf("%s: %d one-off mails inside a problem, want at most %d", path, q.falseIn, pinned.oneOffs)
		}
	}
}
