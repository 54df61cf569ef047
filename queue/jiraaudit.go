package queue

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// jiraTime is how Jira's REST API writes times.
const jiraTime = "2006-01-02T15:04:05.000-0700"

// jiraRequestTypeFields are the names Jira's changelog gives the request
// type of a Service Management request: a change of it is a move to
// another queue of the desk.
var jiraRequestTypeFields = map[string]bool{"request type": true, "customer request type": true}

// Tracker names the Jira instance for the audit report.
func (j *jiraClient) Tracker() string { return j.tracker }

type jiraAuditIssue struct {
	Key    string         `json:"key"`
	Fields map[string]any `json:"fields"`
	Log    struct {
		Histories []struct {
			Author struct {
				AccountID string `json:"accountId"`
				Name      string `json:"name"`
				Display   string `json:"displayName"`
			} `json:"author"`
			Created string `json:"created"`
			Items   []struct {
				Field      string `json:"field"`
				FieldID    string `json:"fieldId"`
				FromString string `json:"fromString"`
				ToString   string `json:"toString"`
			} `json:"items"`
		} `json:"histories"`
	} `json:"changelog"`
}

// AuditTickets reads the requests triage filed since then, with their
// changelogs: tier field and request type changes by people are moves.
func (j *jiraClient) AuditTickets(ctx context.Context, since time.Time) ([]AuditTicket, error) {
	jql := "labels = " + strconv.Quote(jiraFiledLabel)
	if j.cfg.IDField != "labels" {
		jql = "cf[" + strings.TrimPrefix(j.cfg.IDField, "customfield_") + "] is not EMPTY"
	}
	jql += " AND created >= " + strconv.Quote(since.UTC().Format("2006-01-02 15:04"))
	if j.cfg.ProjectKey != "" {
		jql += " AND project = " + j.cfg.ProjectKey
	}
	jql += " ORDER BY created ASC"
	fields := []string{"created", "creator", "resolution", j.cfg.IDField, j.cfg.TierField, j.cfg.RulesField}
	fieldList := strings.Join(slices.DeleteFunc(fields, func(f string) bool { return f == "" }), ",")
	var out []AuditTicket
	for start := 0; len(out) < maxAuditTickets; {
		var res struct {
			Total  int              `json:"total"`
			Issues []jiraAuditIssue `json:"issues"`
		}
		q := url.Values{"jql": {jql}, "fields": {fieldList}, "expand": {"changelog"}, "startAt": {strconv.Itoa(start)}, "maxResults": {"100"}}
		if err := j.api.call(ctx, http.MethodGet, "/api/2/search", q, nil, &res); err != nil {
			return nil, fmt.Errorf("jira search: %w", err)
		}
		for _, is := range res.Issues {
			if at, ok := j.auditTicket(is); ok {
				out = append(out, at)
			}
		}
		start += len(res.Issues)
		if len(res.Issues) == 0 || start >= res.Total {
			break
		}
	}
	return out, nil
}

// auditTicket replays one request's changelog; ok is false for an issue
// that carries no triage id.
func (j *jiraClient) auditTicket(is jiraAuditIssue) (AuditTicket, bool) {
	at := AuditTicket{TrackerID: is.Key}
	if !jiraKey.MatchString(is.Key) {
		return at, false
	}
	str := func(f string) string { v, _ := is.Fields[f].(string); return v }
	if j.cfg.IDField == "labels" {
		labels, _ := is.Fields["labels"].([]any)
		for _, l := range labels {
			if s, _ := l.(string); strings.HasPrefix(s, "triage-") {
				at.TriageID = strings.TrimPrefix(s, "triage-")
			}
		}
	} else {
		at.TriageID = str(j.cfg.IDField)
	}
	if at.TriageID == "" {
		return at, false
	}
	at.Created, _ = time.Parse(jiraTime, str("created"))
	at.Resolved = is.Fields["resolution"] != nil
	for _, r := range strings.Split(str(j.cfg.RulesField), ",") {
		if r = strings.TrimSpace(r); r != "" {
			at.Rules = append(at.Rules, r)
		}
	}
	c, _ := is.Fields["creator"].(map[string]any)
	creatorID, _ := c["accountId"].(string)
	creatorName, _ := c["name"].(string)
	creator := cmp.Or(creatorID, creatorName)
	if j.cfg.TierField != "" {
		at.FinalTier = str(j.cfg.TierField)
	}
	at.Tier = at.FinalTier
	firstTier, firstQueue := true, true
	for _, h := range is.Log.Histories {
		who := cmp.Or(h.Author.AccountID, h.Author.Name)
		at2, _ := time.Parse(jiraTime, h.Created)
		for _, it := range h.Items {
			var mv AuditMove
			switch {
			case j.cfg.TierField != "" && it.FieldID == j.cfg.TierField:
				if it.FromString == "" {
					continue // set at creation
				}
				if firstTier {
					at.Tier, firstTier = it.FromString, false
				}
				mv.FromTier, mv.ToTier = it.FromString, it.ToString
			case jiraRequestTypeFields[strings.ToLower(it.Field)]:
				if firstQueue {
					at.Queue, firstQueue = it.FromString, false
				}
				at.FinalQueue = it.ToString
				mv.FromQueue, mv.ToQueue = it.FromString, it.ToString
			default:
				continue
			}
			if who == creator && creator != "" {
				continue // triage's own escalation on reply
			}
			mv.At, mv.By = at2, h.Author.Display
			at.Moves = append(at.Moves, mv)
		}
	}
	return at, true
}
