package queue

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzTrackerAnswers serves one fuzzed body as the answer to every call
// the zammad, jira and rt clients make and runs each call that reads an
// answer: whatever a tracker answers, no call panics, and an id zammad or
// jira reads back is of the tracker's form.
func FuzzTrackerAnswers(f *testing.F) {
	for _, seed := range []string{
		`{"tickets":[1],"assets":{"Ticket":{"1":{"id":1,"number":"31001","triage_id":"abc"}}}}`,
		`{"tags":["triage-abc"]}`,
		`[{"id":5,"email":"a@example.com"}]`,
		`{"issues":[{"key":"SD-1","fields":{"labels":["triage-abc"],"customfield_10050":"abc"}}]}`,
		`{"issueKey":"SD-2","id":9,"number":"31002"}`,
		`{"total":1,"issues":[{"key":"SD-1","fields":{"labels":["triage","triage-abc"],"created":"2026-11-27T10:00:00.000+0100","resolution":{},"customfield_10060":"L1"},"changelog":{"histories":[{"author":{"accountId":"a"},"items":[{"fieldId":"customfield_10060","fromString":"L1","toString":"L2"},{"field":"Request Type","fromString":"x","toString":"y"}]}]}}]}`,
		`{"temporaryAttachments":[{"temporaryAttachmentId":"t1"}]}`,
		`{"fields":{"priority":{"name":"High"},"customfield_10060":"L2"},"priority":"3 high","triage_tier":"L3"}`,
		strings.Repeat("[", 70) + strings.Repeat("]", 70),
		`{"items":[{"id":"12"}],"pages":1}`,
		`{"id":12,"Priority":"50","Status":"resolved","Queue":{"id":"1"},"CustomFields":[{"id":"3","name":"Tier","values":["L2"]}]}`,
		`{"tickets":[1e400]}`, `null`, ``, `{"tickets":[-1],"assets":{"Ticket":{"-1":{"number":"x/../1"}}}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		}))
		defer srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		log, _ := testLogger()
		q := sinkSpec{name: "fuzz", typ: "zammad", timeout: 5 * time.Second, baseDir: t.TempDir(), log: log}
		t.Setenv("FUZZ_TOKEN", "t")
		m := &TrackerMail{Ticket: sampleTicket(nil), Requester: sampleTicket(nil).From}
		m.Content = mustContent(t)

		zc, err := (&ZammadConfig{URL: srv.URL, apiToken: apiToken{TokenEnv: "FUZZ_TOKEN"}, TierAttribute: "triage_tier"}).client(q)
		if err != nil {
			t.Fatal(err)
		}
		for _, attr := range []string{"", "triage_id"} {
			zc.cfg.IDAttribute = attr
			if id, err := zc.Find(ctx, "abc"); err == nil && id != "" && !validZammadNumber(id) {
				t.Fatalf("zammad Find read %q", id)
			}
		}
		if id, err := zc.Create(ctx, m); err == nil && !validZammadNumber(id) {
			t.Fatalf("zammad Create read %q", id)
		}
		_, _ = zc.State(ctx, "31001")
		_ = zc.Reply(ctx, "31001", m)

		q.typ = "jira"
		jc, err := (&JiraConfig{URL: srv.URL, apiToken: apiToken{TokenEnv: "FUZZ_TOKEN"}, ServiceDesk: "7", RequestType: "10", TierField: "customfield_10060"}).client(q)
		if err != nil {
			t.Fatal(err)
		}
		for _, field := range []string{"labels", "customfield_10050"} {
			jc.cfg.IDField = field
			if id, err := jc.Find(ctx, "abc"); err == nil && id != "" && !jiraKey.MatchString(id) {
				t.Fatalf("jira Find read %q", id)
			}
		}
		if id, err := jc.Create(ctx, m); err == nil && !jiraKey.MatchString(id) {
			t.Fatalf("jira Create read %q", id)
		}
		_, _ = jc.State(ctx, "SD-1")
		jc.cfg.RulesField = "customfield_10070"
		if ts, err := jc.AuditTickets(ctx, time.Unix(0, 0)); err == nil {
			for _, at := range ts {
				if !jiraKey.MatchString(at.TrackerID) || at.TriageID == "" {
					t.Fatalf("jira audit read %+v", at)
				}
			}
		}

		q.typ = "rt"
		rc, err := (&RTConfig{URL: srv.URL, TokenEnv: "FUZZ_TOKEN", RTName: "rt.example"}).client(q)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = rc.Find(ctx, "abc")
		_, _ = rc.Create(ctx, m)
		_, _ = rc.State(ctx, "12")
		_, _ = rc.AuditTickets(ctx, time.Unix(0, 0))
	})
}

// FuzzCheckJSONDepth: the depth check never panics, and JSON it lets
// through decodes without encoding/json's own depth error.
func FuzzCheckJSONDepth(f *testing.F) {
	for _, s := range []string{`{}`, `[[[]]]`, `{"a":[{"b":1}]}`, strings.Repeat("[", 65), `"\u0000"`, `[1,]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if checkJSONDepth(b, maxAPIJSONDepth) != nil {
			return
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil && strings.Contains(err.Error(), "exceeded max depth") {
			t.Fatalf("depth check passed JSON too deep for encoding/json: %v", err)
		}
	})
}
