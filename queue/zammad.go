package queue

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
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
	Attributes   map[string]string `yaml:"attributes,omitempty" json:"attributes,omitempty" jsonschema_description:"Custom ticket attribute name to a template over the decision, e.g. triage_tier: '{{.Tier}}'."`
}

// defaultZammadPriority maps triage priorities to Zammad's stock ones.
var defaultZammadPriority = map[string]string{"P1": "3 high", "P2": "3 high", "P3": "2 normal", "P4": "1 low"}

// zammadAttribute is the form Zammad gives custom object attribute names.
var zammadAttribute = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

func (c *ZammadConfig) validate(_ string, add func(string, ...any)) {
	if c.URL == "" {
		add("zammad needs url")
	} else if err := checkWebhookURL(c.URL); err != nil {
		add("%v", err)
	}
	c.apiToken.validate(add)
	if c.Group != "" {
		if _, err := parseTemplate("group", c.Group); err != nil {
			add("group: %v", err)
		}
	}
	for _, a := range []struct{ key, v string }{{"id_attribute", c.IDAttribute}, {"due_attribute", c.DueAttribute}} {
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
	token, err := c.read(q.baseDir)
	if err != nil {
		return nil, fmt.Errorf("queue %s: %w", q.name, err)
	}
	api, err := newTrackerAPI(q.name, c.URL, "Token token="+token, q.timeout)
	if err != nil {
		return nil, fmt.Errorf("queue %s: %w", q.name, err)
	}
	z := &zammadClient{
		api:         api,
		state:       cmp.Or(c.State, "new"),
		articleType: cmp.Or(c.ArticleType, "note"),
		idAttribute: c.IDAttribute,
		dueAttr:     c.DueAttribute,
		priority:    c.Priority,
	}
	if z.priority == nil {
		z.priority = defaultZammadPriority
	}
	if z.group, err = parseTemplate("group", cmp.Or(c.Group, "Users")); err != nil {
		return nil, fmt.Errorf("queue %s: group: %w", q.name, err)
	}
	var problems []string
	z.attributes = parseFieldTemplates("attributes", c.Attributes, func(f string, a ...any) { problems = append(problems, fmt.Sprintf(f, a...)) })
	if len(problems) > 0 {
		return nil, fmt.Errorf("queue %s: %s", q.name, strings.Join(problems, "; "))
	}
	return newTrackerSink(q, z), nil
}

// zammadClient speaks Zammad's REST API (api/v1) as documented.
type zammadClient struct {
	api         *trackerAPI
	group       *template.Template
	priority    map[string]string
	state       string
	articleType string
	idAttribute string
	dueAttr     string
	attributes  map[string]*template.Template
}

// zammadIDTag is the tag that carries the triage id when no attribute does.
func zammadIDTag(id string) string { return "triage-" + strings.ToLower(id) }

// zammadTicket is what triage reads of a Zammad ticket.
type zammadTicket struct {
	ID     int64  `json:"id"`
	Number string `json:"number"`
}

func (z *zammadClient) close() { z.api.close() }

// find looks the triage id up: a search for the id attribute or tag,
// each hit checked exactly (Zammad's search matches words, not values).
func (z *zammadClient) find(ctx context.Context, id string) (ref string, found bool, err error) {
	query := "tags:" + strconv.Quote(zammadIDTag(id))
	if z.idAttribute != "" {
		query = z.idAttribute + ":" + strconv.Quote(id)
	}
	hits, err := z.search(ctx, query)
	if err != nil {
		return "", false, err
	}
	for _, h := range hits {
		if z.idAttribute != "" {
			if v, _ := h.attrs[z.idAttribute].(string); v == id {
				return h.ref(), true, nil
			}
			continue
		}
		tags, err := z.tags(ctx, h.ID)
		if err != nil {
			return "", false, err
		}
		for _, tg := range tags {
			if tg == zammadIDTag(id) {
				return h.ref(), true, nil
			}
		}
	}
	return "", false, nil
}

// ref is how triage names a Zammad ticket: its id, then its number (the
// one in Zammad's [Ticket#N] subject tag).
func (t zammadTicket) ref() string { return strconv.FormatInt(t.ID, 10) + "/" + t.Number }

// parseZammadRef splits a ref made by zammadTicket.ref.
func parseZammadRef(ref string) (id int64, number string, ok bool) {
	idText, number, cut := strings.Cut(ref, "/")
	id, err := strconv.ParseInt(idText, 10, 64)
	return id, number, cut && err == nil && id > 0
}

type zammadHit struct {
	zammadTicket
	attrs map[string]any
}

// search runs a ticket search and returns the hits with their attributes
// (from the answer's assets).
func (z *zammadClient) search(ctx context.Context, query string) ([]zammadHit, error) {
	var res struct {
		Tickets []int64 `json:"tickets"`
		Assets  struct {
			Ticket map[string]map[string]any `json:"Ticket"`
		} `json:"assets"`
	}
	q := url.Values{"query": {query}, "limit": {"10"}}
	if err := z.api.do(ctx, apiCall{method: http.MethodGet, path: "/api/v1/tickets/search", query: q}, &res); err != nil {
		return nil, err
	}
	hits := make([]zammadHit, 0, len(res.Tickets))
	for _, id := range res.Tickets {
		attrs := res.Assets.Ticket[strconv.FormatInt(id, 10)]
		number, _ := attrs["number"].(string)
		hits = append(hits, zammadHit{zammadTicket{ID: id, Number: number}, attrs})
	}
	return hits, nil
}

func (z *zammadClient) tags(ctx context.Context, ticketID int64) ([]string, error) {
	var res struct {
		Tags []string `json:"tags"`
	}
	q := url.Values{"object": {"Ticket"}, "o_id": {strconv.FormatInt(ticketID, 10)}}
	err := z.api.do(ctx, apiCall{method: http.MethodGet, path: "/api/v1/tags", query: q}, &res)
	return res.Tags, err
}

// resolve finds the ticket a mail's ticket_ref names: the number of
// Zammad's [Ticket#N] subject tag, or a ref triage recorded.
func (z *zammadClient) resolve(ctx context.Context, ticketRef string) (ref string, found bool, err error) {
	if _, _, ok := parseZammadRef(ticketRef); ok {
		return ticketRef, true, nil
	}
	number := strings.TrimSpace(ticketRef)
	if number == "" || strings.Trim(number, "0123456789") != "" {
		return "", false, nil
	}
	hits, err := z.search(ctx, "number:"+number)
	if err != nil {
		return "", false, err
	}
	for _, h := range hits {
		if h.Number == number {
			return h.ref(), true, nil
		}
	}
	return "", false, nil
}

// customer finds the Zammad user of a mail's sender, or creates one with
// the display name, so the ticket shows the requester's real name.
func (z *zammadClient) customer(ctx context.Context, from ticket.Address) (int64, error) {
	var users []struct {
		ID    int64  `json:"id"`
		Email string `json:"email"`
	}
	q := url.Values{"query": {"email:" + strconv.Quote(from.Address)}, "limit": {"10"}}
	if err := z.api.do(ctx, apiCall{method: http.MethodGet, path: "/api/v1/users/search", query: q}, &users); err != nil {
		return 0, err
	}
	for _, u := range users {
		if strings.EqualFold(u.Email, from.Address) {
			return u.ID, nil
		}
	}
	first, last := splitName(from.Name)
	var created struct {
		ID int64 `json:"id"`
	}
	in := map[string]any{"firstname": first, "lastname": last, "email": from.Address}
	if err := z.api.do(ctx, apiCall{method: http.MethodPost, path: "/api/v1/users", in: in}, &created); err != nil {
		return 0, err
	}
	if created.ID <= 0 {
		return 0, temporary("queue %s: POST /api/v1/users: %w: no user id", z.api.queue, errAPIResponse)
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

func zammadAttachments(atts []mailAttachment) []zammadAttachment {
	out := make([]zammadAttachment, 0, len(atts))
	for _, a := range atts {
		out = append(out, zammadAttachment{Filename: a.Name, Data: base64.StdEncoding.EncodeToString(a.Data), MimeType: a.Type})
	}
	return out
}

// article is the customer's mail as a Zammad article.
func (z *zammadClient) article(t *ticket.Ticket, atts []mailAttachment) map[string]any {
	a := map[string]any{
		"subject":      t.Subject,
		"body":         t.Body,
		"content_type": "text/plain",
		"type":         z.articleType,
		"sender":       "Customer",
		"internal":     false,
		"from":         formatAddress(t.From),
		"to":           formatAddresses(t.To),
		"cc":           formatAddresses(t.Cc),
		"attachments":  zammadAttachments(atts),
	}
	if t.MessageID != "" {
		a["message_id"] = t.MessageID
	}
	return a
}

// create makes the ticket with the mail as its first article.
func (z *zammadClient) create(ctx context.Context, t *ticket.Ticket, atts []mailAttachment) (string, error) {
	data := newTemplateData(t)
	group, err := renderField(z.group, data)
	if err != nil {
		return "", permanent("queue %s: group: %w", z.api.queue, err)
	}
	customerID, err := z.customer(ctx, t.From)
	if err != nil {
		return "", err
	}
	in := map[string]any{
		"title":       cmp.Or(sanitizeHeaderText(t.Subject, 250), "(no subject)"),
		"group":       group,
		"customer_id": customerID,
		"state":       z.state,
		"article":     z.article(t, atts),
	}
	if p := z.priority[t.Class.Priority]; p != "" {
		in["priority"] = p
	}
	for name, tmpl := range z.attributes {
		v, err := renderField(tmpl, data)
		if err != nil {
			return "", permanent("queue %s: attributes.%s: %w", z.api.queue, name, err)
		}
		in[name] = v
	}
	if z.idAttribute != "" {
		in[z.idAttribute] = t.ID
	}
	if z.dueAttr != "" && data.ResolveDue != "" {
		in[z.dueAttr] = data.ResolveDue
	}
	var created zammadTicket
	if err := z.api.do(ctx, apiCall{method: http.MethodPost, path: "/api/v1/tickets", in: in}, &created); err != nil {
		return "", err
	}
	if created.ID <= 0 {
		return "", temporary("queue %s: POST /api/v1/tickets: %w: no ticket id", z.api.queue, errAPIResponse)
	}
	tags := append([]string(nil), t.Class.Tags...)
	if z.idAttribute == "" {
		tags = append([]string{zammadIDTag(t.ID)}, tags...) // first: the lookup depends on it
	}
	for i, tag := range tags {
		in := map[string]any{"item": tag, "object": "Ticket", "o_id": created.ID}
		if err := z.api.do(ctx, apiCall{method: http.MethodPost, path: "/api/v1/tags/add", in: in}, nil); err != nil {
			if i == 0 && z.idAttribute == "" {
				// Without its id tag a retry would create the ticket again.
				return created.ref(), fmt.Errorf("queue %s: ticket %s created, id tag not added: %w", z.api.queue, created.Number, err)
			}
			return created.ref(), fmt.Errorf("queue %s: ticket %s created, tag %q not added: %w", z.api.queue, created.Number, tag, err)
		}
	}
	return created.ref(), nil
}

// reply adds the mail to an existing ticket as an article.
func (z *zammadClient) reply(ctx context.Context, ref string, t *ticket.Ticket, atts []mailAttachment) error {
	id, _, ok := parseZammadRef(ref)
	if !ok {
		return permanent("queue %s: %q is no Zammad ticket", z.api.queue, ref)
	}
	a := z.article(t, atts)
	a["ticket_id"] = id
	return z.api.do(ctx, apiCall{method: http.MethodPost, path: "/api/v1/ticket_articles", in: a}, nil)
}

// note adds triage's explanation of its decision as an internal article.
func (z *zammadClient) note(ctx context.Context, ref string, text string) error {
	id, _, ok := parseZammadRef(ref)
	if !ok {
		return permanent("queue %s: %q is no Zammad ticket", z.api.queue, ref)
	}
	in := map[string]any{
		"ticket_id": id, "subject": "triage", "body": text, "content_type": "text/plain",
		"type": "note", "internal": true,
	}
	return z.api.do(ctx, apiCall{method: http.MethodPost, path: "/api/v1/ticket_articles", in: in}, nil)
}

// escalate sets the group and priority the decision gives a reply.
func (z *zammadClient) escalate(ctx context.Context, ref string, t *ticket.Ticket) error {
	id, _, ok := parseZammadRef(ref)
	if !ok {
		return permanent("queue %s: %q is no Zammad ticket", z.api.queue, ref)
	}
	group, err := renderField(z.group, newTemplateData(t))
	if err != nil {
		return permanent("queue %s: group: %w", z.api.queue, err)
	}
	in := map[string]any{"group": group}
	if p := z.priority[t.Class.Priority]; p != "" {
		in["priority"] = p
	}
	return z.api.do(ctx, apiCall{method: http.MethodPut, path: "/api/v1/tickets/" + strconv.FormatInt(id, 10), in: in}, nil)
}
