package replaydiff

import (
	"fmt"
	"testing"
	"time"

	"github.com/triage-dev/triage/ticket"
)

func tk(tier, queue, action string) *ticket.Ticket {
	return &ticket.Ticket{Subject: "s", From: ticket.Address{Address: "a@example.com"},
		Class: ticket.Classification{Tier: tier, Priority: "P3", Queue: queue, Action: action}}
}

func TestTally(t *testing.T) {
	date := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	var d Tally
	d.Add("same", date, tk("L1", "helpdesk", "forward"), tk("L1", "helpdesk", "forward"))
	d.Add("a", date, tk("L2", "systems", "forward"), tk("L1", "helpdesk", "forward"))
	d.Add("b", time.Time{}, tk("L2", "systems", "forward"), tk("L1", "systems", "forward"))
	d.Add("c", date, tk("L1", "helpdesk", "forward"), tk("L1", "helpdesk", "drop"))
	if len(d.Changes) != 3 || d.Changes[0].Message != "a" || d.Changes[1].Date != "" || d.Changes[0].Date != "2026-12-04T10:00:00Z" {
		t.Errorf("changes %+v", d.Changes)
	}
	want := "[{tier L2 L1 2} {queue systems helpdesk 1} {action forward drop 1}]"
	if got := fmt.Sprint(d.Transitions()); got != want {
		t.Errorf("transitions %s, want %s", got, want)
	}
	for _, tc := range []struct {
		old, cur *ticket.Ticket
		want     string
	}{
		{tk("L2", "systems", "forward"), tk("L1", "helpdesk", "forward"), "tier L2→L1, queue systems→helpdesk"},
		{tk("L1", "helpdesk", "forward"), tk("L1", "helpdesk", "drop"), "action forward→drop"},
		{tk("L1", "helpdesk", "forward"), tk("L1", "helpdesk", "forward"), ""},
	} {
		if got := Describe(OutcomeOf(tc.old.Class), OutcomeOf(tc.cur.Class)); got != tc.want {
			t.Errorf("Describe = %q, want %q", got, tc.want)
		}
	}
}
