package mailbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

var errConnClosed = errors.New("connection closed")

// loop drives one connection: scan, fetch, dispatch, apply, idle.
func (s *session) loop(ctx context.Context) error {
	w := s.w
	s.needFull = true
	keepalive := time.NewTicker(max(s.cfg.Timeout/3, 10*time.Millisecond))
	defer keepalive.Stop()
	defer s.stopRetryTimer()

	for {
		if ctx.Err() != nil {
			return s.shutdown()
		}
		s.collect()
		if s.shouldApply() {
			s.startApply()
		}
		if s.needFull && !s.applying && s.fetches == 0 {
			s.needFull, s.scanDue = false, false
			if err := s.scan(true); err != nil {
				return err
			}
			continue
		}
		if s.scanDue && s.fetches == 0 {
			s.scanDue = false
			if err := s.scan(false); err != nil {
				return err
			}
			continue
		}
		s.dispatch()
		// A scan waits for the fetches in flight rather than queue behind
		// them on the connection: a fetch may be waiting for Buffer space
		// that only dispatching the ready messages frees.
		for !s.scanDue && !s.needFull && s.fetches < maxFetches && len(s.queue) > 0 && len(s.ready)+len(s.fetchBatch) < maxFetches*s.cfg.BatchSize {
			s.startFetch()
		}

		if s.fetches > 0 || s.applying || s.needFull || s.scanDue || len(w.pending) > 0 || len(s.ready) > 0 || len(w.inflight)+w.stale > 0 {
			select {
			case r := <-w.results:
				s.accept(r)
			case ar := <-s.applyDone:
				if err := s.applied(ar); err != nil {
					return err
				}
			case fm := <-s.fetchMsgs:
				s.took(fm)
			case fr := <-s.fetchDone:
				if err := s.fetched(fr); err != nil {
					return err
				}
			case <-s.newMail:
				s.scanDue = true
			case <-s.retryC():
				s.retryFired()
			case <-s.applyC():
				// shouldApply sees the age at the top of the loop
			case <-keepalive.C:
				if s.fetches == 0 && !s.applying {
					if err := s.c.Noop().Wait(); err != nil {
						return fmt.Errorf("noop: %w", err)
					}
				}
			case <-ctx.Done():
			case <-s.c.Closed():
				return errConnClosed
			}
			continue
		}
		select { // an EXISTS that came with other responses
		case <-s.newMail:
			if err := s.scan(false); err != nil {
				return err
			}
			continue
		default:
		}
		var err error
		if s.hasIdle {
			err = s.idle(ctx)
		} else {
			err = s.poll(ctx, keepalive.C)
		}
		if err != nil {
			return err
		}
	}
}

// idle waits in IMAP IDLE for new mail, a due retry, the periodic restart or
// the stop.
func (s *session) idle(ctx context.Context) error {
	s.dc.setWindow(s.cfg.IdleRestart + s.cfg.Timeout)
	defer s.dc.setWindow(s.cfg.Timeout)
	cmd, err := s.c.Idle()
	if err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	s.w.setState(StateIdle)
	if ev := s.w.a.ev.Idle; ev != nil {
		ev(s.cfg.Name, s.w.mailbox, true)
	}
	restart := time.NewTimer(s.cfg.IdleRestart)
	defer restart.Stop()
	scan, full := false, false
	select {
	case <-s.newMail:
		scan = true
	case <-s.retryC():
		s.retryFired()
	case <-restart.C:
		full = true // periodic safety net: anything missed is picked up
	case <-ctx.Done():
	case <-s.c.Closed():
	}
	s.dc.setWindow(s.cfg.Timeout)
	closeErr := cmd.Close()
	waitErr := cmd.Wait()
	if ev := s.w.a.ev.Idle; ev != nil {
		ev(s.cfg.Name, s.w.mailbox, false)
	}
	s.w.setState(StateWorking)
	if err := errors.Join(closeErr, waitErr); err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	if full {
		s.needFull = true
	}
	if scan {
		return s.scan(false)
	}
	return nil
}

// poll waits for the next poll when the server has no IDLE.
func (s *session) poll(ctx context.Context, keepalive <-chan time.Time) error {
	s.w.setState(StatePolling)
	defer s.w.setState(StateWorking)
	t := time.NewTimer(s.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.needFull = true
			return nil
		case <-s.newMail:
			return s.scan(false)
		case <-s.retryC():
			s.retryFired()
			return nil
		case <-keepalive:
			if err := s.c.Noop().Wait(); err != nil {
				return fmt.Errorf("noop: %w", err)
			}
		case <-ctx.Done():
			return nil
		case <-s.c.Closed():
			return errConnClosed
		}
	}
}

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

// fetchResult ends a background fetch; its messages came before it on
// fetchMsgs.
type fetchResult struct {
	batch []imap.UID
	err   error
}

type fetchedMessage struct {
	uid      imap.UID
	flags    []imap.Flag
	date     time.Time
	size     int64
	raw      []byte
	tooLarge bool
	held     int64 // reserved in the Buffer
}

// maxFetches is how many FETCH commands a session keeps in flight: the
// next batch is already asked for while the current one streams in, so the
// server never waits a round trip between batches (which, to a server
// across the internet, would dominate a backlog's drain time).
const maxFetches = 2

// startFetch fetches the next batch in the background, so handlers keep
// working meanwhile. Each message is handed over as soon as it is read (the
// first handler need not wait for the whole batch); the goroutine reads
// every literal at once because the client's reader is blocked until it
// does.
func (s *session) startFetch() {
	n := min(len(s.queue), s.cfg.BatchSize)
	batch := slices.Clone(s.queue[:n])
	s.queue = s.queue[n:]
	s.fetches++
	if s.fetchBatch == nil {
		s.fetchBatch = make(map[imap.UID]bool, maxFetches*n)
	}
	for _, uid := range batch {
		s.fetchBatch[uid] = false
	}
	s.log.Debug("fetching", "count", n)
	c, limit, buf, msgs, done := s.c, s.cfg.MaxMessageBytes, s.cfg.Buffer, s.fetchMsgs, s.fetchDone
	ctx := s.fetchCtx
	go func() {
		err := fetchMessages(ctx, c, batch, limit, buf, msgs)
		done <- fetchResult{batch: batch, err: err}
	}()
}

// fetchMessages sends each message of uids on out (which must have room for
// len(uids) messages) and returns the FETCH command's error. Each message's
// bytes are reserved in buf before they are read; if ctx ends first the
// connection is left mid-literal and must be closed.
func fetchMessages(ctx context.Context, c *imapclient.Client, uids []imap.UID, limit int64, buf *Buffer, out chan<- *fetchedMessage) error {
	cmd := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{
		UID: true, Flags: true, InternalDate: true, RFC822Size: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}}, // PEEK: never sets \Seen
	})
	sent := 0
	for {
		md := cmd.Next()
		if md == nil {
			break
		}
		fm := &fetchedMessage{}
		for {
			item := md.Next()
			if item == nil {
				break
			}
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				fm.uid = it.UID
			case imapclient.FetchItemDataFlags:
				fm.flags = it.Flags
			case imapclient.FetchItemDataInternalDate:
				fm.date = it.Time
			case imapclient.FetchItemDataRFC822Size:
				fm.size = it.Size
			case imapclient.FetchItemDataBodySection:
				if it.Literal == nil {
					continue
				}
				if size := it.Literal.Size(); size <= limit {
					held, err := buf.acquire(ctx, size)
					if err != nil {
						return fmt.Errorf("fetch: waiting for buffer space: %w", err)
					}
					fm.held += held
				}
				raw, tooLarge, err := readLimited(it.Literal, limit)
				if tooLarge || err != nil {
					buf.release(fm.held)
					fm.held = 0
				}
				if err != nil {
					// The stream broke inside the literal: the connection
					// is done for. Return without Next or Close: they read
					// the literal again to discard it, which races go-imap's
					// reader (beta.8). The session closes the client.
					return fmt.Errorf("fetch body: %w", err)
				}
				fm.raw, fm.tooLarge = raw, tooLarge
			}
		}
		// go-imap routes only requested UIDs to this command, once each;
		// the count check is a second fence for the channel's capacity.
		if fm.uid != 0 && sent < len(uids) {
			out <- fm
			sent++
		}
	}
	if err := cmd.Close(); err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	return nil
}

// readLimited reads a literal of at most limit bytes; a larger one is
// drained and reported, whatever RFC822.SIZE claimed.
func readLimited(lit imap.LiteralReader, limit int64) ([]byte, bool, error) {
	size := lit.Size()
	if size > limit {
		_, err := io.Copy(io.Discard, lit)
		return nil, true, err
	}
	buf := bytes.NewBuffer(make([]byte, 0, max(size, 0)))
	n, err := io.Copy(buf, io.LimitReader(lit, limit+1))
	if err != nil {
		return nil, false, err
	}
	if n > limit {
		_, err := io.Copy(io.Discard, lit)
		return nil, true, err
	}
	if n < size {
		// go-imap reports a stream that ended inside a literal (the server
		// closed the connection) as the literal's end: a message cut short
		// must not pass for a whole one.
		return nil, false, fmt.Errorf("literal ended after %d of %d bytes: %w", n, size, io.ErrUnexpectedEOF)
	}
	return buf.Bytes(), false, nil
}

// took takes one message from the fetch goroutine.
func (s *session) took(fm *fetchedMessage) {
	w := s.w
	if got, asked := s.fetchBatch[fm.uid]; !asked || got {
		s.cfg.Buffer.release(fm.held)
		return // not asked for, or a duplicate
	}
	s.fetchBatch[fm.uid] = true
	switch {
	case hasFlag(fm.flags, imap.FlagDeleted) || (s.useKeyword && hasFlag(fm.flags, imap.Flag(s.cfg.DoneKeyword))):
		// done meanwhile, by someone else
	case fm.tooLarge:
		w.pending = append(w.pending, result{uid: fm.uid, validity: w.validity, date: fm.date, out: Outcome{
			Verdict: Quarantine,
			Reason:  fmt.Sprintf("message larger than %d bytes", s.cfg.MaxMessageBytes),
		}})
		s.reportOversized(fm.uid)
	default:
		size := fm.size
		if size <= 0 {
			size = int64(len(fm.raw))
		}
		s.ready = append(s.ready, &Message{
			Account: s.cfg.Name, Mailbox: w.mailbox,
			UID: uint32(fm.uid), UIDValidity: w.validity,
			InternalDate: fm.date, Size: size, Raw: fm.raw,
			Noticed: s.noticedAt[fm.uid], held: fm.held,
		})
		delete(s.noticedAt, fm.uid)
		return // stays known until dispatched
	}
	s.cfg.Buffer.release(fm.held)
	delete(s.known, fm.uid)
	delete(s.noticedAt, fm.uid)
}

// fetched ends a background fetch (another may still be in flight).
func (s *session) fetched(fr fetchResult) error {
	for { // every message was sent before fr
		select {
		case fm := <-s.fetchMsgs:
			s.took(fm)
			continue
		default:
		}
		break
	}
	s.fetches--
	missing := 0
	for _, uid := range fr.batch {
		if !s.fetchBatch[uid] { // expunged meanwhile, or the fetch failed
			delete(s.known, uid)
			delete(s.noticedAt, uid)
			missing++
		}
		delete(s.fetchBatch, uid)
	}
	s.log.Debug("fetched", "count", len(fr.batch)-missing, "err", fr.err)
	if fr.err == nil {
		return nil
	}
	if isConnErr(fr.err) {
		return fr.err
	}
	// The server refused the batch: try it again at the next full scan
	// after a backoff rather than in a loop.
	s.log.Warn("fetch refused", "err", fr.err, "count", missing)
	for _, uid := range fr.batch {
		if !s.known[uid] && !s.isKnown(uid) {
			s.scheduleRetry(uid, time.Time{})
		}
	}
	return nil
}

func hasFlag(flags []imap.Flag, f imap.Flag) bool {
	for _, g := range flags {
		if strings.EqualFold(string(g), string(f)) {
			return true
		}
	}
	return false
}

// dispatch hands ready messages to handlers, at most Concurrency in flight.
func (s *session) dispatch() {
	w := s.w
	n := 0
	for len(s.ready) > 0 && len(w.inflight)+w.stale < s.cfg.Concurrency {
		m := s.ready[0]
		s.ready[0] = nil
		s.ready = s.ready[1:]
		uid := imap.UID(m.UID)
		delete(s.known, uid)
		w.inflight[uid] = m.InternalDate
		w.start(m)
		n++
	}
	if n > 0 {
		now := time.Now()
		inflight := len(w.inflight)
		w.a.update(w.mailbox, func(st *MailboxStatus) { st.LastMessage, st.InFlight = now, inflight })
	}
}

// accept records one handler result.
func (s *session) accept(r result) {
	w := s.w
	if r.validity != w.validity {
		w.stale--
		return
	}
	delete(w.inflight, r.uid)
	w.pending = append(w.pending, r)
}

// collect takes every result already available.
func (s *session) collect() {
	for {
		select {
		case r := <-s.w.results:
			s.accept(r)
		default:
			return
		}
	}
}

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
	if folder == "" {
		folder = s.doneFolder
	}
	if strings.EqualFold(mailboxKey(folder), mailboxKey(s.w.mailbox)) {
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
	if s.hasMove {
		_, err := s.c.Move(set, folder).Wait()
		return err
	}
	if _, err := s.c.Copy(set, folder).Wait(); err != nil {
		return err
	}
	if err := s.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		return err
	}
	if s.hasUIDPlus {
		return s.c.UIDExpunge(set).Close()
	}
	// A plain EXPUNGE would also remove messages someone else marked
	// \Deleted; leave ours flagged (scans skip \Deleted).
	if !s.warnedUID {
		s.warnedUID = true
		s.log.Warn("server has neither MOVE nor UIDPLUS: moved messages stay flagged \\Deleted in the mailbox")
	}
	return nil
}

// scheduleRetry leaves uid undone and makes the next full scan after a
// backoff pick it up again.
func (s *session) scheduleRetry(uid imap.UID, date time.Time) {
	w := s.w
	ri := w.retry[uid]
	if ri.backoff == nil {
		ri.backoff = w.retryBackOff()
	}
	ri.notBefore = time.Now().Add(ri.backoff.NextBackOff())
	if !date.IsZero() {
		ri.date = date
	}
	w.retry[uid] = ri
	s.armRetry(ri.notBefore)
}

func (s *session) armRetry(at time.Time) {
	if !s.retryAt.IsZero() && !at.Before(s.retryAt) {
		return
	}
	s.stopRetryTimer()
	s.retryAt = at
	s.retryT = time.NewTimer(time.Until(at))
}

func (s *session) stopRetryTimer() {
	if s.retryT != nil {
		s.retryT.Stop()
		s.retryT = nil
	}
	s.retryAt = time.Time{}
}

// retryC fires when the earliest retry is due (nil channel: never).
func (s *session) retryC() <-chan time.Time {
	if s.retryT == nil {
		return nil
	}
	return s.retryT.C
}

func (s *session) retryFired() {
	s.retryT, s.retryAt = nil, time.Time{}
	s.needFull = true
}

// reportBacklog publishes the undone count and the oldest known date.
func (s *session) reportBacklog() {
	w := s.w
	undone := len(s.queue) + len(s.fetchBatch) + len(s.ready) + len(w.inflight) + len(w.pending) + len(w.retry)
	var oldest time.Time
	older := func(t time.Time) {
		if !t.IsZero() && (oldest.IsZero() || t.Before(oldest)) {
			oldest = t
		}
	}
	for _, m := range s.ready {
		older(m.InternalDate)
	}
	for _, d := range w.inflight {
		older(d)
	}
	for _, r := range w.pending {
		older(r.date)
	}
	for _, ri := range w.retry {
		older(ri.date)
	}
	w.a.update(w.mailbox, func(st *MailboxStatus) { st.Undone, st.Oldest = undone, oldest })
	if ev := w.a.ev.Backlog; ev != nil {
		ev(s.cfg.Name, w.mailbox, undone, oldest)
	}
}

// dropReady forgets the fetched messages not yet handed to a handler; they
// stay undone on the server.
func (s *session) dropReady() {
	for _, m := range s.ready {
		delete(s.known, imap.UID(m.UID))
		s.cfg.Buffer.release(m.held)
	}
	s.ready = nil
}

// dropFetches waits for the fetches in flight and drops what they brought;
// the messages stay undone on the server. It reports whether one ended with
// the connection.
func (s *session) dropFetches() (connErr bool) {
	for ; s.fetches > 0; s.fetches-- {
		fr := <-s.fetchDone
		connErr = connErr || (fr.err != nil && isConnErr(fr.err))
	}
	for len(s.fetchMsgs) > 0 {
		s.cfg.Buffer.release((<-s.fetchMsgs).held)
	}
	for uid := range s.fetchBatch {
		delete(s.known, uid)
		delete(s.noticedAt, uid)
	}
	s.fetchBatch = nil
	return connErr
}

// release returns what the session still holds in the Buffer once its
// connection is closed: the fetches in flight end with it.
func (s *session) release() {
	s.cancelFetch()
	s.dropFetches()
	s.dropReady()
}

// shutdown stops gracefully: no new fetches or dispatches; in-flight
// handlers get until their context is cancelled (ShutdownGrace), plus a
// moment to return after that; what came back is applied; LOGOUT.
func (s *session) shutdown() error {
	w := s.w
	s.dropReady()
	s.queue = nil
	// Bounded by the connection deadlines.
	if s.dropFetches() {
		return nil
	}
	if s.applying {
		if err := s.applied(<-s.applyDone); err != nil {
			return nil
		}
	}
	keepalive := time.NewTicker(max(s.cfg.Timeout/3, 10*time.Millisecond))
	defer keepalive.Stop()
	hdone := w.hctx.Done()
	var late <-chan time.Time
wait:
	for len(w.inflight)+w.stale > 0 {
		select {
		case r := <-w.results:
			s.accept(r)
			s.collect()
			if err := s.apply(); err != nil {
				return nil // the connection is gone; the rest is handled next run
			}
		case <-keepalive.C:
			if err := s.c.Noop().Wait(); err != nil {
				return nil
			}
		case <-s.c.Closed():
			return nil
		case <-hdone:
			// Grace is over and handler contexts are cancelled: give
			// handlers that honour it a moment to report.
			hdone = nil
			late = time.After(lateResultWait)
		case <-late:
			break wait
		}
	}
	s.collect()
	if len(w.pending) > 0 {
		if err := s.apply(); err != nil {
			return nil
		}
	}
	if n := len(w.inflight); n > 0 {
		s.log.Warn("handlers did not finish within the shutdown grace; their messages stay undone", "count", n)
	}
	_ = s.c.Logout().Wait()
	return nil
}
