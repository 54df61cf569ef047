package mailbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// The mailbox bounds at exactly the bound and one past it. The IMAP
// response line and literal bounds are in TestLimitConn.

func TestBatchAndConcurrencyLimits(t *testing.T) {
	base := Config{
		Name: "a", Addr: "127.0.0.1:143", TLS: TLSNone, Username: "u",
		Secret: func(context.Context) (string, error) { return "p", nil },
	}
	tests := []struct {
		name string
		mod  func(*Config)
		want string // "" = accepted; else in the error
	}{
		{"batch size at the bound", func(c *Config) { c.BatchSize = MaxBatchSize }, ""},
		{"batch size one past", func(c *Config) { c.BatchSize = MaxBatchSize + 1 }, fmt.Sprintf("batch size %d: want 1..%d", MaxBatchSize+1, MaxBatchSize)},
		{"concurrency at the bound", func(c *Config) { c.Concurrency = MaxConcurrency }, ""},
		{"concurrency one past", func(c *Config) { c.Concurrency = MaxConcurrency + 1 }, fmt.Sprintf("concurrency %d: want 1..%d", MaxConcurrency+1, MaxConcurrency)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.mod(&cfg)
			got, err := cfg.withDefaults()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want == "" && (got.BatchSize != max(cfg.BatchSize, DefaultBatchSize) || got.Concurrency != max(cfg.Concurrency, DefaultConcurrency)):
				t.Errorf("batch %d, concurrency %d: not kept", got.BatchSize, got.Concurrency)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// literal is an imap.LiteralReader over a fixed body.
type literal struct {
	*bytes.Reader
	size int64
}

func (l literal) Size() int64 { return l.size }

// TestReadLimitedBound: a message body of exactly the limit is read whole;
// one byte more is drained and reported too large, whether the literal
// announces its size honestly or claims less.
func TestReadLimitedBound(t *testing.T) {
	const limit = 4096
	tests := []struct {
		name      string
		body, ann int // real and announced size
		tooLarge  bool
	}{
		{"at the bound", limit, limit, false},
		{"one past", limit + 1, limit + 1, true},
		{"one past, announced within", limit + 1, limit, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := bytes.Repeat([]byte("m"), tt.body)
			lit := literal{Reader: bytes.NewReader(body), size: int64(tt.ann)}
			raw, tooLarge, err := readLimited(lit, limit)
			switch {
			case tt.tooLarge && (err != nil || !tooLarge || raw != nil):
				t.Errorf("%d bytes: raw %d bytes, tooLarge %v, %v; want refused", tt.body, len(raw), tooLarge, err)
			case !tt.tooLarge && (err != nil || tooLarge || !bytes.Equal(raw, body)):
				t.Errorf("%d bytes: raw %d bytes, tooLarge %v, %v; want it whole", tt.body, len(raw), tooLarge, err)
			}
			if lit.Len() != 0 {
				t.Errorf("%d bytes of the literal left unread", lit.Len())
			}
		})
	}
}

// TestMaxMessageBytesEndToEnd: with max message bytes N, a message of N
// bytes is handled; one of N+1 bytes is quarantined unfetched (by its
// RFC822.SIZE) and never reaches the handler.
func TestMaxMessageBytesEndToEnd(t *testing.T) {
	m := startMem(t, memOptions{})
	pad := func(raw []byte, size int64) []byte {
		return append(raw, bytes.Repeat([]byte("x"), int(size)-len(raw))...)
	}
	limit := int64(len(testMail(2, "one past"))) + 100
	atBound, past := pad(testMail(1, "at the bound"), limit), pad(testMail(2, "one past"), limit+1)
	m.append(t, "INBOX", atBound)
	m.append(t, "INBOX", past)
	cfg := m.config()
	cfg.MaxMessageBytes = limit
	var mu sync.Mutex
	var oversized []uint32
	rec := newRecorder(nil)
	r := start(t, cfg, rec.handle, Events{Oversized: func(_, _ string, uid uint32) {
		mu.Lock()
		oversized = append(oversized, uid)
		mu.Unlock()
	}})
	waitFor(t, "both applied", func() bool {
		st := r.a.Status().Mailboxes[0]
		return st.Done == 1 && st.Quarantined == 1
	})
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	calls, _, _ := rec.snapshot()
	if calls[1] != 1 || calls[2] != 0 {
		t.Errorf("handler calls %v: want the message at the bound once, the one past never", calls)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(oversized) != 1 || oversized[0] != 2 {
		t.Errorf("reported oversized: UIDs %v, want [2]", oversized)
	}
	q := m.read(t, DefaultQuarantine)
	if _, ok := q[2]; len(q) != 1 || !ok {
		t.Errorf("quarantine holds %v, want message 2", q)
	}
}

// TestSearchUIDsBound: a SEARCH answer of maxSearchUIDs UIDs is taken,
// one more is refused, also when the UIDs come in several ranges.
func TestSearchUIDsBound(t *testing.T) {
	tests := []struct {
		name string
		set  imap.UIDSet
		ok   bool
	}{
		{"at the bound", imap.UIDSet{{Start: 1, Stop: maxSearchUIDs}}, true},
		{"one past", imap.UIDSet{{Start: 1, Stop: maxSearchUIDs + 1}}, false},
		{"at the bound in two ranges", imap.UIDSet{{Start: 1, Stop: 10}, {Start: 101, Stop: maxSearchUIDs + 90}}, true},
		{"one past in two ranges", imap.UIDSet{{Start: 1, Stop: 10}, {Start: 101, Stop: maxSearchUIDs + 91}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uids, err := searchUIDs(&imap.SearchData{All: tt.set})
			switch {
			case tt.ok && (err != nil || len(uids) != maxSearchUIDs):
				t.Errorf("%d UIDs, %v; want %d", len(uids), err, maxSearchUIDs)
			case !tt.ok && (err == nil || uids != nil || !strings.Contains(err.Error(), fmt.Sprintf("more than %d UIDs", maxSearchUIDs))):
				t.Errorf("%d UIDs, %v; want refused", len(uids), err)
			}
		})
	}
}

// TestBufferBound: a Buffer of n bytes holds n bytes and not one more; a
// message larger than the whole buffer takes all of it (it is handled
// alone, not never), and a waiting fetch proceeds once room is released.
func TestBufferBound(t *testing.T) {
	const n = 1000
	ctx := context.Background()
	b := NewBuffer(n)
	if got, err := b.acquire(ctx, n-1); err != nil || got != n-1 {
		t.Fatalf("acquire(%d) = %d, %v", n-1, got, err)
	}
	if !b.sem.TryAcquire(1) {
		t.Fatal("the last byte of the buffer is not available")
	}
	b.sem.Release(1)
	if got, err := b.acquire(ctx, 1); err != nil || got != 1 || b.InUse() != n {
		t.Fatalf("acquire to the bound = %d, %v; in use %d", got, err, b.InUse())
	}
	if b.sem.TryAcquire(1) {
		t.Fatal("one byte past the bound was available")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if got, err := b.acquire(cctx, 1); !errors.Is(err, context.Canceled) || got != 0 {
		t.Fatalf("acquire past the bound = %d, %v; want it to wait until cancelled", got, err)
	}
	waiting := make(chan int64)
	go func() {
		got, _ := b.acquire(ctx, 1)
		waiting <- got
	}()
	b.release(n)
	if got := <-waiting; got != 1 {
		t.Fatalf("waiting acquire got %d", got)
	}
	b.release(1)
	if got, err := b.acquire(ctx, n+1); err != nil || got != n || b.InUse() != n {
		t.Errorf("acquire(%d) of a buffer of %d = %d, %v; in use %d; want the whole buffer", n+1, n, got, err, b.InUse())
	}
	b.release(n)
	if b.InUse() != 0 {
		t.Errorf("in use %d after release", b.InUse())
	}
}

var _ imap.LiteralReader = literal{}
