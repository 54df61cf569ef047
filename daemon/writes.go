package daemon

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// writeQueue applies state-store writes off the callers' paths: one writer
// goroutine commits every write that queued up while the previous
// transaction ran in a single transaction (group commit), so a backlog
// costs one fsync per batch of messages, not one per message, and no
// goroutine per write.
type writeQueue struct {
	db   *bolt.DB
	wake chan struct{}
	done chan struct{}

	mu     sync.Mutex
	ops    []writeOp
	closed bool
}

// writeOp is one write: apply runs inside the batch's transaction; fail,
// if set, gets its error or the transaction's; ack, if set, gets the
// outcome once it is committed (or failed).
type writeOp struct {
	apply func(tx *bolt.Tx) error
	fail  func(error)
	ack   chan error
}

func newWriteQueue(db *bolt.DB) *writeQueue {
	q := &writeQueue{db: db, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go q.run()
	return q
}

// add queues op; once close has begun it is applied at once, alone (and
// fails on a closed database, which only costs a duplicate).
func (q *writeQueue) add(op writeOp) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		q.commit([]writeOp{op})
		return
	}
	q.ops = append(q.ops, op)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// wait queues apply and returns once it is committed.
func (q *writeQueue) wait(apply func(tx *bolt.Tx) error) error {
	ack := make(chan error, 1)
	q.add(writeOp{apply: apply, ack: ack})
	return <-ack
}

func (q *writeQueue) run() {
	defer close(q.done)
	for {
		q.mu.Lock()
		ops, closed := q.ops, q.closed
		q.ops = nil
		q.mu.Unlock()
		if len(ops) > 0 {
			q.commit(ops)
			continue
		}
		if closed {
			return
		}
		<-q.wake
	}
}

// commit applies ops in one transaction. An op whose apply fails does not
// undo the others.
func (q *writeQueue) commit(ops []writeOp) {
	errs := make([]error, len(ops))
	err := q.db.Update(func(tx *bolt.Tx) error {
		for i, op := range ops {
			errs[i] = op.apply(tx)
		}
		return nil
	})
	for i, op := range ops {
		e := errs[i]
		if err != nil {
			e = err
		}
		if e != nil && op.fail != nil {
			op.fail(e)
		}
		if op.ack != nil {
			op.ack <- e
		}
	}
}

// close applies what is queued and stops the writer.
func (q *writeQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	<-q.done
}

// putHandled stores id as handled now from source.
func putHandled(tx *bolt.Tx, id, source string) error {
	v := make([]byte, 8+len(source))
	binary.BigEndian.PutUint64(v, uint64(time.Now().UnixNano()))
	copy(v[8:], source)
	return tx.Bucket(handledBucket).Put([]byte(id), v)
}

// putFiled keeps m for account, dropping the oldest beyond MaxFiledKept.
func putFiled(tx *bolt.Tx, account string, m FiledMessage) error {
	v, err := json.Marshal(m)
	if err != nil {
		return err
	}
	prefix := []byte(account + "\x00")
	key := binary.BigEndian.AppendUint64(slices.Clone(prefix), uint64(m.At.UnixNano()))
	b := tx.Bucket(filedBucket)
	if err := b.Put(key, v); err != nil {
		return err
	}
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, k)
	}
	for _, k := range keys[:max(len(keys)-MaxFiledKept, 0)] {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
