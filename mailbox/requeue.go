package mailbox

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// FolderMessage is one message of a folder, as `triage requeue` lists it.
type FolderMessage struct {
	UID     uint32
	Date    time.Time // INTERNALDATE: when the server got it
	From    string
	Subject string
	Size    int64
}

// oneOff opens an authenticated connection for a one-off command; the
// Config it returns has the defaults applied.
func oneOff(ctx context.Context, cfg Config, log *slog.Logger) (*imapclient.Client, Config, error) {
	a, err := New(cfg, func(context.Context, *Message) Outcome { return Outcome{} }, Events{}, log)
	if err != nil {
		return nil, cfg, err
	}
	c, _, err := a.dial(ctx, nil)
	return c, a.cfg, err
}

// ListFolder lists the messages of folder (the account's quarantine or
// failed folder, say), oldest first.
func ListFolder(ctx context.Context, cfg Config, folder string, log *slog.Logger) ([]FolderMessage, error) {
	c, _, err := oneOff(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return nil, fmt.Errorf("select %s: %w", folder, err)
	}
	all := imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}
	msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, Envelope: true, InternalDate: true, RFC822Size: true}).Collect()
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", folder, err)
	}
	out := make([]FolderMessage, 0, len(msgs))
	for _, m := range msgs {
		fm := FolderMessage{UID: uint32(m.UID), Date: m.InternalDate, Size: m.RFC822Size}
		if e := m.Envelope; e != nil {
			fm.Subject = e.Subject
			if len(e.From) > 0 {
				fm.From = e.From[0].Addr()
			}
		}
		out = append(out, fm)
	}
	return out, nil
}

// Requeue moves messages of folder back to the watched mailbox to, with
// the done keyword cleared, so the daemon handles them again with the
// rules and sinks it has then. No uids means every message of folder. It
// returns how many it moved.
func Requeue(ctx context.Context, cfg Config, folder, to string, uids []uint32, log *slog.Logger) (int, error) {
	c, cfg, err := oneOff(ctx, cfg, log)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	sel, err := c.Select(folder, nil).Wait()
	if err != nil {
		return 0, fmt.Errorf("select %s: %w", folder, err)
	}
	set := imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}
	n := int(sel.NumMessages)
	if len(uids) > 0 {
		set = imap.UIDSet{}
		for _, u := range uids {
			set.AddNum(imap.UID(u))
		}
		found, err := c.Fetch(set, &imap.FetchOptions{UID: true}).Collect()
		if err != nil {
			return 0, fmt.Errorf("fetch %s: %w", folder, err)
		}
		if len(found) != len(uids) {
			return 0, fmt.Errorf("%s holds %d of the %d UIDs given", folder, len(found), len(uids))
		}
		n = len(found)
	}
	if n == 0 {
		return 0, nil
	}
	if kw := cfg.DoneKeyword; kw != "" {
		flags := &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: []imap.Flag{imap.Flag(kw)}}
		if err := c.Store(set, flags, nil).Close(); err != nil {
			return 0, fmt.Errorf("clear %s in %s: %w", kw, folder, err)
		}
	}
	caps := c.Caps()
	flaggedOnly, err := moveUIDs(c, set, to, caps.Has(imap.CapMove), caps.Has(imap.CapUIDPlus))
	if err != nil {
		return 0, fmt.Errorf("move %s to %s: %w", folder, to, err)
	}
	if flaggedOnly {
		log.Warn("server has neither MOVE nor UIDPLUS: the requeued messages stay in the folder flagged \\Deleted", "folder", folder)
	}
	return n, nil
}

// ListMailboxes logs in and lists the account's mailboxes (triage login
// shows them to prove the new credentials work).
func ListMailboxes(ctx context.Context, cfg Config, log *slog.Logger) ([]string, error) {
	c, _, err := oneOff(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		return nil, fmt.Errorf("list mailboxes: %w", err)
	}
	out := make([]string, 0, len(list))
	for _, m := range list {
		out = append(out, m.Mailbox)
	}
	return out, nil
}
