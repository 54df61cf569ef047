package mailbox

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// brokenWriteConn fails every write; reads block until it is closed.
type brokenWriteConn struct {
	net.Conn // nil: only the methods below are used
	once     sync.Once
	closed   chan struct{}
}

func (c *brokenWriteConn) Write([]byte) (int, error) { return 0, syscall.EPIPE }
func (c *brokenWriteConn) Read([]byte) (int, error) {
	<-c.closed
	return 0, net.ErrClosed
}
func (c *brokenWriteConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}
func (c *brokenWriteConn) SetReadDeadline(time.Time) error  { return nil }
func (c *brokenWriteConn) SetWriteDeadline(time.Time) error { return nil }

// TestDeadlineConnWriteFailureSurfacesOnRead: a failed write reports
// success to the writer, closes the connection, and the reader (go-imap's
// reader goroutine, which must be the one to fail pending commands) gets
// the write's error, as does every later read and write.
func TestDeadlineConnWriteFailureSurfacesOnRead(t *testing.T) {
	raw := &brokenWriteConn{closed: make(chan struct{})}
	dc := newDeadlineConn(raw, time.Second)
	readerDone := make(chan struct{})
	dc.watchReader(readerDone)
	readErr := make(chan error, 1)
	go func() { // go-imap's reader goroutine: blocked in a read
		_, err := dc.Read(make([]byte, 16))
		readErr <- err
		<-readerDone // still completing the pending commands
	}()
	if n, err := dc.Write([]byte("a1 NOOP\r\n")); err != nil || n != 9 {
		t.Fatalf("write: n=%d err=%v, want 9 and no error", n, err)
	}
	select {
	case err := <-readErr:
		if !errors.Is(err, syscall.EPIPE) {
			t.Errorf("blocked read: %v, want the write's EPIPE", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the blocked read was not released by the failed write")
	}
	if _, err := dc.Read(make([]byte, 16)); !errors.Is(err, syscall.EPIPE) {
		t.Errorf("later read: %v, want the write's EPIPE", err)
	}
	// While the reader still runs, a later write is left to it too.
	if n, err := dc.Write([]byte("a2 NOOP\r\n")); err != nil || n != 9 {
		t.Errorf("write while the reader runs: n=%d err=%v, want 9 and no error", n, err)
	}
	// Once it has ended, nothing would complete a new command: the writer
	// gets the error.
	close(readerDone)
	if _, err := dc.Write([]byte("a3 NOOP\r\n")); !errors.Is(err, syscall.EPIPE) {
		t.Errorf("write after the reader ended: %v, want the write's EPIPE", err)
	}
}
