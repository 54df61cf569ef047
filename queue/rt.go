package queue

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/invopop/jsonschema"

	"github.com/triage-dev/triage/internal/clip"
	"github.com/triage-dev/triage/ticket"
)

func init() {
	register("rt", sinkType{
		doc:      "files each mail as a Request Tracker ticket through REST 2: one ticket per mail, replies on the ticket, attachments, due date, custom fields",
		timeout:  60 * time.Second,
		settings: func() Settings { return new(RTConfig) },
		audit: func(s Settings, q sinkSpec) (AuditReader, error) {
			return s.(*RTConfig).client(q)
		},
	})
}

// Defaults of an rt queue.
const (
	defaultRTIDField    = "TriageID"
	defaultRTTierField  = "Tier"
	defaultRTRulesField = "Rules"
	defaultRTDue        = "{{.ResolveDue}}"
	defaultRTQueue      = "{{.Queue}}"
)

// defaultRTPriority maps P1..P4 to RT's numeric priority.
var defaultRTPriority = map[string]int{"P1": 90, "P2": 70, "P3": 50, "P4": 20}

// RTConfig are the keys of an rt queue.
type RTConfig struct {
	URL       string `yaml:"url" json:"url" jsonschema:"required" jsonschema_description:"RT's base URL as users type it (https://rt.example.com); REST 2 is under /REST/2.0."`
	TokenEnv  string `yaml:"token_env,omitempty" json:"token_env,omitempty" jsonschema_description:"Environment variable holding the bare REST 2 auth token of the bot user."`
	TokenFile string `yaml:"token_file,omitempty" json:"token_file,omitempty" jsonschema_description:"File holding the bare REST 2 auth token."`
	// Basic auth instead of a token.
	credentials  `yaml:",inline" json:",inline"`
	Queue        string            `yaml:"queue,omitempty" json:"queue,omitempty" jsonschema_description:"RT queue: a template over the decision; default {{.Queue}}, e.g. {{index (dict \"helpdesk\" \"General\" \"systems\" \"Systems\") .Queue}}."`
	RTName       string            `yaml:"rtname,omitempty" json:"rtname,omitempty" jsonschema_description:"RT's $rtname: a subject tag [rtname #N] makes the mail a reply to ticket N."`
	IDField      string            `yaml:"id_field,omitempty" json:"id_field,omitempty" jsonschema_description:"Ticket custom field holding the triage id, searched before creating; default TriageID."`
	TierField    string            `yaml:"tier_field,omitempty" json:"tier_field,omitempty" jsonschema_description:"Ticket custom field holding the tier, for escalation on reply and audit; default Tier."`
	RulesField   string            `yaml:"rules_field,omitempty" json:"rules_field,omitempty" jsonschema_description:"Ticket custom field holding the matched rules, for audit; default Rules."`
	Priority     map[string]int    `yaml:"priority,omitempty" json:"priority,omitempty" jsonschema_description:"P1..P4 to RT's numeric priority; default P1: 90, P2: 70, P3: 50, P4: 20."`
	CustomFields map[string]string `yaml:"custom_fields,omitempty" json:"custom_fields,omitempty" jsonschema_description:"Custom field name to a template over the decision; the id, tier and rules fields are always set."`
	Due          string            `yaml:"due,omitempty" json:"due,omitempty" jsonschema_description:"RT's Due date: a template giving RFC 3339 or empty; default {{.ResolveDue}} (the SLA resolve due)."`
}

// JSONSchemaExtend states in the config schema what validate checks across keys.
func (RTConfig) JSONSchemaExtend(s *jsonschema.Schema) {
	s.AllOf = append(s.AllOf, notBoth("token_env", "token_file"))
}

func (c *RTConfig) validate(_ string, add func(string, ...any)) {
	validateTrackerURL("rt", c.URL, "token_env, token_file or username with password_env", add)
	c.validateAuth(add)
	c.validatePriority(add)
	c.validateTemplates(add)
	if strings.ContainsAny(c.RTName, "[]#\r\n") {
		add("rtname %q must not contain [ ] # or line breaks", c.RTName)
	}
}

// validateAuth checks that exactly one way to authenticate is set.
func (c *RTConfig) validateAuth(add func(string, ...any)) {
	token := c.TokenEnv != "" || c.TokenFile != ""
	switch {
	case c.TokenEnv != "" && c.TokenFile != "":
		add("set token_env or token_file, not both")
	case token && c.Username != "":
		add("set a token or username, not both")
	case !token && c.Username == "":
		add("rt needs token_env, token_file or username with password_env")
	}
	c.credentials.validate(add)
}

// validatePriority checks the priority map's keys and values.
func (c *RTConfig) validatePriority(add func(string, ...any)) {
	for name, p := range c.Priority {
		if rank(name) == 0 || name[0] != 'P' {
			add("priority: %q is not P1..P9", name)
		}
		if p < 0 {
			add("priority %s: %d is negative", name, p)
		}
	}
}

// validateTemplates checks the queue, due and custom field templates.
func (c *RTConfig) validateTemplates(add func(string, ...any)) {
	checkTemplate("queue", c.Queue, add)
	checkTemplate("due", c.Due, add)
	for name, text := range c.CustomFields {
		if name == "" || strings.ContainsAny(name, "{}'\r\n") {
			add("custom_fields: %q is not a usable custom field name", name)
		}
		if _, err := parseTemplate(name, text); err != nil {
			add("custom_fields %s: %v", name, err)
		}
	}
}

// rtClient is RT's REST 2 as a TrackerClient and AuditReader.
type rtClient struct {
	api        *trackerAPI
	queue      *template.Template
	due        *template.Template
	fields     map[string]*template.Template
	priority   map[string]int
	idField    string
	tierField  string
	rulesField string
	subjectTag *regexp.Regexp // nil without rtname
	log        *slog.Logger
	tracker    string // TrackerKey
}

// Tracker names the RT instance (AuditReader).
func (c *rtClient) Tracker() string { return c.tracker }

func (c *RTConfig) open(q sinkSpec) (Sink, error) {
	rc, err := c.client(q)
	if err != nil {
		return nil, err
	}
	return newTrackerSink(q, c.URL, rc, rc.api.close), nil
}

// client builds the REST 2 client: secrets read, templates parsed.
func (c *RTConfig) client(q sinkSpec) (*rtClient, error) {
	auth, err := c.authorization(q.baseDir)
	if err != nil {
		return nil, fmt.Errorf("queue %s: %w", q.name, err)
	}
	api, err := openTrackerAPI(c.URL, "/REST/2.0", auth, q.timeout, nil)
	if err != nil {
		return nil, fmt.Errorf("queue %s: %w", q.name, err)
	}
	rc := &rtClient{
		api:        api,
		priority:   maps.Clone(defaultRTPriority),
		idField:    cmp.Or(c.IDField, defaultRTIDField),
		tierField:  cmp.Or(c.TierField, defaultRTTierField),
		rulesField: cmp.Or(c.RulesField, defaultRTRulesField),
		fields:     map[string]*template.Template{},
		log:        q.log,
		tracker:    TrackerKey(q.typ, c.URL),
	}
	maps.Copy(rc.priority, c.Priority)
	if rc.queue, err = parseTemplate("queue", cmp.Or(c.Queue, defaultRTQueue)); err != nil {
		return nil, fmt.Errorf("queue %s: queue: %w", q.name, err)
	}
	if rc.due, err = parseTemplate("due", cmp.Or(c.Due, defaultRTDue)); err != nil {
		return nil, fmt.Errorf("queue %s: due: %w", q.name, err)
	}
	for name, text := range c.CustomFields {
		if rc.fields[name], err = parseTemplate(name, text); err != nil {
			return nil, fmt.Errorf("queue %s: custom_fields %s: %w", q.name, name, err)
		}
	}
	if c.RTName != "" {
		rc.subjectTag = rtSubjectTag(c.RTName)
	}
	return rc, nil
}

// authorization is the Authorization value: basic with username and
// password, else RT's "token <token>".
func (c *RTConfig) authorization(baseDir string) (string, error) {
	if c.Username != "" {
		pw, err := c.password(baseDir)
		if err != nil {
			return "", err
		}
		return basicAuth(c.Username, pw), nil
	}
	tok, err := apiToken{TokenEnv: c.TokenEnv, TokenFile: c.TokenFile}.read(baseDir)
	if err != nil {
		return "", err
	}
	if tok = strings.TrimSpace(tok); tok == "" {
		return "", errors.New("token is empty")
	}
	return "token " + tok, nil
}

// rtSubjectTag matches RT's subject tag "[rtname #N]".
func rtSubjectTag(rtname string) *regexp.Regexp {
	return regexp.MustCompile(`\[` + regexp.QuoteMeta(rtname) + `\s+#(\d{1,12})\]`)
}

// SubjectRef finds RT's own [rtname #N] tag.
func (c *rtClient) SubjectRef(subject string) string { return subjectRef(c.subjectTag, subject) }

// ticketSQLString quotes s as a TicketSQL string literal.
func ticketSQLString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

type rtRef struct {
	ID rtID `json:"id"`
}

// rtID is an id as RT writes it: a string in references ("id": "12"), a
// number in a record ("id": 12).
type rtID string

func (id *rtID) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err == nil {
		*id = rtID(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("rt id %.40s: %w", b, err)
	}
	*id = rtID(s)
	return nil
}

type rtCollection struct {
	Items []rtRef `json:"items"`
	Pages float64 `json:"pages"`
}

// Find searches the id custom field.
func (c *rtClient) Find(ctx context.Context, triageID string) (string, error) {
	q := url.Values{"query": {"CF.{" + c.idField + "} = " + ticketSQLString(triageID)}, "orderby": {"id"}, "per_page": {"1"}}
	var res rtCollection
	if err := c.api.call(ctx, http.MethodGet, "/tickets", q, nil, &res); err != nil {
		return "", fmt.Errorf("rt search: %w", err)
	}
	if len(res.Items) == 0 {
		return "", nil
	}
	return string(res.Items[0].ID), nil
}

// rtMessage is the JSON of a create or correspond.
type rtMessage struct {
	Queue        string            `json:"Queue,omitempty"`
	Subject      string            `json:"Subject,omitempty"`
	Requestor    string            `json:"Requestor,omitempty"`
	Cc           []string          `json:"Cc,omitempty"`
	Priority     *int              `json:"Priority,omitempty"`
	Due          string            `json:"Due,omitempty"`
	Content      string            `json:"Content"`
	ContentType  string            `json:"ContentType"`
	CustomFields map[string]string `json:"CustomFields,omitempty"`
}

// Create files m with its attachments in one multipart request: RT 5.0's
// JSON Attachments turn a non-ASCII file name into U+FFFD, the form upload
// keeps it (TestRTCreateMultipart).
func (c *rtClient) Create(ctx context.Context, m *TrackerMail) (string, error) {
	t := m.Ticket
	data := newTemplateData(t)
	queue, err := c.render(c.queue, data)
	if err != nil {
		return "", err
	}
	if queue == "" {
		return "", permanent("rt: queue template rendered nothing for queue %q", t.Class.Queue)
	}
	msg := c.message(m)
	msg.Queue = queue
	if m.Requester.Address != "" {
		if !rtAcceptsAddress(m.Requester.Address) {
			return "", fmt.Errorf("rt: %s: %w", m.Requester.Address, ErrRequesterRefused)
		}
		msg.Requestor = formatAddress(m.Requester)
	}
	for _, a := range t.Cc {
		if rtAcceptsAddress(a.Address) {
			msg.Cc = append(msg.Cc, formatAddress(a))
		}
	}
	if p, ok := c.priority[t.Class.Priority]; ok {
		msg.Priority = &p
	}
	if msg.Due, err = c.renderDue(data); err != nil {
		return "", err
	}
	if msg.CustomFields, err = c.customFields(t, data); err != nil {
		return "", err
	}
	var ref rtRef
	if err := c.post(ctx, "/ticket", msg, m.Content.Attachments, &ref); err != nil {
		return "", fmt.Errorf("rt create: %w", rtInternal(err))
	}
	if ref.ID == "" {
		return "", permanent("rt create: answer names no ticket")
	}
	// The note is an internal comment: the technician reads it, the
	// requester does not. The ticket exists: a failure is logged, not
	// retried (a retry would find the ticket and stop).
	if err := c.comment(ctx, string(ref.ID), m.Note); err != nil {
		c.log.Warn("rt: ticket created, escalation note not added", "ticket", t.ID, "tracker_id", ref.ID, "err", err)
	}
	return string(ref.ID), nil
}

// rtInternal makes RT's 400 "… due to an internal error" temporary: RT
// answers so when its database failed (a lock, a lost connection), which
// retrying mends; the search before the next attempt finds a ticket that
// was created after all.
func rtInternal(err error) error {
	var qe *Error
	if statusOf(err) == http.StatusBadRequest && errors.As(err, &qe) && strings.Contains(qe.Error(), "internal error") {
		return &Error{Temporary: true, Err: err}
	}
	return err
}

// message is the body and subject of m for RT: HTML when the mail had
// some (RT shows it), else the text body.
func (c *rtClient) message(m *TrackerMail) rtMessage {
	msg := rtMessage{Subject: m.Ticket.Subject, Content: m.Ticket.Body, ContentType: "text/plain"}
	if m.Content.HTML != "" {
		msg.Content, msg.ContentType = m.Content.HTML, "text/html"
	}
	if strings.TrimSpace(msg.Content) == "" && len(m.Content.Attachments) == 0 {
		msg.Content = "(no text)" // RT refuses a message without content
	}
	return msg
}

// rtAcceptsAddress reports whether RT takes addr as a user's address: RT
// 5.0 silently drops requesters whose local part is not ASCII (the ticket
// is created without one), so such an address is refused here.
func rtAcceptsAddress(addr string) bool {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return false
	}
	for i := 0; i < at; i++ {
		if addr[i] >= utf8.RuneSelf || addr[i] <= ' ' {
			return false
		}
	}
	return !strings.ContainsAny(addr, "<>,;\"\r\n")
}

func (c *rtClient) render(t *template.Template, data templateData) (string, error) {
	b, err := execTemplate(t, data)
	if err != nil {
		return "", permanent("rt: %w", err)
	}
	out := strings.TrimSpace(string(b))
	if out == "<no value>" { // index of a map without the key
		out = ""
	}
	return out, nil
}

// renderDue renders the due template into RT's "YYYY-MM-DD HH:MM:SS"
// (UTC, which RT's REST 2 assumes).
func (c *rtClient) renderDue(data templateData) (string, error) {
	s, err := c.render(c.due, data)
	if err != nil || s == "" {
		return "", err
	}
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return "", permanent("rt: due %q is not RFC 3339: %w", clip.UTF8(s, 64), err)
	}
	return at.UTC().Format(time.DateTime), nil
}

// customFields renders custom_fields and sets the id, tier and rules fields.
func (c *rtClient) customFields(t *ticket.Ticket, data templateData) (map[string]string, error) {
	out := make(map[string]string, len(c.fields)+3)
	for name, tpl := range c.fields {
		v, err := c.render(tpl, data)
		if err != nil {
			return nil, err
		}
		out[name] = v
	}
	out[c.idField] = t.ID
	out[c.tierField] = t.Class.Tier
	out[c.rulesField] = strings.Join(ruleNames(t), ",")
	return out, nil
}

// post sends msg as the JSON field of a multipart/form-data request with
// the files as Attachments parts.
func (c *rtClient) post(ctx context.Context, path string, msg any, files []ticket.File, out any) error {
	js, err := json.Marshal(msg)
	if err != nil {
		return permanent("encode %T: %w", msg, err)
	}
	return c.api.call(ctx, http.MethodPost, path, nil, fileForm(js, "Attachments", files), out)
}

func (c *rtClient) comment(ctx context.Context, id, note string) error {
	if note == "" {
		return nil
	}
	body := map[string]string{"Content": note, "ContentType": "text/plain"}
	if err := c.api.call(ctx, http.MethodPost, "/ticket/"+url.PathEscape(id)+"/comment", nil, body, &[]any{}); err != nil {
		return fmt.Errorf("rt comment: %w", err)
	}
	return nil
}

// Reply adds m to ticket id as correspondence with its attachments. RT
// answers a correspond on a ticket that does not exist with 400 "Message
// could not be recorded", like any other refusal: the ticket is read first.
func (c *rtClient) Reply(ctx context.Context, id string, m *TrackerMail) error {
	if _, err := c.ticket(ctx, id); err != nil {
		return err
	}
	if err := c.post(ctx, "/ticket/"+id+"/correspond", c.message(m), m.Content.Attachments, &[]any{}); err != nil {
		return fmt.Errorf("rt correspond %s: %w", id, rtInternal(err))
	}
	return nil
}

func validRTID(id string) bool {
	n, err := strconv.ParseUint(id, 10, 63)
	return err == nil && n > 0
}

// rtTicket is what State and audit read of a ticket.
type rtTicket struct {
	ID           rtID            `json:"id"`
	Priority     json.RawMessage `json:"Priority"` // a string in RT 5.0, a number elsewhere
	Status       string          `json:"Status"`
	Created      string          `json:"Created"`
	Queue        rtRef           `json:"Queue"`
	CustomFields []struct {
		ID     rtID     `json:"id"`
		Name   string   `json:"name"`
		Values []string `json:"values"`
	} `json:"CustomFields"`
}

// cf returns the id of the custom field name (the history names fields
// by id) and its first value.
func (t *rtTicket) cf(name string) (id, value string) {
	for _, f := range t.CustomFields {
		if f.Name == name {
			if len(f.Values) > 0 {
				value = f.Values[0]
			}
			return string(f.ID), value
		}
	}
	return "", ""
}

// field is the first value of the custom field name.
func (t *rtTicket) field(name string) string {
	_, v := t.cf(name)
	return v
}

func (c *rtClient) ticket(ctx context.Context, id string) (*rtTicket, error) {
	if !validRTID(id) {
		return nil, fmt.Errorf("rt: %q is no ticket number: %w", clip.UTF8(id, 32), ErrTicketNotFound)
	}
	var t rtTicket
	err := c.api.call(ctx, http.MethodGet, "/ticket/"+id, nil, nil, &t)
	if s := statusOf(err); s == http.StatusNotFound || s == http.StatusForbidden {
		// 403: a ticket the bot may not see is, for triage, none.
		return nil, fmt.Errorf("rt ticket %s: %w: %w", id, ErrTicketNotFound, err)
	}
	if err != nil {
		return nil, fmt.Errorf("rt ticket %s: %w", id, err)
	}
	return &t, nil
}

// State reads the ticket's priority (as the P level its number reaches)
// and its tier field.
func (c *rtClient) State(ctx context.Context, id string) (TrackerState, error) {
	t, err := c.ticket(ctx, id)
	if err != nil {
		return TrackerState{}, err
	}
	n, err := strconv.Atoi(strings.Trim(string(t.Priority), `"`))
	if err != nil {
		return TrackerState{Tier: t.field(c.tierField)}, nil
	}
	return TrackerState{Priority: c.level(n), Tier: t.field(c.tierField)}, nil
}

// level is the most urgent P level whose number n reaches.
func (c *rtClient) level(n int) string {
	levels := slices.Sorted(maps.Keys(c.priority))
	for _, p := range levels {
		if n >= c.priority[p] {
			return p
		}
	}
	if len(levels) == 0 {
		return ""
	}
	return levels[len(levels)-1]
}

// Escalate sets priority and/or queue and tier, then comments the note.
func (c *rtClient) Escalate(ctx context.Context, id string, e Escalation) error {
	if !validRTID(id) {
		return fmt.Errorf("rt: %q is no ticket number: %w", clip.UTF8(id, 32), ErrTicketNotFound)
	}
	upd := map[string]any{}
	cl := e.Ticket.Class
	if p, ok := c.priority[cl.Priority]; e.Priority && ok {
		upd["Priority"] = p
	}
	if e.Queue {
		q, err := c.render(c.queue, newTemplateData(e.Ticket))
		if err != nil {
			return err
		}
		if q != "" {
			upd["Queue"] = q
		}
		upd["CustomFields"] = map[string]string{c.tierField: cl.Tier}
	}
	if len(upd) > 0 {
		var msgs []string
		if err := c.api.call(ctx, http.MethodPut, "/ticket/"+id, nil, upd, &msgs); err != nil {
			return fmt.Errorf("rt update %s: %w", id, err)
		}
	}
	return c.comment(ctx, id, e.Note)
}

// rtTxn is one transaction of a ticket's history.
type rtTxn struct {
	// Kind takes RT's "type": "transaction", which encoding/json would
	// otherwise match to Type case-insensitively, overwriting it.
	Kind     string `json:"type"`
	Type     string `json:"Type"`
	Field    string `json:"Field"`
	OldValue string `json:"OldValue"`
	NewValue string `json:"NewValue"`
	Created  string `json:"Created"`
	Creator  rtRef  `json:"Creator"`
}

// maxAuditTickets bounds what one audit reads.
const maxAuditTickets = 100000

// AuditTickets reads the tickets carrying a triage id created since, and
// their history: queue and tier changes by anyone but the user that
// created the ticket (triage's bot), and whether they are resolved.
func (c *rtClient) AuditTickets(ctx context.Context, since time.Time) ([]AuditTicket, error) {
	query := "CF.{" + c.idField + "} IS NOT NULL AND Created >= " + ticketSQLString(since.UTC().Format(time.DateTime))
	var out []AuditTicket
	queues := map[string]string{} // id → name
	for page := 1; ; page++ {
		var res rtCollection
		q := url.Values{"query": {query}, "orderby": {"id"}, "per_page": {"100"}, "page": {strconv.Itoa(page)}}
		if err := c.api.call(ctx, http.MethodGet, "/tickets", q, nil, &res); err != nil {
			return nil, fmt.Errorf("rt search: %w", err)
		}
		for _, r := range res.Items {
			at, err := c.auditTicket(ctx, string(r.ID), queues)
			if err != nil {
				return nil, err
			}
			out = append(out, *at)
		}
		if len(res.Items) == 0 || float64(page) >= res.Pages || len(out) >= maxAuditTickets {
			return out, nil
		}
	}
}

func (c *rtClient) auditTicket(ctx context.Context, id string, queues map[string]string) (*AuditTicket, error) {
	t, err := c.ticket(ctx, id)
	if err != nil {
		return nil, err
	}
	at := &AuditTicket{TrackerID: id, TriageID: t.field(c.idField), FinalTier: t.field(c.tierField)}
	at.Created, _ = time.Parse(time.RFC3339, t.Created)
	if r := t.field(c.rulesField); r != "" {
		at.Rules = strings.Split(r, ",")
	}
	switch t.Status {
	case "resolved", "closed":
		at.Resolved = true
	}
	if at.FinalQueue, err = c.queueName(ctx, string(t.Queue.ID), queues); err != nil {
		return nil, err
	}
	var txns []rtTxn
	for page := 1; ; page++ {
		var res struct {
			Items []rtTxn `json:"items"`
			Pages float64 `json:"pages"`
		}
		q := url.Values{"fields": {"Type,Field,OldValue,NewValue,Created,Creator"}, "per_page": {"100"}, "page": {strconv.Itoa(page)}}
		if err := c.api.call(ctx, http.MethodGet, "/ticket/"+id+"/history", q, nil, &res); err != nil {
			return nil, fmt.Errorf("rt history %s: %w", id, err)
		}
		txns = append(txns, res.Items...)
		if len(res.Items) == 0 || float64(page) >= res.Pages || len(txns) > 10000 {
			break
		}
	}
	tierID, _ := t.cf(c.tierField)
	return c.replay(ctx, at, tierID, txns, queues)
}

// replay reads the routing history: the queue and tier triage chose are
// the first values the history shows (the values at creation), every
// later change by someone other than the creator is a move.
func (c *rtClient) replay(ctx context.Context, at *AuditTicket, tierCF string, txns []rtTxn, queues map[string]string) (*AuditTicket, error) {
	creator := ""
	for _, x := range txns {
		if x.Type == "Create" {
			creator = string(x.Creator.ID)
		}
	}
	at.Queue, at.Tier = at.FinalQueue, at.FinalTier
	firstQueue, firstTier := true, true
	for _, x := range txns {
		var mv AuditMove
		switch {
		case x.Type == "Set" && x.Field == "Queue":
			from, err := c.queueName(ctx, x.OldValue, queues)
			if err != nil {
				return nil, err
			}
			to, err := c.queueName(ctx, x.NewValue, queues)
			if err != nil {
				return nil, err
			}
			if firstQueue {
				at.Queue, firstQueue = from, false
			}
			mv.FromQueue, mv.ToQueue = from, to
		case x.Type == "CustomField" && x.Field == tierCF && tierCF != "":
			if x.OldValue == "" { // set at creation
				continue
			}
			if firstTier {
				at.Tier, firstTier = x.OldValue, false
			}
			mv.FromTier, mv.ToTier = x.OldValue, x.NewValue
		default:
			continue
		}
		if string(x.Creator.ID) == creator {
			continue // triage's own escalation on reply
		}
		mv.At, _ = time.Parse(time.RFC3339, x.Created)
		mv.By = string(x.Creator.ID)
		at.Moves = append(at.Moves, mv)
	}
	return at, nil
}

func (c *rtClient) queueName(ctx context.Context, id string, cache map[string]string) (string, error) {
	if id == "" {
		return "", nil
	}
	if n, ok := cache[id]; ok {
		return n, nil
	}
	var q struct {
		Name string `json:"Name"`
	}
	if err := c.api.call(ctx, http.MethodGet, "/queue/"+url.PathEscape(id), nil, nil, &q); err != nil {
		if statusOf(err) == http.StatusNotFound {
			cache[id] = id
			return id, nil
		}
		return "", fmt.Errorf("rt queue %s: %w", id, err)
	}
	cache[id] = cmp.Or(q.Name, id)
	return cache[id], nil
}
