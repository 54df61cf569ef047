package queue

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/triage-dev/triage/examples"
	"github.com/triage-dev/triage/internal/dovecottest"
)

// splitDovecotTrace separates the trace fields Dovecot's LMTP prepends
// (Return-Path, Delivered-To, Received) from the message we sent.
func splitDovecotTrace(t *testing.T, stored []byte) (trace, rest []byte) {
	t.Helper()
	i := bytes.Index(stored, []byte("X-Triage-Tier:"))
	if i < 0 {
		t.Fatalf("no X-Triage-Tier in the stored message:\n%s", stored)
	}
	for _, line := range strings.Split(string(stored[:i]), "\r\n") {
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		name, _, _ := strings.Cut(line, ":")
		switch strings.ToLower(name) {
		case "return-path", "delivered-to", "received":
		default:
			t.Errorf("unexpected field %q before our headers", line)
		}
	}
	return stored[:i], stored[i:]
}

func TestLMTPIntoDovecot(t *testing.T) {
	dc := dovecottest.Start(t)
	log, _ := testLogger()
	cfg := Config{Type: "lmtp", Settings: &SMTPConfig{Addr: dc.LMTPAddr(), From: "triage@helpdesk.test", To: StringList{dc.User + "@test.invalid"}, SubjectTag: "[{{.Tier}}][{{.Priority}}]"}}
	sink, err := New("l2", cfg, "", log)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"vpn.eml", "encoded-subject.eml", "no-subject.eml"} {
		tk := sampleTicket(readMail(t, name))
		if err := sink.Send(context.Background(), tk); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	msgs := dc.Fetch(t, "INBOX")
	if len(msgs) != 3 {
		t.Fatalf("INBOX holds %d messages, want 3", len(msgs))
	}
	for i, name := range []string{"vpn.eml", "encoded-subject.eml", "no-subject.eml"} {
		tk := sampleTicket(readMail(t, name))
		_, rest := splitDovecotTrace(t, msgs[i].Raw)
		want := examples.ToCRLF(forwardMessage(tk, "[L2][P2]"))
		if !bytes.Equal(rest, want) {
			t.Errorf("%s stored differently:\n got %q\nwant %q", name, rest, want)
		}
	}
}

func TestLMTPDovecotUnknownUserIsPermanent(t *testing.T) {
	dc := dovecottest.Start(t)
	sink, err := New("l2", Config{Type: "lmtp", Settings: &SMTPConfig{Addr: dc.LMTPAddr(), From: "triage@helpdesk.test", To: StringList{"no-such-user@test.invalid"}}}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = sink.Send(context.Background(), sampleTicket(readMail(t, "vpn.eml")))
	if err == nil || Temporary(err) {
		t.Fatalf("want a permanent error, got %v", err)
	}
}

func TestLMTPDovecotOutageThenRecovery(t *testing.T) {
	dc := dovecottest.Start(t)
	log, logs := testLogger()
	cfg := Config{Type: "lmtp", Retry: fastRetry(), Settings: &SMTPConfig{Addr: dc.LMTPAddr(), From: "triage@helpdesk.test", To: StringList{dc.User + "@test.invalid"}}}
	sink, err := New("l2", cfg, "", log)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRouter(map[string]Sink{"l2": sink}, map[string]Config{"l2": cfg}, log, nil)
	dc.Stop()
	tk := sampleTicket(readMail(t, "vpn.eml"))
	tk.Class.Queue = "l2"
	done := make(chan error, 1)
	go func() { done <- r.Deliver(context.Background(), tk) }()
	waitFor(t, "a logged retry", func() bool { return strings.Count(logs.String(), "will retry") >= 2 })
	if err := dc.RestartErr(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if msgs := dc.Fetch(t, "INBOX"); len(msgs) != 1 {
		t.Errorf("INBOX holds %d messages, want 1", len(msgs))
	}
}
