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
func New(name string, cfg Config, baseDir string, log *slog.Logger) (Sink, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if problems := ValidateConfig(name, cfg); len(problems) > 0 {
		return nil, fmt.Errorf("queue %s: %s", name, strings.Join(problems, "; "))
	}
	t, s, _ := cfg.sinkType() // known: validated
	timeout := time.Duration(cfg.Timeout)
	if timeout <= 0 {
		timeout = t.timeout
	}
	return s.open(sinkSpec{name: name, typ: cfg.Type, timeout: timeout, baseDir: baseDir, log: log})
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
