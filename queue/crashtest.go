//go:build crashhook

package queue

import (
	"context"
	"strings"

	"github.com/triage-dev/triage/ticket"
)

// The crashtest sink exists only in binaries built with the crashhook tag
// (the crash suite's): a file sink that crashes the process with a panic
// outside any recover when a ticket's subject holds its marker, as a
// poison message would.
func init() {
	register("crashtest", sinkType{
		doc:      "test only: a file sink that crashes the process on a marked subject",
		settings: func() Settings { return new(crashTestConfig) },
	})
}

type crashTestConfig struct {
	FileConfig `yaml:",inline"`
	Marker     string `yaml:"marker,omitempty" json:"marker,omitempty"`
}

func (c *crashTestConfig) validate(typ string, add func(string, ...any)) {
	c.FileConfig.validate(typ, add)
	if c.Marker == "" {
		add("%s needs marker", typ)
	}
}

func (c *crashTestConfig) open(q sinkSpec) (Sink, error) {
	f, err := c.FileConfig.open(q)
	if err != nil {
		return nil, err
	}
	return crashTestSink{Sink: f, marker: c.Marker}, nil
}

type crashTestSink struct {
	Sink
	marker string
}

func (s crashTestSink) Send(ctx context.Context, t *ticket.Ticket) error {
	if strings.Contains(t.Subject, s.marker) {
		go func() { panic("crashtest: poison message " + t.ID) }()
		<-ctx.Done()
		return ctx.Err()
	}
	return s.Sink.Send(ctx, t)
}
