package console

import (
	"context"
	"time"

	"github.com/triage-dev/triage/rules"
	"github.com/triage-dev/triage/ticket"
)

// Source is what the console reads from the running daemon and asks of it.
// Every method must be safe for concurrent use and cheap: the overview
// polls them.
type Source interface {
	// Snapshot is the state of the intake now.
	Snapshot() Snapshot
	// Recent returns the handled messages kept in memory, newest first.
	Recent() []Record
	// Reloads returns the recent rules reloads, newest first.
	Reloads() []Reload
	// RuleHits counts, per rule name, the messages it matched since start.
	RuleHits() map[string]int64
	// Rules is the active rule set.
	Rules() *rules.Set
	// RulesPath is the rules file or directory the daemon loads.
	RulesPath() string
	// Gate runs on rules held in memory every check a reload runs before it
	// activates a set (compile, lint, the set's own tests, queue names).
	Gate(files []rules.File) (*rules.Set, error)
	// Reload reloads the rules from disk through the gate now.
	Reload(ctx context.Context) rules.ReloadResult
	// Requeue moves every message of an account's quarantine or failed
	// folder back to its first watched mailbox, as `triage requeue` does,
	// and returns how many it moved.
	Requeue(ctx context.Context, account, folder string) (int, error)
	// Problems lists the open problems (groups of similar mail within
	// the detection window), largest first; nil when detection is off.
	Problems() []Problem
}

// Snapshot is the intake at one moment.
type Snapshot struct {
	Version         string
	StartedAt       time.Time
	Mailboxes       []Mailbox
	Sinks           []Sink
	Filed           []Filed
	Hours           []Hour // the last 24 hours that saw mail, oldest first
	MaxMessageBytes int64
	ProblemsOpen    int // open problems now: a count, cheaper than Problems
}

// Mailbox is one watched mailbox.
type Mailbox struct {
	Account   string    `json:"account"`
	Mailbox   string    `json:"mailbox"`
	State     string    `json:"state"`
	Connected bool      `json:"connected"`
	Idle      bool      `json:"idle"`
	Backlog   int       `json:"backlog"`
	Oldest    time.Time `json:"oldest_undone,omitzero"`
	LastError string    `json:"last_error,omitempty"`
}

// Sink is one queue's delivery counts.
type Sink struct {
	Queue    string `json:"queue"`
	Sent     int64  `json:"sent"`
	Retrying int64  `json:"retrying"`
	Failing  int64  `json:"errors_temporary"`
	Failed   int64  `json:"failed_permanent"`
}

// Filed is a message put in the quarantine or failed folder.
type Filed struct {
	Account string    `json:"account"`
	Mailbox string    `json:"mailbox"`
	Folder  string    `json:"folder"` // quarantine or failed
	UID     uint32    `json:"uid"`
	At      time.Time `json:"at"`
	From    string    `json:"from"`
	Subject string    `json:"subject"`
	Reason  string    `json:"reason"`
}

// Hour counts the messages handled in one clock hour.
type Hour struct {
	Start   time.Time      `json:"start"`
	Tiers   map[string]int `json:"tiers"` // forwarded tickets per tier
	Dropped int            `json:"dropped"`
}

// Record is one handled message.
type Record struct {
	Seq     uint64
	At      time.Time
	Outcome string        // forwarded, dropped or redelivery
	Ticket  ticket.Ticket // as delivered; Raw is nil
	Raw     []byte        // the message as fetched, nil when it was too large to keep; read only
}

// Reload is one rules reload.
type Reload struct {
	At      time.Time `json:"at"`
	Version string    `json:"version"`
	Changed bool      `json:"changed"`
	Errors  []string  `json:"errors,omitempty"` // the refused edit's problems
}

// Refused reports whether the reload refused new rules.
func (r Reload) Refused() bool { return len(r.Errors) > 0 }

// Problem is one open problem: similar mails within the detection window.
type Problem struct {
	ID        string
	Summary   string
	Size      int
	FirstSeen time.Time
	LastSeen  time.Time
	Tickets   []ProblemTicket // in arrival order
}

// ProblemTicket is one mail of a problem.
type ProblemTicket struct {
	ID      string // the ticket id, to find it among the recent messages
	At      time.Time
	Sender  string
	Subject string
}
