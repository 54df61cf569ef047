// Package queue delivers classified tickets downstream. It owns the sinks
// (SMTP/LMTP forwarding of the original mail, webhooks, a command, NATS
// JetStream, a JSON Lines file, stdout), each behind the one small Sink
// interface; routing a ticket to the sink its queue names (Router); and
// retrying temporary failures with capped exponential backoff and jitter.
//
// It must not know where mail comes from or how it was judged: no IMAP, no
// rules, no classification. A ticket.Ticket arrives with its decision made
// (Class.Queue names the queue); queue only delivers it.
//
// A sink type is one file: its config struct (yaml tags name its keys in
// triage.yaml, jsonschema tags document them for the config schema), the
// struct's validate and open methods, and a register call in its init.
// New, ValidateConfig, config decoding and Types find it in the registry.
package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/triage-dev/triage/internal/secret"
	"github.com/triage-dev/triage/ticket"
)

// Sink delivers tickets to one downstream. Send returns nil only once the
// downstream has acknowledged the ticket; a *Error says whether to retry.
// Sinks are safe for concurrent use.
type Sink interface {
	Send(ctx context.Context, t *ticket.Ticket) error
	Close() error
}

// Observer receives delivery events for metrics; a nil Observer is fine.
type Observer interface {
	// Sent: a ticket was acknowledged; d is the time from Deliver to the ack.
	Sent(queue string, d time.Duration)
	// Failed: one attempt failed (called per attempt).
	Failed(queue string, temporary bool)
	// Retrying: +1 when a delivery starts waiting to retry, -1 when it ends.
	Retrying(queue string, delta int)
}

// New builds the sink of one `queues:` entry. baseDir is the directory of
// triage.yaml, for relative paths. Secrets are read here from the
// environment or files and are never logged. log should already carry the
// queue name (the daemon passes log.With("queue", name)).
func New(name string, cfg Config, baseDir string, log *slog.Logger, opts ...Option) (Sink, error) {
	_, s, q, err := spec(name, cfg, baseDir, log, opts)
	if err != nil {
		return nil, err
	}
	return s.open(q)
}

// Option passes what some sinks need from the daemon.
type Option func(*sinkSpec)

// WithTrackerIndex gives tracker sinks the state store's index of the
// tickets they filed.
func WithTrackerIndex(ix TrackerIndex) Option { return func(q *sinkSpec) { q.index = ix } }

// WithContent gives tracker sinks the decoder of the original mail's
// attachments.
func WithContent(f ContentFunc) Option { return func(q *sinkSpec) { q.content = f } }

// ErrNoAudit: the queue's type cannot read its tickets back.
var ErrNoAudit = errors.New("this sink type has no audit reader")

// NewAuditReader opens the AuditReader of one `queues:` entry; ErrNoAudit
// when its type has none.
func NewAuditReader(name string, cfg Config, baseDir string, log *slog.Logger) (AuditReader, error) {
	t, s, q, err := spec(name, cfg, baseDir, log, nil)
	if err != nil {
		return nil, err
	}
	if t.audit == nil {
		return nil, fmt.Errorf("queue %s (type %s): %w", name, cfg.Type, ErrNoAudit)
	}
	return t.audit(s, q)
}

// spec validates cfg and builds what its type's constructors get.
func spec(name string, cfg Config, baseDir string, log *slog.Logger, opts []Option) (sinkType, Settings, sinkSpec, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if problems := ValidateConfig(name, cfg); len(problems) > 0 {
		return sinkType{}, nil, sinkSpec{}, fmt.Errorf("queue %s: %s", name, strings.Join(problems, "; "))
	}
	t, s, _ := cfg.sinkType() // known: validated
	timeout := time.Duration(cfg.Timeout)
	if timeout <= 0 {
		timeout = t.timeout
	}
	q := sinkSpec{name: name, typ: cfg.Type, timeout: timeout, baseDir: baseDir, log: log}
	for _, o := range opts {
		o(&q)
	}
	return t, s, q, nil
}

func resolvePath(baseDir, p string) string {
	if p == "" || filepath.IsAbs(p) || baseDir == "" {
		return p
	}
	return filepath.Join(baseDir, p)
}

// readSecret reads a secret from an environment variable or a file
// relative to baseDir.
func readSecret(env, file, baseDir string) (string, error) {
	return secret.Read(env, resolvePath(baseDir, file))
}
