package daemon

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/triage-dev/triage/internal/testkit"
)

// TestFailingQueueLeavesHandlersFree: with the security webhook down, 20
// security mails (more than the mailbox's 16 handlers) come before a
// helpdesk mail; the helpdesk mail is forwarded all the same, because the
// failing queue keeps at most retry.max_retrying (4) deliveries in their
// retry loop and hands the rest back to the mailbox's retry timer. None of
// the security mails is marked done; all are forwarded once the webhook
// recovers.
func TestFailingQueueLeavesHandlersFree(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	e := startE2E(t, "")
	e.hook.fail = true
	const failing = 20
	for i := range failing {
		e.srv.Append(t, "INBOX", fmt.Appendf(nil, "From: Ann <ann@example.com>\r\nTo: helpdesk@example.com\r\nSubject: Ransomware note on my screen %d\r\n"+
			"Message-ID: <ransom-bulk-%d@example.com>\r\nDate: Fri, 27 Nov 2026 10:00:00 +0100\r\n\r\nAll my files are encrypted, there is a ransom note.\r\n", i, i))
	}
	e.srv.Append(t, "INBOX", []byte("From: Bob <bob@example.com>\r\nTo: helpdesk@example.com\r\nSubject: Printer on floor 2 is offline\r\n"+
		"Message-ID: <printer-bulk@example.com>\r\nDate: Fri, 27 Nov 2026 10:05:00 +0100\r\n\r\nThe printer says offline.\r\n"))
	e.run()

	testkit.WaitFor(t, 30*time.Second, "the helpdesk mail forwarded while the security webhook is down", func() bool {
		for _, tk := range readJSONL(t, filepath.Join(e.dir, "out", "helpdesk.jsonl")) {
			if tk.MessageID == "<printer-bulk@example.com>" {
				return true
			}
		}
		return false
	})
	if got := e.metric("triage_forward_retrying", map[string]string{"queue": "security"}); got > 4 {
		t.Errorf("%v security deliveries in their retry loop, want at most 4", got)
	}
	for i := range failing {
		if _, done := e.flags("INBOX", fmt.Sprintf("<ransom-bulk-%d@example.com>", i)); done {
			t.Errorf("security mail %d marked done while its webhook is down", i)
		}
	}

	e.hook.mu.Lock()
	e.hook.fail = false
	e.hook.mu.Unlock()
	testkit.WaitFor(t, 60*time.Second, "every security mail forwarded after the outage", func() bool { return e.hook.count() == failing })
	testkit.WaitFor(t, 20*time.Second, "every security mail marked done", func() bool {
		for i := range failing {
			if _, done := e.flags("INBOX", fmt.Sprintf("<ransom-bulk-%d@example.com>", i)); !done {
				return false
			}
		}
		return true
	})
	if n := e.hook.count(); n != failing {
		t.Errorf("webhook received %d tickets, want %d (one each)", n, failing)
	}
}
