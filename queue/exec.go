package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/triage-dev/triage/internal/clip"
	"github.com/triage-dev/triage/ticket"
)

const (
	maxCapturedOutput = 4 << 10
	exitTempFail      = 75 // EX_TEMPFAIL from sysexits.h
)

func init() {
	register("exec", sinkType{
		doc:      "runs a command per ticket with the original message on stdin",
		timeout:  60 * time.Second,
		settings: func() Settings { return new(ExecConfig) },
	})
}

// ExecConfig are the keys of an exec queue.
type ExecConfig struct {
	Command StringList `yaml:"command,omitempty" json:"command,omitempty" jsonschema:"required" jsonschema_description:"argv (no shell); the original message arrives on stdin, the decision in TRIAGE_* environment variables."`
}

func (c *ExecConfig) validate(_ string, add func(string, ...any)) {
	if len(c.Command) == 0 || c.Command[0] == "" {
		add("exec needs command (argv list)")
	}
}

// inheritedEnv is the part of the daemon's environment a command sees. The
// rest (IMAP passwords, tokens) stays in the daemon.
func inheritedEnv() []string { return []string{"PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"} }

// execSink runs a command per ticket with the original message on stdin.
type execSink struct {
	name    string
	argv    []string
	dir     string
	timeout time.Duration
	log     *slog.Logger
}

func (c *ExecConfig) open(q sinkSpec) (Sink, error) {
	argv := slices.Clone(c.Command)
	if strings.ContainsRune(argv[0], filepath.Separator) {
		argv[0] = resolvePath(q.baseDir, argv[0])
	}
	if _, err := exec.LookPath(argv[0]); err != nil {
		return nil, fmt.Errorf("queue %s: command: %w", q.name, err)
	}
	return &execSink{name: q.name, argv: argv, dir: q.baseDir, timeout: q.timeout, log: q.log}, nil
}

func (s *execSink) Close() error { return nil }

func (s *execSink) env(t *ticket.Ticket) []string {
	var env []string
	for _, k := range inheritedEnv() {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	d := newTemplateData(t)
	for _, kv := range [][2]string{
		{"TRIAGE_TIER", d.Tier},
		{"TRIAGE_PRIORITY", d.Priority},
		{"TRIAGE_QUEUE", d.Queue},
		{"TRIAGE_RUNBOOK", d.Runbook},
		{"TRIAGE_TICKET_ID", t.ID},
		{"TRIAGE_RULES", strings.Join(d.Rules, ",")},
		{"TRIAGE_TAGS", strings.Join(d.Tags, ",")},
	} {
		env = append(env, kv[0]+"="+sanitizeHeaderText(kv[1], maxHeaderValue))
	}
	return env
}

func (s *execSink) Send(ctx context.Context, t *ticket.Ticket) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.argv[0], s.argv[1:]...)
	cmd.Dir = s.dir
	cmd.Env = s.env(t)
	cmd.Stdin = bytes.NewReader(t.Raw)
	out := &clip.Buffer{Max: maxCapturedOutput}
	cmd.Stdout = out
	cmd.Stderr = out
	killGroupOnCancel(cmd)
	cmd.WaitDelay = 2 * time.Second

	start := time.Now()
	err := cmd.Run()
	// Whatever the command left running (a daemonised child of a shell)
	// goes with it: nothing of one delivery outlives it.
	killGroup(cmd)
	kept := out.String()
	if out.Written() > maxCapturedOutput {
		kept += " …[truncated]"
	}
	output := sanitizeOutput(kept)
	// Exit status 0 is delivery, even when a child kept the output open
	// past WaitDelay: retrying it would deliver twice.
	if errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState != nil && cmd.ProcessState.Success() {
		s.log.Warn("queue: command exited 0 but left its output open; its process group was killed", "ticket", t.ID)
		err = nil
	}
	if err == nil {
		s.log.Debug("queue: command done", "ticket", t.ID, "took", time.Since(start), "output", output)
		return nil
	}
	if ctx.Err() != nil {
		return temporary("queue %s: command %s: killed after %s (%w); output: %s", s.name, s.argv[0], time.Since(start).Round(time.Millisecond), context.Cause(ctx), output)
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code := exitErr.ExitCode()
		e := fmt.Errorf("queue %s: command %s exited %d: output: %s", s.name, s.argv[0], code, output)
		if code == exitTempFail || code < 0 { // < 0: killed by a signal
			return &Error{Temporary: true, Err: e}
		}
		return &Error{Err: e}
	}
	// Could not start: a fixable setup problem; keep the ticket.
	return temporary("queue %s: run %s: %w", s.name, s.argv[0], err)
}

// sanitizeOutput makes captured output one safe log value.
func sanitizeOutput(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
}
