package queue

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"strings"
	"text/template"
	"text/template/parse"
	"time"

	"github.com/triage-dev/triage/internal/clip"
	"github.com/triage-dev/triage/ticket"
)

// templateData is what subject_tag, nats subject and webhook body templates
// see: the whole ticket ({{.Subject}}, {{.From.Address}}, {{.Class.Tier}}, …)
// plus short names for the decision ({{.Tier}}, {{.Priority}}, {{.Queue}},
// {{.Runbook}}, {{.Tags}}, {{.Rules}}, {{.ResponseDue}}, {{.ResolveDue}},
// and in a webhook's reply templates {{.TrackerID}}).
type templateData struct {
	*ticket.Ticket
	Tier        string
	Priority    string
	Queue       string
	Runbook     string
	Tags        []string
	Rules       []string // matched rule names, in order
	ResponseDue string   // RFC 3339, "" when no SLA applies
	ResolveDue  string
	// TrackerID is the tracker's ticket id a webhook reply goes to; ""
	// elsewhere.
	TrackerID string
	Problem   string // X-Triage-Problem's value, "" when the ticket belongs to no problem
}

func newTemplateData(t *ticket.Ticket) templateData {
	return templateData{
		Ticket:      t,
		Tier:        t.Class.Tier,
		Priority:    t.Class.Priority,
		Queue:       t.Class.Queue,
		Runbook:     t.Class.Runbook,
		Tags:        t.Class.Tags,
		Rules:       ruleNames(t),
		ResponseDue: formatDue(t.Class.SLA.ResponseDue),
		ResolveDue:  formatDue(t.Class.SLA.ResolveDue),
		Problem:     formatProblem(t.Class.Problem),
	}
}

// formatProblem writes a problem as one header value:
// `p-1a2b3c4d5e6f; size=4; first_seen=2026-12-04T08:02:00Z; summary="prn-3og-01 offline"`.
// The summary holds only letters, digits and name connectors (problem
// detection's tokens), so it needs no escaping.
func formatProblem(p *ticket.Problem) string {
	if p == nil || p.Size == 0 {
		return ""
	}
	return fmt.Sprintf("%s; size=%d; first_seen=%s; summary=%q", p.ID, p.Size, p.FirstSeen.UTC().Format(time.RFC3339), p.Summary)
}

func ruleNames(t *ticket.Ticket) []string {
	names := make([]string, 0, len(t.Class.Matched))
	for _, m := range t.Class.Matched {
		names = append(names, m.Rule)
	}
	return names
}

func formatDue(p *time.Time) string {
	if p == nil || p.IsZero() {
		return ""
	}
	return p.UTC().Format(time.RFC3339)
}

// maxTemplateOutput bounds what one template may render (a body template
// looping over a hostile mail must not eat memory).
const maxTemplateOutput = 8 << 20

type limitedBuffer struct {
	bytes.Buffer
	limit int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.limit {
		return 0, fmt.Errorf("template output exceeds %d bytes", b.limit)
	}
	return b.Buffer.Write(p)
}

func execTemplate(t *template.Template, data any) ([]byte, error) {
	buf := &limitedBuffer{limit: maxTemplateOutput}
	if err := t.Execute(buf, data); err != nil {
		return nil, fmt.Errorf("render template %s: %w", t.Name(), err)
	}
	return buf.Bytes(), nil
}

// checkTemplate adds the problem of the template setting key, if any.
func checkTemplate(key, text string, add func(string, ...any)) {
	if _, err := parseTemplate(key, text); err != nil {
		add("%s: %v", key, err)
	}
}

func parseTemplate(name, text string) (*template.Template, error) {
	t, err := template.New(name).Funcs(templateFuncs()).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	return t, nil
}

// isJSON reports whether a content type is JSON (application/json, or a
// +json type such as application/vnd.api+json).
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// jsonSafe refuses a JSON body template with an output that is not the
// json function's: {"title": "{{.Subject}}"} lets a subject such as
// `", "group": "3rd Level` add keys, and the result is still valid JSON.
// Every {{…}} that writes must end in json ({{json .Subject}},
// {{.Subject | json}}); conditions and ranges around them may be anything.
func jsonSafe(t *template.Template) error {
	var bad *parse.ActionNode
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		if bad != nil || n == nil {
			return
		}
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.ActionNode:
			if len(n.Pipe.Decl) == 0 && !endsInJSON(n.Pipe) {
				bad = n
			}
		case *parse.IfNode:
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.List)
			walk(n.ElseList)
		}
	}
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			walk(tt.Tree.Root)
		}
	}
	if bad != nil {
		where, _ := t.ErrorContext(bad)
		return fmt.Errorf("%s: %s writes text into JSON unescaped: use the json function, e.g. {{json .Subject}}", where, bad)
	}
	return nil
}

// endsInJSON: the pipeline's last command is json, called or piped into.
func endsInJSON(p *parse.PipeNode) bool {
	if p == nil || len(p.Cmds) == 0 {
		return false
	}
	last := p.Cmds[len(p.Cmds)-1]
	id, ok := last.Args[0].(*parse.IdentifierNode)
	return ok && id.Ident == "json"
}

// templateFuncs are the helpers a body template uses to call a tracker's API.
func templateFuncs() template.FuncMap {
	return template.FuncMap{
		// json writes v as a JSON value: {{json .Subject}} → "quoted \"and\" escaped".
		"json": func(v any) (string, error) {
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(v); err != nil {
				return "", fmt.Errorf("json: %w", err)
			}
			return strings.TrimSuffix(b.String(), "\n"), nil
		},
		// join sep list, so that {{.Tags | join ", "}} reads naturally.
		"join":  func(sep string, list []string) string { return strings.Join(list, sep) },
		"lower": strings.ToLower,
		"upper": strings.ToUpper,
		"trim":  strings.TrimSpace,
		"replace": func(old, repl, s string) string {
			return strings.ReplaceAll(s, old, repl)
		},
		// default d v: v, or d when v is empty.
		"default": func(d, v any) any {
			switch x := v.(type) {
			case nil:
				return d
			case string:
				if x == "" {
					return d
				}
			}
			return v
		},
		// truncate n s: at most n bytes, cut on a rune boundary.
		"truncate": func(n int, s string) string { return clip.UTF8(s, n) },
		// dict k1 v1 k2 v2 …: a map, e.g. to translate P1..P4 into a tracker's names.
		"dict": func(kv ...any) (map[string]any, error) {
			if len(kv)%2 != 0 {
				return nil, fmt.Errorf("dict: odd number of arguments")
			}
			m := make(map[string]any, len(kv)/2)
			for i := 0; i < len(kv); i += 2 {
				k, ok := kv[i].(string)
				if !ok {
					return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
				}
				m[k] = kv[i+1]
			}
			return m, nil
		},
		// addresses formats a list of ticket addresses as "Name <a@b>, …".
		"addresses": formatAddresses,
		// token makes a string safe as one NATS subject token.
		"token": subjectToken,
	}
}

// formatAddresses writes a list of ticket addresses as "Name <a@b>, …".
func formatAddresses(list []ticket.Address) string {
	s := make([]string, 0, len(list))
	for _, a := range list {
		s = append(s, displayAddress(a))
	}
	return strings.Join(s, ", ")
}

// displayAddress writes one address for people to read: "Name <a@b>",
// or a@b without a name (formatAddress quotes and encodes for a header).
func displayAddress(a ticket.Address) string {
	if a.Name != "" {
		return fmt.Sprintf("%s <%s>", a.Name, a.Address)
	}
	return a.Address
}
