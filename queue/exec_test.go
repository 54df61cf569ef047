package queue

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/triage-dev/triage/internal/duration"
)

func execSinkFor(t *testing.T, timeout time.Duration, args ...string) Sink {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	log, _ := testLogger()
	s, err := New("script", Config{Type: "exec", Timeout: duration.Duration(timeout), Settings: &ExecConfig{Command: append(StringList{"./testdata/sink.sh"}, args...)}}, dir, log)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestExecAck(t *testing.T) {
	t.Setenv("TEST_SECRET_TOKEN", "must-not-reach-the-command")
	out := filepath.Join(t.TempDir(), "msg")
	sink := execSinkFor(t, 0, "ok", out)
	tk := sampleTicket(readMail(t, "vpn.eml"))
	tk.Class.Runbook = "kb/vpn\nTRIAGE_INJECTED=1\x00"
	if err := sink.Send(context.Background(), tk); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, tk.Raw) {
		t.Error("stdin was not the original message")
	}
	env, _ := os.ReadFile(out + ".env")
	want := "TRIAGE_PRIORITY=P2\nTRIAGE_QUEUE=systems\nTRIAGE_RULES=network,error-codes\nTRIAGE_RUNBOOK=kb/vpn TRIAGE_INJECTED=1\n" +
		"TRIAGE_TAGS=network\nTRIAGE_TICKET_ID=" + tk.ID + "\nTRIAGE_TIER=L2\n"
	if string(env) != want {
		t.Errorf("environment:\n got %q\nwant %q", env, want)
	}
	if s, _ := os.ReadFile(out + ".secrets"); strings.TrimSpace(string(s)) != "0" {
		t.Errorf("daemon environment reached the command (%s secrets)", s)
	}
}

func TestExecExitCodes(t *testing.T) {
	tests := []struct {
		mode          string
		wantTemporary bool
		wantOutput    string
	}{
		{"tempfail", true, "tracker busy"},
		{"fail", false, "rejected: bad input"},
		{"noisy", false, "[truncated]"},
		{"unknown-mode", false, "unknown mode"},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			err := execSinkFor(t, 0, tt.mode).Send(context.Background(), sampleTicket(readMail(t, "vpn.eml")))
			var qe *Error
			if !errors.As(err, &qe) {
				t.Fatalf("want *Error, got %v", err)
			}
			if qe.Temporary != tt.wantTemporary {
				t.Errorf("temporary %v, want %v: %v", qe.Temporary, tt.wantTemporary, err)
			}
			if !strings.Contains(err.Error(), tt.wantOutput) {
				t.Errorf("error lacks output %q: %v", tt.wantOutput, err)
			}
			if len(err.Error()) > maxCapturedOutput+300 {
				t.Errorf("output not bounded: %d bytes", len(err.Error()))
			}
		})
	}
}

func TestExecTimeoutKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	err := execSinkFor(t, 300*time.Millisecond, "hang", pidFile).Send(context.Background(), sampleTicket(nil))
	if err == nil || !Temporary(err) || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("want a temporary 'killed' error, got %v", err)
	}
	waitChildGone(t, pidFile)
}

// waitChildGone waits for the process whose pid the script wrote to die.
func waitChildGone(t *testing.T, pidFile string) {
	t.Helper()
	b, rerr := os.ReadFile(pidFile)
	if rerr != nil {
		t.Fatal(rerr)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	waitFor(t, "the background child to die", func() bool {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return true // gone
		}
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		return len(f) > 0 && f[0] == "Z"
	})
}

// TestExecExitZeroWithChildHoldingOutput: a command that delivers and
// exits 0 but leaves a child holding its output is a delivery (retrying it
// would deliver twice), and the child is killed with its process group.
func TestExecExitZeroWithChildHoldingOutput(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	if err := execSinkFor(t, 30*time.Second, "daemonize", pidFile).Send(context.Background(), sampleTicket(nil)); err != nil {
		t.Fatalf("exit 0 reported as %v", err)
	}
	waitChildGone(t, pidFile)
}

func TestExecRetriedUntilItSucceeds(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ready")
	log, logs := testLogger()
	dir, _ := filepath.Abs(".")
	cfg := Config{Type: "exec", Retry: fastRetry(), Settings: &ExecConfig{Command: StringList{"./testdata/sink.sh", "flaky", marker}}}
	sink, err := New("script", cfg, dir, log)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRouter(map[string]Sink{"script": sink}, map[string]Config{"script": cfg}, log, nil)
	tk := sampleTicket(readMail(t, "vpn.eml"))
	tk.Class.Queue = "script"
	done := make(chan error, 1)
	go func() { done <- r.Deliver(context.Background(), tk) }()
	waitFor(t, "a logged retry", func() bool { return strings.Contains(logs.String(), "exited 75") })
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestExecMissingCommand(t *testing.T) {
	_, err := New("x", Config{Type: "exec", Settings: &ExecConfig{Command: StringList{"/nonexistent/triage-hook"}}}, "", nil)
	if err == nil {
		t.Fatal("want an error for a missing command")
	}
}
