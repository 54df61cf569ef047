package audit

import (
	"testing"
	"time"

	"github.com/triage-dev/triage/queue"
)

func TestBuild(t *testing.T) {
	mv := func(from, to string) queue.AuditMove { return queue.AuditMove{FromQueue: from, ToQueue: to, By: "alice"} }
	tk := func(id string, rules []string, tier string, resolved bool, moves ...queue.AuditMove) Ticket {
		return Ticket{Tracker: "rt x", AuditTicket: queue.AuditTicket{TrackerID: id, Rules: rules, Tier: tier, Queue: "Q", Resolved: resolved, Moves: moves}}
	}
	tickets := []Ticket{
		tk("1", []string{"password"}, "L1", true),
		tk("2", []string{"password"}, "L1", true, mv("General", "Systems")),
		tk("3", []string{"network"}, "L2", false, mv("Systems", "General"), mv("General", "Systems")),
		tk("4", nil, "L1", true),
		tk("4", nil, "L1", true), // the same ticket through a second queue of the tracker
		tk("5", []string{"network", "vip"}, "L2", true),
	}
	r := Build(time.Time{}, tickets)
	if r.Tickets != 5 {
		t.Fatalf("tickets %d, want 5", r.Tickets)
	}
	want := map[string]Counts{
		"password": {Tickets: 2, Rerouted: 1, Resolved: 2, ResolvedInTier: 1, ResolvedInTierShare: 0.5},
		"network":  {Tickets: 2, Rerouted: 1, Bouncing: 1, Resolved: 1, ResolvedInTier: 1, ResolvedInTierShare: 1},
		"vip":      {Tickets: 1, Resolved: 1, ResolvedInTier: 1, ResolvedInTierShare: 1},
		NoRule:     {Tickets: 1, Resolved: 1, ResolvedInTier: 1, ResolvedInTierShare: 1},
		"L1":       {Tickets: 3, Rerouted: 1, Resolved: 3, ResolvedInTier: 2, ResolvedInTierShare: 2.0 / 3},
		"L2":       {Tickets: 2, Rerouted: 1, Bouncing: 1, Resolved: 1, ResolvedInTier: 1, ResolvedInTierShare: 1},
	}
	got := map[string]Counts{}
	for _, l := range append(r.Rules, r.Tiers...) {
		got[l.Name] = l.Counts
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: %+v, want %+v", name, got[name], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("lines %v, want %d", got, len(want))
	}
	if r.L1ResolutionShare != 0.5 { // 2 of 4 resolved tickets resolved at L1 unmoved
		t.Errorf("L1 resolution share %v, want 0.5", r.L1ResolutionShare)
	}
	if len(r.Moves) != 2 || r.Moves[1].Path[1] != "queue General → Systems by alice" {
		t.Errorf("moves %+v", r.Moves)
	}
}
