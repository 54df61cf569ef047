package queue

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestFileSinkConcurrentSends(t *testing.T) {
	dir := t.TempDir()
	sink, err := New("archive", Config{Type: "file", Settings: &FileConfig{Path: "out/tickets.jsonl"}}, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tk := sampleTicket(nil)
			tk.ID = fmt.Sprintf("%032d", i)
			errs <- sink.Send(context.Background(), tk)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	fs := sink.(*fileSink)
	syncs := fs.syncs.Load()
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "out", "tickets.jsonl")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm&^0o640 != 0 {
		t.Errorf("mode %v, want at most 0640", perm)
	}
	b, _ := os.ReadFile(path)
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var doc map[string]any
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			t.Fatalf("line is not JSON: %v: %q", err, sc.Text())
		}
		seen[doc["id"].(string)] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct tickets in the file, want %d", len(seen), n)
	}
	if syncs < 1 || syncs > n {
		t.Errorf("%d fsyncs for %d tickets", syncs, n)
	}
	t.Logf("%d tickets, %d fsyncs", n, syncs)

	if err := sink.Send(context.Background(), sampleTicket(nil)); err == nil || !Temporary(err) {
		t.Errorf("send after close: want a temporary error, got %v", err)
	}
}

func TestFileSinkAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.jsonl")
	for range 2 {
		sink, err := New("f", Config{Type: "file", Settings: &FileConfig{Path: path}}, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := sink.Send(context.Background(), sampleTicket(nil)); err != nil {
			t.Fatal(err)
		}
		_ = sink.Close()
	}
	b, _ := os.ReadFile(path)
	if c := bytes.Count(b, []byte("\n")); c != 2 {
		t.Errorf("%d lines after two runs, want 2", c)
	}
}

func TestFileSinkContextEnds(t *testing.T) {
	sink, err := New("f", Config{Type: "file", Settings: &FileConfig{Path: filepath.Join(t.TempDir(), "t.jsonl")}}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// Either the writer took it (nil) or the context won (temporary): never permanent.
	if err := sink.Send(ctx, sampleTicket(nil)); err != nil && !Temporary(err) {
		t.Fatalf("got permanent %v", err)
	}
}

func TestStdoutSink(t *testing.T) {
	var buf bytes.Buffer
	s := newStdoutSink(&buf)
	for range 3 {
		if err := s.Send(context.Background(), sampleTicket(nil)); err != nil {
			t.Fatal(err)
		}
	}
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 3 {
		t.Fatalf("%d lines", len(lines))
	}
	for _, l := range lines {
		if !json.Valid(l) {
			t.Errorf("not JSON: %s", l)
		}
	}
}

// BenchmarkFileSinkGroupCommit sends from many goroutines at once; the
// tickets/fsync metric shows how many tickets one fsync acknowledged.
func BenchmarkFileSinkGroupCommit(b *testing.B) {
	for _, par := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("senders=%d", par*2), func(b *testing.B) {
			sink, err := newFileSink("bench", filepath.Join(b.TempDir(), "t.jsonl"), slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer sink.Close()
			tk := sampleTicket(nil)
			b.SetParallelism(par)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := sink.Send(context.Background(), tk); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/float64(sink.syncs.Load()), "tickets/fsync")
		})
	}
}
