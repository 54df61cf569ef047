package mailbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/triage-dev/triage/internal/clip"
)

// Bounds on what an IMAP server may send, so that a malicious server (or
// one reached through a man in the middle with insecure_skip_verify) cannot
// grow the daemon without limit: go-imap reads a response line or literal
// whole before it parses it.
const (
	// MaxResponseLine bounds one response line outside literals; a SEARCH
	// result for a million UIDs without ESEARCH fits.
	MaxResponseLine = 8 << 20
	// MaxLiteral bounds a literal other than a message body (an envelope
	// field, a mailbox name).
	MaxLiteral = 1 << 20
	// bodySlack is what a BODY[] literal may exceed MaxMessageBytes by:
	// messages are fetched only when RFC822.SIZE is within it.
	bodySlack = 64 << 10
)

// errResponseTooLarge is what the connection fails with past a bound.
var errResponseTooLarge = errors.New("imap server response too large")

// limitConn fails the read that takes a response line or literal past its
// bound. It follows IMAP's framing: lines end in CRLF, and a line ending in
// {N} (or ~{N} for binary) is followed by N bytes of literal, after which
// the same response line goes on.
type limitConn struct {
	net.Conn
	maxBody int64
	line    int64  // bytes of the current line outside literals
	tail    []byte // the current line's last bytes, to read a literal's size and section
	lit     int64  // literal bytes still to come
	err     error
}

func newLimitConn(c net.Conn, maxMessageBytes int64) *limitConn {
	return &limitConn{Conn: c, maxBody: maxMessageBytes + bodySlack, tail: make([]byte, 0, tailBytes)}
}

// tailBytes is enough for "BODY[]<4294967295> ~{4294967295}\r\n".
const tailBytes = 48

func (c *limitConn) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.Conn.Read(p)
	if perr := c.scan(p[:n]); perr != nil {
		c.err = perr
		_ = c.Conn.Close()
		return 0, perr
	}
	return n, err
}

// scan follows the framing over b.
func (c *limitConn) scan(b []byte) error {
	for len(b) > 0 {
		if c.lit > 0 {
			skip := min(c.lit, int64(len(b)))
			c.lit -= skip
			b = b[skip:]
			continue
		}
		i := bytes.IndexByte(b, '\n')
		chunk := b
		if i >= 0 {
			chunk = b[:i+1]
		}
		b = b[len(chunk):]
		c.line += int64(len(chunk))
		if c.line > MaxResponseLine {
			return fmt.Errorf("%w: a line over %d MiB", errResponseTooLarge, MaxResponseLine>>20)
		}
		c.keepTail(chunk)
		if i >= 0 {
			if err := c.endOfLine(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *limitConn) keepTail(chunk []byte) {
	c.tail = append(c.tail, chunk[max(len(chunk)-tailBytes, 0):]...)
	if over := len(c.tail) - tailBytes; over > 0 {
		c.tail = append(c.tail[:0], c.tail[over:]...)
	}
}

// endOfLine starts a literal when the line announced one, or a new line.
func (c *limitConn) endOfLine() error {
	t := c.tail
	c.tail = c.tail[:0]
	open := bytes.LastIndexByte(t, '{')
	if open < 0 || !bytes.HasSuffix(t, []byte("}\r\n")) {
		c.line = 0
		return nil
	}
	n, err := strconv.ParseInt(string(bytes.TrimSuffix(t[open+1:len(t)-3], []byte("+"))), 10, 64)
	if err != nil || n < 0 {
		c.line = 0
		return nil // not a literal, only a line that ends in braces
	}
	limit, what := int64(MaxLiteral), "a literal"
	if isBodySection(t[:open]) {
		limit, what = c.maxBody, "a message body"
	}
	if n > limit {
		return fmt.Errorf("%w: %s of %d bytes (at most %d)", errResponseTooLarge, what, n, limit)
	}
	c.lit = n // the line goes on after it
	return nil
}

// isBodySection reports whether the text before a literal's "{" names a
// message section: "BODY[…] ", "BODY[…]<N> ", "BINARY[…] ~" and the like.
func isBodySection(before []byte) bool {
	before = bytes.TrimSuffix(bytes.TrimSuffix(before, []byte("~")), []byte(" "))
	if bytes.HasSuffix(before, []byte(">")) {
		if i := bytes.LastIndexByte(before, '<'); i >= 0 {
			before = before[:i]
		}
	}
	if !bytes.HasSuffix(before, []byte("]")) {
		return false
	}
	i := bytes.LastIndexByte(before, '[')
	return i >= 0 && (bytes.HasSuffix(before[:i], []byte("BODY")) || bytes.HasSuffix(before[:i], []byte("BINARY")))
}

// startTLS upgrades a plaintext connection with STARTTLS itself, rather
// than through go-imap, so that the client go-imap gets reads through a
// limitConn above TLS like every other mode. It reads the greeting and the
// STARTTLS reply within the bounds, refuses PREAUTH (a server must not
// skip authentication on a connection not yet encrypted) and anything the
// server sent after its OK (it would be read as if encrypted). The TLS
// handshake on dc follows.
func startTLS(dc net.Conn) error {
	br := bufio.NewReaderSize(newLimitConn(dc, 0), 4096)
	greeting, err := br.ReadString('\n')
	switch {
	case err != nil:
		return fmt.Errorf("greeting: %w", err)
	case strings.HasPrefix(greeting, "* PREAUTH"):
		return errors.New("server sent PREAUTH on an unencrypted connection")
	case !strings.HasPrefix(greeting, "* OK"):
		return fmt.Errorf("greeting: %q", clip.Hint(strings.TrimSpace(greeting), 80))
	}
	if _, err := io.WriteString(dc, "T0 STARTTLS\r\n"); err != nil {
		return fmt.Errorf("send STARTTLS: %w", err)
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return fmt.Errorf("STARTTLS reply: %w", err)
		}
		if strings.HasPrefix(line, "* ") {
			continue
		}
		if !strings.HasPrefix(line, "T0 OK") {
			return fmt.Errorf("STARTTLS refused: %q", clip.Hint(strings.TrimSpace(line), 80))
		}
		break
	}
	if br.Buffered() > 0 {
		return errors.New("server sent data after its STARTTLS reply, before the TLS handshake")
	}
	return nil
}

// readerConn is Conn read through r.
type readerConn struct {
	net.Conn
	r io.Reader
}

func (c readerConn) Read(p []byte) (int, error) { return c.r.Read(p) }
