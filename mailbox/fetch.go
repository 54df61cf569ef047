package mailbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

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
	s.startBatch(batch, false)
}

// startBatch fetches batch in the background; alone marks a suspect's
// batch of one (see Journal).
func (s *session) startBatch(batch []imap.UID, alone bool) {
	n := len(batch)
	s.fetches++
	if s.fetchBatch == nil {
		s.fetchBatch = make(map[imap.UID]bool, maxFetches*n)
	}
	for _, uid := range batch {
		s.fetchBatch[uid] = false
	}
	s.log.Debug("fetching", "count", n)
	c, limit, buf, msgs, done := s.c, s.cfg.MaxMessageBytes, s.cfg.Buffer, s.fetchMsgs, s.fetchDone
	ctx, j, mailbox, validity := s.fetchCtx, s.cfg.Journal, s.w.mailbox, s.w.validity
	go func() {
		// Recorded before the FETCH is sent, while the previous batch is
		// still handled: one journal write per batch, off the session loop.
		err := begin(j, mailbox, validity, batch, alone)
		if err == nil {
			err = fetchMessages(ctx, c, batch, limit, buf, msgs)
		}
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
	for md := cmd.Next(); md != nil; md = cmd.Next() {
		fm, err := readFetched(ctx, md, limit, buf)
		if err != nil {
			return err
		}
		// go-imap routes only requested UIDs to this command, once each;
		// the count check is a second fence for the channel's capacity.
		if fm.uid == 0 || sent == len(uids) {
			buf.release(fm.held)
			continue
		}
		out <- fm
		sent++
	}
	if err := cmd.Close(); err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	return nil
}

// readFetched reads one message of a FETCH answer.
func readFetched(ctx context.Context, md *imapclient.FetchMessageData, limit int64, buf *Buffer) (*fetchedMessage, error) {
	fm := &fetchedMessage{}
	for item := md.Next(); item != nil; item = md.Next() {
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
			if err := fm.readBody(ctx, it.Literal, limit, buf); err != nil {
				return nil, err
			}
		}
	}
	return fm, nil
}

// readBody reads the message's body, reserving its bytes in buf first.
func (fm *fetchedMessage) readBody(ctx context.Context, lit imap.LiteralReader, limit int64, buf *Buffer) error {
	if size := lit.Size(); size <= limit {
		held, err := buf.acquire(ctx, size)
		if err != nil {
			return fmt.Errorf("fetch: waiting for buffer space: %w", err)
		}
		fm.held += held
	}
	raw, tooLarge, err := readLimited(lit, limit)
	if tooLarge || err != nil {
		buf.release(fm.held)
		fm.held = 0
	}
	if err != nil {
		// The stream broke inside the literal: the connection is done
		// for. Return without Next or Close: they read the literal again
		// to discard it, which races go-imap's reader (beta.8). The
		// session closes the client.
		return fmt.Errorf("fetch body: %w", err)
	}
	fm.raw, fm.tooLarge = raw, tooLarge
	if !tooLarge {
		if fm.held, err = buf.grow(ctx, fm.held, raw); err != nil {
			return fmt.Errorf("fetch: waiting for buffer space: %w", err)
		}
	}
	return nil
}

// readLimited reads a literal of at most limit bytes; a larger one is
// drained and reported, whatever RFC822.SIZE claimed.
func readLimited(lit imap.LiteralReader, limit int64) ([]byte, bool, error) {
	if size := lit.Size(); size <= limit {
		buf := bytes.NewBuffer(make([]byte, 0, max(size, 0)))
		n, err := io.Copy(buf, io.LimitReader(lit, limit+1))
		switch {
		case err != nil:
			return nil, false, err
		case n < size:
			// go-imap reports a stream that ended inside a literal (the
			// server closed the connection) as the literal's end: a
			// message cut short must not pass for a whole one.
			return nil, false, fmt.Errorf("literal ended after %d of %d bytes: %w", n, size, io.ErrUnexpectedEOF)
		case n <= limit:
			return buf.Bytes(), false, nil
		}
	}
	_, err := io.Copy(io.Discard, lit)
	return nil, true, err
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
		s.quarantineOversized(fm.uid, fm.date)
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
	s.forget(fm.uid)
}

// forget drops uid from the pipeline; it stays undone on the server.
func (s *session) forget(uid imap.UID) {
	delete(s.known, uid)
	delete(s.noticedAt, uid)
	s.end(uid, s.w.validity, false)
}

// fetched ends a background fetch (another may still be in flight).
func (s *session) fetched(fr fetchResult) error {
	for len(s.fetchMsgs) > 0 { // every message was sent before fr
		s.took(<-s.fetchMsgs)
	}
	s.fetches--
	missing := 0
	for _, uid := range fr.batch {
		if !s.fetchBatch[uid] { // expunged meanwhile, or the fetch failed
			s.forget(uid)
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
		if !s.isKnown(uid) {
			s.scheduleRetry(uid, time.Time{})
		}
	}
	return nil
}

func hasFlag(flags []imap.Flag, f imap.Flag) bool {
	return slices.ContainsFunc(flags, func(g imap.Flag) bool { return strings.EqualFold(string(g), string(f)) })
}

// dropReady forgets the fetched messages not yet handed to a handler; they
// stay undone on the server.
func (s *session) dropReady() {
	for _, m := range s.ready {
		s.forget(imap.UID(m.UID))
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
		connErr = connErr || isConnErr(fr.err)
	}
	for len(s.fetchMsgs) > 0 {
		s.cfg.Buffer.release((<-s.fetchMsgs).held)
	}
	for uid := range s.fetchBatch {
		s.forget(uid)
	}
	s.fetchBatch = nil
	return connErr
}
