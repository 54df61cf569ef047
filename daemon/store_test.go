package daemon

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/triage-dev/triage/queue"
	bolt "go.etcd.io/bbolt"
)

func TestStoreRecordLookupPrune(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Lookup("a"); err != nil || ok {
		t.Fatalf("Lookup of unknown id = %v, %v", ok, err)
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.writes.wait(func(tx *bolt.Tx) error { return putHandled(tx, string(rune('a'+i)), "acct/INBOX/1/1") }); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	h, ok, err := s.Lookup("a")
	if err != nil || !ok || h.Source != "acct/INBOX/1/1" {
		t.Fatalf("Lookup = %+v %v %v", h, ok, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopen: entries survive a restart; a zero window expires them all.
	s, err = OpenStore(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok, _ := s.Lookup("b"); ok {
		t.Error("entry outside the window reported as handled")
	}
	n, err := s.Prune()
	if err != nil || n != 20 {
		t.Errorf("Prune = %d, %v; want 20", n, err)
	}
}

// recordFiled files m through the store's write queue and waits for it.
func recordFiled(s *Store, account string, m FiledMessage) error {
	return s.writes.wait(func(tx *bolt.Tx) error { return putFiled(tx, account, m) })
}

// TestStoreFiled: filed messages come back newest first, per account, at
// most MaxFiledKept, and survive reopening the store.
func TestStoreFiled(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	for i := range MaxFiledKept + 5 {
		if err := recordFiled(s, "a", FiledMessage{At: at.Add(time.Duration(i) * time.Second), UID: uint32(i + 1), Folder: "quarantine", Reason: "r"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := recordFiled(s, "ab", FiledMessage{At: at, UID: 999, Folder: "failed"}); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, dir)
	defer s.Close()
	got, err := s.Filed("a")
	if err != nil || len(got) != MaxFiledKept || got[0].UID != MaxFiledKept+5 || got[len(got)-1].UID != 6 {
		t.Fatalf("filed: %d entries, first %+v, last %+v, %v", len(got), got[0], got[len(got)-1], err)
	}
	if other, _ := s.Filed("ab"); len(other) != 1 || other[0].UID != 999 {
		t.Errorf("account ab: %+v (an account name that extends another must not mix)", other)
	}
}

// TestStoreTrackerIndex: the tracker index answers by triage id and by
// Message-ID, per tracker, survives a reopen, and outlives the dedupe
// window.
func TestStoreTrackerIndex(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir, time.Nanosecond)
	if err != nil {
		t.Fatal(err)
	}
	var _ queue.TrackerIndex = s
	if err := s.RecordTrackerTicket("rt https://a", "id1", "<m1@x>", "12"); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordTrackerTicket("rt https://b", "id1", "", "7"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prune(); err != nil { // the dedupe window is over; the index is not
		t.Fatal(err)
	}
	s = reopen(t, s, dir)
	defer s.Close()
	for _, tc := range []struct {
		tracker, key, want string
	}{
		{"rt https://a", "id1", "12"},
		{"rt https://a", "<m1@x>", "12"},
		{"rt https://b", "id1", "7"},
		{"rt https://b", "<m1@x>", ""},
		{"rt https://c", "id1", ""},
		{"rt https://a", "", ""},
	} {
		got, ok, err := s.TrackerTicket(tc.tracker, tc.key)
		if err != nil || got != tc.want || ok != (tc.want != "") {
			t.Errorf("%s %q: %q %v %v, want %q", tc.tracker, tc.key, got, ok, err, tc.want)
		}
	}
}

// reopen closes s and opens the store in dir again, with a one-hour window.
func reopen(t *testing.T, s *Store, dir string) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := OpenStore(dir, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestStorePruneManyPages: every expired entry goes in one Prune, however
// many pages the bucket spans (a cursor deleting as it iterates may skip
// entries).
func TestStorePruneManyPages(t *testing.T) {
	s, err := OpenStore(t.TempDir(), time.Nanosecond)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 5000
	if err := s.writes.wait(func(tx *bolt.Tx) error {
		for i := range n {
			if err := putHandled(tx, fmt.Sprintf("id-%05d", i), "acct/INBOX/1/1"); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond) // past the window
	if got, err := s.Prune(); err != nil || got != n {
		t.Fatalf("Prune = %d, %v; want %d", got, err, n)
	}
	left := 0
	if err := s.db.View(func(tx *bolt.Tx) error { left = tx.Bucket(handledBucket).Stats().KeyN; return nil }); err != nil || left != 0 {
		t.Errorf("%d entries left after Prune (%v)", left, err)
	}
}
