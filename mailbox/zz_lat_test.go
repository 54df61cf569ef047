package mailbox

import (
	"context"
	"testing"
	"time"

	"github.com/triage-dev/triage/internal/dovecottest"
)

func TestLatDebug(t *testing.T) {
	srv := dovecottest.Start(t)
	h := func(_ context.Context, m *Message) Outcome {
		t.Logf("uid %d handler entry; since EXISTS %v", m.UID, time.Since(m.Noticed))
		return Outcome{Verdict: Done}
	}
	cfg := testConfig(srv)
	r := start(t, cfg, h, Events{Idle: func(_, _ string, on bool) { t.Logf("idle %v", on) }})
	_ = r
	time.Sleep(300 * time.Millisecond)
	for i := range 30 {
		srv.Deliver(t, "helpdesk", testMail(i, "x"))
	}
	time.Sleep(time.Second)
}
