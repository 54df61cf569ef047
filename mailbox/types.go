package mailbox

import (
	"context"
	"time"
)

// Message is one fetched message handed to the Handler.
type Message struct {
	Account, Mailbox string
	UID, UIDValidity uint32
	InternalDate     time.Time
	Size             int64 // RFC822.SIZE
	Raw              []byte
	// Noticed is when the server's EXISTS announcing this message arrived;
	// zero for messages found by a scan (backlog, poll, retry).
	Noticed time.Time

	held int64 // bytes reserved in the Buffer until the handler returns
}

// Verdict is what the Handler decided for a message.
//
// The zero value is Retry, so a zero Outcome never marks a message done.
type Verdict int

const (
	// Retry leaves the message undone; it is retried after a backoff.
	Retry Verdict = iota
	// Done marks the message done (keyword and/or move).
	Done
	// Quarantine moves the message to the quarantine folder (unparseable mail).
	Quarantine
	// Failed moves the message to the failed folder (permanent sink rejection).
	Failed
)

func (v Verdict) String() string {
	switch v {
	case Retry:
		return "retry"
	case Done:
		return "done"
	case Quarantine:
		return "quarantine"
	case Failed:
		return "failed"
	}
	return "unknown"
}

// Outcome is a Handler's result.
type Outcome struct {
	Verdict Verdict
	// Folder (Done only) files the message here instead of DoneMoveTo, e.g.
	// a rule's `folder`.
	Folder string
	// Reason is logged (Quarantine, Failed, Retry).
	Reason string
}

// Handler processes one message. It runs concurrently (Concurrency per
// mailbox) and must honour ctx, which is cancelled ShutdownGrace after Run's
// context. A panic counts as Retry.
type Handler func(ctx context.Context, m *Message) Outcome

// Events are optional callbacks for metrics and status. Nil funcs are
// skipped. They run on the mailbox goroutines and must not block.
type Events struct {
	// Connected reports each mailbox's connection going up or down (err
	// is why it went down or failed to come up).
	Connected func(account, mailbox string, up bool, err error)
	// Idle reports entering and leaving IMAP IDLE.
	Idle func(account, mailbox string, idling bool)
	// Reconnect is called before every reconnect attempt.
	Reconnect func(account string)
	// Backlog reports the undone messages known after each scan and each
	// applied batch; oldest is the INTERNALDATE of the lowest-UID undone
	// message when it is known (zero otherwise).
	Backlog func(account, mailbox string, undone int, oldest time.Time)
	// Oversized reports a message over MaxMessageBytes that is quarantined
	// without reaching the Handler (so the Handler cannot count it).
	Oversized func(account, mailbox string, uid uint32)
	// Crashed reports a message quarantined without being handled because
	// the Journal holds it responsible for crashes of the process.
	Crashed func(account, mailbox string, uid uint32)
}

// State of a mailbox worker.
type State string

// Mailbox worker states.
const (
	StateConnecting State = "connecting"
	StateWorking    State = "working" // scanning, fetching or waiting for handlers
	StateIdle       State = "idle"    // in IMAP IDLE
	StatePolling    State = "polling" // waiting for the next poll
	StateBackoff    State = "backoff" // waiting to reconnect
	StateStopped    State = "stopped"
)

// MailboxStatus is a snapshot of one watched mailbox.
type MailboxStatus struct {
	Mailbox     string
	State       State
	Connected   bool
	UIDValidity uint32
	Undone      int       // known undone messages (queued, in flight, waiting to retry)
	Oldest      time.Time // INTERNALDATE of the oldest undone message, if known
	InFlight    int
	LastMessage time.Time // last time a message was handed to the Handler
	LastError   string
	LastErrorAt time.Time
	Done        uint64 // outcomes applied since start, by verdict
	Quarantined uint64
	Failed      uint64
	Retried     uint64
}

// Status is a snapshot of an Account.
type Status struct {
	Account     string
	Mailboxes   []MailboxStatus
	LastError   string
	LastErrorAt time.Time
}
