package cli

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/triage-dev/triage/classifier"
	"github.com/triage-dev/triage/internal/replaydiff"
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
	Problems     []problemSeen  `json:"problems"` // largest first, at most maxReportedProblems

	// With --against: the old rules' version, per-field transitions and
	// every changed message, oldest first.
	AgainstVersion string        `json:"against_rules_version,omitempty"`
	Transitions    *[]transition `json:"transitions,omitempty"`
	Changes        *[]change     `json:"changes,omitempty"`
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

const replayUsage = `replay --rules RULES [--json] [--account A] [--mailbox M]
       [--against OLD_RULES [--fail-on-change]] [--tickets FILE] SOURCE

Messages are handled in the order of their Date headers, oldest first, for
every kind of SOURCE (Maildir, mbox file, folder of .eml); mail without a
Date counts as oldest. Each ticket's received_at is its Date, and problem
detection (problems: defaults) sees the messages in that order.`

// replayRun is one replay: the rules, the optional old rules, and where
// tickets go.
type replayRun struct {
	c        *classifier.Classifier
	problems *problemTally
	set, old *rules.Set
	meta     classifier.Meta
	tally    *tally
	diff     replaydiff.Tally
	tickets  *json.Encoder
}

func runReplay(ctx context.Context, s Streams, args []string) int {
	fs := newFlagSet(s, "replay", replayUsage)
	mf := addMailFlags(fs)
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	against := fs.String("against", "", "old rules file or directory: also list what the new rules decide differently")
	failOnChange := fs.Bool("fail-on-change", false, "with --against: exit 1 when any decision changed")
	ticketsPath := fs.String("tickets", "", "write one ticket document per message (JSON Lines), as the daemon would forward it")
	pos, code, ok := parseOrExit(fs, args)
	if !ok {
		return code
	}
	switch {
	case *mf.rules == "":
		return usageError(fs, "--rules is required")
	case len(pos) != 1:
		return usageError(fs, "want exactly one SOURCE (Maildir, mbox file or folder of .eml)")
	case *failOnChange && *against == "":
		return usageError(fs, "--fail-on-change needs --against")
	}
	source := pos[0]
	run := &replayRun{c: classifier.New(), meta: mf.meta(), tally: newTally(), problems: newProblemTally()}
	if run.set, ok = loadRules(s.Err, "replay", *mf.rules); !ok {
		return exitFail
	}
	if *against != "" {
		if run.old, ok = loadRules(s.Err, "replay", *against); !ok {
			return exitFail
		}
	}
	format, err := detectFormat(source)
	if err == nil && *ticketsPath != "" {
		var f *os.File
		if f, err = os.Create(*ticketsPath); err == nil {
			defer f.Close()
			w := bufio.NewWriter(f)
			defer w.Flush()
			run.tickets = json.NewEncoder(w)
			run.tickets.SetEscapeHTML(false)
		}
	}
	if err == nil {
		err = eachMessageByDate(ctx, source, format, messageDate, run.message)
	}
	if err != nil {
		return fail(s, "replay", err)
	}
	r := run.tally.report(run.set)
	r.Source, r.Format = source, format
	r.Problems = run.problems.report()
	if run.old != nil {
		r.AgainstVersion = run.old.Version
		ts, cs := run.diff.Transitions(), run.diff.Changes
		r.Transitions, r.Changes = &ts, &cs
		if cs == nil {
			*r.Changes = []change{}
		}
	}
	if code := printReplay(s, r, *asJSON); code != exitOK {
		return code
	}
	if *failOnChange && len(run.diff.Changes) > 0 {
		return exitFail
	}
	return exitOK
}

// messageDate is a message's Date header, zero when it has none.
func messageDate(raw []byte) time.Time {
	m, err := classifier.Decode(raw, classifier.DecodeOptions{})
	if err != nil {
		return time.Time{}
	}
	return m.Date
}

// message classifies one message with the rules (and the old rules).
func (r *replayRun) message(m sourceMessage) error {
	r.tally.messages++
	if m.Err != nil {
		r.tally.fail(m.Name, m.Err)
		return nil
	}
	meta := r.meta
	meta.ReceivedAt = m.Date
	mail, err := r.c.Decode(r.set, m.Raw)
	if err != nil {
		r.tally.fail(m.Name, err)
		return nil
	}
	if meta.ReceivedAt.IsZero() {
		meta.ReceivedAt = r.problems.last // undated mail: with the one before
	}
	r.problems.observe(mail, &meta)
	t := r.c.ClassifyMail(r.set, mail, meta)
	r.tally.add(t.Class)
	if r.tickets != nil {
		if err := r.tickets.Encode(t); err != nil {
			return fmt.Errorf("write tickets: %w", err)
		}
	}
	if r.old == nil {
		return nil
	}
	old, err := r.c.Classify(r.old, m.Raw, meta)
	if err != nil {
		return nil // the new rules' decoder took it; the old one sees the same bytes
	}
	r.diff.Add(m.Name, meta.ReceivedAt, old, t)
	return nil
}

func printReplay(s Streams, r replayReport, asJSON bool) int {
	if asJSON {
		enc := json.NewEncoder(s.Out)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(r); err != nil {
			fmt.Fprintf(s.Err, "triage replay: write: %v\n", err)
			return exitFail
		}
		return exitOK
	}
	writeReport(s.Out, r)
	if r.Changes != nil {
		writeDiff(s.Out, r.AgainstVersion, r.Classified, *r.Transitions, *r.Changes)
	}
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
	slices.SortFunc(out, func(a, b bucket) int { return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Name, b.Name)) })
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

	writeProblems(w, r.Problems)
	if len(r.Errors) > 0 {
		fmt.Fprintf(w, "\nunparseable (first %d)\n", len(r.Errors))
		for _, e := range r.Errors {
			fmt.Fprintf(w, "  %s: %s\n", printable(e.Message), printable(e.Error))
		}
	}
}
