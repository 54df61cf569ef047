package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/triage-dev/triage/internal/duration"
	"github.com/triage-dev/triage/ticket"
)

// scriptedSink answers Send from a list of results; the last one repeats.
type scriptedSink struct {
	mu      sync.Mutex
	results []error
	calls   int
	onCall  func(n int)
}

func (s *scriptedSink) Send(context.Context, *ticket.Ticket) error {
	s.mu.Lock()
	s.calls++
	n := s.calls
	res := s.results[min(n-1, len(s.results)-1)]
	s.mu.Unlock()
	if s.onCall != nil {
		s.onCall(n)
	}
	return res
}

func (s *scriptedSink) Close() error { return nil }

func TestRouterDeliver(t *testing.T) {
	tempErr := &Error{Temporary: true, Err: errors.New("try later")}
	permErr := &Error{Err: errors.New("rejected")}
	tests := []struct {
		name          string
		results       []error
		retry         RetryConfig
		wantErr       bool
		wantTemporary bool
		wantCalls     int
		wantLog       string
	}{
		{name: "ack first time", results: []error{nil}, wantCalls: 1},
		{name: "temporary then ack", results: []error{tempErr, tempErr, io.ErrUnexpectedEOF, nil}, wantCalls: 4, wantLog: "will retry"},
		{name: "permanent stops at once", results: []error{permErr, nil}, wantErr: true, wantCalls: 1, wantLog: "failed permanently"},
		{name: "temporary then permanent", results: []error{tempErr, permErr}, wantErr: true, wantCalls: 2},
		{name: "give up after", results: []error{tempErr},
			retry:   RetryConfig{Initial: duration.Duration(5 * time.Millisecond), Max: duration.Duration(10 * time.Millisecond), GiveUpAfter: duration.Duration(60 * time.Millisecond)},
			wantErr: true, wantTemporary: true, wantCalls: -1, wantLog: "giving up"},
		{name: "retry-after capped by max", results: []error{&Error{Temporary: true, RetryAfter: time.Hour, Err: errors.New("429")}, nil},
			retry: RetryConfig{Initial: duration.Duration(time.Millisecond), Max: duration.Duration(20 * time.Millisecond)}, wantCalls: 2, wantLog: "next=20ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, logs := testLogger()
			sink := &scriptedSink{results: tt.results}
			retry := tt.retry
			if retry == (RetryConfig{}) {
				retry = fastRetry()
			}
			obs := newRecordingObserver()
			r := NewRouter(map[string]Sink{"q": sink}, map[string]Config{"q": {Type: "stdout", Retry: retry}}, log, obs)
			tk := sampleTicket(nil)
			tk.Class.Queue = "q"
			err := r.Deliver(context.Background(), tk)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				var qe *Error
				if !errors.As(err, &qe) || qe.Temporary != tt.wantTemporary {
					t.Errorf("want *Error temporary=%v, got %#v", tt.wantTemporary, err)
				}
			}
			if tt.wantCalls > 0 && sink.calls != tt.wantCalls {
				t.Errorf("%d attempts, want %d", sink.calls, tt.wantCalls)
			}
			if tt.wantCalls < 0 && sink.calls < 2 {
				t.Errorf("gave up after %d attempts", sink.calls)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, logs.String())
			}
			if obs.retrying != 0 {
				t.Errorf("retrying gauge left at %d", obs.retrying)
			}
			if got := obs.failed[true] + obs.failed[false]; got != sink.calls-boolInt(err == nil) {
				t.Errorf("Failed called %d times for %d attempts", got, sink.calls)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestRouterUnknownQueue(t *testing.T) {
	obs := newRecordingObserver()
	r := NewRouter(map[string]Sink{}, nil, nil, obs)
	tk := sampleTicket(nil)
	tk.Class.Queue = "nowhere"
	err := r.Deliver(context.Background(), tk)
	if err == nil || Temporary(err) || !strings.Contains(err.Error(), "nowhere") {
		t.Fatalf("want a permanent error naming the queue, got %v", err)
	}
	if obs.failed[false] != 1 {
		t.Errorf("observer not told: %v", obs.failed)
	}
}

func TestRouterContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sink := &scriptedSink{results: []error{&Error{Temporary: true, Err: errors.New("down")}}, onCall: func(n int) {
		if n == 3 {
			cancel()
		}
	}}
	r := NewRouter(map[string]Sink{"q": sink}, map[string]Config{"q": {Retry: fastRetry()}}, nil, nil)
	tk := sampleTicket(nil)
	tk.Class.Queue = "q"
	err := r.Deliver(ctx, tk)
	if err == nil || !Temporary(err) || !errors.Is(err, context.Canceled) {
		t.Fatalf("want a temporary error wrapping context.Canceled, got %v", err)
	}
	if sink.calls != 3 {
		t.Errorf("%d attempts after cancel, want 3", sink.calls)
	}
}

func TestTemporary(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("network"), true},
		{context.Canceled, true},
		{context.DeadlineExceeded, true},
		{&Error{Temporary: true}, true},
		{&Error{}, false},
		{fmt.Errorf("wrapped: %w", &Error{}), false},
		{fmt.Errorf("wrapped: %w", &Error{Temporary: true, Err: io.EOF}), true},
	}
	for _, tt := range tests {
		if got := Temporary(tt.err); got != tt.want {
			t.Errorf("Temporary(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	e := &Error{Err: io.EOF}
	if !errors.Is(e, io.EOF) || !strings.Contains(e.Error(), "permanent") {
		t.Errorf("Error: %v", e)
	}
}

func TestCappedBackOffNeverExceedsMax(t *testing.T) {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = time.Second
	bo.MaxInterval = 5 * time.Minute
	bo.Multiplier = 2
	bo.RandomizationFactor = 0.3
	c := cappedBackOff{bo, 5 * time.Minute}
	for i := range 200 {
		d := c.NextBackOff()
		if d > 5*time.Minute || d <= 0 {
			t.Fatalf("step %d: wait %v", i, d)
		}
		if i == 199 && d < 5*time.Minute*7/10 {
			t.Errorf("did not grow to the cap: %v", d)
		}
	}
}

// TestRouterMaxRetrying: while retry.max_retrying deliveries of a queue
// wait in their retry loop, a further failing delivery of that queue comes
// back at once as temporary (its mailbox retries it and its handler is
// free); other queues and deliveries that succeed are not held; when one
// retrying delivery ends, a slot is free again.
func TestRouterMaxRetrying(t *testing.T) {
	down := &Error{Temporary: true, Err: errors.New("503")}
	var mu sync.Mutex
	healthy := false
	failing := sinkFunc(func(ctx context.Context, tk *ticket.Ticket) error {
		mu.Lock()
		defer mu.Unlock()
		if healthy || tk.ID == "ok" {
			return nil
		}
		return down
	})
	retry := RetryConfig{Initial: duration.Duration(time.Millisecond), Max: duration.Duration(5 * time.Millisecond), MaxRetrying: 2}
	obs := newRecordingObserver()
	r := NewRouter(map[string]Sink{"down": failing, "up": sinkFunc(func(context.Context, *ticket.Ticket) error { return nil })},
		map[string]Config{"down": {Retry: retry}}, nil, obs)
	deliver := func(ctx context.Context, q, id string) error {
		tk := sampleTicket(nil)
		tk.ID, tk.Class.Queue = id, q
		return r.Deliver(ctx, tk)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	held := make(chan error, 2)
	for i := range 2 {
		go func() { held <- deliver(ctx, "down", fmt.Sprintf("held-%d", i)) }()
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.routes["down"].retrying.Load() != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the two deliveries never entered their retry loops")
		}
		time.Sleep(time.Millisecond)
	}
	err := deliver(context.Background(), "down", "third")
	if !Temporary(err) || !strings.Contains(err.Error(), "2 deliveries of the queue already retrying") || !errors.Is(err, down.Err) {
		t.Errorf("third failing delivery: %v; want it handed back at once, temporary, naming the bound and the sink's error", err)
	}
	if err := deliver(context.Background(), "down", "ok"); err != nil {
		t.Errorf("a delivery of the full queue that succeeds at once: %v", err)
	}
	if err := deliver(context.Background(), "up", "other"); err != nil {
		t.Errorf("another queue: %v", err)
	}

	cancel() // the two held deliveries end, freeing their slots
	for range 2 {
		if err := <-held; !Temporary(err) || !errors.Is(err, context.Canceled) {
			t.Errorf("held delivery: %v", err)
		}
	}
	if n := r.routes["down"].retrying.Load(); n != 0 {
		t.Fatalf("%d still counted as retrying", n)
	}
	mu.Lock()
	healthy = true
	mu.Unlock()
	if err := deliver(context.Background(), "down", "after"); err != nil {
		t.Errorf("after the slots were freed: %v", err)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.maxRetry != 2 || obs.failed[true] < 3 {
		t.Errorf("observer: at most %d retrying at once, %d temporary failures; want 2 and at least 3 (the handed-back one counted)", obs.maxRetry, obs.failed[true])
	}
}

// sinkFunc is a Sink from a function.
type sinkFunc func(context.Context, *ticket.Ticket) error

func (f sinkFunc) Send(ctx context.Context, t *ticket.Ticket) error { return f(ctx, t) }
func (sinkFunc) Close() error                                       { return nil }
