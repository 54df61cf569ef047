package queue

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"sync"

	"github.com/triage-dev/triage/ticket"
)

func init() {
	register("stdout", sinkType{
		doc:      "writes the ticket JSON as one line to standard output",
		settings: func() Settings { return new(StdoutConfig) },
	})
}

// StdoutConfig are the keys of a stdout queue: none.
type StdoutConfig struct{}

func (*StdoutConfig) validate(string, func(string, ...any)) {}

func (*StdoutConfig) open(sinkSpec) (Sink, error) { return newStdoutSink(os.Stdout), nil }

// stdoutSink writes one JSON line per ticket.
type stdoutSink struct {
	mu sync.Mutex
	w  io.Writer
}

func newStdoutSink(w io.Writer) *stdoutSink { return &stdoutSink{w: w} }

func (s *stdoutSink) Send(_ context.Context, t *ticket.Ticket) error {
	line, err := json.Marshal(t)
	if err != nil {
		return permanent("queue stdout: encode ticket: %w", err)
	}
	line = append(line, '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.w.Write(line); err != nil {
		if errors.Is(err, os.ErrClosed) {
			return permanent("queue stdout: %w", err)
		}
		return temporary("queue stdout: %w", err)
	}
	return nil
}

func (s *stdoutSink) Close() error { return nil }
