package daemon

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
}

var handledBucket = []byte("handled")

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
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("open %s: locked by another triage process", path)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(handledBucket)
		return err
	}); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("init %s: %w", path, err)
	}
	return &Store{db: db, window: window}, nil
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

// Record stores id as handled now from source. Concurrent calls share one
// fsync (bbolt's Batch), so recording does not serialize the pipeline.
func (s *Store) Record(id, source string) error {
	v := make([]byte, 8+len(source))
	binary.BigEndian.PutUint64(v, uint64(time.Now().UnixNano()))
	copy(v[8:], source)
	if err := s.db.Batch(func(tx *bolt.Tx) error {
		return tx.Bucket(handledBucket).Put([]byte(id), v)
	}); err != nil {
		return fmt.Errorf("state record: %w", err)
	}
	return nil
}

// Prune deletes entries older than the window; it returns how many went.
func (s *Store) Prune() (int, error) {
	cutoff := time.Now().Add(-s.window).UnixNano()
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(handledBucket).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(v) < 8 || int64(binary.BigEndian.Uint64(v[:8])) < cutoff {
				if err := c.Delete(); err != nil {
					return err
				}
				n++
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

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }
