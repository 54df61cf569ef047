package rules

import (
	"regexp"
	"time"

	"github.com/triage-dev/triage/internal/fileerr"
	"github.com/triage-dev/triage/ticket"
)

// SLATarget is the response and resolution target of one tier.
type SLATarget struct {
	Response time.Duration
	Resolve  time.Duration
	// Business counts the targets in business hours of the calendar
	// (weekends and holidays skipped) instead of around the clock.
	Business bool
	// UpdateEvery asks for a status update this often (L3's "regular
	// updates"); the ticket carries the first one due. Zero: none.
	UpdateEvery time.Duration
}

// Threading holds the patterns that find a ticket number (first group).
type Threading struct {
	Subject   []*regexp.Regexp // matched against the decoded subject
	MessageID []*regexp.Regexp // matched against In-Reply-To and each References id
}

// Decision is the outcome of evaluating a Set on one Env.
type Decision struct {
	Tier     string
	Priority string
	Queue    string
	Runbook  string
	Folder   string
	Action   string // "forward" or "drop"
	Tags     []string
	Fields   map[string]string // from extract
	Matched  []ticket.MatchedRule
	Trace    []ticket.TraceStep // filled only by EvaluateTrace
}

// Expect is what a rule test asserts. Empty fields are not checked.
type Expect struct {
	Tier, Priority, Queue, Runbook, Action, Folder string

	Tags       []string          // each must be present
	Matched    []string          // exactly these rules, in this order, when set
	NotMatched []string          // none of these may match
	Fields     map[string]string // each must equal
}

// InlineMessage is a test mail written in YAML instead of an .eml file.
type InlineMessage struct {
	From    string
	To      []string
	Cc      []string
	Subject string
	Body    string
	Date    string // RFC 5322 date; empty means a fixed default
	Headers map[string]string
}

// Test is one rule test, from a rules file's `tests:` or a separate test file.
type Test struct {
	Name    string
	File    string // file it was declared in
	Line    int
	Mail    string         // absolute path of an .eml file, or ""
	Message *InlineMessage // when Mail is ""
	Env     map[string]any // optional overrides of Env fields by expr name (account, mailbox, duplicate, …)
	Expect  Expect
}

// TestResult is the outcome of one Test.
type TestResult struct {
	Test     Test
	Decision Decision
	Failures []string // empty when it passed
}

// Set is one loaded, compiled and linted rule set. It is immutable once
// loaded and safe for concurrent use; evaluation state lives in Evaluator.
// The rules work adds unexported fields; the exported ones are the contract.
type Set struct {
	Version   string   // content hash (hex) over every file's name and bytes; stable for the same content
	Files     []string // the files it was loaded from, in merge order
	Defaults  Decision // tier, priority, queue, runbook from `defaults:`
	SLA       map[string]SLATarget
	Threading Threading
	Tests     []Test
	Warnings  fileerr.List // lint findings that do not stop loading (e.g. unreachable rules)

	tiers      []string
	priorities []string
	lists      map[string][]string
	root       []*ruleNode // top-level rules and groups, in order
	ruleInfo   []RuleInfo
	ruleByName map[string]*ruleNode
	calendar   calendar
	sources    []*textSource // texts the indexed helpers search
}

// RuleInfo describes one rule or group of a Set as written, for explain
// output and tooling. Group is the enclosing group's name ("" at top level);
// a group itself has IsGroup set and its name in Name.
type RuleInfo struct {
	Name        string
	Description string
	Group       string
	IsGroup     bool
	FirstMatch  bool // groups only
	File        string
	Line        int
	Col         int
	When        string // expression source; "" for a group without guard
	Action      string // "forward", "drop" or "" when the rule does not set it
	Tier        string
	Priority    string
	Queue       string
	Runbook     string
	Folder      string
	Tags        []string
	Extract     map[string]string // field → pattern
	Stop        bool
}
