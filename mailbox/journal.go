package mailbox

import (
	"fmt"

	"github.com/emersion/go-imap/v2"
)

// Journal keeps, beyond a crash of the process, which messages are being
// handled, so that after a crash the process knows which messages were in
// flight: the daemon counts the crashes each was in flight for and answers
// Suspicion accordingly. Set it in Config.Journal; nil keeps none.
type Journal interface {
	// Begin records uids of mailbox (at UIDVALIDITY validity) as in
	// flight and returns once the record would survive a crash of the
	// process. A session calls it
	// once per FETCH, before sending it, with the whole batch.
	Begin(mailbox string, validity uint32, uids []uint32) error
	// End records that uid is no longer in flight: its handler returned
	// (survived, which lifts any suspicion) or it was dropped unhandled.
	// It may be applied lazily; Flush applies it.
	End(mailbox string, validity, uid uint32, survived bool)
	// Flush returns once every End so far is applied as Begin's records are.
	Flush() error
	// Suspicion is what the journal holds against a message.
	Suspicion(mailbox string, validity, uid uint32) Suspicion
}

// Suspicion is what a Journal holds against a message after crashes.
type Suspicion int

const (
	// Innocent messages are handled as usual.
	Innocent Suspicion = iota
	// Isolate: the message was in flight when the process crashed. It is
	// handled alone (fetched alone, nothing else in flight in its mailbox)
	// so that a crash while it runs is its own.
	Isolate
	// Crashed: the message crashed the process again, alone; it is
	// quarantined without being handled.
	Crashed
)

// CrashedReason is the quarantine reason of a message that crashed the
// process.
const CrashedReason = "crashed the daemon"

// suspicion asks the journal about uid of the session's mailbox.
func (s *session) suspicion(uid imap.UID) Suspicion {
	if s.cfg.Journal == nil {
		return Innocent
	}
	return s.cfg.Journal.Suspicion(s.w.mailbox, s.w.validity, uint32(uid))
}

// end tells the journal that uid is no longer in flight.
func (s *session) end(uid imap.UID, validity uint32, survived bool) {
	if s.alone == uid {
		s.alone = 0
	}
	if j := s.cfg.Journal; j != nil && validity != 0 {
		j.End(s.w.mailbox, validity, uint32(uid), survived)
	}
}

// begin records a batch as in flight before it is fetched; alone batches
// first flush the earlier Ends, so that the journal holds the isolated
// message alone while it runs.
func begin(j Journal, mailbox string, validity uint32, batch []imap.UID, alone bool) error {
	if j == nil {
		return nil
	}
	if alone {
		if err := j.Flush(); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
	}
	uids := make([]uint32, len(batch))
	for i, u := range batch {
		uids[i] = uint32(u)
	}
	if err := j.Begin(mailbox, validity, uids); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// quarantineCrashed files uid in quarantine without fetching it: it
// crashed the process before.
func (s *session) quarantineCrashed(uid imap.UID) {
	w := s.w
	w.pending = append(w.pending, result{uid: uid, validity: w.validity, out: Outcome{Verdict: Quarantine, Reason: CrashedReason}})
	if ev := w.a.ev.Crashed; ev != nil {
		ev(s.cfg.Name, w.mailbox, uint32(uid))
	}
}

// startIsolated fetches the next suspect alone once nothing else of the
// mailbox is in flight; it reports whether suspects are waiting (normal
// fetching waits for them).
func (s *session) startIsolated() bool {
	if s.alone != 0 {
		return true
	}
	if len(s.isolate) == 0 {
		return false
	}
	w := s.w
	if s.fetches > 0 || len(s.ready) > 0 || len(s.fetchBatch) > 0 || len(w.inflight)+w.stale > 0 {
		return true
	}
	uid := s.isolate[0]
	s.isolate = s.isolate[1:]
	s.alone = uid
	s.log.Warn("handling alone a message that was in flight when the process crashed", "uid", uid)
	s.startBatch([]imap.UID{uid}, true)
	return true
}
