package queue

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/textproto"
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
	register("jira", sinkType{
		doc:      "creates a Jira Service Management request per mail on behalf of the sender (request type, fields, attachments) and adds replies to it as public comments",
		timeout:  30 * time.Second,
		settings: func() Settings { return new(JiraConfig) },
	})
}

// JiraConfig are the keys of a jira (Service Management) queue.
type JiraConfig struct {
	URL string `yaml:"url" json:"url" jsonschema:"required" jsonschema_description:"Jira's base URL as users type it, e.g. https://example.atlassian.net."`
	// Username selects HTTP basic authentication (Jira Cloud: the account's
	// e-mail address and an API token); without it the token is sent as a
	// bearer token (Data Center personal access token).
	Username string `yaml:"username,omitempty" json:"username,omitempty" jsonschema_description:"Jira Cloud: the e-mail address of the account whose API token token_env holds (basic authentication); leave out for a Data Center personal access token (bearer)."`
	apiToken `yaml:",inline" json:",inline"`
	// Deployment picks the user model: Cloud names customers by accountId,
	// Data Center by user name.
	Deployment  string `yaml:"deployment,omitempty" json:"deployment,omitempty" jsonschema:"enum=cloud,enum=datacenter" jsonschema_description:"cloud (default) or datacenter: how customers are named (accountId or user name)."`
	ServiceDesk string `yaml:"service_desk" json:"service_desk" jsonschema:"required" jsonschema_description:"Service desk id (a number; see /rest/servicedeskapi/servicedesk)."`
	RequestType string `yaml:"request_type" json:"request_type" jsonschema:"required" jsonschema_description:"Request type id; a template over the decision, e.g. {{if eq .Tier \"L3\"}}12{{else}}10{{end}}."`
	IDField     string `yaml:"id_field,omitempty" json:"id_field,omitempty" jsonschema_description:"Field that carries the triage id in the create call itself: labels (default; the label triage-<id>) or a text custom field customfield_NNNNN; it must be a field of the request type."`
	// Priority nil is the default map; an empty map sets no priority (for
	// request types without the Priority field).
	Priority map[string]string `yaml:"priority,omitempty" json:"priority,omitempty" jsonschema_description:"triage priority (P1..P4) to Jira priority name, sent as the priority field; default P1: Highest, P2: High, P3: Medium, P4: Low; {} sends none."`
	DueField string            `yaml:"due_field,omitempty" json:"due_field,omitempty" jsonschema_description:"Date field set to the resolve due date; default duedate; none sends none."`
	Fields   map[string]string `yaml:"fields,omitempty" json:"fields,omitempty" jsonschema_description:"Jira field id (customfield_NNNNN, …) to a template over the decision, e.g. customfield_10070: '{{.Tier}}'; sent as text."`
}

var defaultJiraPriority = map[string]string{"P1": "Highest", "P2": "High", "P3": "Medium", "P4": "Low"}

var (
	jiraCustomField = regexp.MustCompile(`^customfield_[0-9]{1,12}$`)
	jiraFieldID     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)
	jiraNumber      = regexp.MustCompile(`^[0-9]{1,18}$`)
	// jiraKey is an issue key as Jira makes them: project key, dash, number.
	jiraKey = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}-[0-9]{1,18}$`)
)

func (c *JiraConfig) validate(_ string, add func(string, ...any)) {
	if c.URL == "" {
		add("jira needs url")
	} else if err := checkWebhookURL(c.URL); err != nil {
		add("%v", err)
	}
	c.apiToken.validate(add)
	switch c.Deployment {
	case "", "cloud", "datacenter":
	default:
		add("deployment %q is not cloud or datacenter", c.Deployment)
	}
	if !jiraNumber.MatchString(c.ServiceDesk) {
		add("service_desk %q is not a service desk id (a number)", c.ServiceDesk)
	}
	if c.RequestType == "" {
		add("jira needs request_type")
	} else if _, err := parseTemplate("request_type", c.RequestType); err != nil {
		add("request_type: %v", err)
	}
	if c.IDField != "" && c.IDField != "labels" && !jiraCustomField.MatchString(c.IDField) {
		add("id_field %q is not labels or customfield_NNNNN", c.IDField)
	}
	if c.DueField != "" && c.DueField != "none" && !jiraFieldID.MatchString(c.DueField) {
		add("due_field %q is not a Jira field id", c.DueField)
	}
	for id := range c.Fields {
		if !jiraFieldID.MatchString(id) {
			add("fields: %q is not a Jira field id", id)
		}
	}
	parseFieldTemplates("fields", c.Fields, add)
}

func (c *JiraConfig) open(q sinkSpec) (Sink, error) {
	token, err := c.read(q.baseDir)
	if err != nil {
		return nil, fmt.Errorf("queue %s: %w", q.name, err)
	}
	auth := "Bearer " + token
	if c.Username != "" {
		auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(c.Username+":"+token))
	}
	api, err := newTrackerAPI(q.name, c.URL, auth, q.timeout)
	if err != nil {
		return nil, fmt.Errorf("queue %s: %w", q.name, err)
	}
	j := &jiraClient{
		api:         api,
		log:         q.log,
		cloud:       c.Deployment != "datacenter",
		serviceDesk: c.ServiceDesk,
		idField:     cmp.Or(c.IDField, "labels"),
		priority:    c.Priority,
		dueField:    cmp.Or(c.DueField, "duedate"),
	}
	if j.priority == nil {
		j.priority = defaultJiraPriority
	}
	if j.dueField == "none" {
		j.dueField = ""
	}
	if j.requestType, err = parseTemplate("request_type", c.RequestType); err != nil {
		return nil, fmt.Errorf("queue %s: request_type: %w", q.name, err)
	}
	var problems []string
	j.fields = parseFieldTemplates("fields", c.Fields, func(f string, a ...any) { problems = append(problems, fmt.Sprintf(f, a...)) })
	if len(problems) > 0 {
		return nil, fmt.Errorf("queue %s: %s", q.name, strings.Join(problems, "; "))
	}
	return newTrackerSink(q, j), nil
}

// jiraClient speaks the Jira Service Management REST API
// (/rest/servicedeskapi) and, for the lookup, Jira's search
// (/rest/api/2/search), as documented.
type jiraClient struct {
	api         *trackerAPI
	log         *slog.Logger
	cloud       bool
	serviceDesk string
	requestType *template.Template
	idField     string
	priority    map[string]string
	dueField    string
	fields      map[string]*template.Template
}

func (j *jiraClient) close() { j.api.close() }

// jiraIDLabel is the label that carries the triage id (labels hold no spaces).
func jiraIDLabel(id string) string { return "triage-" + strings.ToLower(id) }

// experimental are the headers the Service Management API wants on the
// calls it still calls experimental, and on multipart posts (its XSRF check).
var jiraExperimental = http.Header{"X-Experimentalapi": {"opt-in"}, "X-Atlassian-Token": {"no-check"}}

// find runs a JQL search for the id label or field and checks each hit
// exactly (JQL's ~ on a text field matches words).
func (j *jiraClient) find(ctx context.Context, id string) (string, bool, error) {
	jql := "labels = " + strconv.Quote(jiraIDLabel(id))
	if j.idField != "labels" {
		jql = "cf[" + strings.TrimPrefix(j.idField, "customfield_") + "] ~ " + strconv.Quote(strconv.Quote(id))
	}
	var res struct {
		Issues []struct {
			Key    string         `json:"key"`
			Fields map[string]any `json:"fields"`
		} `json:"issues"`
	}
	q := url.Values{"jql": {jql}, "fields": {j.idField}, "maxResults": {"10"}}
	if err := j.api.do(ctx, apiCall{method: http.MethodGet, path: "/rest/api/2/search", query: q}, &res); err != nil {
		return "", false, err
	}
	for _, is := range res.Issues {
		if !jiraKey.MatchString(is.Key) {
			continue
		}
		switch v := is.Fields[j.idField].(type) {
		case []any:
			if slices.Contains(v, any(jiraIDLabel(id))) {
				return is.Key, true, nil
			}
		case string:
			if v == id {
				return is.Key, true, nil
			}
		}
	}
	return "", false, nil
}

// resolve takes a ticket_ref that is an issue key ([KEY-N] in the subject).
func (j *jiraClient) resolve(_ context.Context, ticketRef string) (string, bool, error) {
	key := strings.ToUpper(strings.TrimSpace(ticketRef))
	return key, jiraKey.MatchString(key), nil
}

// customer finds the Jira user of an address, or creates a customer with
// the display name, and returns how the API names it (Cloud: accountId,
// Data Center: user name).
func (j *jiraClient) customer(ctx context.Context, a ticket.Address) (string, error) {
	var users []struct {
		AccountID string `json:"accountId"`
		Name      string `json:"name"`
		Email     string `json:"emailAddress"`
	}
	q := url.Values{"query": {a.Address}, "maxResults": {"10"}}
	if !j.cloud {
		q = url.Values{"username": {a.Address}, "maxResults": {"10"}}
	}
	if err := j.api.do(ctx, apiCall{method: http.MethodGet, path: "/rest/api/2/user/search", query: q}, &users); err != nil {
		return "", err
	}
	for _, u := range users {
		if strings.EqualFold(u.Email, a.Address) {
			if name := j.userName(u.AccountID, u.Name); name != "" {
				return name, nil
			}
		}
	}
	in := map[string]any{"email": a.Address, "displayName": cmp.Or(a.Name, a.Address)}
	if !j.cloud {
		in = map[string]any{"email": a.Address, "fullName": cmp.Or(a.Name, a.Address)}
	}
	var created struct {
		AccountID string `json:"accountId"`
		Name      string `json:"name"`
	}
	if err := j.api.do(ctx, apiCall{method: http.MethodPost, path: "/rest/servicedeskapi/customer", in: in, header: jiraExperimental}, &created); err != nil {
		return "", err
	}
	name := j.userName(created.AccountID, created.Name)
	if name == "" {
		return "", temporary("queue %s: POST /rest/servicedeskapi/customer: %w: no account", j.api.queue, errAPIResponse)
	}
	// A new customer may raise requests only once the service desk has
	// them (unless it is open to anyone): add, and let a refusal show.
	add := map[string]any{"accountIds": []string{name}}
	if !j.cloud {
		add = map[string]any{"usernames": []string{name}}
	}
	path := "/rest/servicedeskapi/servicedesk/" + j.serviceDesk + "/customer"
	if err := j.api.do(ctx, apiCall{method: http.MethodPost, path: path, in: add, header: jiraExperimental}, nil); err != nil {
		return "", err
	}
	return name, nil
}

func (j *jiraClient) userName(accountID, name string) string {
	if j.cloud {
		return accountID
	}
	return name
}

// upload stores the attachments as temporary files of the service desk
// and returns their ids.
func (j *jiraClient) upload(ctx context.Context, atts []mailAttachment) ([]string, error) {
	if len(atts) == 0 {
		return nil, nil
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, a := range atts {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", multipartFileDisposition(a.Name))
		h.Set("Content-Type", a.Type)
		w, err := mw.CreatePart(h)
		if err != nil {
			return nil, permanent("queue %s: attachment %s: %w", j.api.queue, a.Name, err)
		}
		_, _ = w.Write(a.Data)
	}
	_ = mw.Close()
	var res struct {
		Temporary []struct {
			ID string `json:"temporaryAttachmentId"`
		} `json:"temporaryAttachments"`
	}
	path := "/rest/servicedeskapi/servicedesk/" + j.serviceDesk + "/attachTemporaryFile"
	c := apiCall{method: http.MethodPost, path: path, body: &body, contentType: mw.FormDataContentType(), header: jiraExperimental}
	if err := j.api.do(ctx, c, &res); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(res.Temporary))
	for _, t := range res.Temporary {
		if t.ID != "" {
			ids = append(ids, t.ID)
		}
	}
	if len(ids) != len(atts) {
		return nil, temporary("queue %s: %s: %w: %d temporary ids for %d files", j.api.queue, path, errAPIResponse, len(ids), len(atts))
	}
	return ids, nil
}

// multipartFileDisposition is the Content-Disposition of a form file
// part "file": the name as RFC 7578 has it (quoted, UTF-8), with the
// characters that would end the quoted string escaped as mime/multipart
// escapes them.
func multipartFileDisposition(name string) string {
	r := strings.NewReplacer("\\", "\\\\", `"`, "\\\"", "\r", " ", "\n", " ")
	return `form-data; name="file"; filename="` + r.Replace(name) + `"`
}

// attach makes uploaded temporary files public attachments of the request.
func (j *jiraClient) attach(ctx context.Context, key string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	in := map[string]any{"temporaryAttachmentIds": ids, "public": true}
	return j.api.do(ctx, apiCall{method: http.MethodPost, path: "/rest/servicedeskapi/request/" + url.PathEscape(key) + "/attachment", in: in}, nil)
}

// description is the request's text: the mail with who sent it to whom.
func jiraDescription(t *ticket.Ticket) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\n", formatAddress(t.From))
	if len(t.Cc) > 0 {
		fmt.Fprintf(&b, "Cc: %s\n", formatAddresses(t.Cc))
	}
	if t.MessageID != "" {
		fmt.Fprintf(&b, "Message-ID: %s\n", t.MessageID)
	}
	b.WriteString("\n")
	b.WriteString(t.Body)
	return b.String()
}

// create raises the request on behalf of the sender. Attachments are
// uploaded first, so that a refused upload creates nothing.
func (j *jiraClient) create(ctx context.Context, t *ticket.Ticket, atts []mailAttachment) (string, error) {
	data := newTemplateData(t)
	rt, err := renderField(j.requestType, data)
	if err != nil {
		return "", permanent("queue %s: request_type: %w", j.api.queue, err)
	}
	if !jiraNumber.MatchString(rt) {
		return "", permanent("queue %s: request_type rendered %q, not a request type id", j.api.queue, sanitizeHeaderText(rt, 64))
	}
	values := map[string]any{
		"summary":     cmp.Or(sanitizeHeaderText(t.Subject, 250), "(no subject)"),
		"description": jiraDescription(t),
	}
	if j.idField == "labels" {
		labels := []string{jiraIDLabel(t.ID)}
		for _, tag := range t.Class.Tags {
			if l := strings.Join(strings.Fields(tag), "_"); l != "" && len(l) <= 255 {
				labels = append(labels, l)
			}
		}
		values["labels"] = labels
	} else {
		values[j.idField] = t.ID
	}
	if p := j.priority[t.Class.Priority]; p != "" {
		values["priority"] = map[string]string{"name": p}
	}
	if j.dueField != "" && t.Class.SLA.ResolveDue != nil {
		values[j.dueField] = t.Class.SLA.ResolveDue.UTC().Format(time.DateOnly)
	}
	for id, tmpl := range j.fields {
		v, err := renderField(tmpl, data)
		if err != nil {
			return "", permanent("queue %s: fields.%s: %w", j.api.queue, id, err)
		}
		values[id] = v
	}
	in := map[string]any{"serviceDeskId": j.serviceDesk, "requestTypeId": rt, "requestFieldValues": values}
	fallback := ""
	if who, err := j.customer(ctx, t.From); err == nil {
		in["raiseOnBehalfOf"] = who
	} else if Temporary(err) {
		return "", err
	} else {
		// Jira refuses this requester: raise the request as triage's own
		// account and name the sender in the description.
		fallback = fmt.Sprintf("Jira refused the requester %s: %v", t.From.Address, err)
		j.log.Warn("requester refused; request raised without it", "id", t.ID, "err", err)
		values["description"] = "[" + fallback + "]\n\n" + values["description"].(string)
	}
	var participants []string
	for _, cc := range t.Cc[:min(len(t.Cc), 10)] {
		if who, err := j.customer(ctx, cc); err == nil {
			participants = append(participants, who)
		} else {
			j.log.Warn("cc not added as participant", "id", t.ID, "err", err)
		}
	}
	if len(participants) > 0 {
		in["requestParticipants"] = participants
	}
	ids, err := j.upload(ctx, atts)
	if err != nil {
		return "", err
	}
	var created struct {
		Key string `json:"issueKey"`
	}
	if err := j.api.do(ctx, apiCall{method: http.MethodPost, path: "/rest/servicedeskapi/request", in: in}, &created); err != nil {
		return "", err
	}
	if !jiraKey.MatchString(created.Key) {
		return "", temporary("queue %s: POST /rest/servicedeskapi/request: %w: no issue key", j.api.queue, errAPIResponse)
	}
	if err := j.attach(ctx, created.Key, ids); err != nil {
		return created.Key, fmt.Errorf("queue %s: request %s created, attachments not added: %w", j.api.queue, created.Key, err)
	}
	return created.Key, nil
}

// comment adds a comment to a request; public comments are the
// customer's correspondence, internal ones triage's notes.
func (j *jiraClient) comment(ctx context.Context, key, body string, public bool) error {
	in := map[string]any{"body": body, "public": public}
	return j.api.do(ctx, apiCall{method: http.MethodPost, path: "/rest/servicedeskapi/request/" + url.PathEscape(key) + "/comment", in: in}, nil)
}

// reply adds the mail to the request as a public comment, its
// attachments with it.
func (j *jiraClient) reply(ctx context.Context, key string, t *ticket.Ticket, atts []mailAttachment) error {
	ids, err := j.upload(ctx, atts)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return j.comment(ctx, key, jiraDescription(t), true)
	}
	// One call for the comment and its attachments, so that a retry
	// cannot post the comment twice.
	in := map[string]any{"temporaryAttachmentIds": ids, "public": true, "additionalComment": map[string]string{"body": jiraDescription(t)}}
	return j.api.do(ctx, apiCall{method: http.MethodPost, path: "/rest/servicedeskapi/request/" + url.PathEscape(key) + "/attachment", in: in}, nil)
}

func (j *jiraClient) note(ctx context.Context, key, text string) error {
	return j.comment(ctx, key, text, false)
}
