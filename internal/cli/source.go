package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/triage-dev/triage/internal/boundedfile"
)

// maxMessageBytes bounds one message read by explain and replay; larger
// mail is reported, not loaded.
const maxMessageBytes = 64 << 20

// errMessageTooLarge reports a message over maxMessageBytes.
var errMessageTooLarge = fmt.Errorf("message larger than %d MiB", maxMessageBytes>>20)

// Source formats replay understands.
const (
	formatMaildir = "maildir"
	formatMbox    = "mbox"
	formatEML     = "eml"
)

// sourceMessage is one message of a source. Err is set when the message
// could not be read (too large, I/O error); Raw is nil then.
type sourceMessage struct {
	Name string // file path, or "path#N" for the Nth message of an mbox
	Raw  []byte
	Err  error
	Date time.Time // set by eachMessageByDate; zero without a Date header
}

// detectFormat tells a Maildir (a directory with cur/ or new/), a folder of
// .eml files and an mbox file apart.
func detectFormat(path string) (string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("open source: %w", err)
	}
	if !info.IsDir() {
		return formatMbox, nil
	}
	for _, sub := range []string{"cur", "new"} {
		if st, err := os.Stat(filepath.Join(path, sub)); err == nil && st.IsDir() {
			return formatMaildir, nil
		}
	}
	return formatEML, nil
}

// eachMessage streams the messages of the source at path to fn, one at a
// time, in a stable order. It stops at the first error fn returns, or when
// ctx is done.
func eachMessage(ctx context.Context, path, format string, fn func(sourceMessage) error) error {
	switch format {
	case formatMaildir:
		var files []string
		for _, sub := range []string{"cur", "new"} {
			names, err := listFiles(filepath.Join(path, sub))
			if err != nil {
				return err
			}
			files = append(files, names...)
		}
		return eachFile(ctx, files, fn)
	case formatEML:
		var files []string
		err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() && strings.EqualFold(filepath.Ext(p), ".eml") {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("list %s: %w", path, err)
		}
		return eachFile(ctx, files, fn)
	case formatMbox:
		return eachMboxMessage(ctx, path, fn)
	}
	return fmt.Errorf("unknown source format %q", format)
}

// listFiles returns the regular, non-hidden files of a Maildir
// subdirectory, sorted; a missing subdirectory is empty.
func listFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var files []string
	for _, e := range entries {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(files)
	return files, nil
}

func eachFile(ctx context.Context, files []string, fn func(sourceMessage) error) error {
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		raw, err := readMessageFile(f)
		if err := fn(sourceMessage{Name: f, Raw: raw, Err: err}); err != nil {
			return err
		}
	}
	return nil
}

func eachMboxMessage(ctx context.Context, path string, fn func(sourceMessage) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open source: %w", err)
	}
	defer f.Close()
	mr := newMboxReader(f, maxMessageBytes)
	for n := 1; ; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		raw, tooLarge, err := mr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		msg := sourceMessage{Name: fmt.Sprintf("%s#%d", path, n), Raw: raw}
		if tooLarge {
			msg.Raw, msg.Err = nil, errMessageTooLarge
		}
		if err := fn(msg); err != nil {
			return err
		}
	}
}

// readMessageFile reads one message file, refusing more than
// maxMessageBytes.
func readMessageFile(path string) ([]byte, error) {
	raw, err := boundedfile.Read(path, maxMessageBytes)
	if errors.Is(err, boundedfile.ErrTooLarge) {
		return nil, errMessageTooLarge
	}
	return raw, err
}

func readMessage(r io.Reader) ([]byte, error) {
	raw, err := io.ReadAll(io.LimitReader(r, maxMessageBytes+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxMessageBytes {
		return nil, errMessageTooLarge
	}
	return raw, nil
}

// eachMessageByDate is eachMessage in the order of the messages' Date
// headers, oldest first (source order among equal or missing dates, which
// count as oldest). It reads the source twice: once for the dates, once
// for the messages, holding back only those that arrive before their turn,
// so a source already in date order costs one message of memory. Each
// message it hands on carries its Date, read once in the first pass.
func eachMessageByDate(ctx context.Context, path, format string, dateOf func([]byte) time.Time, fn func(sourceMessage) error) error {
	type key struct {
		seq  int
		date time.Time
	}
	var keys []key
	err := eachMessage(ctx, path, format, func(m sourceMessage) error {
		k := key{seq: len(keys)}
		if m.Err == nil {
			k.date = dateOf(m.Raw)
		}
		keys = append(keys, k)
		return nil
	})
	if err != nil {
		return err
	}
	sort.SliceStable(keys, func(i, j int) bool { return keys[i].date.Before(keys[j].date) })
	pending := map[int]sourceMessage{}
	next, seq := 0, 0
	err = eachMessage(ctx, path, format, func(m sourceMessage) error {
		pending[seq] = m
		seq++
		for next < len(keys) {
			m, ok := pending[keys[next].seq]
			if !ok {
				return nil
			}
			delete(pending, keys[next].seq)
			m.Date = keys[next].date
			next++
			if err := fn(m); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && next < len(keys) {
		err = fmt.Errorf("%s changed while it was read", path)
	}
	return err
}
