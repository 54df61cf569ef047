package daemon

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Store remembers the ids of handled messages for the dedupe window: it feeds
// the rules' `duplicate` field and keeps a message that was forwarded but not
// yet marked done (a crash in between) from being forwarded again.
type Store struct {
	db     *bolt.DB
	window time.Duration

	writes *writeQueue // writes off the callers' paths, batched

	// The in-flight journal and the suspects of crashes live in a database
	// of their own that is never fsynced: they serve to survive a crash of
	// the process, whose writes the kernel keeps, and a message's fetch
	// must not wait for the disk. After a crash of the machine a damaged
	// journal is started afresh.
	jdb     *bolt.DB
	jwrites *writeQueue

	mu       sync.Mutex
	suspects map[string]suspect // inflightKey → what the crashes so far hold against it
}

var (
	handledBucket = []byte("handled")
	filedBucket   = []byte("filed")
	trackerBucket = []byte("tracker")
)

// TrackerRetention is how long the store remembers which tracker ticket a
// mail went to: replies thread by it for that long.
const TrackerRetention = 400 * 24 * time.Hour

// HandledID is what the store knows about one ticket id.
type HandledID struct {
	At     time.Time
	Source string // account/mailbox/uidvalidity/uid that was forwarded
}

// OpenStore opens (creating with 0700/0600 permissions) the state database in dir.
func OpenStore(dir string, window time.Duration) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	// MkdirAll keeps the mode of a directory that exists: tighten it, since
	// the store names every mail handled. Best effort: a directory owned by
	// someone else (a mount) keeps its mode.
	if st, err := os.Stat(dir); err == nil && st.Mode().Perm()&0o077 != 0 {
		_ = os.Chmod(dir, 0o700)
	}
	path := filepath.Join(dir, "state.db")
	db, err := openDB(path, &bolt.Options{Timeout: 5 * time.Second}, handledBucket, trackerBucket, filedBucket)
	if err != nil {
		return nil, openError(path, err)
	}

	jdb, err := openJournal(dir)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return &Store{db: db, window: window, writes: newWriteQueue(db), jdb: jdb, jwrites: newWriteQueue(jdb),
		suspects: map[string]suspect{}}, nil
}

// openDB opens the database at path and creates the buckets it lacks.
func openDB(path string, opts *bolt.Options, buckets ...[]byte) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, opts)
	if err != nil {
		return nil, err
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range buckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// openError says why the database at path did not open.
func openError(path string, err error) error {
	if errors.Is(err, berrors.ErrTimeout) {
		return fmt.Errorf("open %s: locked by another triage process", path)
	}
	return fmt.Errorf("open %s: %w", path, err)
}

// deleteWhere deletes the entries of b that drop picks. The keys are
// collected first and deleted after: bbolt documents that a cursor may
// skip the entry after one deleted during iteration.
func deleteWhere(b *bolt.Bucket, drop func(k, v []byte) bool) error {
	var gone [][]byte
	if err := b.ForEach(func(k, v []byte) error {
		if drop(k, v) {
			gone = append(gone, bytes.Clone(k))
		}
		return nil
	}); err != nil {
		return err
	}
	for _, k := range gone {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Lookup returns what is recorded for id within the dedupe window.
func (s *Store) Lookup(id string) (HandledID, bool, error) {
	var h HandledID
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(handledBucket).Get([]byte(id))
		if len(v) < 8 {
			return nil
		}
		h.At = time.Unix(0, int64(binary.BigEndian.Uint64(v[:8])))
		h.Source = string(v[8:])
		ok = time.Since(h.At) <= s.window
		return nil
	})
	if err != nil {
		return HandledID{}, false, fmt.Errorf("state lookup: %w", err)
	}
	return h, ok, nil
}

// trackerKey is the key of a triage id or Message-ID in a tracker's index.
func trackerKey(tracker, key string) []byte {
	return []byte(tracker + "\x00" + key)
}

// TrackerTicket returns the tracker ticket id recorded for key (a triage
// id or a Message-ID) in tracker's index (queue.TrackerIndex).
func (s *Store) TrackerTicket(tracker, key string) (string, bool, error) {
	var id string
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(trackerBucket).Get(trackerKey(tracker, key)); len(v) > 8 {
			id = string(v[8:])
		}
		return nil
	})
	if err != nil {
		return "", false, fmt.Errorf("state tracker lookup: %w", err)
	}
	return id, id != "", nil
}

// RecordTrackerTicket records that the mail with triageID and messageID
// ("" for none) is on tracker ticket id (queue.TrackerIndex).
func (s *Store) RecordTrackerTicket(tracker, triageID, messageID, id string) error {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(id)), uint64(time.Now().UnixNano()))
	v = append(v, id...)
	err := s.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(trackerBucket)
		for _, k := range []string{triageID, messageID} {
			if k == "" {
				continue
			}
			if err := b.Put(trackerKey(tracker, k), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("state tracker record: %w", err)
	}
	return nil
}

// Prune deletes handled ids older than the window and tracker entries
// older than TrackerRetention; it returns how many went.
func (s *Store) Prune() (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, p := range []struct {
			bucket []byte
			keep   time.Duration
		}{{handledBucket, s.window}, {trackerBucket, TrackerRetention}} {
			cutoff := time.Now().Add(-p.keep).UnixNano()
			if err := deleteWhere(tx.Bucket(p.bucket), func(_, v []byte) bool {
				expired := len(v) < 8 || int64(binary.BigEndian.Uint64(v[:8])) < cutoff
				if expired {
					n++
				}
				return expired
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("state prune: %w", err)
	}
	return n, nil
}

// RunPruner prunes once an hour until ctx ends.
func (s *Store) RunPruner(ctx context.Context, onErr func(error)) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if _, err := s.Prune(); err != nil && onErr != nil {
			onErr(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// FiledMessage is a message the daemon filed in the quarantine or failed
// folder, with the reason, kept so /status can show it after a restart.
type FiledMessage struct {
	At          time.Time `json:"at"`
	Mailbox     string    `json:"mailbox"` // the watched mailbox it came from
	UID         uint32    `json:"uid"`     // its UID there
	UIDValidity uint32    `json:"uidvalidity,omitempty"`
	Folder      string    `json:"folder"` // quarantine or failed
	Reason      string    `json:"reason"`
	Date        string    `json:"date,omitempty"` // the Date header, when it was read
	From        string    `json:"from,omitempty"`
	Subject     string    `json:"subject,omitempty"`
	ID          string    `json:"id,omitempty"` // the ticket id it had
}

// MaxFiledKept is how many filed messages the store keeps per account.
const MaxFiledKept = 100

// Filed returns the messages filed for account, newest first.
func (s *Store) Filed(account string) ([]FiledMessage, error) {
	out := []FiledMessage{}
	prefix := []byte(account + "\x00")
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(filedBucket).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var m FiledMessage
			if json.Unmarshal(v, &m) == nil {
				out = append(out, m)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("state filed: %w", err)
	}
	slices.Reverse(out)
	return out, nil
}

// RecordLater stores id as handled now from source, off the caller's
// path: batched with the other writes queued meanwhile into one
// transaction; onErr gets a failure.
func (s *Store) RecordLater(id, source string, onErr func(error)) {
	s.writes.add(writeOp{apply: func(tx *bolt.Tx) error { return putHandled(tx, id, source) }, fail: wrapFail("state record", onErr)})
}

// RecordFiledLater keeps m for account, dropping the oldest beyond
// MaxFiledKept, off the caller's path like RecordLater.
func (s *Store) RecordFiledLater(account string, m FiledMessage, onErr func(error)) {
	s.writes.add(writeOp{apply: func(tx *bolt.Tx) error { return putFiled(tx, account, m) }, fail: wrapFail("state record filed", onErr)})
}

func wrapFail(what string, onErr func(error)) func(error) {
	return func(err error) { onErr(fmt.Errorf("%s: %w", what, err)) }
}

// Close applies the writes still queued and closes the database.
func (s *Store) Close() error {
	s.writes.close()
	s.jwrites.close()
	return errors.Join(s.jdb.Close(), s.db.Close())
}
