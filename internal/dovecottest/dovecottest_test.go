package dovecottest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

func msg(i int) []byte {
	return fmt.Appendf(nil, "From: a@example.com\r\nTo: helpdesk@example.com\r\nSubject: test %d\r\nMessage-ID: <%d@example.com>\r\n\r\nbody %d\r\n", i, i, i)
}

func TestServer(t *testing.T) {
	s := Start(t)

	s.Deliver(t, "helpdesk", msg(1))
	s.Deliver(t, "helpdesk+Sub/Folder", msg(2))
	for i := range 1000 {
		s.Append(t, "Seeded", msg(100+i))
	}
	s.Append(t, "INBOX", msg(4), `\Seen`, `\Flagged`)
	s.Append(t, "INBOX", msg(5), "$Triaged")
	s.Resync(t, "Seeded")

	inbox := s.Fetch(t, "INBOX")
	if len(inbox) != 3 {
		t.Fatalf("INBOX has %d messages, want 3", len(inbox))
	}
	wantFlags := map[string][]string{"test 4": {`\Seen`, `\Flagged`}, "test 5": {"$Triaged"}}
	for _, m := range inbox {
		for subj, flags := range wantFlags {
			if strings.Contains(string(m.Raw), "Subject: "+subj+"\r\n") {
				for _, f := range flags {
					if !m.HasFlag(f) {
						t.Errorf("%s: flags %v lack %s", subj, m.Flags, f)
					}
				}
			}
		}
		if strings.Contains(string(m.Raw), "test 1\r\n") && m.HasFlag(`\Seen`) {
			t.Errorf("delivered message is \\Seen: %v", m.Flags)
		}
	}
	if got := len(s.Fetch(t, "Sub/Folder")); got != 1 {
		t.Errorf("Sub/Folder has %d messages, want 1 (lmtp_save_to_detail_mailbox)", got)
	}
	if got := s.Count(t, "Seeded"); got != 1000 {
		t.Errorf("Seeded has %d messages, want 1000", got)
	}
	if got := s.Count(t, "NoSuchBox"); got != 0 {
		t.Errorf("missing mailbox counts %d", got)
	}
	if got := s.Fetch(t, "NoSuchBox"); got != nil {
		t.Errorf("missing mailbox fetched %d messages", len(got))
	}

	// Restart keeps ports and data.
	addr := s.Addr()
	s.Restart()
	if s.Addr() != addr {
		t.Errorf("address changed across restart: %s → %s", addr, s.Addr())
	}
	if got := s.Count(t, "INBOX"); got != 3 {
		t.Errorf("INBOX after restart has %d messages, want 3", got)
	}

	// UIDVALIDITY change is visible to clients.
	s.SetUIDValidity(t, "INBOX", 4242)
	c := s.Client(t)
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.UIDValidity != 4242 {
		t.Errorf("UIDVALIDITY = %d, want 4242", sel.UIDValidity)
	}
}

func BenchmarkAppend(b *testing.B) {
	s := Start(b)
	raw := msg(1)
	b.ResetTimer()
	for b.Loop() {
		s.Append(b, "INBOX", raw)
	}
}
