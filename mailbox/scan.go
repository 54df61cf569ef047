package mailbox

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"
)

// known reports whether uid is already somewhere in the pipeline.
func (s *session) isKnown(uid imap.UID) bool {
	if s.known[uid] {
		return true
	}
	if _, ok := s.w.inflight[uid]; ok {
		return true
	}
	for _, r := range s.w.pending {
		if r.uid == uid {
			return true
		}
	}
	return false
}

// undoneCriteria selects messages not marked done (and not deleted).
func (s *session) undoneCriteria() imap.SearchCriteria {
	crit := imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagDeleted}}
	if s.useKeyword {
		crit.NotFlag = append(crit.NotFlag, imap.Flag(s.cfg.DoneKeyword))
	}
	return crit
}

// scan finds undone messages: all of them (full) or those above the highest
// UID seen so far. Oversized messages go straight to quarantine.
func (s *session) scan(full bool) error {
	w := s.w
	select { // this scan covers any EXISTS that arrived before it
	case <-s.newMail:
	default:
	}
	var noticed time.Time
	if n := s.noticed.Swap(0); n != 0 {
		noticed = time.Unix(0, n)
	}
	if !full && s.lastSeen == imap.UID(^uint32(0)) {
		full = true // no UID can follow the last one; only a full scan makes sense
	}
	crit := s.undoneCriteria()
	from := s.lastSeen + 1
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
		return fmt.Errorf("search: %w", err)
	}
	uids, err := searchUIDs(allData)
	if err != nil {
		return err
	}
	bigUIDs, err := searchUIDs(bigData)
	if err != nil {
		return err
	}
	oversized := make(map[imap.UID]bool, len(bigUIDs))
	for _, u := range bigUIDs {
		oversized[u] = true
	}

	now := time.Now()
	present := map[imap.UID]bool{}
	maxSeen := s.lastSeen
	var nextRetry time.Time
	added := 0
	for _, uid := range uids {
		if !full && uid < from {
			continue
		}
		present[uid] = true
		maxSeen = max(maxSeen, uid)
		if s.isKnown(uid) {
			continue
		}
		if ri, ok := w.retry[uid]; ok && now.Before(ri.notBefore) {
			if nextRetry.IsZero() || ri.notBefore.Before(nextRetry) {
				nextRetry = ri.notBefore
			}
			continue
		}
		if oversized[uid] {
			w.pending = append(w.pending, result{uid: uid, validity: w.validity, out: Outcome{
				Verdict: Quarantine,
				Reason:  fmt.Sprintf("message larger than %d bytes", s.cfg.MaxMessageBytes),
			}})
			s.reportOversized(uid)
			continue
		}
		if uid >= from && !noticed.IsZero() {
			s.noticedAt[uid] = noticed
		}
		s.known[uid] = true
		s.queue = append(s.queue, uid)
		added++
	}
	if full {
		// Messages gone from the mailbox (moved or marked done elsewhere)
		// need no retry.
		for uid := range w.retry {
			if !present[uid] {
				delete(w.retry, uid)
			}
		}
	}
	s.lastSeen = maxSeen
	s.log.Debug("scanned", "full", full, "found", len(uids), "added", added, "queued", len(s.queue))
	if added > 0 && !slices.IsSorted(s.queue) {
		slices.Sort(s.queue)
	}
	if !nextRetry.IsZero() {
		s.armRetry(nextRetry)
	}
	s.reportBacklog()
	return nil
}

// reportOversized tells the Events that uid goes to quarantine unfetched.
func (s *session) reportOversized(uid imap.UID) {
	if ev := s.w.a.ev.Oversized; ev != nil {
		ev(s.cfg.Name, s.w.mailbox, uint32(uid))
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
