package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/triage-dev/triage/internal/duration"
	"github.com/triage-dev/triage/internal/testkit"
)

func natsURL(s *server.Server) string {
	return fmt.Sprintf("nats://%s", s.Addr().String())
}

func natsPort(s *server.Server) int { return s.Addr().(*net.TCPAddr).Port }

// streamFor creates stream TICKETS on tickets.> and returns a handle to read it.
func streamFor(t *testing.T, url string) jetstream.Stream {
	t.Helper()
	js := testkit.JetStream(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "TICKETS", Subjects: []string{"tickets.>"}, Duplicates: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func streamMsgs(t *testing.T, st jetstream.Stream) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func TestNATSPublishOnceForTheSameTicket(t *testing.T) {
	srv := testkit.StartNATS(t)
	st := streamFor(t, natsURL(srv))
	log, _ := testLogger()
	sink, err := New("systems", Config{Type: "nats", Settings: &NATSConfig{URL: natsURL(srv), Subject: "tickets.{{.Tier}}.{{.Class.Queue}}", Stream: "TICKETS"}}, "", log)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	tk := sampleTicket(readMail(t, "vpn.eml"))
	for range 2 {
		if err := sink.Send(context.Background(), tk); err != nil {
			t.Fatal(err)
		}
	}
	if n := streamMsgs(t, st); n != 1 {
		t.Fatalf("stream holds %d messages, want 1", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msg, err := st.GetLastMsgForSubject(ctx, "tickets.L2.systems")
	if err != nil {
		t.Fatal(err)
	}
	if got := msg.Header.Get(nats.MsgIdHdr); got != tk.ID {
		t.Errorf("Nats-Msg-Id %q, want %q", got, tk.ID)
	}
	var doc map[string]any
	if err := json.Unmarshal(msg.Data, &doc); err != nil || doc["id"] != tk.ID {
		t.Errorf("payload %s (%v)", msg.Data, err)
	}
	// A different ticket is a different message.
	tk2 := sampleTicket(nil)
	tk2.ID = "fedcba9876543210fedcba9876543210"
	if err := sink.Send(context.Background(), tk2); err != nil {
		t.Fatal(err)
	}
	if n := streamMsgs(t, st); n != 2 {
		t.Errorf("stream holds %d messages, want 2", n)
	}
}

func TestNATSStreamChecks(t *testing.T) {
	srv := testkit.StartNATS(t)
	_, err := New("s", Config{Type: "nats", Settings: &NATSConfig{URL: natsURL(srv), Subject: "tickets.x", Stream: "MISSING"}}, "", nil)
	if err == nil || !strings.Contains(err.Error(), "stream") {
		t.Fatalf("want a missing-stream error, got %v", err)
	}
	sink, err := New("s", Config{Type: "nats", Settings: &NATSConfig{URL: natsURL(srv), Subject: "made.{{.Tier}}", Stream: "MADE", CreateStream: true, StreamSubjects: StringList{"made.>"}}}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	if err := sink.Send(context.Background(), sampleTicket(nil)); err != nil {
		t.Fatalf("send into the created stream: %v", err)
	}
}

func TestSanitizeSubject(t *testing.T) {
	tests := []struct{ in, want string }{
		{"tickets.L2.systems", "tickets.L2.systems"},
		{"tickets.L2.sys tems", "tickets.L2.sys_tems"},
		{"tickets.*.>", "tickets._._"},
		{"tickets..x", "tickets._.x"},
		{"tickets.\r\nPUB x 1", "tickets.__PUB_x_1"},
		{" tickets.ü ", "tickets._"},
		{"", "_"},
	}
	for _, tt := range tests {
		if got := sanitizeSubject(tt.in); got != tt.want {
			t.Errorf("sanitizeSubject(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := subjectToken("a.b*c"); got != "a_b_c" {
		t.Errorf("subjectToken = %q", got)
	}
}

func TestNATSOutageThenRecovery(t *testing.T) {
	store := t.TempDir()
	srv := testkit.StartNATSAt(t, -1, store)
	port := natsPort(srv)
	url := natsURL(srv)
	st := streamFor(t, url)
	log, logs := testLogger()
	cfg := Config{Type: "nats", Timeout: duration.Duration(2 * time.Second), Retry: fastRetry(), Settings: &NATSConfig{URL: url, Subject: "tickets.{{.Tier}}", Stream: "TICKETS"}}
	sink, err := New("systems", cfg, "", log)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	r := NewRouter(map[string]Sink{"systems": sink}, map[string]Config{"systems": cfg}, log, nil)
	first := sampleTicket(nil)
	if err := r.Deliver(context.Background(), first); err != nil {
		t.Fatal(err)
	}

	srv.Shutdown()
	srv.WaitForShutdown()
	tk := sampleTicket(nil)
	tk.ID = "11111111111111111111111111111111"
	done := make(chan error, 1)
	go func() { done <- r.Deliver(context.Background(), tk) }()
	waitFor(t, "a logged retry", func() bool { return strings.Count(logs.String(), "will retry") >= 2 })

	srv2 := testkit.StartNATSAt(t, port, store)
	if err := <-done; err != nil {
		t.Fatalf("Deliver after restart: %v", err)
	}
	st2 := streamFor(t, natsURL(srv2))
	if n := streamMsgs(t, st2); n != 2 {
		t.Errorf("stream holds %d messages, want 2", n)
	}
	_ = st
	if !strings.Contains(logs.String(), "delivered after retries") {
		t.Errorf("recovery not logged:\n%s", logs.String())
	}
}
