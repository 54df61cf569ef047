package mailbox

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// refusingCopy is a server session whose COPY always answers NO.
type refusingCopy struct{ imapserver.Session }

func (refusingCopy) Copy(imap.NumSet, string) (*imap.CopyData, error) {
	return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "over quota"}
}

// TestRequeueMove: requeue moves the folder's messages back with MOVE, with
// COPY, STORE and UID EXPUNGE, or (no UIDPLUS) leaves the originals flagged
// \Deleted; and a refused COPY leaves them where they were, untouched
// (go-imap's own Move fallback would expunge them anyway).
func TestRequeueMove(t *testing.T) {
	base := imap.CapSet{imap.CapIMAP4rev1: {}}
	with := func(caps ...imap.Cap) imap.CapSet {
		set := imap.CapSet{}
		for c := range base {
			set[c] = struct{}{}
		}
		for _, c := range caps {
			set[c] = struct{}{}
		}
		return set
	}
	tests := []struct {
		name        string
		caps        imap.CapSet
		refuseCopy  bool
		wantErr     bool
		wantInbox   int
		wantLeft    int  // messages still in the quarantine folder
		wantDeleted bool // those left are flagged \Deleted
	}{
		{name: "move", caps: with(imap.CapMove, imap.CapUIDPlus), wantInbox: 2},
		{name: "copy and uid expunge", caps: with(imap.CapUIDPlus), wantInbox: 2},
		{name: "copy without uidplus", caps: with(), wantInbox: 2, wantLeft: 2, wantDeleted: true},
		{name: "copy refused", caps: with(imap.CapUIDPlus), refuseCopy: true, wantErr: true, wantLeft: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := memOptions{caps: tc.caps}
			if tc.refuseCopy {
				o.wrapSess = func(s imapserver.Session) imapserver.Session { return refusingCopy{s} }
			}
			m := startMem(t, o)
			c := m.client(t)
			if err := c.Create("Quarantine", nil).Wait(); err != nil {
				t.Fatal(err)
			}
			c.Close()
			m.append(t, "Quarantine", testMail(1, "first"))
			m.append(t, "Quarantine", testMail(2, "second"))

			n, err := Requeue(context.Background(), m.config(), "Quarantine", "INBOX", nil, slog.New(slog.DiscardHandler))
			var imapErr *imap.Error
			switch {
			case tc.wantErr && !errors.As(err, &imapErr):
				t.Fatalf("Requeue = %d, %v; want the server's NO", n, err)
			case !tc.wantErr && (err != nil || n != 2):
				t.Fatalf("Requeue = %d, %v; want 2, nil", n, err)
			}
			if inbox := m.read(t, "INBOX"); len(inbox) != tc.wantInbox {
				t.Errorf("INBOX holds %d messages, want %d", len(inbox), tc.wantInbox)
			}
			left := m.read(t, "Quarantine")
			if len(left) != tc.wantLeft {
				t.Fatalf("Quarantine holds %d messages, want %d", len(left), tc.wantLeft)
			}
			for id, flags := range left {
				if got := slices.Contains(flags, imap.FlagDeleted); got != tc.wantDeleted {
					t.Errorf("message %d left in Quarantine: \\Deleted %v, want %v (flags %v)", id, got, tc.wantDeleted, flags)
				}
			}
		})
	}
}
