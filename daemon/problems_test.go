package daemon

import (
	"fmt"
	"testing"
	"time"

	"github.com/triage-dev/triage/config"
	"github.com/triage-dev/triage/problems"
)

// TestProblemsSurviveRestart: the groups detection built are rebuilt from
// the state store after a restart, and records older than the window go.
func TestProblemsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	store, err := OpenStore(dir, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	det := problems.New(problems.Config{})
	mail := func(i int, at time.Time) problems.Mail {
		return problems.Mail{ID: fmt.Sprintf("id%d", i), Sender: fmt.Sprintf("u%d@example.com", i), Subject: "VPN gateway vpn.example.com not responding",
			Body: "GlobalProtect cannot reach vpn.example.com", At: at}
	}
	old := problems.Mail{ID: "old", Sender: "x@example.com", Subject: "VPN gateway vpn.example.com not responding", At: now.Add(-5 * time.Hour)}
	if _, rec := det.Observe(old); rec == nil || store.RecordProblemMail(*rec) != nil {
		t.Fatal("old record not written")
	}
	for i := range 3 {
		_, rec := det.Observe(mail(i, now.Add(time.Duration(i-10)*time.Minute)))
		if err := store.RecordProblemMail(*rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	store, err = OpenStore(dir, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	on := true
	ps, err := newProblemState(config.ProblemsConfig{Enabled: &on}, store)
	if err != nil {
		t.Fatal(err)
	}
	if got := ps.det.Tracked(); got != 3 {
		t.Errorf("restored %d mails, want 3 (the one 5 h old is outside the 2 h window)", got)
	}
	m, _ := ps.det.Observe(mail(3, now))
	if m.Problem != "p-id0" || m.Size != 4 {
		t.Errorf("after restart: problem %q size %d, want p-id0 of 4", m.Problem, m.Size)
	}
	if err := store.PruneProblemMails(now.Add(-2 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	recs, err := store.ProblemMails(time.Time{})
	if err != nil || len(recs) != 3 {
		t.Errorf("after prune: %d records (%v), want 3", len(recs), err)
	}
	off := false
	if ps, err := newProblemState(config.ProblemsConfig{Enabled: &off}, store); ps != nil || err != nil {
		t.Errorf("enabled: false gave %v, %v; want no detection", ps, err)
	}
}
