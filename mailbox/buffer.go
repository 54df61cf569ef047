package mailbox

import (
	"context"
	"sync/atomic"

	"golang.org/x/sync/semaphore"
)

// Buffer bounds the bytes of fetched mail held in memory at once: read from
// the server and waiting, or being handled. Every mailbox given the same
// Buffer shares the bound. A fetch that would exceed it waits (the server's
// stream waits with it) until handlers finish with earlier messages.
type Buffer struct {
	sem      *semaphore.Weighted
	size     int64
	inUse    atomic.Int64
	overhead func(raw []byte) int64
}

// NewBuffer returns a Buffer of size bytes (at least 1).
func NewBuffer(size int64) *Buffer {
	size = max(size, 1)
	return &Buffer{sem: semaphore.NewWeighted(size), size: size}
}

// CountOverhead makes the Buffer count, beside each fetched message, the
// bytes overhead(raw) says handling it will set aside (a re-encoded copy
// to forward), once the message is read. Call it before the Buffer is
// shared.
func (b *Buffer) CountOverhead(overhead func(raw []byte) int64) { b.overhead = overhead }

// Size is the bound in bytes.
func (b *Buffer) Size() int64 { return b.size }

// InUse is how many bytes are held now.
func (b *Buffer) InUse() int64 { return b.inUse.Load() }

// acquire reserves room for a message of n bytes and returns what it
// reserved: a message larger than the whole buffer takes all of it, so it
// is handled alone rather than never.
func (b *Buffer) acquire(ctx context.Context, n int64) (int64, error) {
	if b == nil || n <= 0 {
		return 0, nil
	}
	n = min(n, b.size)
	if err := b.sem.Acquire(ctx, n); err != nil {
		return 0, err
	}
	b.inUse.Add(n)
	return n, nil
}

// grow turns a reservation of held bytes for raw into one that also
// covers its overhead (at most the whole buffer) and returns what is now
// held. When the room is not free it gives held back while it waits, so
// two messages each waiting for more cannot hold each other up; their
// bytes are read already, so the wait only delays handing them on. On an
// error nothing is held.
func (b *Buffer) grow(ctx context.Context, held int64, raw []byte) (int64, error) {
	if b == nil || b.overhead == nil {
		return held, nil
	}
	want := min(held+b.overhead(raw), b.size)
	if want <= held {
		return held, nil
	}
	if b.sem.TryAcquire(want - held) {
		b.inUse.Add(want - held)
		return want, nil
	}
	b.release(held)
	return b.acquire(ctx, want)
}

// release returns what acquire reserved.
func (b *Buffer) release(n int64) {
	if b == nil || n <= 0 {
		return
	}
	b.inUse.Add(-n)
	b.sem.Release(n)
}
