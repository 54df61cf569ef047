package mailbox

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// applyStep is one outcome to commit.
type applyStep struct {
	r      result
	store  bool   // add the done keyword
	folder string // move here ("" = stay)
}

// applyPlan is a batch of outcomes: one STORE for all Done messages, one
// MOVE per target folder.
type applyPlan struct {
	steps     []applyStep
	storeSet  imap.UIDSet
	moveOrder []string
	moveSets  map[string]*imap.UIDSet
	keyword   imap.Flag
}

// applyResult is what the server confirmed of a plan.
type applyResult struct {
	plan    *applyPlan
	storeOK bool
	moved   map[string]bool
	connErr error
}

// plan turns the pending outcomes into an applyPlan and clears them.
func (s *session) plan() *applyPlan {
	w := s.w
	p := &applyPlan{moveSets: map[string]*imap.UIDSet{}, keyword: imap.Flag(s.cfg.DoneKeyword)}
	for _, r := range w.pending {
		if r.validity != w.validity {
			continue // from before a UIDVALIDITY change: the UID means nothing now
		}
		st := applyStep{r: r}
		switch r.out.Verdict {
		case Done:
			st.folder = s.doneTarget(r)
			// A message that is moved is marked done by the move alone: a
			// keyword stored first would, after a crash between the two
			// commands, leave it in the mailbox marked done and never filed.
			st.store = s.useKeyword && st.folder == ""
		case Quarantine:
			s.log.Warn("quarantining message", "uid", r.uid, "folder", s.cfg.Quarantine, "reason", r.out.Reason)
			st.folder = s.cfg.Quarantine
		case Failed:
			s.log.Warn("filing failed message", "uid", r.uid, "folder", s.cfg.Failed, "reason", r.out.Reason)
			st.folder = s.cfg.Failed
		}
		if st.store {
			p.storeSet.AddNum(r.uid)
		}
		if st.folder != "" {
			set := p.moveSets[st.folder]
			if set == nil {
				set = &imap.UIDSet{}
				p.moveSets[st.folder] = set
				p.moveOrder = append(p.moveOrder, st.folder)
			}
			set.AddNum(r.uid)
		}
		p.steps = append(p.steps, st)
	}
	w.pending = nil
	return p
}

// execute runs a plan's commands. It may run on its own goroutine (only one
// at a time per session): it touches the client and s.created only.
func (s *session) execute(p *applyPlan) applyResult {
	res := applyResult{plan: p, moved: map[string]bool{}}
	t0 := time.Now()
	defer func() { s.log.Debug("applied", "count", len(p.steps), "took", time.Since(t0)) }()
	if len(p.storeSet) > 0 {
		err := s.c.Store(p.storeSet, &imap.StoreFlags{
			Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{p.keyword},
		}, nil).Close()
		switch {
		case err == nil:
			res.storeOK = true
		case isConnErr(err):
			res.connErr = fmt.Errorf("store: %w", err)
			return res
		default:
			s.log.Warn("marking done refused", "err", err)
		}
	}
	for _, folder := range p.moveOrder {
		err := s.move(folder, *p.moveSets[folder])
		if err == nil {
			res.moved[folder] = true
			continue
		}
		if isConnErr(err) {
			res.connErr = fmt.Errorf("move to %q: %w", folder, err)
			return res
		}
		s.log.Warn("move refused", "folder", folder, "err", err)
	}
	return res
}

// finish books an executed plan: confirmed outcomes are counted, refused
// ones retried after a backoff, unconfirmed ones (connection lost) stay
// pending for the next connection (re-applying is harmless: +FLAGS is
// idempotent and a UID that is gone moves nothing).
func (s *session) finish(res applyResult) error {
	w := s.w
	applied := map[Verdict]int{}
	for _, st := range res.plan.steps {
		r := st.r
		if r.validity != w.validity {
			continue
		}
		if r.out.Verdict != Done && r.out.Verdict != Quarantine && r.out.Verdict != Failed {
			applied[Retry]++
			if r.out.Reason != "" {
				s.log.Info("message will be retried", "uid", r.uid, "reason", r.out.Reason)
			}
			s.scheduleRetry(r.uid, r.date)
			continue
		}
		// Done is applied once the keyword is stored or the message moved
		// out; Quarantine and Failed once moved.
		ok := (st.store && res.storeOK) || (st.folder != "" && res.moved[st.folder])
		switch {
		case ok:
			delete(w.retry, r.uid)
			applied[r.out.Verdict]++
			if r.out.Reason == CrashedReason {
				s.end(r.uid, r.validity, true) // filed: no longer a suspect
			}
		case res.connErr != nil:
			w.pending = append(w.pending, r)
		default:
			s.scheduleRetry(r.uid, r.date) // the server refused: back off
			applied[Retry]++
		}
	}
	s.recordApplied(applied)
	if res.connErr != nil {
		return res.connErr
	}
	s.reportBacklog()
	return nil
}

// apply commits the pending outcomes and waits for the server.
func (s *session) apply() error {
	return s.finish(s.execute(s.plan()))
}

// applyMaxDelay bounds how long an outcome waits to be batched with others.
const applyMaxDelay = 50 * time.Millisecond

// applyMaxBatch is the most outcomes one commit carries while more mail is
// on its way. Dovecot's Maildir pays a fixed few milliseconds per STORE or
// MOVE (it rescans the directory), so a backlog commits in large batches.
const applyMaxBatch = 1000

// shouldApply decides when to commit pending outcomes. Dovecot serves a
// connection's commands one at a time, so every commit delays the next
// fetch that feeds the handlers: outcomes are batched until a large batch
// is full, the oldest one has waited applyMaxDelay, or nothing else is
// coming (a single new mail is committed at once).
func (s *session) shouldApply() bool {
	w := s.w
	if len(w.pending) == 0 || s.applying {
		return false
	}
	if s.pendingSince.IsZero() {
		s.pendingSince = time.Now()
	}
	idle := s.fetches == 0 && len(s.queue) == 0 && len(s.ready) == 0 && len(w.inflight)+w.stale == 0
	return idle || len(w.pending) >= applyMaxBatch || time.Since(s.pendingSince) >= applyMaxDelay
}

// applyC fires when pending outcomes have waited applyMaxDelay.
func (s *session) applyC() <-chan time.Time {
	if len(s.w.pending) == 0 || s.applying || s.pendingSince.IsZero() {
		return nil
	}
	if s.applyT == nil {
		s.applyT = time.NewTimer(time.Until(s.pendingSince.Add(applyMaxDelay)))
	}
	return s.applyT.C
}

// startApply commits the pending outcomes in the background, so handlers
// keep running meanwhile; outcomes that come back in the meantime form the
// next batch (group commit).
func (s *session) startApply() {
	p := s.plan()
	s.pendingSince = time.Time{}
	if s.applyT != nil {
		s.applyT.Stop()
		s.applyT = nil
	}
	s.applying = true
	done := s.applyDone
	go func() { done <- s.execute(p) }()
}

// applied books a background apply.
func (s *session) applied(res applyResult) error {
	s.applying = false
	return s.finish(res)
}

// doneTarget is the folder a Done message is filed in ("" = stays, marked by
// the keyword).
func (s *session) doneTarget(r result) string {
	folder := r.out.Folder
	if folder != "" {
		if err := checkMailboxName(folder); err != nil {
			s.log.Warn("ignoring invalid done folder", "uid", r.uid, "err", err)
			folder = ""
		}
	}
	folder = cmp.Or(folder, s.doneFolder)
	if strings.EqualFold(folder, s.w.mailbox) {
		// Filing into itself: the keyword is enough; without keywords the
		// message must leave (session setup ensured doneFolder differs).
		if s.useKeyword {
			return ""
		}
		return s.doneFolder
	}
	return folder
}

func (s *session) recordApplied(applied map[Verdict]int) {
	w := s.w
	inflight := len(w.inflight)
	w.a.update(w.mailbox, func(st *MailboxStatus) {
		st.Done += uint64(applied[Done])
		st.Quarantined += uint64(applied[Quarantine])
		st.Failed += uint64(applied[Failed])
		st.Retried += uint64(applied[Retry])
		st.InFlight = inflight
	})
}

// move files the messages into folder, creating it on first use.
func (s *session) move(folder string, set imap.UIDSet) error {
	if !s.created[folder] {
		// An existing folder answers NO: fine, the move tells the truth.
		if err := s.c.Create(folder, nil).Wait(); err != nil && isConnErr(err) {
			return err
		}
		s.created[folder] = true
	}
	flaggedOnly, err := moveUIDs(s.c, set, folder, s.hasMove, s.hasUIDPlus)
	if flaggedOnly && !s.warnedUID {
		s.warnedUID = true
		s.log.Warn("server has neither MOVE nor UIDPLUS: moved messages stay flagged \\Deleted in the mailbox")
	}
	return err
}

// moveUIDs moves set from the selected mailbox into folder. Without MOVE
// it copies, flags the originals \Deleted and removes them with UID
// EXPUNGE, each step only after the one before succeeded: go-imap's own
// fallback in Client.Move sends all three without waiting, so a refused
// COPY would still expunge the messages. Without UIDPLUS a plain EXPUNGE
// would also remove messages someone else marked \Deleted, so the
// originals stay flagged (scans skip \Deleted) and flaggedOnly says so.
func moveUIDs(c *imapclient.Client, set imap.UIDSet, folder string, hasMove, hasUIDPlus bool) (flaggedOnly bool, err error) {
	if hasMove {
		_, err := c.Move(set, folder).Wait()
		return false, err
	}
	if _, err := c.Copy(set, folder).Wait(); err != nil {
		return false, err
	}
	if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		return false, err
	}
	if hasUIDPlus {
		return false, c.UIDExpunge(set).Close()
	}
	return true, nil
}
