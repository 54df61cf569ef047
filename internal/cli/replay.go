package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/triage-dev/triage/classifier"
	"github.com/triage-dev/triage/rules"
	"github.com/triage-dev/triage/ticket"
)

// maxReportedErrors bounds the unparseable messages a report lists by name.
const maxReportedErrors = 20

// replayReport is what replay prints, as text or as one JSON object.
// Tier, priority and queue are counted over tickets (forwarded mail, what
// reaches the queues); action and rule hits over every classified message.
type replayReport struct {
	Source       string         `json:"source"`
	Format       string         `json:"format"`
	RulesVersion string         `json:"rules_version"`
	Messages     int            `json:"messages"`    // read from the source
	Unparseable  int            `json:"unparseable"` // never reached the rules
	Classified   int            `json:"classified"`
	Forwarded    int            `json:"forwarded"`
	Dropped      int            `json:"dropped"`
	Defaulted    int            `json:"defaulted"` // classified, but no rule matched
	L1Share      float64        `json:"l1_share"`  // percent of forwarded tickets at L1
	Tier         []bucket       `json:"tier"`
	Priority     []bucket       `json:"priority"`
	Queue        []bucket       `json:"queue"`
	Action       []bucket       `json:"action"`
	Rules        []bucket       `json:"rules"` // every rule in file order, with its hits
	Errors       []messageError `json:"errors,omitempty"`
}

type bucket struct {
	Name    string  `json:"name"`
	Count   int     `json:"count"`
	Percent float64 `json:"percent"`
}

type messageError struct {
	Message string `json:"message"`
	Error   string `json:"error"`
}

// tally accumulates a replay; report turns it into a replayReport.
type tally struct {
	messages, unparseable, classified, forwarded, defaulted int
	tier, priority, queue, action, ruleHits                 map[string]int
	errors                                                  []messageError
}

func newTally() *tally {
	return &tally{
		tier: map[string]int{}, priority: map[string]int{}, queue: map[string]int{},
		action: map[string]int{}, ruleHits: map[string]int{},
	}
}

func (t *tally) fail(name string, err error) {
	t.unparseable++
	if len(t.errors) < maxReportedErrors {
		t.errors = append(t.errors, messageError{Message: name, Error: err.Error()})
	}
}

func (t *tally) add(c ticket.Classification) {
	t.classified++
	t.action[c.Action]++
	for _, m := range c.Matched {
		t.ruleHits[m.Rule]++
	}
	if len(c.Matched) == 0 {
		t.defaulted++
	}
	if c.Action == "drop" {
		return
	}
	t.forwarded++
	t.tier[c.Tier]++
	t.priority[c.Priority]++
	t.queue[c.Queue]++
}

func runReplay(ctx context.Context, s Streams, args []string) int {
	const usage = "replay --rules RULES [--json] [--account A] [--mailbox M] SOURCE"
	fs := newFlagSet(s, "replay", usage)
	mf := addMailFlags(fs)
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	pos, code, ok := parseOrExit(fs, args)
	if !ok {
		return code
	}
	if *mf.rules == "" {
		return usageError(fs, "--rules is required")
	}
	if len(pos) != 1 {
		return usageError(fs, "want exactly one SOURCE (Maildir, mbox file or folder of .eml)")
	}
	source := pos[0]
	set, ok := loadRules(s.Err, "replay", *mf.rules)
	if !ok {
		return exitFail
	}
	format, err := detectFormat(source)
	if err != nil {
		fmt.Fprintf(s.Err, "triage replay: %v\n", err)
		return exitFail
	}

	c := classifier.New()
	meta := mf.meta()
	t := newTally()
	err = eachMessage(ctx, source, format, func(m sourceMessage) error {
		t.messages++
		if m.Err != nil {
			t.fail(m.Name, m.Err)
			return nil
		}
		ticket, err := c.Classify(set, m.Raw, meta)
		if err != nil {
			t.fail(m.Name, err)
			return nil
		}
		t.add(ticket.Class)
		return nil
	})
	if err != nil {
		fmt.Fprintf(s.Err, "triage replay: %v\n", err)
		return exitFail
	}

	r := t.report(set)
	r.Source, r.Format = source, format
	if *asJSON {
		enc := json.NewEncoder(s.Out)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(r); err != nil {
			fmt.Fprintf(s.Err, "triage replay: write: %v\n", err)
			return exitFail
		}
		return exitOK
	}
	writeReport(s.Out, r)
	return exitOK
}

func (t *tally) report(set *rules.Set) replayReport {
	r := replayReport{
		RulesVersion: set.Version,
		Messages:     t.messages,
		Unparseable:  t.unparseable,
		Classified:   t.classified,
		Forwarded:    t.forwarded,
		Dropped:      t.action["drop"],
		Defaulted:    t.defaulted,
		Tier:         buckets(t.tier, t.forwarded),
		Priority:     buckets(t.priority, t.forwarded),
		Queue:        buckets(t.queue, t.forwarded),
		Action:       buckets(t.action, t.classified),
		Errors:       t.errors,
	}
	r.L1Share = percent(t.tier["L1"], t.forwarded)
	seen := map[string]bool{}
	for _, info := range set.Rules() {
		if info.IsGroup || seen[info.Name] {
			continue
		}
		seen[info.Name] = true
		n := t.ruleHits[info.Name]
		r.Rules = append(r.Rules, bucket{Name: info.Name, Count: n, Percent: percent(n, t.classified)})
	}
	return r
}

// buckets orders counts by count, then name, with their share of total.
func buckets(counts map[string]int, total int) []bucket {
	out := make([]bucket, 0, len(counts))
	for name, n := range counts {
		out = append(out, bucket{Name: name, Count: n, Percent: percent(n, total)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// percent is n of total in percent, rounded to one decimal; 0 when total is 0.
func percent(n, total int) float64 {
	if total == 0 {
		return 0
	}
	return math.Round(float64(n)*1000/float64(total)) / 10
}

func writeReport(w io.Writer, r replayReport) {
	fmt.Fprintf(w, "replay of %s (%s), rules version %s\n\n", printable(r.Source), r.Format, shortVersion(r.RulesVersion))
	fmt.Fprintf(w, "messages        %6d\n", r.Messages)
	fmt.Fprintf(w, "unparseable     %6d  %5.1f%%\n", r.Unparseable, percent(r.Unparseable, r.Messages))
	fmt.Fprintf(w, "classified      %6d  %5.1f%%\n", r.Classified, percent(r.Classified, r.Messages))
	fmt.Fprintf(w, "  forwarded     %6d  %5.1f%%  (tickets)\n", r.Forwarded, percent(r.Forwarded, r.Classified))
	fmt.Fprintf(w, "  dropped       %6d  %5.1f%%\n", r.Dropped, percent(r.Dropped, r.Classified))
	fmt.Fprintf(w, "  no rule hit   %6d  %5.1f%%  (defaults applied)\n", r.Defaulted, percent(r.Defaulted, r.Classified))
	fmt.Fprintf(w, "L1 share of tickets: %.1f%% (healthy desks: 65-80%%)\n", r.L1Share)

	section := func(title string, total int, bs []bucket) {
		fmt.Fprintf(w, "\n%s (of %d)\n", title, total)
		if len(bs) == 0 {
			fmt.Fprintln(w, "  none")
		}
		width := 0
		for _, b := range bs {
			width = max(width, len(b.Name))
		}
		for _, b := range bs {
			fmt.Fprintf(w, "  %-*s %6d  %5.1f%%\n", width, printable(b.Name), b.Count, b.Percent)
		}
	}
	section("tier", r.Forwarded, r.Tier)
	section("priority", r.Forwarded, r.Priority)
	section("queue", r.Forwarded, r.Queue)
	section("action", r.Classified, r.Action)
	section("rule hits, file order", r.Classified, r.Rules)

	if len(r.Errors) > 0 {
		fmt.Fprintf(w, "\nunparseable (first %d)\n", len(r.Errors))
		for _, e := range r.Errors {
			fmt.Fprintf(w, "  %s: %s\n", printable(e.Message), printable(e.Error))
		}
	}
}
