package console

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/triage-dev/triage/classifier"
	"github.com/triage-dev/triage/internal/clip"
	"github.com/triage-dev/triage/rules"
	"github.com/triage-dev/triage/ticket"
)

// pageNames are the templates under assets/, each rendered inside layout.html.
var pageNames = []string{"login", "overview", "tickets", "ticket", "rules", "playground", "quarantine", "problems"}

// shownBody bounds the body a page shows of a ticket.
const shownBody = 16 << 10

func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "-"
			}
			return t.UTC().Format("2006-01-02 15:04:05")
		},
		"short": shortVersion,
		"join":  strings.Join,
	}
	out := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "assets/layout.html", "assets/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

func shortVersion(v string) string { return clip.UTF8(v, 12) }

// pageData is what every page template gets.
type pageData struct {
	Title    string
	Nav      string // the active tab
	CSRF     string
	LoggedIn bool // a session that can log out
	Error    string
	Data     any
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, code int, name string, d pageData) {
	if d.CSRF == "" {
		d.CSRF = c.csrfToken(sessionOf(r))
	}
	d.LoggedIn = c.opts.Token != "" && sessionOf(r) != "" && sessionOf(r) != "anonymous"
	var b strings.Builder
	if err := c.pages[name].ExecuteTemplate(&b, "layout.html", d); err != nil {
		c.log.Error("console: render", "page", name, "err", err)
		http.Error(w, "render failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(b.String()))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"errors": []string{msg}})
}

func (c *Console) overviewPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "overview", pageData{Title: "Overview", Nav: "overview"})
}

// ticketRow is one handled message in a list.
type ticketRow struct {
	Seq      uint64    `json:"seq"`
	At       time.Time `json:"at"`
	From     string    `json:"from"`
	FromName string    `json:"from_name"`
	Subject  string    `json:"subject"`
	Tier     string    `json:"tier"`
	Priority string    `json:"priority"`
	Queue    string    `json:"queue"`
	Action   string    `json:"action"`
	Outcome  string    `json:"outcome"`
	Runbook  string    `json:"runbook"`
	Rules    []string  `json:"rules"`
}

func rowOf(rec Record) ticketRow {
	t := &rec.Ticket
	row := ticketRow{Seq: rec.Seq, At: rec.At, From: t.From.Address, FromName: t.From.Name, Subject: t.Subject,
		Tier: t.Class.Tier, Priority: t.Class.Priority, Queue: t.Class.Queue, Action: t.Class.Action,
		Runbook: t.Class.Runbook, Outcome: rec.Outcome}
	for _, m := range t.Class.Matched {
		row.Rules = append(row.Rules, m.Rule)
	}
	return row
}

// ticketFilter is the Tickets page's query.
type ticketFilter struct{ Tier, Queue, Rule, Text string }

func (f ticketFilter) match(row ticketRow) bool {
	if f.Tier != "" && row.Tier != f.Tier || f.Queue != "" && row.Queue != f.Queue {
		return false
	}
	if f.Rule != "" && !slices.Contains(row.Rules, f.Rule) {
		return false
	}
	if f.Text != "" {
		hay := strings.ToLower(row.Subject + "\x00" + row.From + "\x00" + row.FromName)
		return strings.Contains(hay, strings.ToLower(f.Text))
	}
	return true
}

func (c *Console) ticketsPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := ticketFilter{Tier: q.Get("tier"), Queue: q.Get("queue"), Rule: q.Get("rule"), Text: clip.UTF8(q.Get("q"), 200)}
	recent := c.src.Recent()
	var rows []ticketRow
	tiers, queues, ruleNames := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, rec := range recent {
		row := rowOf(rec)
		tiers[row.Tier], queues[row.Queue] = true, true
		for _, n := range row.Rules {
			ruleNames[n] = true
		}
		if f.match(row) {
			rows = append(rows, row)
		}
	}
	c.render(w, r, http.StatusOK, "tickets", pageData{Title: "Tickets", Nav: "tickets", Data: map[string]any{
		"Rows": rows, "Total": len(recent), "Filter": f,
		"Tiers": sortedKeys(tiers), "Queues": sortedKeys(queues), "Rules": sortedKeys(ruleNames),
	}})
}

// sortedKeys is m's keys but "", sorted.
func sortedKeys(m map[string]bool) []string {
	delete(m, "")
	return slices.Sorted(maps.Keys(m))
}

// traceRow is one step of a decision trace, for a person.
type traceRow struct {
	Rule, Group, Result, Note string
	Matched                   bool
}

func traceRows(set *rules.Set, steps []ticket.TraceStep) []traceRow {
	desc := map[string]string{}
	for _, ri := range set.Rules() {
		desc[ri.Name] = ri.Description
	}
	out := make([]traceRow, len(steps))
	for i, s := range steps {
		row := traceRow{Rule: s.Rule, Group: s.Group, Matched: s.Matched, Result: "no match", Note: desc[s.Rule]}
		switch {
		case s.Error != "":
			row.Result, row.Note = "error", s.Error
		case s.Skipped != "":
			row.Result, row.Note = "skipped", s.Skipped
		case s.Matched:
			row.Result = "matched"
		}
		out[i] = row
	}
	return out
}

// find returns the recent record with sequence number seq.
func (c *Console) find(seq string) (Record, bool) {
	n, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return Record{}, false
	}
	for _, rec := range c.src.Recent() {
		if rec.Seq == n {
			return rec, true
		}
	}
	return Record{}, false
}

// metaOf is the mailbox side of a recorded ticket, to classify it again.
func metaOf(t *ticket.Ticket) classifier.Meta {
	return classifier.Meta{Account: t.Source.Account, Mailbox: t.Source.Mailbox, UID: t.Source.UID,
		UIDValidity: t.Source.UIDValidity, ReceivedAt: t.ReceivedAt, Duplicate: t.Duplicate}
}

// ticketDoc is the ticket document as a sink received it, indented, with
// the body cut for the page.
func ticketDoc(t ticket.Ticket) string {
	t.Body = clip.Hint(t.Body, shownBody)
	t.Class.Trace = nil
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func (c *Console) ticketPage(w http.ResponseWriter, r *http.Request) {
	rec, ok := c.find(r.PathValue("seq"))
	if !ok {
		c.render(w, r, http.StatusNotFound, "ticket", pageData{Title: "Ticket", Nav: "tickets", Error: "No such ticket among the recent messages (the list keeps the last ones only)."})
		return
	}
	data := map[string]any{"Row": rowOf(rec), "Ticket": rec.Ticket, "Doc": ticketDoc(rec.Ticket),
		"Body": clip.Hint(rec.Ticket.Body, shownBody)}
	set := c.src.Rules()
	switch {
	case rec.Raw == nil:
		data["TraceNote"] = "The message was too large to keep in memory: no trace."
	default:
		cl := classifier.New()
		cl.Options.MaxBytes = len(rec.Raw) + 1
		mail, err := cl.Decode(set, rec.Raw)
		if err != nil {
			data["TraceNote"] = "The message does not decode again: " + err.Error()
			break
		}
		_, d := cl.ClassifyMailTrace(set, mail, metaOf(&rec.Ticket))
		data["Trace"] = traceRows(set, d.Trace)
		if set.Version != rec.Ticket.Class.RulesVersion {
			data["TraceNote"] = fmt.Sprintf("Traced with the active rules (version %s); the message was handled by version %s.",
				shortVersion(set.Version), shortVersion(rec.Ticket.Class.RulesVersion))
		}
	}
	c.render(w, r, http.StatusOK, "ticket", pageData{Title: "Ticket " + rec.Ticket.ID, Nav: "tickets", Data: data})
}

// ruleRow is one rule of the active set with its hits.
type ruleRow struct {
	rules.RuleInfo
	Where string
	Hits  int64
	Sets  string
}

func (c *Console) rulesPage(w http.ResponseWriter, r *http.Request) {
	set := c.src.Rules()
	hits := c.src.RuleHits()
	var rows, never []ruleRow
	for _, ri := range set.Rules() {
		row := ruleRow{RuleInfo: ri, Where: fmt.Sprintf("%s:%d", filepath.Base(ri.File), ri.Line), Hits: hits[ri.Name]}
		var sets []string
		for _, kv := range [][2]string{{"action", ri.Action}, {"tier", ri.Tier}, {"priority", ri.Priority}, {"queue", ri.Queue}, {"runbook", ri.Runbook}, {"folder", ri.Folder}} {
			if kv[1] != "" {
				sets = append(sets, kv[0]+"="+kv[1])
			}
		}
		row.Sets = strings.Join(sets, " ")
		rows = append(rows, row)
		if !ri.IsGroup && row.Hits == 0 {
			never = append(never, row)
		}
	}
	var warnings []string
	for _, w := range set.Warnings {
		warnings = append(warnings, w.Error())
	}
	c.render(w, r, http.StatusOK, "rules", pageData{Title: "Rules", Nav: "rules", Data: map[string]any{
		"Version": set.Version, "Files": set.Files, "Rules": rows, "Never": never, "Reloads": c.src.Reloads(),
		"Warnings": warnings, "Defaults": set.Defaults,
	}})
}

func (c *Console) quarantinePage(w http.ResponseWriter, r *http.Request) {
	snap := c.src.Snapshot()
	config := cmp.Or(c.opts.Config, "triage.yaml")
	// One requeue per account and folder: the state store knows a filed
	// message's UID in the mailbox it came from, not in the folder.
	type folder struct{ Account, Folder, Command string }
	var folders []folder
	seen := map[[2]string]bool{}
	for _, f := range snap.Filed {
		if k := [2]string{f.Account, f.Folder}; !seen[k] {
			seen[k] = true
			folders = append(folders, folder{Account: f.Account, Folder: f.Folder,
				Command: fmt.Sprintf("triage requeue --config %s --account %s --from %s", config, f.Account, f.Folder)})
		}
	}
	q := r.URL.Query()
	c.render(w, r, http.StatusOK, "quarantine", pageData{Title: "Quarantine", Nav: "quarantine", Data: map[string]any{
		"Rows": snap.Filed, "Folders": folders, "AllowEdit": c.opts.AllowEdit, "Moved": q.Get("moved"), "From": q.Get("from"),
	}})
}

// requeue moves an account's quarantine or failed folder back to be
// handled again; only with allow_edit.
func (c *Console) requeue(w http.ResponseWriter, r *http.Request) {
	if !c.opts.AllowEdit {
		writeError(w, http.StatusForbidden, "requeue is off: set console.allow_edit: true in the daemon config")
		return
	}
	account, folder := r.PostFormValue("account"), r.PostFormValue("folder")
	if folder != "quarantine" && folder != "failed" {
		writeError(w, http.StatusBadRequest, "folder is quarantine or failed")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requeueTimeout)
	defer cancel()
	n, err := c.src.Requeue(ctx, account, folder)
	if err != nil {
		c.render(w, r, http.StatusBadGateway, "quarantine", pageData{Title: "Quarantine", Nav: "quarantine", Error: "requeue failed: " + err.Error(),
			Data: map[string]any{"Rows": c.src.Snapshot().Filed}})
		return
	}
	c.log.Info("console: requeued", "account", account, "folder", folder, "moved", n, "remote", r.RemoteAddr)
	http.Redirect(w, r, "/quarantine?"+url.Values{"moved": {strconv.Itoa(n)}, "from": {account + " " + folder}}.Encode(), http.StatusSeeOther)
}

// maxPickable bounds the recent messages the playground offers to pick.
const maxPickable = 100

func (c *Console) playgroundPage(w http.ResponseWriter, r *http.Request) {
	files, base, err := c.rulesFiles()
	data := map[string]any{"AllowEdit": c.opts.AllowEdit, "Base": base, "Version": c.src.Rules().Version}
	if err != nil {
		c.render(w, r, http.StatusInternalServerError, "playground", pageData{Title: "Playground", Nav: "playground", Error: err.Error(), Data: data})
		return
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = filepath.Base(f.Name)
	}
	data["Files"], data["File"], data["Text"] = names, names[0], string(files[0].Data)
	var pick []ticketRow
	for _, rec := range c.src.Recent() {
		if rec.Raw != nil && len(pick) < maxPickable {
			pick = append(pick, rowOf(rec))
		}
	}
	data["Recent"] = pick
	c.render(w, r, http.StatusOK, "playground", pageData{Title: "Playground", Nav: "playground", Data: data})
}

// Bounds of the Problems page: the detector may hold thousands of groups.
const (
	maxProblemsShown = 200
	maxProblemMails  = 50 // per problem; the rest are counted
)

// problemRow is one open problem as the Problems page shows it.
type problemRow struct {
	Problem
	Shown []problemMail
	More  int
}

// problemMail is one mail of a problem, with its recent record's sequence
// number when the console still keeps it (0 otherwise: no link).
type problemMail struct {
	ProblemTicket
	Seq uint64
}

func (c *Console) problemsPage(w http.ResponseWriter, r *http.Request) {
	open := c.src.Problems()
	seqs := map[string]uint64{}
	for _, rec := range c.src.Recent() {
		if _, ok := seqs[rec.Ticket.ID]; !ok {
			seqs[rec.Ticket.ID] = rec.Seq // newest first: a redelivery keeps the latest
		}
	}
	rows := make([]problemRow, 0, min(len(open), maxProblemsShown))
	for _, p := range open[:min(len(open), maxProblemsShown)] {
		row := problemRow{Problem: p, More: max(0, len(p.Tickets)-maxProblemMails)}
		for _, m := range p.Tickets[:min(len(p.Tickets), maxProblemMails)] {
			row.Shown = append(row.Shown, problemMail{ProblemTicket: m, Seq: seqs[m.ID]})
		}
		rows = append(rows, row)
	}
	c.render(w, r, http.StatusOK, "problems", pageData{Title: "Problems", Nav: "problems", Data: map[string]any{
		"Rows": rows, "Open": len(open), "More": len(open) - len(rows),
	}})
}
