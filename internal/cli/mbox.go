package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// errNotMbox reports a file that does not start with an mbox "From " line.
var errNotMbox = errors.New(`not an mbox file (first line does not start with "From ")`)

// mboxReader splits an mbox stream into messages one at a time, so a
// multi-gigabyte archive never sits in memory. It reads the mboxrd/mboxo
// family: a message starts at a "From " line at the start of the file or
// after a blank line; that blank line belongs to the separator, and one ">"
// is removed from body lines matching ^>+From (mboxrd unescaping, which also
// undoes mboxo's ">From").
type mboxReader struct {
	br        *bufio.Reader
	max       int  // largest message kept; larger ones are reported, not returned
	started   bool // the first separator has been read
	done      bool
	lineStart bool // the next chunk begins a line
}

func newMboxReader(r io.Reader, maxMessage int) *mboxReader {
	return &mboxReader{br: bufio.NewReaderSize(r, 64<<10), max: maxMessage, lineStart: true}
}

var (
	mboxFrom = []byte("From ")
	mboxEsc  = []byte(">")
)

// Next returns the next message. tooLarge reports a message over the size
// limit (its bytes are skipped and raw is nil). err is io.EOF after the
// last message, errNotMbox for a file that is not an mbox, or a read error.
func (m *mboxReader) Next() (raw []byte, tooLarge bool, err error) {
	if m.done {
		return nil, false, io.EOF
	}
	if !m.started {
		if err := m.start(); err != nil {
			return nil, false, err
		}
	}

	var msg []byte
	add := func(b []byte) {
		if tooLarge {
			return
		}
		if len(msg)+len(b) > m.max {
			tooLarge, msg = true, nil
			return
		}
		msg = append(msg, b...)
	}
	var blank []byte // a blank line held back: it is the separator's if a "From " line follows
	for {
		chunk, err := m.br.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull && err != io.EOF {
			return nil, false, fmt.Errorf("read mbox: %w", err)
		}
		if len(chunk) > 0 {
			endsLine := chunk[len(chunk)-1] == '\n'
			if m.lineStart {
				if blank != nil && bytes.HasPrefix(chunk, mboxFrom) {
					m.lineStart = endsLine
					if !endsLine {
						if err := m.skipLine(); err != nil && err != io.EOF {
							return nil, false, err
						}
					}
					return msg, tooLarge, nil
				}
				if blank != nil {
					add(blank)
					blank = nil
				}
				if endsLine && isBlankLine(chunk) {
					blank = append([]byte(nil), chunk...)
					m.lineStart = true
					continue
				}
				if unescaped := bytes.TrimLeft(chunk, ">"); len(unescaped) < len(chunk) && bytes.HasPrefix(unescaped, mboxFrom) {
					chunk = bytes.TrimPrefix(chunk, mboxEsc)
				}
			}
			add(chunk)
			m.lineStart = endsLine
		}
		if err == io.EOF {
			// The blank line that ends the last message is the format's, not
			// the message's.
			m.done = true
			return msg, tooLarge, nil
		}
	}
}

// start checks that the input begins with a "From " line and skips it. An
// empty input is io.EOF, any other errNotMbox; both end the reader.
func (m *mboxReader) start() error {
	head, err := m.br.Peek(len(mboxFrom))
	if err == io.EOF && len(head) == 0 {
		m.done = true
		return io.EOF
	}
	if !bytes.Equal(head, mboxFrom) {
		m.done = true
		return errNotMbox
	}
	if err := m.skipLine(); err != nil {
		return err
	}
	m.started = true
	return nil
}

// skipLine discards input up to and including the next newline.
func (m *mboxReader) skipLine() error {
	for {
		_, err := m.br.ReadSlice('\n')
		switch err {
		case nil:
			m.lineStart = true
			return nil
		case bufio.ErrBufferFull:
			continue
		case io.EOF:
			return nil
		default:
			return fmt.Errorf("read mbox: %w", err)
		}
	}
}

func isBlankLine(b []byte) bool {
	return len(b) == 1 && b[0] == '\n' || len(b) == 2 && b[0] == '\r' && b[1] == '\n'
}
