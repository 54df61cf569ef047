package classifier

import (
	"slices"
	"testing"
	"time"

	"github.com/triage-dev/triage/rules"
	"github.com/triage-dev/triage/ticket"
)

// TestCalendarFieldsFromArrival: hour, weekday and business_hours follow
// the arrival at the server; a forged Date header (Monday 10:00) does not
// move a Saturday-night mail into office hours, and date stays the header.
// The problem fields reach the rules and the ticket.
func TestCalendarFieldsFromArrival(t *testing.T) {
	set, err := rules.LoadBytes("r.yaml", []byte(`version: 1
defaults: {tier: L1, priority: P3, queue: helpdesk}
calendar: {timezone: Europe/Berlin, business_hours: "Mon-Fri 08:00-18:00"}
rules:
  - {name: office, when: 'business_hours and weekday == "Mon" and hour == 10', tags: [office]}
  - {name: night, when: 'not business_hours and weekday == "Sat" and hour == 3', tags: [night]}
  - {name: forged-date, when: 'date.Weekday().String() == "Monday"', tags: [date-is-header]}
  - {name: recurring, when: 'problem.size >= 3 and similar_recent == 3 and sender_recent == 2 and problem.summary == "vpn down"', tags: [recurring]}
`))
	if err != nil {
		t.Fatal(err)
	}
	raw := []byte("From: a@example.com\r\nTo: desk@example.com\r\nSubject: VPN down\r\nDate: Mon, 07 Dec 2026 10:00:00 +0100\r\nMessage-ID: <a@example.com>\r\n\r\nVPN down.\r\n")
	arrival := time.Date(2026, 12, 5, 2, 0, 0, 0, time.UTC) // Saturday 03:00 in Berlin
	first := arrival.Add(-30 * time.Minute)
	tests := []struct {
		name     string
		meta     Meta
		wantTags []string
		problem  bool
	}{
		{"arrival Saturday night", Meta{ReceivedAt: arrival}, []string{"night", "date-is-header"}, false},
		{"arrival Monday 10:00", Meta{ReceivedAt: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)}, []string{"office", "date-is-header"}, false},
		{"problem fields", Meta{ReceivedAt: arrival, SimilarRecent: 3, SenderRecent: 2,
			Problem: ticket.Problem{ID: "p-1", Size: 3, FirstSeen: first, Summary: "vpn down"}, Related: []string{"a", "b"}},
			[]string{"night", "date-is-header", "recurring"}, true},
	}
	for _, tt := range tests {
		tk, err := New().Classify(set, raw, tt.meta)
		if err != nil {
			t.Fatal(err)
		}
		if got := tk.Class.Tags; !slices.Equal(got, tt.wantTags) {
			t.Errorf("%s: tags %v, want %v", tt.name, got, tt.wantTags)
		}
		if (tk.Class.Problem != nil) != tt.problem {
			t.Errorf("%s: classification.problem = %+v, want present %v", tt.name, tk.Class.Problem, tt.problem)
		}
		if tt.problem && (tk.Class.Problem.ID != "p-1" || !tk.Class.Problem.FirstSeen.Equal(first) || len(tk.Related) != 2) {
			t.Errorf("%s: problem %+v related %v", tt.name, tk.Class.Problem, tk.Related)
		}
	}
}
