package queue

import (
	"cmp"
	"context"
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
	register("jira", sinkType{
		doc:      "creates a Jira Service Management request per mail on behalf of the sender (request type, fields, attachments) and adds replies to it as public comments",
		timeout:  30 * time.Second,
		settings: func() Settings { return new(JiraConfig) },
		audit: func(s Settings, q sinkSpec) (AuditReader, error) {
			return s.(*JiraConfig).client(q)
		},
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
	Fields   map[string]string `yaml:"fields,omitempty" json:"fields,omitempty" jsonschema_description:"Jira field id (customfield_NNNNN, …) to a template over the decision, e.g. customfield_10071: '{{join \", \" .Rules}}'; sent as text."`
	// TierField holds the tier, so that a reply can tell whether it
	// raises it; Service Management queues are filters, so a queue that
	// filters on it moves the request.
	TierField  string `yaml:"tier_field,omitempty" json:"tier_field,omitempty" jsonschema_description:"Text custom field (customfield_NNNNN) set to the tier (L1..L3) and read back when a reply may escalate; default none: replies raise the priority only."`
	RulesField string `yaml:"rules_field,omitempty" json:"rules_field,omitempty" jsonschema_description:"Text custom field (customfield_NNNNN) set to the matched rules, comma-separated, for triage audit; default none."`
	// ProjectKey narrows the subject tag to this project's keys.
	ProjectKey string `yaml:"project_key,omitempty" json:"project_key,omitempty" jsonschema_description:"The service desk project's key (e.g. SD): only [SD-123] in a subject counts as a reply tag; default any key."`
}

var defaultJiraPriority = map[string]string{"P1": "Highest", "P2": "High", "P3": "Medium", "P4": "Low"}

var (
	jiraCustomField = regexp.MustCompile(`^customfield_[0-9]{1,12}$`)
	jiraFieldID     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)
	jiraNumber      = regexp.MustCompile(`^[0-9]{1,18}$`)
	jiraProject     = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)
	// jiraKey is an issue key as Jira makes them: project key, dash, number.
	jiraKey = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}-[0-9]{1,18}$`)
)

func (c *JiraConfig) validate(_ string, add func(string, ...any)) {
	validateTrackerURL("jira", c.URL, "token_env or token_file", add)
	if c.TierField != "" && !jiraCustomField.MatchString(c.TierField) {
		add("tier_field %q is not customfield_NNNNN", c.TierField)
	}
	if c.RulesField != "" && !jiraCustomField.MatchString(c.RulesField) {
		add("rules_field %q is not customfield_NNNNN", c.RulesField)
	}
	if c.ProjectKey != "" && !jiraProject.MatchString(c.ProjectKey) {
		add("project_key %q is not a Jira project key", c.ProjectKey)
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
	}
	checkTemplate("request_type", c.RequestType, add)
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
	j, err := c.client(q)
	if err != nil {
		return nil, fmt.Errorf("queue %s: %w", q.name, err)
	}
	return newTrackerSink(q, c.URL, j, j.api.close), nil
}

// jiraHeaders go on every call: the Service Management API wants the
// opt-in on the calls it still calls experimental (customers, temporary
// files) and the XSRF exemption on multipart posts.
var jiraHeaders = http.Header{"X-Experimentalapi": {"opt-in"}, "X-Atlassian-Token": {"no-check"}}

// authorization is the Authorization value of token: basic with the
// username (Cloud), else bearer (a Data Center personal access token).
func (c *JiraConfig) authorization(token string) string {
	if c.Username != "" {
		return basicAuth(c.Username, token)
	}
	return "Bearer " + token
}

func (c *JiraConfig) client(q sinkSpec) (*jiraClient, error) {
	api, err := c.openAPI(q, c.URL, "/rest", c.authorization, jiraHeaders)
	if err != nil {
		return nil, err
	}
	// The client reads the keys with their defaults applied.
	cfg := *c
	cfg.IDField = cmp.Or(cfg.IDField, "labels")
	if cfg.Priority == nil {
		cfg.Priority = defaultJiraPriority
	}
	if cfg.DueField = cmp.Or(cfg.DueField, "duedate"); cfg.DueField == "none" {
		cfg.DueField = ""
	}
	j := &jiraClient{
		cfg:        cfg,
		api:        api,
		log:        q.log,
		cloud:      c.Deployment != "datacenter",
		tracker:    TrackerKey(q.typ, c.URL),
		subjectTag: regexp.MustCompile(`\[(` + cmp.Or(regexp.QuoteMeta(c.ProjectKey), `[A-Z][A-Z0-9_]{0,63}`) + `-[0-9]{1,18})\]`),
	}
	if j.requestType, err = parseTemplate("request_type", c.RequestType); err != nil {
		return nil, fmt.Errorf("request_type: %w", err)
	}
	if j.fields, err = fieldTemplates("fields", c.Fields); err != nil {
		return nil, err
	}
	return j, nil
}

// jiraClient is the TrackerClient of Jira Service Management
// (/rest/servicedeskapi) with Jira's search and issue calls
// (/rest/api/2), as documented. A request is named by its issue key.
type jiraClient struct {
	cfg         JiraConfig // defaults applied
	api         *trackerAPI
	log         *slog.Logger
	cloud       bool
	requestType *template.Template
	tracker     string // TrackerKey, for audit
	fields      map[string]*template.Template
	subjectTag  *regexp.Regexp
}

// jiraFiledLabel marks every request triage files, for audit's search.
const jiraFiledLabel = "triage"

// SubjectRef reads an issue key in brackets: "Re: [SD-12] …" → "SD-12".
func (j *jiraClient) SubjectRef(subject string) string { return subjectRef(j.subjectTag, subject) }

// Find runs a JQL search for the id label or field and checks each hit
// exactly (JQL's ~ on a text field matches words).
func (j *jiraClient) Find(ctx context.Context, triageID string) (string, error) {
	jql := "labels = " + strconv.Quote(trackerIDLabel(triageID))
	if j.cfg.IDField != "labels" {
		jql = "cf[" + strings.TrimPrefix(j.cfg.IDField, "customfield_") + "] ~ " + strconv.Quote(strconv.Quote(triageID))
	}
	var res struct {
		Issues []struct {
			Key    string         `json:"key"`
			Fields map[string]any `json:"fields"`
		} `json:"issues"`
	}
	q := url.Values{"jql": {jql}, "fields": {j.cfg.IDField}, "maxResults": {"10"}}
	if err := j.api.call(ctx, http.MethodGet, "/api/2/search", q, nil, &res); err != nil {
		return "", err
	}
	for _, is := range res.Issues {
		if !jiraKey.MatchString(is.Key) {
			continue
		}
		switch v := is.Fields[j.cfg.IDField].(type) {
		case []any:
			if slices.Contains(v, any(trackerIDLabel(triageID))) {
				return is.Key, nil
			}
		case string:
			if v == triageID {
				return is.Key, nil
			}
		}
	}
	return "", nil
}

// customer finds the Jira user of an address, or creates a customer with
// the display name and adds it to the service desk, and returns how the
// API names it (Cloud: accountId, Data Center: user name). A refusal of
// the address is ErrRequesterRefused.
func (j *jiraClient) customer(ctx context.Context, a ticket.Address) (string, error) {
	// The service desk's own customers first: Jira Cloud hides e-mail
	// addresses in the user search, not in the customer list agents see.
	var desk struct {
		Values []jiraUser `json:"values"`
	}
	q := url.Values{"query": {a.Address}, "limit": {"10"}}
	if err := j.api.call(ctx, http.MethodGet, "/servicedeskapi/servicedesk/"+j.cfg.ServiceDesk+"/customer", q, nil, &desk); err != nil {
		return "", err
	}
	if name := j.match(desk.Values, a.Address); name != "" {
		return name, nil
	}
	var users []jiraUser
	q = url.Values{"query": {a.Address}, "maxResults": {"10"}}
	if !j.cloud {
		q = url.Values{"username": {a.Address}, "maxResults": {"10"}}
	}
	if err := j.api.call(ctx, http.MethodGet, "/api/2/user/search", q, nil, &users); err != nil {
		return "", err
	}
	if name := j.match(users, a.Address); name != "" {
		return name, nil
	}
	in := map[string]any{"email": a.Address, "displayName": cmp.Or(a.Name, a.Address)}
	if !j.cloud {
		in = map[string]any{"email": a.Address, "fullName": cmp.Or(a.Name, a.Address)}
	}
	var created struct {
		AccountID string `json:"accountId"`
		Name      string `json:"name"`
	}
	if err := j.api.call(ctx, http.MethodPost, "/servicedeskapi/customer", nil, in, &created); err != nil {
		if statusOf(err) == http.StatusBadRequest {
			return "", fmt.Errorf("%w: %w", ErrRequesterRefused, err)
		}
		return "", err
	}
	name := j.userName(created.AccountID, created.Name)
	if name == "" {
		return "", temporary("POST /servicedeskapi/customer: %w: no account", errAPIResponse)
	}
	// A new customer may raise requests only once the service desk has
	// them (unless it is open to anyone).
	add := map[string]any{"accountIds": []string{name}}
	if !j.cloud {
		add = map[string]any{"usernames": []string{name}}
	}
	if err := j.api.call(ctx, http.MethodPost, "/servicedeskapi/servicedesk/"+j.cfg.ServiceDesk+"/customer", nil, add, nil); err != nil {
		return "", err
	}
	return name, nil
}

// jiraUser is a user or customer as Jira lists them.
type jiraUser struct {
	AccountID string `json:"accountId"`
	Name      string `json:"name"`
	Email     string `json:"emailAddress"`
}

// match is the API name of the user in list with address, "" if none.
func (j *jiraClient) match(list []jiraUser, address string) string {
	for _, u := range list {
		if strings.EqualFold(u.Email, address) {
			if name := j.userName(u.AccountID, u.Name); name != "" {
				return name
			}
		}
	}
	return ""
}

func (j *jiraClient) userName(accountID, name string) string {
	if j.cloud {
		return accountID
	}
	return name
}

// upload stores the attachments as temporary files of the service desk
// and returns their ids.
func (j *jiraClient) upload(ctx context.Context, files []ticket.File) ([]string, error) {
	if len(files) == 0 {
		return nil, nil
	}
	var res struct {
		Temporary []struct {
			ID string `json:"temporaryAttachmentId"`
		} `json:"temporaryAttachments"`
	}
	path := "/servicedeskapi/servicedesk/" + j.cfg.ServiceDesk + "/attachTemporaryFile"
	if err := j.api.call(ctx, http.MethodPost, path, nil, fileForm(nil, "file", files), &res); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(res.Temporary))
	for _, t := range res.Temporary {
		if t.ID != "" {
			ids = append(ids, t.ID)
		}
	}
	if len(ids) != len(files) {
		return nil, temporary("POST %s: %w: %d temporary ids for %d files", path, errAPIResponse, len(ids), len(files))
	}
	return ids, nil
}

// jiraDescription is the request's text: the mail with who sent it to whom.
func jiraDescription(t *ticket.Ticket) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\n", displayAddress(t.From))
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

// requestPath is the path of one request's sub-resource.
func requestPath(key, sub string) string {
	return "/servicedeskapi/request/" + url.PathEscape(key) + "/" + sub
}

// fieldValues is the request's requestFieldValues: summary, description,
// the id as labels or a field, priority, due date, tier and the configured
// fields.
func (j *jiraClient) fieldValues(t *ticket.Ticket, data templateData, description string) (map[string]any, error) {
	values := map[string]any{
		"summary":     cmp.Or(sanitizeHeaderText(t.Subject, 250), "(no subject)"),
		"description": description,
	}
	if j.cfg.RulesField != "" {
		values[j.cfg.RulesField] = strings.Join(data.Rules, ", ")
	}
	if j.cfg.IDField == "labels" {
		labels := []string{jiraFiledLabel, trackerIDLabel(t.ID)}
		for _, tag := range t.Class.Tags {
			if l := strings.Join(strings.Fields(tag), "_"); l != "" && len(l) <= 255 {
				labels = append(labels, l)
			}
		}
		values["labels"] = labels
	} else {
		values[j.cfg.IDField] = t.ID
	}
	if p := j.cfg.Priority[t.Class.Priority]; p != "" {
		values["priority"] = map[string]string{"name": p}
	}
	if j.cfg.DueField != "" && t.Class.SLA.ResolveDue != nil {
		values[j.cfg.DueField] = t.Class.SLA.ResolveDue.UTC().Format(time.DateOnly)
	}
	if j.cfg.TierField != "" {
		values[j.cfg.TierField] = t.Class.Tier
	}
	if err := renderFields("fields", j.fields, data, values); err != nil {
		return nil, err
	}
	return values, nil
}

// participants is the customer of each of the first ten Cc addresses;
// one that cannot be found or made is logged and left out.
func (j *jiraClient) participants(ctx context.Context, t *ticket.Ticket) []string {
	var participants []string
	for _, cc := range t.Cc[:min(len(t.Cc), 10)] {
		if who, err := j.customer(ctx, cc); err == nil {
			participants = append(participants, who)
		} else {
			j.log.Warn("jira: cc not added as participant", "ticket", t.ID, "err", err)
		}
	}
	return participants
}

// Create raises the request on behalf of the requester, with the Cc as
// participants; the attachments are uploaded first, so that a refused
// upload creates nothing, and attached after, with triage's note as an
// internal comment.
func (j *jiraClient) Create(ctx context.Context, m *TrackerMail) (string, error) {
	t := m.Ticket
	data := newTemplateData(t)
	rt, err := renderField("request_type", j.requestType, data)
	if err != nil {
		return "", err
	}
	if !jiraNumber.MatchString(rt) {
		return "", permanent("request_type rendered %q, not a request type id", sanitizeHeaderText(rt, 64))
	}
	description := jiraDescription(t)
	if m.Requester.Address == "" {
		description = "Requester: " + displayAddress(t.From) + " (refused by Jira)\n" + description
	}
	values, err := j.fieldValues(t, data, description)
	if err != nil {
		return "", err
	}
	in := map[string]any{"serviceDeskId": j.cfg.ServiceDesk, "requestTypeId": rt, "requestFieldValues": values}
	if m.Requester.Address != "" {
		who, err := j.customer(ctx, m.Requester)
		if err != nil {
			return "", err
		}
		in["raiseOnBehalfOf"] = who
	}
	participants := j.participants(ctx, t)
	if len(participants) > 0 {
		in["requestParticipants"] = participants
	}
	ids, err := j.upload(ctx, m.Content.Attachments)
	if err != nil {
		return "", err
	}
	var created struct {
		Key string `json:"issueKey"`
	}
	if err := j.api.call(ctx, http.MethodPost, "/servicedeskapi/request", nil, in, &created); err != nil {
		return "", err
	}
	if !jiraKey.MatchString(created.Key) {
		return "", temporary("POST /servicedeskapi/request: %w: no issue key", errAPIResponse)
	}
	// The request exists: what follows is logged when it fails, never
	// retried (a retry would find the request and stop there).
	if len(ids) > 0 {
		in := map[string]any{"temporaryAttachmentIds": ids, "public": true}
		if err := j.api.call(ctx, http.MethodPost, requestPath(created.Key, "attachment"), nil, in, nil); err != nil {
			j.log.Error("jira: attachments not added to the request", "tracker_id", created.Key, "ticket", t.ID, "err", err)
		}
	}
	if err := j.comment(ctx, created.Key, m.Note, false); err != nil {
		j.log.Warn("jira: note not added", "tracker_id", created.Key, "err", err)
	}
	return created.Key, nil
}

// comment adds a comment to a request: public ones are the customer's
// correspondence, internal ones triage's notes.
func (j *jiraClient) comment(ctx context.Context, key, body string, public bool) error {
	in := map[string]any{"body": body, "public": public}
	return j.notFound(key, j.api.call(ctx, http.MethodPost, requestPath(key, "comment"), nil, in, nil))
}

// notFound turns a 404 on a request into ErrTicketNotFound.
func (j *jiraClient) notFound(key string, err error) error {
	if statusOf(err) == http.StatusNotFound {
		return fmt.Errorf("request %s: %w: %w", key, ErrTicketNotFound, err)
	}
	return err
}

// Reply adds the mail to the request as a public comment; with
// attachments, the comment rides on the attachment call, so that one
// call posts both and a retry cannot post the comment twice.
func (j *jiraClient) Reply(ctx context.Context, key string, m *TrackerMail) error {
	if !jiraKey.MatchString(key) {
		return fmt.Errorf("%q: %w", key, ErrTicketNotFound)
	}
	ids, err := j.upload(ctx, m.Content.Attachments)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return j.comment(ctx, key, jiraDescription(m.Ticket), true)
	}
	in := map[string]any{"temporaryAttachmentIds": ids, "public": true, "additionalComment": map[string]string{"body": jiraDescription(m.Ticket)}}
	return j.notFound(key, j.api.call(ctx, http.MethodPost, requestPath(key, "attachment"), nil, in, nil))
}

// State reads the issue's priority (mapped back through priority) and
// tier (tier_field).
func (j *jiraClient) State(ctx context.Context, key string) (TrackerState, error) {
	var is struct {
		Fields map[string]any `json:"fields"`
	}
	q := url.Values{"fields": {strings.Trim("priority,"+j.cfg.TierField, ",")}}
	if err := j.api.call(ctx, http.MethodGet, "/api/2/issue/"+url.PathEscape(key), q, nil, &is); err != nil {
		return TrackerState{}, j.notFound(key, err)
	}
	var st TrackerState
	if p, ok := is.Fields["priority"].(map[string]any); ok {
		name, _ := p["name"].(string)
		st.Priority = priorityOf(j.cfg.Priority, name)
	}
	if j.cfg.TierField != "" {
		if tier, _ := is.Fields[j.cfg.TierField].(string); rank(tier) > 0 {
			st.Tier = tier
		}
	}
	return st, nil
}

// Escalate sets the priority and/or the tier field of the reply's
// decision and adds the note as an internal comment.
func (j *jiraClient) Escalate(ctx context.Context, key string, e Escalation) error {
	fields := map[string]any{}
	if p := j.cfg.Priority[e.Ticket.Class.Priority]; e.Priority && p != "" {
		fields["priority"] = map[string]string{"name": p}
	}
	if e.Queue && j.cfg.TierField != "" {
		fields[j.cfg.TierField] = e.Ticket.Class.Tier
	}
	if len(fields) > 0 {
		in := map[string]any{"fields": fields}
		if err := j.api.call(ctx, http.MethodPut, "/api/2/issue/"+url.PathEscape(key), nil, in, nil); err != nil {
			return j.notFound(key, err)
		}
	}
	return j.comment(ctx, key, e.Note, false)
}
