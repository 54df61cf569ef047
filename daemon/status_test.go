package daemon

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/triage-dev/triage/mailbox"
)

// TestAccountConnectedNeedsEveryMailbox: an account with two watched
// mailboxes is connected (in /status, /readyz and triage_imap_connected)
// only while both connections are up, whatever order their events come in.
func TestAccountConnectedNeedsEveryMailbox(t *testing.T) {
	m := NewMetrics()
	e := newAccountEvents("helpdesk", 2, m, nil)
	ev := e.events()
	steps := []struct {
		mailbox string
		up      bool
		want    bool
	}{
		{"INBOX", true, false},    // Tickets not connected yet
		{"Tickets", false, false}, // Tickets fails to come up
		{"INBOX", true, false},    // a later INBOX event must not hide it
		{"Tickets", true, true},
		{"INBOX", false, false},
		{"INBOX", true, true},
	}
	for i, s := range steps {
		var err error
		if !s.up {
			err = errors.New("connection refused")
		}
		ev.Connected("helpdesk", s.mailbox, s.up, err)
		st := e.status(mailbox.Status{})
		metric := testutil.ToFloat64(m.IMAPConnected.WithLabelValues("helpdesk"))
		if st.Connected != s.want || (metric == 1) != s.want {
			t.Errorf("step %d (%s up=%v): status connected %v, triage_imap_connected %v; want %v", i, s.mailbox, s.up, st.Connected, metric, s.want)
		}
		if s.want && st.Since.IsZero() {
			t.Errorf("step %d: connected without connected_since", i)
		}
	}
	// Two failures in a row of one mailbox make the account unready.
	ev.Connected("helpdesk", "Tickets", false, errors.New("refused"))
	ev.Connected("helpdesk", "Tickets", false, errors.New("refused"))
	if e.ready() {
		t.Error("ready after a mailbox failed twice in a row")
	}
	ev.Connected("helpdesk", "Tickets", true, nil)
	if !e.ready() {
		t.Error("not ready once every mailbox is up again")
	}
}
