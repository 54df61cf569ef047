package classifier

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/triage-dev/triage/ticket"
)

// TestClassifierReuseKeepsEarlierResults classifies every example and test
// mail with one Classifier, keeping each result, and checks that no result
// changed afterwards: the Classifier reuses its buffers between messages
// (the daemon pools one per goroutine), and a Mail or Ticket handed out
// must never alias them.
func TestClassifierReuseKeepsEarlierResults(t *testing.T) {
	set, raws := exampleMails(t)
	paths, err := filepath.Glob("testdata/mail/*.eml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("test mail: %v", err)
	}
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		raws = append(raws, raw)
	}
	meta := Meta{Account: "a", Mailbox: "INBOX", UIDValidity: 1, ReceivedAt: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}
	snapshot := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	type kept struct {
		raw            int
		mail           *Mail
		ticket         *ticket.Ticket
		mailAt, tickAt string
	}
	c := New()
	var all []kept
	for i, raw := range raws {
		m, err := c.Decode(set, raw)
		if err != nil {
			continue // quarantined mail yields no ticket
		}
		meta.UID = uint32(i + 1)
		tk := c.ClassifyMail(set, m, meta)
		all = append(all, kept{raw: i, mail: m, ticket: tk, mailAt: snapshot(m), tickAt: snapshot(tk)})
	}
	if len(all) < 50 {
		t.Fatalf("only %d mails classified", len(all))
	}
	for _, k := range all {
		if got := snapshot(k.mail); got != k.mailAt {
			t.Errorf("mail %d changed after later messages:\nwas %s\nnow %s", k.raw, k.mailAt, got)
		}
		if got := snapshot(k.ticket); got != k.tickAt {
			t.Errorf("ticket %d changed after later messages:\nwas %s\nnow %s", k.raw, k.tickAt, got)
		}
		// A fresh Classifier makes the same of the mail.
		fresh := New()
		m, err := fresh.Decode(set, raws[k.raw])
		if err != nil {
			t.Fatalf("mail %d: fresh decode: %v", k.raw, err)
		}
		meta.UID = uint32(k.raw + 1)
		if got := snapshot(fresh.ClassifyMail(set, m, meta)); got != k.tickAt {
			t.Errorf("ticket %d differs from a fresh Classifier's:\nreused %s\nfresh  %s", k.raw, k.tickAt, got)
		}
	}
}
