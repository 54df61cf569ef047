package mailbox

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/triage-dev/triage/internal/dovecottest"
)

// fakeJournal holds fixed suspicions and records what the session tells it.
type fakeJournal struct {
	suspects map[uint32]Suspicion

	mu      sync.Mutex
	begun   [][]uint32
	open    map[uint32]bool // begun and not ended
	cleared []uint32        // ended as survived
}

func (j *fakeJournal) Begin(_ string, _ uint32, uids []uint32) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.begun = append(j.begun, slices.Clone(uids))
	for _, u := range uids {
		j.open[u] = true
	}
	return nil
}

func (j *fakeJournal) End(_ string, _, uid uint32, survived bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.open, uid)
	if survived {
		j.cleared = append(j.cleared, uid)
	}
}

func (j *fakeJournal) Flush() error { return nil }

func (j *fakeJournal) Suspicion(_ string, _, uid uint32) Suspicion { return j.suspects[uid] }

func (j *fakeJournal) openCount() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.open)
}

// TestJournalSuspects seeds a backlog in which the journal suspects two
// messages and condemns one: the condemned one is quarantined without
// reaching the handler, each suspect is fetched in a batch of its own and
// handled with nothing else in flight, and the rest is handled as usual.
func TestJournalSuspects(t *testing.T) {
	const n = 40
	srv := dovecottest.Start(t)
	seed(t, srv, "INBOX", n) // mail i has UID i+1
	j := &fakeJournal{suspects: map[uint32]Suspicion{11: Isolate, 21: Isolate, 16: Crashed}, open: map[uint32]bool{}}
	var running atomic.Int32
	var crowded sync.Map // mail id of a suspect → others were running beside it
	rec := newRecorder(func(_ context.Context, m *Message, _ int) Outcome {
		others := running.Add(1) - 1
		defer running.Add(-1)
		if m.UID == 11 || m.UID == 21 {
			if others > 0 {
				crowded.Store(m.UID, true)
			}
			time.Sleep(20 * time.Millisecond) // room for anything else to start
		}
		return Outcome{Verdict: Done}
	})
	var crashed atomic.Int32
	cfg := testConfig(srv)
	cfg.Journal = j
	cfg.BatchSize = 5
	r := start(t, cfg, rec.handle, Events{Crashed: func(_, _ string, uid uint32) {
		if uid == 16 {
			crashed.Add(1)
		}
	}})
	waitFor(t, "all outcomes applied", func() bool {
		st := r.a.Status().Mailboxes[0]
		return st.Done == n-1 && st.Quarantined == 1
	})
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	calls, _, _ := rec.snapshot()
	if calls[15] != 0 {
		t.Error("the condemned message reached the handler")
	}
	if crashed.Load() != 1 {
		t.Errorf("Crashed event for the condemned message: %d, want 1", crashed.Load())
	}
	if st := readMailbox(t, srv, DefaultQuarantine); len(st.ids) != 1 || st.ids[15].UID == 0 {
		t.Errorf("quarantine holds %v, want message 15", st.ids)
	}
	for _, uid := range []uint32{11, 21} {
		if _, ok := crowded.Load(uid); ok {
			t.Errorf("suspect %d was handled beside other messages", uid)
		}
		if !slices.ContainsFunc(j.begun, func(b []uint32) bool { return len(b) == 1 && b[0] == uid }) {
			t.Errorf("suspect %d was not fetched in a batch of its own: %v", uid, j.begun)
		}
		if !slices.Contains(j.cleared, uid) {
			t.Errorf("suspect %d survived its handler but was not cleared", uid)
		}
	}
	if !slices.Contains(j.cleared, 16) {
		t.Error("the condemned message was not cleared once filed")
	}
	if k := j.openCount(); k != 0 {
		t.Errorf("%d messages still recorded in flight after the drain", k)
	}
}
