package queue

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/triage-dev/triage/classifier"
	"github.com/triage-dev/triage/ticket"
)

// fakeJira implements the endpoints of Jira Service Management
// (/rest/servicedeskapi) and Jira's platform API (/rest/api/2) that the
// jira sink uses, as their documentation describes them. Refusals answer
// 400 with {"errorMessage"} (Service Management) or {"errorMessages",
// "errors"} (platform), as Jira does.
type fakeJira struct {
	fakeAPI
	customers   []*jCustomer
	deskMembers map[string]bool
	temp        map[string][]byte // temporary attachment id → bytes
	tempNames   map[string]string
	issues      []*jIssue
	fields      map[string]bool // fields the request types carry
	// datacenter: users by name, customers created with fullName, a
	// personal access token as bearer.
	datacenter bool
}

type jCustomer struct{ AccountID, Email, DisplayName string }

type jIssue struct {
	Key          string
	RequestType  string
	OnBehalfOf   string
	Participants []string
	Fields       map[string]any
	Attachments  map[string][]byte // name → bytes
	Comments     []jComment
	Created      string
	Resolution   any
	Histories    []map[string]any // the changelog
}

type jComment struct {
	Body        string
	Public      bool
	Attachments []string
}

const jiraTestDesk = "7"

func newFakeJira(t testing.TB) (*fakeJira, *httptest.Server) {
	j := &fakeJira{
		fakeAPI: fakeAPI{
			t: t, auth: "Basic " + base64.StdEncoding.EncodeToString([]byte("bot@example.com:jira-secret")),
			create: "POST /rest/servicedeskapi/request", fail: map[string]int{},
			unauthorized: func(w http.ResponseWriter) {
				writeJSON(w, http.StatusUnauthorized, map[string]any{"errorMessages": []string{"You are not authenticated."}})
			},
			injected: sdError,
		},
		deskMembers: map[string]bool{}, temp: map[string][]byte{}, tempNames: map[string]string{},
		fields: map[string]bool{"summary": true, "description": true, "labels": true, "priority": true, "duedate": true,
			"customfield_10050": true, "customfield_10060": true, "customfield_10070": true},
	}
	j.mux = j.routes()
	srv := httptest.NewServer(j)
	t.Cleanup(srv.Close)
	return j, srv
}

func (j *fakeJira) issue(key string) *jIssue {
	for _, is := range j.issues {
		if is.Key == key {
			return is
		}
	}
	return nil
}

func sdError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"errorMessage": msg, "i18nErrorMessage": map[string]any{"i18nKey": "x", "parameters": []string{}}})
}

var (
	jqlLabel = regexp.MustCompile(`^labels = "([^"]+)"$`)
	jqlCF    = regexp.MustCompile(`^cf\[(\d+)\] ~ "\\"([^"\\]+)\\""$`)
	jqlAudit = regexp.MustCompile(`^labels = "triage" AND created >= "\d{4}-\d\d-\d\d \d\d:\d\d"( AND project = [A-Z]+)? ORDER BY created ASC$`)
	sdReq    = regexp.MustCompile(`^/rest/servicedeskapi/request/([A-Z]+-\d+)/(comment|attachment)$`)
)

// routes is the dispatch of fakeJira's endpoints; handlers run with j.mu
// held.
func (j *fakeJira) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /rest/api/2/search", j.search)
	mux.HandleFunc("GET /rest/api/2/user/search", j.userSearch)
	mux.HandleFunc("GET /rest/servicedeskapi/servicedesk/"+jiraTestDesk+"/customer", j.deskCustomers)
	mux.HandleFunc("POST /rest/servicedeskapi/customer", j.createCustomer)
	mux.HandleFunc("POST /rest/servicedeskapi/servicedesk/"+jiraTestDesk+"/customer", j.addDeskCustomers)
	mux.HandleFunc("POST /rest/servicedeskapi/servicedesk/"+jiraTestDesk+"/attachTemporaryFile", j.upload)
	mux.HandleFunc("POST /rest/servicedeskapi/request", j.jsonHandler(j.create))
	mux.HandleFunc("POST /rest/servicedeskapi/request/{key}/{kind}", j.commentOrAttach)
	mux.HandleFunc("GET /rest/api/2/issue/{key...}", j.getIssue)
	mux.HandleFunc("PUT /rest/api/2/issue/{key...}", j.putIssue)
	mux.HandleFunc("/", j.notFound)
	return mux
}

// search is JQL search: by label, by custom field, or the audit query.
func (j *fakeJira) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	out := []map[string]any{}
	for _, is := range j.issues {
		hit := false
		if jqlAudit.MatchString(q.Get("jql")) {
			hit = true
		} else if m := jqlLabel.FindStringSubmatch(q.Get("jql")); m != nil {
			for _, l := range is.Fields["labels"].([]any) {
				hit = hit || l == m[1]
			}
		} else if m := jqlCF.FindStringSubmatch(q.Get("jql")); m != nil {
			v, _ := is.Fields["customfield_"+m[1]].(string)
			hit = strings.Contains(v, m[2])
		} else {
			writeJSON(w, http.StatusBadRequest, map[string]any{"errorMessages": []string{"Error in the JQL Query"}, "errors": map[string]string{}})
			return
		}
		if hit {
			fields := map[string]any{}
			for _, f := range strings.Split(q.Get("fields"), ",") {
				switch f {
				case "created":
					fields[f] = is.Created
				case "creator":
					fields[f] = map[string]any{"accountId": "bot-1", "displayName": "triage bot"}
				case "resolution":
					fields[f] = is.Resolution
				default:
					fields[f] = is.Fields[f]
				}
			}
			issue := map[string]any{"id": "100", "key": is.Key, "fields": fields}
			if q.Get("expand") == "changelog" {
				issue["changelog"] = map[string]any{"startAt": 0, "maxResults": 100, "total": len(is.Histories), "histories": is.Histories}
			}
			out = append(out, issue)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"startAt": 0, "maxResults": 10, "total": len(out), "issues": out})
}

// userSearch finds users by address: by username on Data Center, by query on Cloud.
func (j *fakeJira) userSearch(w http.ResponseWriter, r *http.Request) {
	if j.datacenter {
		j.userSearchDataCenter(w, r)
		return
	}
	j.userSearchCloud(w, r)
}

// userSearchDataCenter matches the username parameter and shows addresses.
func (j *fakeJira) userSearchDataCenter(w http.ResponseWriter, r *http.Request) {
	out := []map[string]any{}
	for _, c := range j.customers {
		if strings.EqualFold(c.Email, r.URL.Query().Get("username")) {
			out = append(out, map[string]any{"name": c.AccountID, "key": c.AccountID, "emailAddress": c.Email, "displayName": c.DisplayName})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// userSearchCloud matches the query parameter.
func (j *fakeJira) userSearchCloud(w http.ResponseWriter, r *http.Request) {
	// Jira Cloud hides addresses here (privacy settings); matching on
	// the query still finds the user.
	out := []map[string]any{}
	for _, c := range j.customers {
		if strings.EqualFold(c.Email, r.URL.Query().Get("query")) {
			out = append(out, map[string]any{"accountId": c.AccountID, "displayName": c.DisplayName})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// deskCustomers lists the desk's customers whose address contains the query.
func (j *fakeJira) deskCustomers(w http.ResponseWriter, r *http.Request) {
	out := []map[string]any{}
	for _, c := range j.customers {
		if j.deskMembers[c.AccountID] && strings.Contains(strings.ToLower(c.Email), strings.ToLower(r.URL.Query().Get("query"))) {
			out = append(out, map[string]any{"accountId": c.AccountID, "emailAddress": c.Email, "displayName": c.DisplayName})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"size": len(out), "start": 0, "limit": 10, "isLastPage": true, "values": out})
}

// createCustomer creates a customer, refusing duplicates and non-ASCII local parts.
func (j *fakeJira) createCustomer(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-ExperimentalApi") != "opt-in" {
		sdError(w, http.StatusBadRequest, "experimental API not opted in")
		return
	}
	var in map[string]string
	if !readJSON(j.t, r, &in) {
		return
	}
	local, _, _ := strings.Cut(in["email"], "@")
	if strings.ContainsFunc(local, func(r rune) bool { return r > 127 }) {
		sdError(w, http.StatusBadRequest, "The email address is invalid.")
		return
	}
	for _, c := range j.customers {
		if strings.EqualFold(c.Email, in["email"]) {
			sdError(w, http.StatusBadRequest, "An account already exists for this email")
			return
		}
	}
	if j.datacenter {
		c := &jCustomer{AccountID: fmt.Sprintf("user%d", len(j.customers)+1), Email: in["email"], DisplayName: in["fullName"]}
		j.customers = append(j.customers, c)
		writeJSON(w, http.StatusCreated, map[string]any{"name": c.AccountID, "key": c.AccountID, "emailAddress": c.Email, "displayName": c.DisplayName})
		return
	}
	c := &jCustomer{AccountID: fmt.Sprintf("acc-%d", len(j.customers)+1), Email: in["email"], DisplayName: in["displayName"]}
	j.customers = append(j.customers, c)
	writeJSON(w, http.StatusCreated, map[string]any{"accountId": c.AccountID, "emailAddress": c.Email, "displayName": c.DisplayName})
}

// addDeskCustomers adds customers to the desk.
func (j *fakeJira) addDeskCustomers(w http.ResponseWriter, r *http.Request) {
	var in struct {
		AccountIDs []string `json:"accountIds"`
		Usernames  []string `json:"usernames"`
	}
	if !readJSON(j.t, r, &in) {
		return
	}
	for _, id := range append(in.AccountIDs, in.Usernames...) {
		j.deskMembers[id] = true
	}
	w.WriteHeader(http.StatusNoContent)
}

// commentOrAttach adds a comment or temporary attachments to a request.
func (j *fakeJira) commentOrAttach(w http.ResponseWriter, r *http.Request) {
	m := sdReq.FindStringSubmatch(r.URL.Path)
	if m == nil {
		j.notFound(w, r)
		return
	}
	is := j.issue(m[1])
	if is == nil {
		sdError(w, http.StatusNotFound, "Issue does not exist or you do not have permission to see it.")
		return
	}
	var in struct {
		Body       string   `json:"body"`
		Public     bool     `json:"public"`
		Temporary  []string `json:"temporaryAttachmentIds"`
		Additional *struct {
			Body string `json:"body"`
		} `json:"additionalComment"`
	}
	if !readJSON(j.t, r, &in) {
		return
	}
	if m[2] == "comment" {
		is.Comments = append(is.Comments, jComment{Body: in.Body, Public: in.Public})
		writeJSON(w, http.StatusCreated, map[string]any{"id": "1", "body": in.Body, "public": in.Public})
		return
	}
	var names []string
	for _, id := range in.Temporary {
		data, ok := j.temp[id]
		if !ok {
			sdError(w, http.StatusBadRequest, "temporary attachment "+id+" not found")
			return
		}
		is.Attachments[j.tempNames[id]] = data
		names = append(names, j.tempNames[id])
		delete(j.temp, id)
	}
	if in.Additional != nil {
		is.Comments = append(is.Comments, jComment{Body: in.Additional.Body, Public: in.Public, Attachments: names})
	}
	writeJSON(w, http.StatusCreated, map[string]any{"attachments": map[string]any{"size": len(names)}})
}

// getIssue returns the asked fields of an issue.
func (j *fakeJira) getIssue(w http.ResponseWriter, r *http.Request) {
	is := j.issue(strings.TrimPrefix(r.URL.Path, "/rest/api/2/issue/"))
	if is == nil {
		writeJSON(w, http.StatusNotFound, map[string]any{"errorMessages": []string{"Issue does not exist or you do not have permission to see it."}})
		return
	}
	fields := map[string]any{}
	for _, f := range strings.Split(r.URL.Query().Get("fields"), ",") {
		fields[f] = is.Fields[f]
	}
	writeJSON(w, http.StatusOK, map[string]any{"key": is.Key, "fields": fields})
}

// putIssue sets fields of an issue.
func (j *fakeJira) putIssue(w http.ResponseWriter, r *http.Request) {
	is := j.issue(strings.TrimPrefix(r.URL.Path, "/rest/api/2/issue/"))
	var in struct {
		Fields map[string]any `json:"fields"`
	}
	if is == nil || !readJSON(j.t, r, &in) {
		writeJSON(w, http.StatusNotFound, map[string]any{"errorMessages": []string{"Issue does not exist"}})
		return
	}
	for k, v := range in.Fields {
		is.Fields[k] = v
	}
	w.WriteHeader(http.StatusNoContent)
}

// notFound answers an unknown path as Jira does.
func (j *fakeJira) notFound(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotFound, map[string]any{"errorMessages": []string{"null for uri: " + r.URL.Path}})
}

// upload is attachTemporaryFile (j.mu held): multipart, parts named file,
// refused without the XSRF header.
func (j *fakeJira) upload(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Atlassian-Token") != "no-check" {
		writeJSON(w, http.StatusForbidden, map[string]any{"message": "XSRF check failed"})
		return
	}
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		sdError(w, http.StatusUnsupportedMediaType, "multipart expected")
		return
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	var out []map[string]string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil || p.FormName() != "file" {
			sdError(w, http.StatusBadRequest, "parts must be named file")
			return
		}
		data, _ := io.ReadAll(p)
		id := "temp" + strconv.Itoa(len(j.tempNames)+1)
		j.temp[id], j.tempNames[id] = data, p.FileName()
		out = append(out, map[string]string{"temporaryAttachmentId": id, "fileName": p.FileName()})
	}
	writeJSON(w, http.StatusCreated, map[string]any{"temporaryAttachments": out})
}

// create is POST /rest/servicedeskapi/request (j.mu held).
func (j *fakeJira) create(w http.ResponseWriter, in map[string]any) {
	if in["serviceDeskId"] != jiraTestDesk {
		sdError(w, http.StatusNotFound, "Service desk does not exist")
		return
	}
	rt, _ := in["requestTypeId"].(string)
	if rt != "10" && rt != "12" {
		sdError(w, http.StatusBadRequest, "The request type you are trying to use does not exist.")
		return
	}
	if who, ok := in["raiseOnBehalfOf"].(string); ok && !j.deskMembers[who] {
		sdError(w, http.StatusBadRequest, "The user "+who+" is not a customer of this service desk.")
		return
	}
	values, _ := in["requestFieldValues"].(map[string]any)
	if s, _ := values["summary"].(string); s == "" {
		sdError(w, http.StatusBadRequest, "Summary: You must specify a summary of the issue.")
		return
	}
	for f := range values {
		if !j.fields[f] {
			sdError(w, http.StatusBadRequest, "Field '"+f+"' is not valid for this request type.")
			return
		}
	}
	if p, ok := values["priority"].(map[string]any); ok && !contains([]string{"Highest", "High", "Medium", "Low", "Lowest"}, fmt.Sprint(p["name"])) {
		sdError(w, http.StatusBadRequest, "Priority: Specify a valid priority")
		return
	}
	if _, ok := values["labels"]; !ok {
		values["labels"] = []any{}
	}
	is := &jIssue{Key: "SD-" + strconv.Itoa(len(j.issues)+1), RequestType: rt, Fields: values, Attachments: map[string][]byte{},
		Created: fmt.Sprintf("2026-11-27T10:%02d:00.000+0100", len(j.issues))}
	is.OnBehalfOf, _ = in["raiseOnBehalfOf"].(string)
	for _, p := range asList(in["requestParticipants"]) {
		is.Participants = append(is.Participants, fmt.Sprint(p))
	}
	j.issues = append(j.issues, is)
	j.creates++
	writeJSON(w, http.StatusCreated, map[string]any{"issueId": strconv.Itoa(10000 + len(j.issues)), "issueKey": is.Key, "requestTypeId": rt, "serviceDeskId": jiraTestDesk})
}

func newJiraSink(t testing.TB, srvURL string, cfg JiraConfig, index TrackerIndex) Sink {
	t.Helper()
	t.Setenv("JIRA_TEST_TOKEN", "jira-secret")
	cfg.URL, cfg.Username, cfg.TokenEnv, cfg.ServiceDesk = srvURL, "bot@example.com", "JIRA_TEST_TOKEN", jiraTestDesk
	if cfg.RequestType == "" {
		cfg.RequestType = "10"
	}
	return newTrackerTestSink(t, "jira-q", Config{Type: "jira", Settings: &cfg}, index)
}

func checkJiraAttachments(t *testing.T, got map[string][]byte) {
	t.Helper()
	if len(got) != len(attachmentSums) {
		t.Fatalf("%d attachments, want %d", len(got), len(attachmentSums))
	}
	for name, data := range got {
		if sha256Hex(data) != attachmentSums[name] {
			t.Errorf("attachment %q: sha256 %s, want %s", name, sha256Hex(data), attachmentSums[name])
		}
	}
}

func TestJiraCreateAllFields(t *testing.T) {
	j, srv := newFakeJira(t)
	s := newJiraSink(t, srv.URL, JiraConfig{
		RequestType: `{{if eq .Tier "L3"}}12{{else}}10{{end}}`, TierField: "customfield_10060",
		Fields: map[string]string{"customfield_10070": `{{join ", " .Rules}}`},
	}, nil)
	tk := sendTrackerMail(t, s)
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.issues) != 1 {
		t.Fatalf("%d requests, want 1", len(j.issues))
	}
	is := j.issues[0]
	f := is.Fields
	if is.RequestType != "10" || f["summary"] != "Printer on floor 3 prints garbage" || fmt.Sprint(f["priority"]) != "map[name:High]" ||
		f["duedate"] != "2026-11-27" || f["customfield_10060"] != "L2" || f["customfield_10070"] != "printers" {
		t.Errorf("request type %s, fields %v", is.RequestType, f)
	}
	if labels := fmt.Sprint(f["labels"]); labels != "[triage "+trackerIDLabel(tk.ID)+" printer floor_3]" {
		t.Errorf("labels %s", labels)
	}
	desc := fmt.Sprint(f["description"])
	if !strings.Contains(desc, "From: Jürgen Müller <juergen.mueller@example.com>") || !strings.Contains(desc, "prints garbage since this morning") ||
		!strings.Contains(desc, "Message-ID: <att-1@example.com>") {
		t.Errorf("description %q", desc)
	}
	if len(j.customers) != 2 || j.customers[0].DisplayName != "Jürgen Müller" || is.OnBehalfOf != j.customers[0].AccountID {
		t.Errorf("customers %+v, on behalf of %q", j.customers, is.OnBehalfOf)
	}
	if len(is.Participants) != 1 || is.Participants[0] != j.customers[1].AccountID || j.customers[1].DisplayName != "Bea Boss" {
		t.Errorf("participants %v", is.Participants)
	}
	checkJiraAttachments(t, is.Attachments)
	if len(is.Comments) != 1 || is.Comments[0].Public || !strings.Contains(is.Comments[0].Body, "printers: Printer trouble goes to systems") {
		t.Errorf("comments %+v", is.Comments)
	}
}

// The crash case, for the id label and for an id field.
func TestJiraLookupBeforeCreate(t *testing.T) {
	for _, field := range []string{"", "customfield_10050"} {
		t.Run("id_field="+field, func(t *testing.T) {
			j, srv := newFakeJira(t)
			tk := mailTicket(t, "tracker-attachments.eml")
			for range 3 {
				s := newJiraSink(t, srv.URL, JiraConfig{IDField: field}, &mapTrackerIndex{})
				if err := s.Send(context.Background(), tk); err != nil {
					t.Fatal(err)
				}
			}
			if j.creates != 1 {
				t.Fatalf("%d creates, want 1", j.creates)
			}
			if field != "" && j.issues[0].Fields[field] != tk.ID {
				t.Errorf("%s = %v, want the id", field, j.issues[0].Fields[field])
			}
		})
	}
}

func TestJiraReplies(t *testing.T) {
	for _, c := range replyCases("[SD-1]", "SD-1") {
		t.Run(c.name, func(t *testing.T) {
			j, srv := newFakeJira(t)
			s := newJiraSink(t, srv.URL, JiraConfig{ProjectKey: "SD"}, &mapTrackerIndex{})
			first := sendTrackerMail(t, s)
			reply := replyTicket(t)
			reply.Body = "Still broken, new scan attached."
			c.reply(first, reply)
			j.mu.Lock()
			j.issues[0].Attachments = map[string][]byte{} // the reply's own attachments are checked below
			j.mu.Unlock()
			if err := s.Send(context.Background(), reply); err != nil {
				t.Fatal(err)
			}
			if j.creates != 1 {
				t.Fatalf("%d requests, want the reply on the first", j.creates)
			}
			cs := j.issues[0].Comments
			if len(cs) != 2 || !cs[1].Public || !strings.Contains(cs[1].Body, "Still broken") || len(cs[1].Attachments) != 3 {
				t.Fatalf("comments %+v", cs)
			}
			checkJiraAttachments(t, j.issues[0].Attachments)
		})
	}
}

func TestJiraReplyWithoutAttachments(t *testing.T) {
	j, srv := newFakeJira(t)
	s := newJiraSink(t, srv.URL, JiraConfig{}, nil)
	if err := s.Send(context.Background(), mailTicket(t, "tracker-attachments.eml")); err != nil {
		t.Fatal(err)
	}
	reply := sampleTicket(nil)
	reply.Subject = "Re: [SD-1] thanks, works again"
	if err := s.Send(context.Background(), reply); err != nil {
		t.Fatal(err)
	}
	cs := j.issues[0].Comments
	if j.creates != 1 || len(cs) != 2 || !cs[1].Public || !strings.Contains(cs[1].Body, "the VPN drops") {
		t.Fatalf("%d creates, comments %+v", j.creates, cs)
	}
}

func TestJiraEscalationOnReply(t *testing.T) {
	j, srv := newFakeJira(t)
	s := newJiraSink(t, srv.URL, JiraConfig{TierField: "customfield_10060"}, nil)
	first := mailTicket(t, "tracker-attachments.eml")
	first.Class.Tier, first.Class.Priority = "L1", "P3"
	if err := s.Send(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	reply := sampleTicket(nil)
	reply.Subject = "Re: [SD-1] the whole floor is down now"
	reply.Class.Tier, reply.Class.Priority = "L3", "P1"
	if err := s.Send(context.Background(), reply); err != nil {
		t.Fatal(err)
	}
	is := j.issues[0]
	if fmt.Sprint(is.Fields["priority"]) != "map[name:Highest]" || is.Fields["customfield_10060"] != "L3" {
		t.Fatalf("after the reply: %v", is.Fields)
	}
	last := is.Comments[len(is.Comments)-1]
	if last.Public || !strings.Contains(last.Body, "Escalated by a reply") {
		t.Fatalf("escalation note %+v", last)
	}
}

func TestJiraRefusals(t *testing.T) {
	cases := []struct {
		name      string
		cfg       JiraConfig
		fail      map[string]int
		temporary bool
		message   string
	}{
		{name: "field not on the request type", cfg: JiraConfig{Fields: map[string]string{"customfield_99999": "x"}}, message: "Field 'customfield_99999' is not valid for this request type."},
		{name: "unknown request type", cfg: JiraConfig{RequestType: "99"}, message: "does not exist"},
		{name: "request type not a number", cfg: JiraConfig{RequestType: "{{.Queue}}"}, message: "not a request type id"},
		{name: "server error", fail: map[string]int{"POST /rest/servicedeskapi/request": 502}, temporary: true, message: "502"},
		{name: "upload refused", fail: map[string]int{"POST /rest/servicedeskapi/servicedesk/7/attachTemporaryFile": 413}, message: "413"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j, srv := newFakeJira(t)
			j.fail = c.fail
			s := newJiraSink(t, srv.URL, c.cfg, nil)
			err := s.Send(context.Background(), mailTicket(t, "tracker-attachments.eml"))
			j.checkRefused(t, err, c.temporary, c.message)
		})
	}
}

// A sender Jira refuses as customer still gets a request, raised by
// triage's account, the address in the description and the note.
func TestJiraRequesterFallback(t *testing.T) {
	j, srv := newFakeJira(t)
	s := newJiraSink(t, srv.URL, JiraConfig{}, nil)
	tk := mailTicket(t, "tracker-attachments.eml")
	tk.From = ticket.Address{Name: "Jürgen Weiß", Address: "jürgen.weiß@example.com"}
	tk.Cc = nil
	if err := s.Send(context.Background(), tk); err != nil {
		t.Fatal(err)
	}
	is := j.issues[0]
	desc := fmt.Sprint(is.Fields["description"])
	if j.creates != 1 || is.OnBehalfOf != "" || !strings.Contains(desc, "Requester: Jürgen Weiß <jürgen.weiß@example.com> (refused by Jira)") ||
		!strings.Contains(is.Comments[0].Body, "Requester refused by the tracker") {
		t.Fatalf("on behalf of %q, description %q, comments %+v", is.OnBehalfOf, desc, is.Comments)
	}
}

// jiraHistory is one changelog entry as Jira's search answers it.
func jiraHistory(author, at string, items ...map[string]any) map[string]any {
	return map[string]any{
		"id": "1", "created": at, "items": items,
		"author": map[string]any{"accountId": author, "displayName": map[string]string{"bot-1": "triage bot", "acc-9": "Ann Agent"}[author]},
	}
}

func TestJiraAudit(t *testing.T) {
	j, srv := newFakeJira(t)
	cfg := JiraConfig{TierField: "customfield_10060", RulesField: "customfield_10070", ProjectKey: "SD"}
	s := newJiraSink(t, srv.URL, cfg, nil)
	for i, rule := range []string{"printers", "vpn", "dns"} {
		tk := mailTicket(t, "tracker-attachments.eml")
		tk.ID = fmt.Sprintf("%032x", i+1)
		tk.Class.Matched = []ticket.MatchedRule{{Rule: rule}}
		if err := s.Send(context.Background(), tk); err != nil {
			t.Fatal(err)
		}
	}
	seedJiraAuditHistory(j)

	t.Setenv("JIRA_TEST_TOKEN", "jira-secret")
	cfg.URL, cfg.Username, cfg.TokenEnv, cfg.ServiceDesk, cfg.RequestType = srv.URL, "bot@example.com", "JIRA_TEST_TOKEN", jiraTestDesk, "10"
	r, err := NewAuditReader("jira-q", Config{Type: "jira", Settings: &cfg}, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Tracker() != "jira "+srv.URL {
		t.Errorf("tracker %q", r.Tracker())
	}
	got, err := r.AuditTickets(context.Background(), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d tickets, want 3", len(got))
	}
	checkJiraAudit(t, got)
}

// seedJiraAuditHistory gives the three audited issues what agents did to
// them: SD-1 escalated by triage then moved and resolved by an agent, SD-2
// moved to another request type and back, SD-3 resolved untouched.
func seedJiraAuditHistory(j *fakeJira) {
	tierItem := func(from, to string) map[string]any {
		return map[string]any{"field": "Triage tier", "fieldtype": "custom", "fieldId": "customfield_10060", "fromString": from, "toString": to}
	}
	rtItem := func(from, to string) map[string]any {
		return map[string]any{"field": "Request Type", "fieldtype": "custom", "fieldId": "customfield_10010", "fromString": from, "toString": to}
	}
	j.mu.Lock()
	j.issues[0].Histories = []map[string]any{
		jiraHistory("bot-1", "2026-11-27T11:00:00.000+0100", tierItem("L2", "L3")), // triage's own escalation
		jiraHistory("acc-9", "2026-11-27T12:00:00.000+0100", tierItem("L3", "L1"), map[string]any{"field": "status", "fromString": "Open", "toString": "Done"}),
	}
	j.issues[0].Resolution = map[string]any{"name": "Done"}
	j.issues[1].Histories = []map[string]any{
		jiraHistory("acc-9", "2026-11-27T12:00:00.000+0100", rtItem("Get IT help", "Network")),
		jiraHistory("acc-9", "2026-11-27T13:00:00.000+0100", rtItem("Network", "Get IT help")),
	}
	j.issues[2].Resolution = map[string]any{"name": "Done"}
	j.mu.Unlock()
}

// checkJiraAudit checks the audit records of the three issues
// seedJiraAuditHistory prepared.
func checkJiraAudit(t *testing.T, got []AuditTicket) {
	t.Helper()
	a, b, c := got[0], got[1], got[2]
	if a.TrackerID != "SD-1" || a.TriageID != fmt.Sprintf("%032x", 1) || strings.Join(a.Rules, ",") != "printers" || !a.Resolved ||
		a.Tier != "L2" || len(a.Moves) != 1 || a.Moves[0].FromTier != "L3" || a.Moves[0].ToTier != "L1" || a.Moves[0].By != "Ann Agent" ||
		!a.Created.Equal(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("SD-1: %+v", a)
	}
	if b.Resolved || len(b.Moves) != 2 || b.Queue != "Get IT help" || b.FinalQueue != "Get IT help" || b.Moves[0].ToQueue != "Network" {
		t.Errorf("SD-2: %+v", b)
	}
	if !c.Resolved || len(c.Moves) != 0 || c.Tier != "L2" || strings.Join(c.Rules, ",") != "dns" {
		t.Errorf("SD-3: %+v", c)
	}
}

// A sender who is a customer already (a second mail) is found in the
// service desk's customers, not created again.
func TestJiraKnownCustomer(t *testing.T) {
	j, srv := newFakeJira(t)
	s := newJiraSink(t, srv.URL, JiraConfig{}, nil)
	for i := range 2 {
		tk := mailTicket(t, "tracker-attachments.eml")
		tk.ID = fmt.Sprintf("%032x", i+1)
		if err := s.Send(context.Background(), tk); err != nil {
			t.Fatal(err)
		}
	}
	if j.creates != 2 || len(j.customers) != 2 || j.issues[1].OnBehalfOf != j.customers[0].AccountID {
		t.Fatalf("%d requests, customers %+v, second on behalf of %q", j.creates, j.customers, j.issues[1].OnBehalfOf)
	}
}

// Data Center: a personal access token as bearer, customers by user name
// (created with fullName, added to the desk by usernames).
func TestJiraDataCenter(t *testing.T) {
	j, srv := newFakeJira(t)
	j.datacenter, j.auth = true, "Bearer jira-secret"
	t.Setenv("JIRA_TEST_TOKEN", "jira-secret")
	cfg := JiraConfig{URL: srv.URL, apiToken: apiToken{TokenEnv: "JIRA_TEST_TOKEN"}, Deployment: "datacenter", ServiceDesk: jiraTestDesk, RequestType: "10"}
	log, _ := testLogger()
	s, err := New("jira-dc", Config{Type: "jira", Settings: &cfg}, t.TempDir(), log, WithContent(classifier.DecodeContent))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	for i := range 2 {
		tk := mailTicket(t, "tracker-attachments.eml")
		tk.ID = fmt.Sprintf("%032x", i+1)
		if err := s.Send(context.Background(), tk); err != nil {
			t.Fatal(err)
		}
	}
	if j.creates != 2 || len(j.customers) != 2 || j.customers[0].DisplayName != "Jürgen Müller" ||
		j.issues[0].OnBehalfOf != "user1" || j.issues[1].OnBehalfOf != "user1" || !j.deskMembers["user1"] {
		t.Fatalf("%d requests, customers %+v, on behalf of %q, %q", j.creates, j.customers, j.issues[0].OnBehalfOf, j.issues[1].OnBehalfOf)
	}
}
