package daemon

import (
	"sync"
	"testing"
	"time"
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
			if err := s.Record(string(rune('a'+i)), "acct/INBOX/1/1"); err != nil {
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
