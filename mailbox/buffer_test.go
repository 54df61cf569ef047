package mailbox

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/triage-dev/triage/internal/dovecottest"
)

// TestBufferBoundsMailInMemory drains two mailboxes sharing one small
// Buffer with handlers that take a moment: the mail handed to handlers at
// once never exceeds the Buffer, a message larger than the whole Buffer is
// still handled (alone), everything is handled and marked done, and nothing
// stays reserved afterwards.
func TestBufferBoundsMailInMemory(t *testing.T) {
	const perMailbox = 40
	const size = 100 << 10
	srv := dovecottest.Start(t)
	pad := func(n int) []byte {
		return bytes.Repeat([]byte("0123456789 abcdefghij 0123456789 abcdefghij 0123456789 abcdefgh\r\n"), n/66+1)
	}
	bigID := 999
	for i := range perMailbox {
		srv.Append(t, "INBOX", append(testMail(i, "buffer"), pad(10<<10+i*300)...))
		srv.Append(t, "Second", append(testMail(1000+i, "buffer"), pad(12<<10+i*200)...))
	}
	srv.Append(t, "INBOX", append(testMail(bigID, "larger than the whole buffer"), pad(3*size)...))
	srv.Resync(t, "INBOX")
	srv.Resync(t, "Second")

	buf := NewBuffer(size)
	var (
		mu          sync.Mutex
		smallNow    int64 // raw bytes of the buffer-sized messages being handled
		smallPeak   int64
		handlersNow int
		bigHandled  bool
		bigAlone    = true
	)
	rec := newRecorder(func(ctx context.Context, m *Message, _ int) Outcome {
		n := int64(len(m.Raw))
		big := n > size
		mu.Lock()
		handlersNow++
		if big {
			bigHandled = true
			bigAlone = bigAlone && handlersNow == 1
		} else {
			smallNow += n
			smallPeak = max(smallPeak, smallNow)
		}
		mu.Unlock()
		select { // a sink that takes a moment, so fetched mail piles up
		case <-time.After(5 * time.Millisecond):
		case <-ctx.Done():
		}
		mu.Lock()
		handlersNow--
		if !big {
			smallNow -= n
		}
		mu.Unlock()
		return Outcome{Verdict: Done}
	})
	cfg := testConfig(srv)
	cfg.Mailboxes = []string{"INBOX", "Second"}
	cfg.BatchSize, cfg.Concurrency = 10, 16 // unbounded, 2 × 16 handlers could hold ~400 KB
	cfg.Buffer = buf
	r := start(t, cfg, rec.handle, Events{})
	waitFor(t, "all handled", func() bool { return rec.doneCount() == 2*perMailbox+1 })
	waitFor(t, "all marked done", func() bool {
		return readMailbox(t, srv, "INBOX").triaged == perMailbox+1 && readMailbox(t, srv, "Second").triaged == perMailbox
	})
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !bigHandled {
		t.Fatal("the message larger than the buffer was not handled")
	}
	if !bigAlone {
		t.Error("the message larger than the buffer was handled beside others")
	}
	if smallPeak > size {
		t.Errorf("mail in handlers peaked at %d bytes, above the %d-byte buffer", smallPeak, size)
	}
	if smallPeak < 3*10<<10 {
		t.Errorf("mail in handlers peaked at %d bytes: the buffer should still let several run at once", smallPeak)
	}
	if got := buf.InUse(); got != 0 {
		t.Errorf("%d bytes still reserved after the run", got)
	}
	t.Logf("peak in handlers: %d bytes (buffer %d)", smallPeak, size)
}

// TestBufferReleasedAcrossRestart restarts Dovecot while fetched mail is
// waiting for handlers: what the dropped connection held is released.
func TestBufferReleasedAcrossRestart(t *testing.T) {
	const n = 300
	srv := dovecottest.Start(t)
	for i := range n {
		srv.Append(t, "INBOX", append(testMail(i, "backlog"), bytes.Repeat([]byte("a line of a longer message body\r\n"), 200)...))
	}
	srv.Resync(t, "INBOX")
	buf := NewBuffer(32 << 10)
	rec := newRecorder(func(ctx context.Context, m *Message, call int) Outcome {
		select {
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
			return Outcome{Verdict: Retry, Reason: "stopping"}
		}
		return Outcome{Verdict: Done}
	})
	cfg := testConfig(srv)
	cfg.Concurrency, cfg.BatchSize = 2, 20
	cfg.Buffer = buf
	r := start(t, cfg, rec.handle, Events{})
	waitFor(t, "some progress", func() bool { return rec.doneCount() >= 30 })
	srv.Restart()
	if rec.doneCount() == n {
		t.Fatal("the backlog was drained before the restart; the test proves nothing")
	}
	waitFor(t, "all handled after the restart", func() bool { return rec.doneCount() == n })
	waitFor(t, "all marked done", func() bool { return readMailbox(t, srv, "INBOX").triaged == n })
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if got := buf.InUse(); got != 0 {
		t.Errorf("%d bytes still reserved after the run", got)
	}
}

// TestBufferGrowCountsOverhead: what handling a message sets aside beside
// it is reserved too, capped at the whole Buffer; a message that must wait
// for that room gives its own back while it waits, so two such messages
// cannot hold each other up, and a cancelled wait leaves nothing held.
func TestBufferGrowCountsOverhead(t *testing.T) {
	overhead := func(raw []byte) int64 { return int64(len(raw)) }
	raw := func(n int) []byte { return make([]byte, n) }
	tests := []struct {
		name      string
		overhead  func([]byte) int64
		other     int64 // held by another message meanwhile
		held, raw int64
		want      int64
	}{
		{"not counted", nil, 0, 30, 30, 30},
		{"no overhead", func([]byte) int64 { return 0 }, 0, 30, 30, 30},
		{"room free", overhead, 0, 30, 30, 60},
		{"capped at the buffer", overhead, 0, 60, 60, 100},
		{"waits for the other", overhead, 50, 40, 40, 80},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBuffer(100)
			b.CountOverhead(tt.overhead)
			other, _ := b.acquire(context.Background(), tt.other)
			held, _ := b.acquire(context.Background(), tt.held)
			done := make(chan int64, 1)
			go func() {
				got, err := b.grow(context.Background(), held, raw(int(tt.raw)))
				if err != nil {
					t.Error(err)
				}
				done <- got
			}()
			if tt.other > 0 {
				// The grow cannot finish while the other holds its bytes.
				select {
				case got := <-done:
					t.Fatalf("grew to %d while another message held %d of 100", got, tt.other)
				case <-time.After(50 * time.Millisecond):
				}
				if b.InUse() != tt.other {
					t.Errorf("while waiting %d held, want only the other's %d", b.InUse(), tt.other)
				}
				b.release(other)
			}
			select {
			case got := <-done:
				if got != tt.want || b.InUse() != tt.want {
					t.Errorf("holds %d (buffer in use %d), want %d", got, b.InUse(), tt.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("grow did not return")
			}
		})
	}

	t.Run("cancelled wait holds nothing", func(t *testing.T) {
		b := NewBuffer(100)
		b.CountOverhead(overhead)
		other, _ := b.acquire(context.Background(), 70)
		held, _ := b.acquire(context.Background(), 30)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		got, err := b.grow(ctx, held, raw(30))
		if err == nil || got != 0 || b.InUse() != other {
			t.Fatalf("grow = %d, %v; in use %d; want an error, nothing held, the other's %d", got, err, b.InUse(), other)
		}
	})
}
