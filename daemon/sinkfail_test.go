package daemon

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/triage-dev/triage/internal/testkit"
)

const securityMail = "From: Ann <ann@example.com>\r\nTo: helpdesk@example.com\r\nSubject: Ransomware note on my screen\r\n" +
	"Message-ID: <ransom-1@example.com>\r\nDate: Fri, 27 Nov 2026 10:00:00 +0100\r\n\r\nAll my files are encrypted, there is a ransom note.\r\n"

func (e *e2e) flags(mailbox, messageID string) (found bool, done bool) {
	for _, m := range e.srv.Fetch(e.t, mailbox) {
		if containsMessageID(m.Raw, messageID) {
			return true, m.HasFlag("$Triaged")
		}
	}
	return false, false
}

func containsMessageID(raw []byte, id string) bool {
	return id != "" && bytes.Contains(raw, []byte("Message-ID: "+id))
}

// runWithSecurityMail runs the daemon on securityMail in INBOX with the
// webhook peer set up by peer first (unlocked: nothing runs yet).
func runWithSecurityMail(t *testing.T, peer func(*hookRecorder)) *e2e {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test")
	}
	e := startE2E(t, "")
	peer(e.hook)
	e.srv.Append(t, "INBOX", []byte(securityMail))
	e.run()
	return e
}

// TestSinkOutage: while the webhook answers 503 the message is retried and
// never marked done; once the peer recovers it is forwarded once and done.
func TestSinkOutage(t *testing.T) {
	e := runWithSecurityMail(t, func(h *hookRecorder) { h.fail = true })
	testkit.WaitFor(t, 20*time.Second, "several temporary failures", func() bool {
		return e.metric("triage_forward_errors_total", map[string]string{"queue": "security", "kind": "temporary"}) >= 3
	})
	if found, done := e.flags("INBOX", "<ransom-1@example.com>"); !found || done {
		t.Fatalf("during the outage: found=%v done=%v; want found and not done", found, done)
	}
	e.hook.mu.Lock()
	e.hook.fail = false
	e.hook.mu.Unlock()
	testkit.WaitFor(t, 30*time.Second, "delivery after the outage", func() bool { return e.hook.count() == 1 })
	testkit.WaitFor(t, 10*time.Second, "the message marked done", func() bool {
		_, done := e.flags("INBOX", "<ransom-1@example.com>")
		return done
	})
	if n := e.hook.count(); n != 1 {
		t.Errorf("delivered %d times, want 1", n)
	}
}

// TestSinkPermanentRejection: a permanent rejection files the mail in the
// failed folder; it is neither lost nor marked done in INBOX.
func TestSinkPermanentRejection(t *testing.T) {
	e := runWithSecurityMail(t, func(h *hookRecorder) { h.reject = true })
	testkit.WaitFor(t, 20*time.Second, "the mail in Triage/Failed", func() bool {
		found, _ := e.flags("Triage/Failed", "<ransom-1@example.com>")
		return found
	})
	if found, _ := e.flags("INBOX", "<ransom-1@example.com>"); found {
		t.Error("rejected mail still in INBOX")
	}
	if got := e.metric("triage_failed_total", map[string]string{"queue": "security"}); got != 1 {
		t.Errorf("triage_failed_total = %v, want 1", got)
	}
	if got := e.metric("triage_forward_errors_total", map[string]string{"queue": "security", "kind": "permanent"}); got != 1 {
		t.Errorf("permanent errors = %v, want 1", got)
	}
	if code, body := e.get("/status"); code != http.StatusOK || !strings.Contains(body, `"failed_permanent": 1`) {
		t.Errorf("/status: %d %s", code, body)
	}
}
