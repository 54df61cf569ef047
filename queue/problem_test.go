package queue

import (
	"bufio"
	"bytes"
	"testing"
	"time"

	"github.com/emersion/go-message/textproto"

	"github.com/triage-dev/triage/ticket"
)

func TestProblemHeader(t *testing.T) {
	first := time.Date(2026, 12, 4, 8, 2, 0, 0, time.UTC)
	tests := []struct {
		name    string
		problem *ticket.Problem
		want    string
	}{
		{"none", nil, ""},
		{"size zero", &ticket.Problem{ID: "p-x"}, ""},
		{"problem", &ticket.Problem{ID: "p-1a2b", Size: 4, FirstSeen: first, Summary: "prn-3og-01 offline"},
			`p-1a2b; size=4; first_seen=2026-12-04T08:02:00Z; summary="prn-3og-01 offline"`},
		{"hostile summary stays one field", &ticket.Problem{ID: "p-1", Size: 3, FirstSeen: first, Summary: "a\r\nBcc: x@example.com"},
			`p-1; size=3; first_seen=2026-12-04T08:02:00Z; summary="a\r\nBcc: x@example.com"`},
	}
	for _, tt := range tests {
		tk := &ticket.Ticket{ID: "id", Raw: []byte("From: a@example.com\r\nSubject: s\r\n\r\nbody\r\n")}
		tk.Class.Problem = tt.problem
		out := forwardMessage(tk, "s")
		h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(out)))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := h.Get("X-Triage-Problem"); got != tt.want {
			t.Errorf("%s: X-Triage-Problem = %q, want %q", tt.name, got, tt.want)
		}
		if tt.want != "" && h.Get("Bcc") != "" {
			t.Errorf("%s: a Bcc field was injected", tt.name)
		}
	}
}
