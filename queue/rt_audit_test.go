package queue

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestRTAuditHistory reads a ticket's REST 2 history as RT 5.0 writes it:
// records carry both "type" and "Type", in either order.
func TestRTAuditHistory(t *testing.T) {
	answers := map[string]string{
		"/REST/2.0/tickets":  `{"items":[{"id":"7","type":"ticket"}],"pages":1}`,
		"/REST/2.0/ticket/7": `{"id":7,"Status":"resolved","Created":"2026-11-27T10:00:00Z","Queue":{"id":"1","type":"queue"},"CustomFields":[{"id":"2","name":"TriageID","values":["abc"]},{"id":"3","name":"Tier","values":["L2"]},{"id":"4","name":"Rules","values":["vpn,vip"]}]}`,
		"/REST/2.0/queue/1":  `{"id":1,"Name":"General"}`,
		"/REST/2.0/queue/3":  `{"id":3,"Name":"Systems"}`,
		"/REST/2.0/queue/4":  `{"id":4,"Name":"Security"}`,
		"/REST/2.0/ticket/7/history": `{"pages":null,"items":[
			{"type":"transaction","Type":"Create","Creator":{"id":"triage-bot"},"Created":"2026-11-27T10:00:00Z"},
			{"Type":"CustomField","type":"transaction","Field":"3","OldValue":"","NewValue":"L1","Creator":{"id":"triage-bot"}},
			{"Type":"Set","Field":"Queue","OldValue":"3","NewValue":"4","type":"transaction","Creator":{"id":"triage-bot"}},
			{"type":"transaction","Type":"Set","Field":"Queue","OldValue":"4","NewValue":"1","Creator":{"id":"alice"},"Created":"2026-11-27T11:00:00Z"},
			{"Type":"CustomField","Field":"3","OldValue":"L1","NewValue":"L2","type":"transaction","Creator":{"id":"alice"}}]}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := answers[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.URL.Path == "/REST/2.0/tickets" && !strings.Contains(r.URL.Query().Get("query"), "CF.{TriageID} IS NOT NULL AND Created >= '2026-11-01 00:00:00'") {
			t.Errorf("query %q", r.URL.Query().Get("query"))
		}
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	t.Setenv("RT_TEST_TOKEN", "x")
	r, err := NewAuditReader("q", Config{Type: "rt", Settings: &RTConfig{URL: srv.URL, TokenEnv: "RT_TEST_TOKEN"}}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.AuditTickets(context.Background(), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d tickets", len(got))
	}
	a := got[0]
	// The bot's own move (escalation on reply) is no correction; alice's
	// queue move and tier change are.
	if a.TriageID != "abc" || a.Queue != "Systems" || a.Tier != "L1" || !a.Resolved || a.FinalQueue != "General" ||
		a.FinalTier != "L2" || strings.Join(a.Rules, ",") != "vpn,vip" || len(a.Moves) != 2 ||
		a.Moves[0].FromQueue != "Security" || a.Moves[0].ToQueue != "General" || a.Moves[0].By != "alice" ||
		a.Moves[1].FromTier != "L1" || a.Moves[1].ToTier != "L2" {
		t.Fatalf("%+v", a)
	}
	if r.Tracker() != "rt "+srv.URL {
		t.Errorf("tracker %q", r.Tracker())
	}
}
