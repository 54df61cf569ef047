package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/triage-dev/triage/ticket"
)

const (
	// maxBatchBytes bounds one group-commit write.
	maxBatchBytes = 4 << 20
	// maxPooledBuffer is the largest line buffer a file sink keeps for
	// reuse: a ticket with a huge body should not pin that much memory.
	maxPooledBuffer = 256 << 10
)

func init() {
	register("file", sinkType{
		doc:      "appends the ticket JSON as one line to a file, acknowledged once an fsync covers it",
		settings: func() Settings { return new(FileConfig) },
	})
}

// FileConfig are the keys of a file queue.
type FileConfig struct {
	Path string `yaml:"path,omitempty" json:"path,omitempty" jsonschema:"required" jsonschema_description:"JSON Lines file, relative to this file."`
}

func (c *FileConfig) validate(_ string, add func(string, ...any)) {
	if c.Path == "" {
		add("file needs path")
	}
}

func (c *FileConfig) open(q sinkSpec) (Sink, error) {
	return newFileSink(q.name, resolvePath(q.baseDir, c.Path), q.log)
}

// fileSink appends one JSON line per ticket. A ticket is acknowledged only
// once an fsync covers it; one writer goroutine commits every ticket that
// arrived while the previous fsync ran in a single write+fsync (group
// commit), so throughput does not fall to one ticket per disk flush.
type fileSink struct {
	name    string
	path    string
	f       *os.File
	reqs    chan *fileReq
	pool    sync.Pool // *fileReq
	closing chan struct{}
	done    chan struct{}
	once    sync.Once
	log     *slog.Logger
	syncs   atomic.Int64 // fsyncs done, for the benchmark
}

// fileReq is one ticket line waiting for its commit. Requests are pooled
// with their line buffer and ack channel: a request is reused only after
// its sender received the ack, so the writer no longer holds it.
type fileReq struct {
	line bytes.Buffer
	enc  *json.Encoder // writes to line
	ack  chan error
}

func newFileSink(name, path string, log *slog.Logger) (*fileSink, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("queue %s: create directory: %w", name, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("queue %s: open: %w", name, err)
	}
	s := &fileSink{
		name:    name,
		path:    path,
		f:       f,
		reqs:    make(chan *fileReq),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		log:     log,
	}
	go s.writer()
	return s, nil
}

func (s *fileSink) Send(ctx context.Context, t *ticket.Ticket) error {
	req, _ := s.pool.Get().(*fileReq)
	if req == nil {
		req = &fileReq{ack: make(chan error, 1)}
		req.enc = json.NewEncoder(&req.line)
	}
	req.line.Reset()
	if err := req.enc.Encode(t); err != nil { // one line: Encode ends it with '\n'
		s.pool.Put(req)
		return permanent("queue %s: encode ticket: %w", s.name, err)
	}
	select {
	case s.reqs <- req:
	case <-s.closing:
		s.recycle(req)
		return temporary("queue %s: sink is closed", s.name)
	case <-ctx.Done():
		s.recycle(req)
		return ctxTemporary(ctx, "queue "+s.name)
	}
	select {
	case err := <-req.ack:
		s.recycle(req)
		return err
	case <-ctx.Done():
		// The line may still be committed: at-least-once, the id de-duplicates.
		// The writer still holds req, so it is not reused.
		return ctxTemporary(ctx, "queue "+s.name)
	}
}

// recycle keeps req for a later Send unless its line grew huge.
func (s *fileSink) recycle(req *fileReq) {
	if req.line.Cap() <= maxPooledBuffer {
		s.pool.Put(req)
	}
}

func (s *fileSink) writer() {
	defer close(s.done)
	var batch []*fileReq
	var buf []byte
	for {
		batch, buf = batch[:0], buf[:0]
		select {
		case r := <-s.reqs:
			batch = append(batch, r)
			buf = append(buf, r.line.Bytes()...)
		case <-s.closing:
			return
		}
		// Everyone who queued up during the last fsync joins this commit.
	drain:
		for len(buf) < maxBatchBytes {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
				buf = append(buf, r.line.Bytes()...)
			default:
				break drain
			}
		}
		err := s.commit(buf)
		for _, r := range batch {
			r.ack <- err
		}
	}
}

// commit writes and fsyncs buf; on failure it cuts the file back so no
// half line stays behind.
func (s *fileSink) commit(buf []byte) error {
	var before int64 = -1
	if st, err := s.f.Stat(); err == nil {
		before = st.Size()
	}
	_, err := s.f.Write(buf)
	if err == nil {
		err = s.f.Sync()
		s.syncs.Add(1)
	}
	if err != nil {
		if before >= 0 {
			if terr := s.f.Truncate(before); terr != nil {
				s.log.Error("queue: could not cut back a failed write", "path", s.path, "err", terr)
			}
		}
		return temporary("queue %s: write %s: %w", s.name, s.path, err)
	}
	return nil
}

func (s *fileSink) Close() error {
	var err error
	s.once.Do(func() {
		close(s.closing)
		<-s.done
		err = s.f.Close()
	})
	if err != nil {
		return fmt.Errorf("queue %s: close: %w", s.name, err)
	}
	return nil
}
