package queue

import (
	"strings"
	"testing"
)

func TestTrackerConfigYAML(t *testing.T) {
	q, err := decodeQueues(t, `
queues:
  zammad:
    type: zammad
    url: https://zammad.example.com
    token_env: ZAMMAD_TOKEN
    group: '{{if eq .Tier "L1"}}1st Level{{else}}2nd Level{{end}}'
    priority: {P1: "3 high", P2: "3 high", P3: "2 normal", P4: "1 low"}
    id_attribute: triage_id
    tier_attribute: triage_tier
    due_attribute: triage_due
    attributes: {triage_rules: '{{join ", " .Rules}}'}
    fallback_customer: unknown-sender@example.com
  jira:
    type: jira
    url: https://example.atlassian.net
    username: triage-bot@example.com
    token_file: /etc/triage/jira-token
    service_desk: "2"
    request_type: '{{if eq .Tier "L3"}}12{{else}}10{{end}}'
    project_key: SD
    id_field: customfield_10050
    tier_field: customfield_10060
    priority: {}
    due_field: none
    fields: {customfield_10070: '{{.Runbook}}'}
  desk:
    type: webhook
    url: https://desk.example.com/api/v2/tickets
    headers_env: {Authorization: DESK_AUTH}
    response_id: /id
    reply: {url: 'https://desk.example.com/api/v2/tickets/{{.TrackerID}}/reply', body_template: reply.json.tmpl}
`)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range q {
		if p := ValidateConfig(name, c); len(p) > 0 {
			t.Errorf("%s: %v", name, p)
		}
	}
	z := q["zammad"].Settings.(*ZammadConfig)
	j := q["jira"].Settings.(*JiraConfig)
	d := q["desk"].Settings.(*WebhookConfig)
	if z.TokenEnv != "ZAMMAD_TOKEN" || z.IDAttribute != "triage_id" || j.TokenFile != "/etc/triage/jira-token" || j.Priority == nil || len(j.Priority) != 0 ||
		d.ResponseID != "/id" || d.Reply.BodyTemplate != "reply.json.tmpl" {
		t.Errorf("decoded %+v %+v %+v", z, j, d)
	}
}

func TestTrackerConfigErrors(t *testing.T) {
	cases := []struct {
		yaml string
		want string
	}{
		{`{type: zammad, url: https://z.example.com, token_env: T, grop: x}`, "field grop not found"},
		{`{type: webhook, url: https://d.example.com, response_id: /id, reply: {urll: x}}`, "field urll not found"},
	}
	for _, c := range cases {
		_, err := decodeQueues(t, "queues:\n  q: "+c.yaml+"\n")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.yaml, err, c.want)
		}
	}
	problems := []struct {
		cfg  Config
		want string
	}{
		{Config{Type: "zammad", Settings: &ZammadConfig{URL: "https://z.example.com"}}, "token_env or token_file is required"},
		{Config{Type: "zammad", Settings: &ZammadConfig{URL: "http://z.example.com", apiToken: apiToken{TokenEnv: "T"}}}, "plain http"},
		{Config{Type: "zammad", Settings: &ZammadConfig{URL: "https://z.example.com", apiToken: apiToken{TokenEnv: "T"}, IDAttribute: "Triage ID"}}, "not a Zammad attribute name"},
		{Config{Type: "zammad", Settings: &ZammadConfig{URL: "https://z.example.com", apiToken: apiToken{TokenEnv: "T", TokenFile: "f"}}}, "not both"},
		{Config{Type: "zammad", Settings: &ZammadConfig{URL: "https://z.example.com", apiToken: apiToken{TokenEnv: "T"}, Group: "{{.Nope"}}, "group:"},
		{Config{Type: "jira", Settings: &JiraConfig{URL: "https://j.example.com", apiToken: apiToken{TokenEnv: "T"}, RequestType: "1"}}, "service_desk"},
		{Config{Type: "jira", Settings: &JiraConfig{URL: "https://j.example.com", apiToken: apiToken{TokenEnv: "T"}, ServiceDesk: "1"}}, "needs request_type"},
		{Config{Type: "jira", Settings: &JiraConfig{URL: "https://u:p@j.example.com", apiToken: apiToken{TokenEnv: "T"}, ServiceDesk: "1", RequestType: "1"}}, "credentials"},
		{Config{Type: "jira", Settings: &JiraConfig{URL: "https://j.example.com", apiToken: apiToken{TokenEnv: "T"}, ServiceDesk: "1", RequestType: "1", IDField: "summary"}}, "id_field"},
		{Config{Type: "jira", Settings: &JiraConfig{URL: "https://j.example.com", apiToken: apiToken{TokenEnv: "T"}, ServiceDesk: "1", RequestType: "1", Deployment: "server"}}, "deployment"},
		{Config{Type: "jira", Settings: &JiraConfig{URL: "https://j.example.com", apiToken: apiToken{TokenEnv: "T"}, ServiceDesk: "1", RequestType: "1", Fields: map[string]string{"bad id": "x"}}}, "not a Jira field id"},
	}
	for _, c := range problems {
		p := strings.Join(ValidateConfig("q", c.cfg), "; ")
		if !strings.Contains(p, c.want) {
			t.Errorf("%+v: problems %q, want %q", c.cfg.Settings, p, c.want)
		}
	}
}
