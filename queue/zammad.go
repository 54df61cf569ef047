package queue

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/triage-dev/triage/ticket"
)

func init() {
	register("zammad", sinkType{
		doc:      "creates a Zammad ticket per mail through its REST API (customer, group, priority, tags, attachments) and adds replies to it as articles",
		timeout:  30 * time.Second,
		settings: func() Settings { return new(ZammadConfig) },
	})
}

// ZammadConfig are the keys of a zammad queue.
type ZammadConfig struct {
	URL      string `yaml:"url" json:"url" jsonschema:"required" jsonschema_description:"Zammad's base URL as users type it, e.g. https://zammad.example.com (the API is under /api/v1)."`
	apiToken `yaml:",inline" json:",inline"`
	Group    string            `yaml:"group,omitempty" json:"group,omitempty" jsonschema_description:"Zammad group; a template over the decision, e.g. {{.Queue}}. Default Users."`
	Priority map[string]string `yaml:"priority,omitempty" json:"priority,omitempty" jsonschema_description:"triage priority (P1..P4) to Zammad priority name; default P1 and P2: 3 high, P3: 2 normal, P4: 1 low."`
	State    string            `yaml:"state,omitempty" json:"state,omitempty" jsonschema_description:"State of a new ticket; default new."`
	// ArticleType is the type of the articles triage writes for the mail:
	// note is never sent out by Zammad, whatever its sender.
	ArticleType string `yaml:"article_type,omitempty" json:"article_type,omitempty" jsonschema:"enum=note,enum=web,enum=email" jsonschema_description:"Type of the customer's articles; default note (Zammad never sends a note out)."`
	IDAttribute string `yaml:"id_attribute,omitempty" json:"id_attribute,omitempty" jsonschema_description:"Custom ticket attribute (text) that holds the triage id, set in the create call itself; default none: the tag triage-<id> is added right after the create."`
	// DueAttribute is a custom datetime attribute: Zammad computes its own
	// escalation times from its SLAs and takes none from the API.
	DueAttribute string            `yaml:"due_attribute,omitempty" json:"due_attribute,omitempty" jsonschema_description:"Custom ticket attribute (datetime) set to the resolve due time; default none."`
	Attributes   map[string]string `yaml:"attributes,omitempty" json:"attributes,omitempty" jsonschema_description:"Custom ticket attribute name to a template over the decision, e.g. triage_rules: '{{join \", \" .Rules}}'."`
	// TierAttribute holds the tier, so that a reply can tell whether it
	// raises it (Zammad has no tiers of its own).
	TierAttribute string `yaml:"tier_attribute,omitempty" json:"tier_attribute,omitempty" jsonschema_description:"Custom ticket attribute (text) set to the tier (L1..L3) and read back when a reply may escalate; default none: replies raise the priority only."`
	TicketHook    string `yaml:"ticket_hook,omitempty" json:"ticket_hook,omitempty" jsonschema_description:"Zammad's ticket_hook setting, for its subject tag [Ticket#31001]; default Ticket#."`
	// FallbackCustomer files a mail whose sender Zammad refuses.
	FallbackCustomer string `yaml:"fallback_customer,omitempty" json:"fallback_customer,omitempty" jsonschema_description:"E-mail address of the customer a ticket gets when Zammad refuses the sender (the sender is then named in the note); default none: such mail fails."`
}

// defaultZammadPriority maps triage priorities to Zammad's stock ones.
var defaultZammadPriority = map[string]string{"P1": "3 high", "P2": "3 high", "P3": "2 normal", "P4": "1 low"}

// zammadAttribute is the form Zammad gives custom object attribute names.
var zammadAttribute = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

func (c *ZammadConfig) validate(_ string, add func(string, ...any)) {
	validateTrackerURL("zammad", c.URL, "token_env or token_file", add)
	if strings.ContainsAny(c.TicketHook, "[]\r\n") {
		add("ticket_hook %q must not contain [ ] or line breaks", c.TicketHook)
	}
	c.apiToken.validate(add)
	checkTemplate("group", c.Group, add)
	for _, a := range []struct{ key, v string }{{"id_attribute", c.IDAttribute}, {"due_attribute", c.DueAttribute}, {"tier_attribute", c.TierAttribute}} {
		if a.v != "" && !zammadAttribute.MatchString(a.v) {
			add("%s %q is not a Zammad attribute name (lower case letters, digits, _)", a.key, a.v)
		}
	}
	for name := range c.Attributes {
		if !zammadAttribute.MatchString(name) {
			add("attributes: %q is not a Zammad attribute name (lower case letters, digits, _)", name)
		}
	}
	parseFieldTemplates("attributes", c.Attributes, add)
	switch c.ArticleType {
	case "", "note", "web", "email":
	default:
		add("article_type %q is not one of note, web, email", c.ArticleType)
	}
}

func (c *ZammadConfig) open(q sinkSpec) (Sink, error) {
	z, err := c.client(q)
	if err != nil {
		return nil, fmt.Errorf("queue %s: %w", q.name, err)
	}
	return newTrackerSink(q, c.URL, z, z.api.close), nil
}

func (c *ZammadConfig) client(q sinkSpec) (*zammadClient, error) {
	api, err := c.openAPI(q, c.URL, "/api/v1", func(token string) string { return "Token token=" + token }, nil)
	if err != nil {
		return nil, err
	}
	// The client reads the keys with their defaults applied.
	cfg := *c
	cfg.State = cmp.Or(cfg.State, "new")
	cfg.ArticleType = cmp.Or(cfg.ArticleType, "note")
	if cfg.Priority == nil {
		cfg.Priority = defaultZammadPriority
	}
	z := &zammadClient{
		cfg:        cfg,
		api:        api,
		log:        q.log,
		subjectTag: regexp.MustCompile(`\[` + regexp.QuoteMeta(cmp.Or(c.TicketHook, "Ticket#")) + `(\d{1,18})\]`),
	}
	if z.group, err = parseTemplate("group", cmp.Or(c.Group, "Users")); err != nil {
		return nil, fmt.Errorf("group: %w", err)
	}
	if z.attributes, err = fieldTemplates("attributes", c.Attributes); err != nil {
		return nil, err
	}
	return z, nil
}

// zammadClient is the TrackerClient of Zammad's REST API (api/v1), as
// documented. A ticket is named by its number, the one in Zammad's
// [Ticket#N] subject tag; the API's own id is looked up where a call
// needs it.
type zammadClient struct {
	cfg        ZammadConfig // defaults applied
	api        *trackerAPI
	log        *slog.Logger
	group      *template.Template
	attributes map[string]*template.Template
	subjectTag *regexp.Regexp
}

// zammadTicket is what triage reads of a Zammad ticket.
type zammadTicket struct {
	ID     int64  `json:"id"`
	Number string `json:"number"`
}

// SubjectRef reads Zammad's subject tag: "[Ticket#31001]" → "31001".
func (z *zammadClient) SubjectRef(subject string) string { return subjectRef(z.subjectTag, subject) }

// Find searches for the id attribute or tag and checks each hit exactly
// (Zammad's search matches words, not values).
func (z *zammadClient) Find(ctx context.Context, triageID string) (string, error) {
	query := "tags:" + strconv.Quote(trackerIDLabel(triageID))
	if z.cfg.IDAttribute != "" {
		query = z.cfg.IDAttribute + ":" + strconv.Quote(triageID)
	}
	hits, err := z.search(ctx, query)
	if err != nil {
		return "", err
	}
	for _, h := range hits {
		if z.cfg.IDAttribute != "" {
			if v, _ := h.attrs[z.cfg.IDAttribute].(string); v == triageID {
				return h.Number, nil
			}
			continue
		}
		tags, err := z.tags(ctx, h.ID)
		if err != nil {
			return "", err
		}
		if slices.Contains(tags, trackerIDLabel(triageID)) {
			return h.Number, nil
		}
	}
	return "", nil
}

type zammadHit struct {
	zammadTicket
	attrs map[string]any
}

// search runs a ticket search and returns the hits with their attributes.
// Zammad answers {"tickets": [ids], "assets": {"Ticket": {id: {…}}}}; the
// API documentation of releases before 5 shows a list of tickets: both are
// read.
func (z *zammadClient) search(ctx context.Context, query string) ([]zammadHit, error) {
	var raw json.RawMessage
	q := url.Values{"query": {query}, "limit": {"10"}}
	if err := z.api.call(ctx, http.MethodGet, "/tickets/search", q, nil, &raw); err != nil {
		return nil, err
	}
	var tickets []map[string]any
	if b := bytes.TrimSpace(raw); len(b) > 0 && b[0] == '[' {
		if err := json.Unmarshal(b, &tickets); err != nil {
			return nil, temporary("GET /tickets/search: %w: %w", errAPIResponse, err)
		}
	} else {
		var res struct {
			Tickets []int64 `json:"tickets"`
			Assets  struct {
				Ticket map[string]map[string]any `json:"Ticket"`
			} `json:"assets"`
		}
		if err := json.Unmarshal(b, &res); err != nil {
			return nil, temporary("GET /tickets/search: %w: %w", errAPIResponse, err)
		}
		for _, id := range res.Tickets {
			if attrs := res.Assets.Ticket[strconv.FormatInt(id, 10)]; attrs != nil {
				tickets = append(tickets, attrs)
			}
		}
	}
	hits := make([]zammadHit, 0, len(tickets))
	for _, attrs := range tickets {
		id, _ := attrs["id"].(float64)
		number, _ := attrs["number"].(string)
		if id > 0 && id < 1<<53 && validZammadNumber(number) {
			hits = append(hits, zammadHit{zammadTicket{ID: int64(id), Number: number}, attrs})
		}
	}
	return hits, nil
}

func validZammadNumber(n string) bool {
	return n != "" && len(n) <= 32 && strings.Trim(n, "0123456789") == ""
}

func (z *zammadClient) tags(ctx context.Context, ticketID int64) ([]string, error) {
	var res struct {
		Tags []string `json:"tags"`
	}
	q := url.Values{"object": {"Ticket"}, "o_id": {strconv.FormatInt(ticketID, 10)}}
	err := z.api.call(ctx, http.MethodGet, "/tags", q, nil, &res)
	return res.Tags, err
}

// ticketID is the API id of the ticket with number; ErrTicketNotFound
// when there is none.
func (z *zammadClient) ticketID(ctx context.Context, number string) (int64, error) {
	if !validZammadNumber(number) {
		return 0, fmt.Errorf("%q: %w", number, ErrTicketNotFound)
	}
	hits, err := z.search(ctx, "number:"+number)
	if err != nil {
		return 0, err
	}
	for _, h := range hits {
		if h.Number == number {
			return h.ID, nil
		}
	}
	return 0, fmt.Errorf("ticket %s: %w", number, ErrTicketNotFound)
}

// customer finds the Zammad user of the requester, or creates one with
// the display name, so the ticket shows the requester's real name. A
// refusal of the address is ErrRequesterRefused.
func (z *zammadClient) customer(ctx context.Context, from ticket.Address) (int64, error) {
	var users []struct {
		ID    int64  `json:"id"`
		Email string `json:"email"`
	}
	q := url.Values{"query": {"email:" + strconv.Quote(from.Address)}, "limit": {"10"}}
	if err := z.api.call(ctx, http.MethodGet, "/users/search", q, nil, &users); err != nil {
		return 0, err
	}
	for _, u := range users {
		if strings.EqualFold(u.Email, from.Address) && u.ID > 0 {
			return u.ID, nil
		}
	}
	first, last := splitName(from.Name)
	var created struct {
		ID int64 `json:"id"`
	}
	in := map[string]any{"firstname": first, "lastname": last, "email": from.Address}
	if err := z.api.call(ctx, http.MethodPost, "/users", nil, in, &created); err != nil {
		if code := statusOf(err); code == http.StatusUnprocessableEntity || code == http.StatusBadRequest {
			return 0, fmt.Errorf("%w: %w", ErrRequesterRefused, err)
		}
		return 0, err
	}
	if created.ID <= 0 {
		return 0, temporary("POST /users: %w: no user id", errAPIResponse)
	}
	return created.ID, nil
}

// splitName splits a display name into Zammad's first and last name.
func splitName(name string) (first, last string) {
	name = strings.Join(strings.Fields(name), " ")
	if i := strings.LastIndexByte(name, ' '); i > 0 {
		return name[:i], name[i+1:]
	}
	return name, ""
}

// zammadAttachment is an attachment as Zammad's article API takes it.
type zammadAttachment struct {
	Filename string `json:"filename"`
	Data     string `json:"data"`
	MimeType string `json:"mime-type"`
}

// article is the customer's mail as a Zammad article: the HTML body when
// the mail has one (Zammad shows and sanitizes it), else the text.
func (z *zammadClient) article(m *TrackerMail) map[string]any {
	t := m.Ticket
	atts := make([]zammadAttachment, 0, len(m.Content.Attachments))
	for _, f := range m.Content.Attachments {
		atts = append(atts, zammadAttachment{Filename: f.Name, Data: base64.StdEncoding.EncodeToString(f.Data), MimeType: cmp.Or(f.Type, "application/octet-stream")})
	}
	body, contentType := t.Body, "text/plain"
	if m.Content.HTML != "" {
		body, contentType = m.Content.HTML, "text/html"
	}
	a := map[string]any{
		"subject":      t.Subject,
		"body":         body,
		"content_type": contentType,
		"type":         z.cfg.ArticleType,
		"sender":       "Customer",
		"internal":     false,
		"from":         displayAddress(t.From),
		"to":           formatAddresses(t.To),
		"cc":           formatAddresses(t.Cc),
		"attachments":  atts,
	}
	if t.MessageID != "" {
		a["message_id"] = t.MessageID
	}
	return a
}

// Create makes the ticket with the mail as its first article, then adds
// the id tag (unless an attribute carries the id), the decision's tags
// and triage's note as an internal article.
func (z *zammadClient) Create(ctx context.Context, m *TrackerMail) (string, error) {
	t := m.Ticket
	data := newTemplateData(t)
	group, err := renderField("group", z.group, data)
	if err != nil {
		return "", err
	}
	in := map[string]any{
		"title":   cmp.Or(sanitizeHeaderText(t.Subject, 250), "(no subject)"),
		"group":   group,
		"state":   z.cfg.State,
		"article": z.article(m),
	}
	switch {
	case m.Requester.Address != "":
		id, err := z.customer(ctx, m.Requester)
		if err != nil {
			return "", err
		}
		in["customer_id"] = id
	case z.cfg.FallbackCustomer != "":
		in["customer_id"] = "guess:" + z.cfg.FallbackCustomer
	default:
		return "", permanent("Zammad refused the requester and no fallback_customer is set")
	}
	if p := z.cfg.Priority[t.Class.Priority]; p != "" {
		in["priority"] = p
	}
	if err := renderFields("attributes", z.attributes, data, in); err != nil {
		return "", err
	}
	if z.cfg.IDAttribute != "" {
		in[z.cfg.IDAttribute] = t.ID
	}
	if z.cfg.TierAttribute != "" {
		in[z.cfg.TierAttribute] = t.Class.Tier
	}
	if z.cfg.DueAttribute != "" && data.ResolveDue != "" {
		in[z.cfg.DueAttribute] = data.ResolveDue
	}
	var created zammadTicket
	if err := z.api.call(ctx, http.MethodPost, "/tickets", nil, in, &created); err != nil {
		return "", err
	}
	if created.ID <= 0 || !validZammadNumber(created.Number) {
		return "", temporary("POST /tickets: %w: no ticket id and number", errAPIResponse)
	}
	// The ticket exists: what follows is logged when it fails, never
	// retried (a retry would find the ticket through the state store
	// and stop there).
	tags := t.Class.Tags
	if z.cfg.IDAttribute == "" {
		tags = append([]string{trackerIDLabel(t.ID)}, tags...)
	}
	for _, tag := range tags {
		in := map[string]any{"item": tag, "object": "Ticket", "o_id": created.ID}
		if err := z.api.call(ctx, http.MethodPost, "/tags/add", nil, in, nil); err != nil {
			z.log.Warn("zammad: tag not added", "tracker_id", created.Number, "tag", tag, "err", err)
		}
	}
	if err := z.note(ctx, created.ID, m.Note); err != nil {
		z.log.Warn("zammad: note not added", "tracker_id", created.Number, "err", err)
	}
	return created.Number, nil
}

// note adds triage's explanation as an internal article.
func (z *zammadClient) note(ctx context.Context, id int64, text string) error {
	in := map[string]any{
		"ticket_id": id, "subject": "triage", "body": text, "content_type": "text/plain",
		"type": "note", "internal": true,
	}
	return z.api.call(ctx, http.MethodPost, "/ticket_articles", nil, in, nil)
}

// Reply adds the mail to the ticket as an article the customer sees.
func (z *zammadClient) Reply(ctx context.Context, number string, m *TrackerMail) error {
	id, err := z.ticketID(ctx, number)
	if err != nil {
		return err
	}
	a := z.article(m)
	a["ticket_id"] = id
	return z.api.call(ctx, http.MethodPost, "/ticket_articles", nil, a, nil)
}

// State reads the ticket's priority (mapped back through priority) and
// tier (from tier_attribute).
func (z *zammadClient) State(ctx context.Context, number string) (TrackerState, error) {
	id, err := z.ticketID(ctx, number)
	if err != nil {
		return TrackerState{}, err
	}
	var tk map[string]any
	q := url.Values{"expand": {"true"}}
	if err := z.api.call(ctx, http.MethodGet, "/tickets/"+strconv.FormatInt(id, 10), q, nil, &tk); err != nil {
		return TrackerState{}, err
	}
	prio, _ := tk["priority"].(string)
	st := TrackerState{Priority: priorityOf(z.cfg.Priority, prio)}
	if z.cfg.TierAttribute != "" {
		if tier, _ := tk[z.cfg.TierAttribute].(string); rank(tier) > 0 {
			st.Tier = tier
		}
	}
	return st, nil
}

// Escalate sets the priority and/or the group (and tier) of the reply's
// decision, with the note as an internal article, in one update.
func (z *zammadClient) Escalate(ctx context.Context, number string, e Escalation) error {
	id, err := z.ticketID(ctx, number)
	if err != nil {
		return err
	}
	cl := e.Ticket.Class
	in := map[string]any{
		"article": map[string]any{"subject": "triage: escalated", "body": e.Note, "content_type": "text/plain", "type": "note", "internal": true},
	}
	if p := z.cfg.Priority[cl.Priority]; e.Priority && p != "" {
		in["priority"] = p
	}
	if e.Queue {
		group, err := renderField("group", z.group, newTemplateData(e.Ticket))
		if err != nil {
			return err
		}
		in["group"] = group
		if z.cfg.TierAttribute != "" {
			in[z.cfg.TierAttribute] = cl.Tier
		}
	}
	return z.api.call(ctx, http.MethodPut, "/tickets/"+strconv.FormatInt(id, 10), nil, in, nil)
}
