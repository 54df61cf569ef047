package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/triage-dev/triage/classifier"
	"github.com/triage-dev/triage/internal/atomicfile"
	"github.com/triage-dev/triage/internal/boundedfile"
	"github.com/triage-dev/triage/internal/clip"
	"github.com/triage-dev/triage/internal/fileerr"
	"github.com/triage-dev/triage/internal/replaydiff"
	"github.com/triage-dev/triage/rules"
	"github.com/triage-dev/triage/ticket"
)

// The healthy share of L1 tickets, in percent: below it L2 does L1's
// work, above it L1 may be keeping what it should escalate.
const (
	l1BandLow  = 65
	l1BandHigh = 80
)

// overview is the live part of the Overview page.
type overview struct {
	Version      string      `json:"version"`
	StartedAt    time.Time   `json:"started_at"`
	RulesVersion string      `json:"rules_version"`
	LastReload   *Reload     `json:"last_reload,omitempty"`
	Handled24h   int         `json:"handled_24h"`
	L1Share      float64     `json:"l1_share"` // percent of forwarded tickets in the last 24 h; -1 when none
	L1Band       [2]float64  `json:"l1_band"`
	Mailboxes    []Mailbox   `json:"mailboxes"`
	Sinks        []Sink      `json:"sinks"`
	SLADue       []slaRow    `json:"sla_due"`
	Latest       []ticketRow `json:"latest"`
	Recent       int         `json:"recent"`
	Filed        int         `json:"filed"`
	ProblemsOpen int         `json:"problems_open"`
}

type slaRow struct {
	Seq      uint64    `json:"seq"`
	Subject  string    `json:"subject"`
	Tier     string    `json:"tier"`
	Priority string    `json:"priority"`
	Due      time.Time `json:"due"`
	Overdue  bool      `json:"overdue"`
}

// latestShown is how many tickets the overview lists.
const latestShown = 10

func (c *Console) overviewData(now time.Time) overview {
	snap := c.src.Snapshot()
	o := overview{Version: snap.Version, StartedAt: snap.StartedAt, RulesVersion: c.src.Rules().Version,
		L1Band: [2]float64{l1BandLow, l1BandHigh}, Mailboxes: snap.Mailboxes, Sinks: snap.Sinks, SLADue: []slaRow{}, Latest: []ticketRow{}, Filed: len(snap.Filed)}
	if rl := c.src.Reloads(); len(rl) > 0 {
		o.LastReload = &rl[0]
	}
	o.Handled24h, o.L1Share = dayTotals(snap.Hours, now)
	o.ProblemsOpen = snap.ProblemsOpen
	recent := c.src.Recent()
	o.Recent = len(recent)
	for _, rec := range recent {
		t := &rec.Ticket
		if len(o.Latest) < latestShown {
			o.Latest = append(o.Latest, rowOf(rec))
		}
		if due := t.Class.SLA.ResponseDue; due != nil && rec.Outcome == "forwarded" && due.Sub(now) <= time.Hour {
			o.SLADue = append(o.SLADue, slaRow{Seq: rec.Seq, Subject: t.Subject, Tier: t.Class.Tier,
				Priority: t.Class.Priority, Due: *due, Overdue: due.Before(now)})
		}
	}
	slices.SortFunc(o.SLADue, func(a, b slaRow) int { return a.Due.Compare(b.Due) })
	return o
}

// dayTotals counts the mail handled in the 24 hours before now and the L1
// share of the forwarded tickets in percent (-1 when none).
func dayTotals(hours []Hour, now time.Time) (handled int, l1Share float64) {
	forwarded, l1 := 0, 0
	for _, h := range hours {
		if now.Sub(h.Start) >= 24*time.Hour {
			continue
		}
		handled += h.Dropped
		for tier, n := range h.Tiers {
			forwarded += n
			handled += n
			if tier == "L1" {
				l1 += n
			}
		}
	}
	if forwarded == 0 {
		return handled, -1
	}
	return handled, float64(l1) * 100 / float64(forwarded)
}

func (c *Console) overviewAPI(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, c.overviewData(time.Now()))
}

// rulesFiles reads the rules as on disk, in merge order, and their
// content hash (the version a save must start from).
func (c *Console) rulesFiles() ([]rules.File, string, error) {
	path := c.src.RulesPath()
	base, err := rules.ContentHash(path)
	if err != nil {
		return nil, "", err
	}
	names, err := rules.RuleFiles(path)
	if err != nil {
		return nil, "", err
	}
	files := make([]rules.File, len(names))
	for i, n := range names {
		data, err := boundedfile.Read(n, MaxRulesBytes)
		if errors.Is(err, boundedfile.ErrTooLarge) {
			return nil, "", fmt.Errorf("console: %s is larger than %d bytes: edit it elsewhere", n, MaxRulesBytes)
		}
		if err != nil {
			return nil, "", fmt.Errorf("console: %w", err)
		}
		files[i] = rules.File{Name: n, Data: data}
	}
	return files, base, nil
}

func (c *Console) rulesFileAPI(w http.ResponseWriter, r *http.Request) {
	files, base, err := c.rulesFiles()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	i := fileIndex(files, r.URL.Query().Get("file"))
	if i < 0 {
		writeError(w, http.StatusNotFound, "no such rules file")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"file": filepath.Base(files[i].Name), "text": string(files[i].Data), "base": base})
}

// fileIndex finds a rules file by base name; "" is the first.
func fileIndex(files []rules.File, name string) int {
	if name == "" {
		return 0
	}
	return slices.IndexFunc(files, func(f rules.File) bool { return filepath.Base(f.Name) == name })
}

// edited is the rules of a playground request: the files on disk with
// one replaced by the text typed in the browser.
type edited struct {
	files []rules.File
	index int
	base  string
}

// readEdit reads the multipart form of a playground POST (bounded) and the
// rules it edits.
func (c *Console) readEdit(w http.ResponseWriter, r *http.Request, limit int64) (edited, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	if err := r.ParseMultipartForm(limit); err != nil {
		code := http.StatusRequestEntityTooLarge
		if errors.Is(err, http.ErrNotMultipart) {
			code = http.StatusBadRequest
		}
		writeError(w, code, fmt.Sprintf("request refused (multipart/form-data of at most %d bytes): %v", limit, err))
		return edited{}, false
	}
	files, base, err := c.rulesFiles()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return edited{}, false
	}
	i := fileIndex(files, r.FormValue("file"))
	if i < 0 {
		writeError(w, http.StatusNotFound, "no such rules file")
		return edited{}, false
	}
	text, ok := r.MultipartForm.Value["rules"]
	if ok && len(text) == 1 {
		if len(text[0]) > MaxRulesBytes {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("rules text larger than %d bytes", MaxRulesBytes))
			return edited{}, false
		}
		files[i].Data = []byte(text[0])
	}
	return edited{files: files, index: i, base: base}, true
}

// problem is one check error or warning, positioned for the editor.
type problem struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"col"`
	Msg  string `json:"msg"`
	Text string `json:"text"` // file:line:col: msg
}

func problems(err error) []problem {
	list := fileerr.Of(err)
	if list == nil {
		return unplaced(err.Error())
	}
	out := make([]problem, len(list))
	for i, e := range list {
		e.File = filepath.Base(e.File) // the page need not show where the daemon keeps its files
		out[i] = problem{File: e.File, Line: e.Line, Col: e.Col, Msg: e.Msg, Text: e.Error()}
	}
	return out
}

// unplaced is a problem of no place in the files.
func unplaced(msg string) []problem { return []problem{{Msg: msg, Text: msg}} }

// checkResult is what the playground shows of an edited rule set.
type checkResult struct {
	OK       bool        `json:"ok"`
	Version  string      `json:"version,omitempty"`
	Errors   []problem   `json:"errors"`
	Warnings []problem   `json:"warnings"`
	Diff     *diffResult `json:"diff,omitempty"`
}

// diffResult is the replay of the recent messages under the edited rules
// against the active ones.
type diffResult struct {
	Against     string                  `json:"against"`
	Replayed    int                     `json:"replayed"`
	Recent      int                     `json:"recent"`
	Partial     string                  `json:"partial,omitempty"` // why the replay stopped early
	Transitions []replaydiff.Transition `json:"transitions"`
	Changes     []diffChange            `json:"changes"`
	More        int                     `json:"more"` // changes not listed
}

type diffChange struct {
	Seq     uint64 `json:"seq"`
	Date    string `json:"date"`
	From    string `json:"from"`
	Subject string `json:"subject"`
	Change  string `json:"change"`
}

// maxListedChanges bounds the changed messages one diff lists.
const maxListedChanges = 200

// evaluation takes the playground's one evaluation slot, waiting at most
// the request's budget, and returns the context bounded by that budget and
// the slot's release. It answers 503 itself when the slot stays taken.
func (c *Console) evaluation(w http.ResponseWriter, r *http.Request) (context.Context, func(), bool) {
	ctx, cancel := context.WithTimeout(r.Context(), EvalBudget)
	select {
	case c.eval <- struct{}{}:
		return ctx, func() { <-c.eval; cancel() }, true
	case <-ctx.Done():
		cancel()
		writeError(w, http.StatusServiceUnavailable, "the playground is busy")
		return nil, nil, false
	}
}

func (c *Console) checkAPI(w http.ResponseWriter, r *http.Request) {
	ed, ok := c.readEdit(w, r, MaxRulesBytes+64<<10)
	if !ok {
		return
	}
	ctx, release, ok := c.evaluation(w, r)
	if !ok {
		return
	}
	defer release()
	res := checkResult{Errors: []problem{}, Warnings: []problem{}}
	set, err := c.src.Gate(ed.files)
	if set != nil {
		res.Version = set.Version
		for _, w := range set.Warnings {
			res.Warnings = append(res.Warnings, problems(fileerr.List{w})...)
		}
	}
	if err != nil {
		res.Errors = problems(err)
	}
	res.OK = err == nil
	if set != nil {
		res.Diff = c.replay(ctx, c.src.Rules(), set)
	}
	writeJSON(w, http.StatusOK, res)
}

// replay classifies the recent messages, oldest first, with the active and
// the edited rules and tallies what changes, within ctx's budget.
func (c *Console) replay(ctx context.Context, active, next *rules.Set) *diffResult {
	recent := c.src.Recent()
	res := &diffResult{Against: active.Version, Recent: len(recent), Transitions: []replaydiff.Transition{}, Changes: []diffChange{}}
	var tally replaydiff.Tally
	cl := classifier.New()
	subjects := map[string]uint64{}
	for i := len(recent) - 1; i >= 0; i-- {
		rec := &recent[i]
		if rec.Raw == nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			res.Partial = fmt.Sprintf("stopped after %d of %d messages: the request's budget of %s ran out", res.Replayed, len(recent), EvalBudget)
			break
		}
		cl.Options.MaxBytes = len(rec.Raw) + 1
		old, err := cl.Classify(active, rec.Raw, metaOf(&rec.Ticket))
		if err != nil {
			continue
		}
		cur, err := cl.Classify(next, rec.Raw, metaOf(&rec.Ticket))
		if err != nil {
			continue
		}
		res.Replayed++
		name := strconv.FormatUint(rec.Seq, 10)
		subjects[name] = rec.Seq
		tally.Add(name, rec.At, old, cur)
	}
	res.Transitions = tally.Transitions()
	for _, ch := range tally.Changes {
		if len(res.Changes) == maxListedChanges {
			res.More++
			continue
		}
		res.Changes = append(res.Changes, diffChange{Seq: subjects[ch.Message], Date: ch.Date, From: ch.From,
			Subject: ch.Subject, Change: replaydiff.Describe(ch.Old, ch.New)})
	}
	return res
}

// classifyResult is the playground's decision on one mail.
type classifyResult struct {
	Rules    string     `json:"rules"` // which rules decided, for a person
	Subject  string     `json:"subject"`
	From     string     `json:"from"`
	Tier     string     `json:"tier"`
	Priority string     `json:"priority"`
	Queue    string     `json:"queue"`
	Runbook  string     `json:"runbook"`
	Action   string     `json:"action"`
	Tags     []string   `json:"tags"`
	Matched  []string   `json:"matched"`
	Defects  []string   `json:"defects"`
	Attached []string   `json:"attachments"`
	Trace    []traceRow `json:"trace"`
	Doc      string     `json:"doc"`
}

func (c *Console) classifyAPI(w http.ResponseWriter, r *http.Request) {
	limit := min(c.src.Snapshot().MaxMessageBytes, MaxUploadBytes)
	if limit <= 0 {
		limit = MaxUploadBytes
	}
	ed, ok := c.readEdit(w, r, limit+MaxRulesBytes+64<<10)
	if !ok {
		return
	}
	var raw []byte
	meta := classifier.Meta{}
	tooLarge := false
	if seq := r.FormValue("recent"); seq != "" {
		rec, ok := c.find(seq)
		if !ok || rec.Raw == nil {
			writeError(w, http.StatusNotFound, "that message is no longer among the recent ones")
			return
		}
		raw, meta = rec.Raw, metaOf(&rec.Ticket)
	} else if f, _, err := r.FormFile("eml"); err == nil {
		raw, err = io.ReadAll(io.LimitReader(f, limit+1))
		_ = f.Close()
		tooLarge = err != nil || int64(len(raw)) > limit
	} else if pasted := r.FormValue("pasted"); pasted != "" {
		raw, tooLarge = []byte(pasted), int64(len(pasted)) > limit
	} else {
		writeError(w, http.StatusBadRequest, "choose a recent message, upload an .eml or paste one")
		return
	}
	if tooLarge {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the mail is larger than %d bytes", limit))
		return
	}
	_, release, ok := c.evaluation(w, r)
	if !ok {
		return
	}
	defer release()
	set := c.src.Rules()
	which := "the active rules (version " + shortVersion(set.Version) + ")"
	if _, typed := r.MultipartForm.Value["rules"]; typed {
		if next, err := c.src.Gate(ed.files); err == nil {
			set, which = next, "the edited rules (version "+shortVersion(next.Version)+")"
		} else {
			which += ", because the edited rules do not pass the check"
		}
	}
	cl := classifier.New()
	cl.Options.MaxBytes = int(limit)
	t, d, err := cl.ClassifyTrace(set, raw, meta)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, "the mail does not decode: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, classifyOf(t, set, d, which))
}

func classifyOf(t *ticket.Ticket, set *rules.Set, d rules.Decision, which string) classifyResult {
	res := classifyResult{Rules: which, Subject: t.Subject, From: t.From.Address, Tier: t.Class.Tier,
		Priority: t.Class.Priority, Queue: t.Class.Queue, Runbook: t.Class.Runbook, Action: t.Class.Action,
		Tags: nonNil(t.Class.Tags), Matched: []string{}, Defects: nonNil(t.Defects), Attached: []string{},
		Trace: traceRows(set, d.Trace), Doc: ticketDoc(*t)}
	if t.From.Name != "" {
		res.From = t.From.Name + " <" + t.From.Address + ">"
	}
	for _, m := range t.Class.Matched {
		res.Matched = append(res.Matched, m.Rule)
	}
	for _, a := range t.Attachments {
		res.Attached = append(res.Attached, fmt.Sprintf("%s (%s, %d bytes)", clip.UTF8(a.Name, 200), clip.UTF8(a.Type, 100), a.Size))
	}
	return res
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// saveResult is the answer to a save.
type saveResult struct {
	Saved   bool      `json:"saved"`
	Version string    `json:"version"` // active after the save
	Base    string    `json:"base"`    // what the next save must start from
	Errors  []problem `json:"errors"`
}

// saveAPI writes the edited file only when allow_edit is on, the file is
// unchanged since the browser loaded it, and the edited rules pass the
// gate; then reloads through the same gate. A reload that still refuses
// puts the old file back: a refused save changes nothing.
func (c *Console) saveAPI(w http.ResponseWriter, r *http.Request) {
	if !c.opts.AllowEdit {
		writeJSON(w, http.StatusForbidden, saveResult{Version: c.src.Rules().Version,
			Errors: unplaced("saving is off: set console.allow_edit: true in the daemon config")})
		return
	}
	ed, ok := c.readEdit(w, r, MaxRulesBytes+64<<10)
	if !ok {
		return
	}
	active := c.src.Rules().Version
	if r.FormValue("base") != ed.base {
		writeJSON(w, http.StatusConflict, saveResult{Version: active, Base: ed.base,
			Errors: unplaced("the rules changed on disk since this page loaded them: reload the file and edit again")})
		return
	}
	set, err := c.src.Gate(ed.files)
	if err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, saveResult{Version: active, Base: ed.base, Errors: problems(err)})
		return
	}
	target := ed.files[ed.index].Name
	old, err := boundedfile.Read(target, MaxRulesBytes)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if err := writeAtomic(target, ed.files[ed.index].Data); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	res := c.src.Reload(r.Context())
	if res.Err != nil || res.Version != set.Version {
		if err := writeAtomic(target, old); err != nil {
			c.log.Error("console: the refused rules could not be replaced by the previous file", "file", target, "err", err)
		}
		c.src.Reload(context.WithoutCancel(r.Context()))
		errs := unplaced("the rules changed on disk while saving; nothing was saved")
		if res.Err != nil {
			errs = problems(res.Err)
		}
		writeJSON(w, http.StatusUnprocessableEntity, saveResult{Version: c.src.Rules().Version, Errors: errs})
		return
	}
	c.log.Info("console: rules saved", "file", target, "version", res.Version, "previous", active, "remote", r.RemoteAddr)
	_, base, _ := c.rulesFiles()
	writeJSON(w, http.StatusOK, saveResult{Saved: true, Version: res.Version, Base: base, Errors: []problem{}})
}

// writeAtomic replaces name with data (atomicfile: a crash leaves the old
// rules or the new), keeping the file's mode.
func writeAtomic(name string, data []byte) error {
	mode := os.FileMode(0o644)
	if st, err := os.Stat(name); err == nil {
		mode = st.Mode().Perm()
	}
	if err := atomicfile.Write(name, data, mode); err != nil {
		return fmt.Errorf("save rules: %w", err)
	}
	return nil
}
