package daemon

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/triage-dev/triage/mailbox"
)

// Poison messages. The mailbox layer records, once per FETCH batch, the
// messages it is about to handle (journal.Begin) and clears each when its
// handler returns (lazily, batched), in journal.db, which is written
// without fsync: a crash of the process loses nothing the kernel has. A run that dies from a Go crash (a
// panic outside recover or a fatal error such as the runtime's "out of
// memory") leaves a crash report in the state directory (the runtime writes
// it: debug.SetCrashOutput); a run killed from outside (SIGKILL, including
// the kernel's OOM killer) leaves none and blames nobody. At the next start,
// every message still recorded after a crash report is a suspect: it is
// handled alone (fetched alone, nothing else of its mailbox in flight). A
// message that was in flight at two consecutive crash reports, alone in its
// mailbox at the second, is quarantined with the reason "crashed the
// daemon" without being handled a third time. A suspect whose handler
// returns is cleared; one that was not in flight at a crash report is
// forgiven.

const (
	crashFile     = "crash.log"      // where the runtime writes this run's crash report
	lastCrashFile = "crash.prev.log" // the previous run's, kept for the operator
	journalFile   = "journal.db"
)

var (
	inflightBucket = []byte("inflight") // messages being handled, by inflightKey
	suspectBucket  = []byte("suspects") // messages in flight at a crash, by inflightKey
)

// openJournal opens journal.db in dir, never fsynced (see Store); one that
// does not open (damaged by a crash of the machine) is started afresh:
// what it held only served to blame messages for crashes.
func openJournal(dir string) (*bolt.DB, error) {
	path := filepath.Join(dir, journalFile)
	opts := &bolt.Options{Timeout: 5 * time.Second, NoSync: true, NoGrowSync: true}
	db, err := openDB(path, opts, inflightBucket, suspectBucket)
	if err != nil && !errors.Is(err, berrors.ErrTimeout) {
		_ = os.Remove(path)
		db, err = openDB(path, opts, inflightBucket, suspectBucket)
	}
	if err != nil {
		return nil, openError(path, err)
	}
	return db, nil
}

// suspect is what the crash reports so far hold against one message.
type suspect struct {
	crashes int       // consecutive crash reports it was in flight at
	alone   bool      // alone in its mailbox at the last one
	at      time.Time // the last one
}

func (sp suspect) encode() []byte {
	v := []byte{byte(min(sp.crashes, 255)), 0}
	if sp.alone {
		v[1] = 1
	}
	return binary.BigEndian.AppendUint64(v, uint64(sp.at.UnixNano()))
}

func decodeSuspect(v []byte) suspect {
	if len(v) < 10 {
		return suspect{}
	}
	return suspect{crashes: int(v[0]), alone: v[1] == 1, at: time.Unix(0, int64(binary.BigEndian.Uint64(v[2:10])))}
}

// inflightKey names one message: account, mailbox, UIDVALIDITY, UID; the
// part before the last 8 bytes names its mailbox.
func inflightKey(account, mb string, validity, uid uint32) []byte {
	k := make([]byte, 0, len(account)+len(mb)+10)
	k = append(append(append(k, account...), 0), mb...)
	k = append(k, 0)
	k = binary.BigEndian.AppendUint32(k, validity)
	return binary.BigEndian.AppendUint32(k, uid)
}

// takeCrashReport reports whether the previous run left a crash report in
// dir, keeps it as crash.prev.log and has the runtime write this run's
// there. The crash report is process-wide: only the real daemon's run
// (Options.CrashReports) sets it.
func takeCrashReport(dir string) (bool, error) {
	path := filepath.Join(dir, crashFile)
	st, err := os.Stat(path)
	crashed := err == nil && st.Size() > 0
	if crashed {
		if err := os.Rename(path, filepath.Join(dir, lastCrashFile)); err != nil {
			return true, fmt.Errorf("keep crash report: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return crashed, fmt.Errorf("crash report: %w", err)
	}
	defer f.Close() // the runtime keeps a duplicate
	if err := debug.SetCrashOutput(f, debug.CrashOptions{}); err != nil {
		return crashed, fmt.Errorf("crash report: %w", err)
	}
	return crashed, nil
}

// countCrash turns what the previous run left in flight into suspects if
// it crashed (crashed: it left a crash report) and starts a clean record.
// It returns how many messages were in flight and how many are now to be
// quarantined.
func (s *Store) countCrash(crashed bool) (inflight, condemned int, err error) {
	now := time.Now()
	err = s.jdb.Update(func(tx *bolt.Tx) error {
		in, sb := tx.Bucket(inflightBucket), tx.Bucket(suspectBucket)
		// A suspect of crashes older than suspectTTL is dropped.
		cutoff := now.Add(-suspectTTL)
		if err := deleteWhere(sb, func(_, v []byte) bool { return decodeSuspect(v).at.Before(cutoff) }); err != nil {
			return err
		}
		inflight = in.Stats().KeyN
		if crashed {
			perMailbox := map[string]int{}
			if err := in.ForEach(func(k, _ []byte) error {
				perMailbox[string(k[:max(len(k)-8, 0)])]++
				return nil
			}); err != nil {
				return err
			}
			// Forgiven: the suspects that were not in flight at this crash.
			if err := deleteWhere(sb, func(k, _ []byte) bool { return in.Get(k) == nil }); err != nil {
				return err
			}
			if err := in.ForEach(func(k, _ []byte) error {
				sp := decodeSuspect(sb.Get(k))
				sp.crashes++
				sp.alone = perMailbox[string(k[:max(len(k)-8, 0)])] == 1
				sp.at = now
				return sb.Put(k, sp.encode())
			}); err != nil {
				return err
			}
		}
		if err := tx.DeleteBucket(inflightBucket); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(inflightBucket); err != nil {
			return err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return sb.ForEach(func(k, v []byte) error {
			sp := decodeSuspect(v)
			s.suspects[string(k)] = sp
			if sp.condemned() {
				condemned++
			}
			return nil
		})
	})
	if err != nil {
		return 0, 0, fmt.Errorf("state crash count: %w", err)
	}
	return inflight, condemned, nil
}

func (sp suspect) condemned() bool { return sp.crashes >= 2 && sp.alone }

// suspectTTL is how long a suspect is kept: one whose message has not been
// fetched again for that long went elsewhere (moved or deleted by hand).
const suspectTTL = 30 * 24 * time.Hour

// journal is the mailbox.Journal of one account, kept in the state store.
type journal struct {
	account string
	store   *Store
	onErr   func(error)
}

var _ mailbox.Journal = (*journal)(nil)

// Begin records a FETCH batch in flight, in the transaction of whatever
// else is queued; once it returns the record survives a crash of the
// process (journal.db is not fsynced: see Store).
func (j *journal) Begin(mb string, validity uint32, uids []uint32) error {
	keys := make([][]byte, len(uids))
	for i, u := range uids {
		keys[i] = inflightKey(j.account, mb, validity, u)
	}
	err := j.store.jwrites.wait(func(tx *bolt.Tx) error {
		b := tx.Bucket(inflightBucket)
		for _, k := range keys {
			if err := b.Put(k, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("state in flight: %w", err)
	}
	return nil
}

// End clears a message from the in-flight record, and from the suspects
// when its handler returned.
func (j *journal) End(mb string, validity, uid uint32, survived bool) {
	k := inflightKey(j.account, mb, validity, uid)
	clear := false
	if survived {
		j.store.mu.Lock()
		if _, clear = j.store.suspects[string(k)]; clear {
			delete(j.store.suspects, string(k))
		}
		j.store.mu.Unlock()
	}
	j.store.jwrites.add(writeOp{apply: func(tx *bolt.Tx) error {
		err := tx.Bucket(inflightBucket).Delete(k)
		if clear {
			err = errors.Join(err, tx.Bucket(suspectBucket).Delete(k))
		}
		return err
	}, fail: wrapFail("state in flight", j.onErr)})
}

// Flush waits until the Ends so far are applied (see Begin).
func (j *journal) Flush() error {
	if err := j.store.jwrites.wait(func(*bolt.Tx) error { return nil }); err != nil {
		return fmt.Errorf("state in flight: %w", err)
	}
	return nil
}

// Suspicion answers from the suspects loaded at start.
func (j *journal) Suspicion(mb string, validity, uid uint32) mailbox.Suspicion {
	j.store.mu.Lock()
	sp, ok := j.store.suspects[string(inflightKey(j.account, mb, validity, uid))]
	j.store.mu.Unlock()
	switch {
	case !ok:
		return mailbox.Innocent
	case sp.condemned():
		return mailbox.Crashed
	}
	return mailbox.Isolate
}
