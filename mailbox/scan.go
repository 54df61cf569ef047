package mailbox

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"
)

// isKnown reports whether uid is already somewhere in the pipeline.
func (s *session) isKnown(uid imap.UID) bool {
	if _, ok := s.w.inflight[uid]; ok || s.known[uid] {
		return true
	}
	return slices.ContainsFunc(s.w.pending, func(r result) bool { return r.uid == uid })
}

// scan finds undone messages: all of them (full) or those above the highest
// UID seen so far. Oversized messages go straight to quarantine.
func (s *session) scan(full bool) error {
	noticed := s.takeNoticed()
	if !full && s.lastSeen == imap.UID(^uint32(0)) {
		full = true // no UID can follow the last one; only a full scan makes sense
	}
	from := s.lastSeen + 1
	uids, oversized, err := s.search(full, from)
	if err != nil {
		return err
	}
	added := s.enqueue(uids, oversized, from, noticed)
	if full {
		s.forgetRetries(uids)
	}
	s.log.Debug("scanned", "full", full, "found", len(uids), "added", added, "queued", len(s.queue))
	s.reportBacklog()
	return nil
}

// takeNoticed clears the new-mail signal, which the scan about to run
// answers, and returns when the first EXISTS since the last scan arrived
// (zero if none did).
func (s *session) takeNoticed() time.Time {
	select {
	case <-s.newMail:
	default:
	}
	if n := s.noticed.Swap(0); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// enqueue queues undone messages for fetching, except those already in the
// pipeline, those waiting for a retry (the earliest retry is armed) and
// oversized ones (quarantined). Messages from UID from on are new since the
// last scan and were noticed at noticed. It returns how many it queued.
func (s *session) enqueue(uids []imap.UID, oversized map[imap.UID]bool, from imap.UID, noticed time.Time) int {
	now := time.Now()
	var nextRetry time.Time
	added := 0
	for _, uid := range uids {
		s.lastSeen = max(s.lastSeen, uid)
		if s.isKnown(uid) {
			continue
		}
		if at := s.w.retry[uid].notBefore; now.Before(at) {
			if nextRetry.IsZero() || at.Before(nextRetry) {
				nextRetry = at
			}
			continue
		}
		if oversized[uid] {
			s.quarantineOversized(uid, time.Time{})
			continue
		}
		switch s.suspicion(uid) {
		case Crashed:
			s.quarantineCrashed(uid)
			continue
		case Isolate:
			s.known[uid] = true
			s.isolate = append(s.isolate, uid)
			continue
		}
		if uid >= from && !noticed.IsZero() {
			s.noticedAt[uid] = noticed
		}
		s.known[uid] = true
		s.queue = append(s.queue, uid)
		added++
	}
	if added > 0 && !slices.IsSorted(s.queue) {
		slices.Sort(s.queue)
	}
	if !nextRetry.IsZero() {
		s.armRetry(nextRetry)
	}
	return added
}

// search returns the undone messages (not marked done, not deleted) from
// UID from on, or all of them when full, and which of them are larger than
// MaxMessageBytes.
func (s *session) search(full bool, from imap.UID) ([]imap.UID, map[imap.UID]bool, error) {
	crit := imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagDeleted}}
	if s.useKeyword {
		crit.NotFlag = append(crit.NotFlag, imap.Flag(s.cfg.DoneKeyword))
	}
	if !full {
		var set imap.UIDSet
		set.AddRange(from, 0) // n:* — also matches the highest UID when n is above it
		crit.UID = []imap.UIDSet{set}
	}
	big := crit
	big.Larger = s.cfg.MaxMessageBytes
	allCmd := s.c.UIDSearch(&crit, nil)
	bigCmd := s.c.UIDSearch(&big, nil)
	allData, err := allCmd.Wait()
	bigData, err2 := bigCmd.Wait()
	if err = errors.Join(err, err2); err != nil {
		return nil, nil, fmt.Errorf("search: %w", err)
	}
	uids, err := searchUIDs(allData)
	if err != nil {
		return nil, nil, err
	}
	bigUIDs, err := searchUIDs(bigData)
	if err != nil {
		return nil, nil, err
	}
	if !full {
		uids = slices.DeleteFunc(uids, func(u imap.UID) bool { return u < from })
	}
	oversized := make(map[imap.UID]bool, len(bigUIDs))
	for _, u := range bigUIDs {
		oversized[u] = true
	}
	return uids, oversized, nil
}

// forgetRetries drops the retries of messages that a full scan no longer
// found undone: moved or marked done elsewhere, they need no retry.
func (s *session) forgetRetries(undone []imap.UID) {
	if len(s.w.retry) == 0 {
		return
	}
	present := make(map[imap.UID]bool, len(undone))
	for _, uid := range undone {
		present[uid] = true
	}
	maps.DeleteFunc(s.w.retry, func(uid imap.UID, _ retryInfo) bool { return !present[uid] })
}

// quarantineOversized files uid in quarantine without handing it to the
// Handler, and tells the Events (the Handler cannot count it).
func (s *session) quarantineOversized(uid imap.UID, date time.Time) {
	w := s.w
	w.pending = append(w.pending, result{uid: uid, validity: w.validity, date: date, out: Outcome{
		Verdict: Quarantine,
		Reason:  fmt.Sprintf("message larger than %d bytes", s.cfg.MaxMessageBytes),
	}})
	if ev := w.a.ev.Oversized; ev != nil {
		ev(s.cfg.Name, w.mailbox, uint32(uid))
	}
}

// maxSearchUIDs bounds a SEARCH answer; beyond it the server is hostile or
// broken (a million undone messages is not a help desk mailbox).
const maxSearchUIDs = 1_000_000

// searchUIDs returns the UIDs of a SEARCH answer. It expands the set itself:
// go-imap's Nums loops forever on a range ending at 4294967295 (a valid UID)
// and would allocate whatever a hostile range asks for.
func searchUIDs(d *imap.SearchData) ([]imap.UID, error) {
	set, ok := d.All.(imap.UIDSet)
	if !ok {
		return nil, nil
	}
	var uids []imap.UID
	for _, r := range set {
		if r.Start == 0 || r.Stop == 0 {
			return nil, errors.New("search: server returned a dynamic UID set")
		}
		lo, hi := min(r.Start, r.Stop), max(r.Start, r.Stop)
		if uint64(hi-lo)+uint64(len(uids)) >= maxSearchUIDs {
			return nil, fmt.Errorf("search: server returned more than %d UIDs", maxSearchUIDs)
		}
		for u := lo; ; u++ {
			uids = append(uids, u)
			if u == hi {
				break
			}
		}
	}
	return uids, nil
}
