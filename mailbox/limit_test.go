package mailbox

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// pipeConn serves a fixed byte stream as a connection.
type pipeConn struct {
	net.Conn
	r io.Reader
}

func (p *pipeConn) Read(b []byte) (int, error) { return p.r.Read(b) }
func (p *pipeConn) Close() error               { return nil }

// readAllLimited reads s through a limitConn in random-sized chunks.
func readAllLimited(s string, maxMessage int64, seed uint64) (int, error) {
	lc := newLimitConn(&pipeConn{r: strings.NewReader(s)}, maxMessage)
	rng := rand.New(rand.NewPCG(seed, 1))
	total := 0
	for {
		buf := make([]byte, 1+rng.IntN(4096))
		n, err := lc.Read(buf)
		total += n
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

func TestLimitConn(t *testing.T) {
	body := strings.Repeat("x", 5000)
	tests := []struct {
		name    string
		stream  string
		maxBody int64
		want    string // "" = passes; else in the error
	}{
		{"fetch body within", "* 1 FETCH (UID 7 BODY[] {5000}\r\n" + body + ")\r\nA1 OK done\r\n", 5000, ""},
		{"fetch body with origin", "* 1 FETCH (BODY[]<0> {5000}\r\n" + body + ")\r\n", 5000, ""},
		{"binary literal", "* 1 FETCH (BINARY[] ~{5000}\r\n" + body + ")\r\n", 5000, ""},
		{"body over max plus slack", "* 1 FETCH (BODY[] {200000}\r\n", 1000, "a message body of 200000 bytes"},
		{"other literal within", "* LIST () \"/\" {10}\r\n0123456789\r\n", 0, ""},
		{"other literal over", "* 1 FETCH (ENVELOPE (\"d\" {2000000}\r\n", 1 << 30, "a literal of 2000000 bytes"},
		{"literal plus", "* LIST () \"/\" {3+}\r\nabc\r\n", 0, ""},
		{"braces that are no literal", "* OK {not a literal}\r\n* OK {12x}\r\n", 0, ""},
		{"endless line", "* OK " + strings.Repeat("a", MaxResponseLine), 0, "a line over 8 MiB"},
		{"long lines each within", strings.Repeat("* OK "+strings.Repeat("a", 1<<20)+"\r\n", 10), 0, ""},
		{"line at the bound", "* OK " + strings.Repeat("a", MaxResponseLine-7) + "\r\n", 0, ""},
		{"line one past the bound", "* OK " + strings.Repeat("a", MaxResponseLine-6) + "\r\n", 0, "a line over 8 MiB"},
		{"literal at the bound", "* LIST () \"/\" {" + strconv.Itoa(MaxLiteral) + "}\r\n" + strings.Repeat("m", MaxLiteral) + "\r\n", 0, ""},
		{"literal one past the bound", "* LIST () \"/\" {" + strconv.Itoa(MaxLiteral+1) + "}\r\n", 0, "a literal of 1048577 bytes"},
		{"body at the bound", "* 1 FETCH (BODY[] {" + strconv.Itoa(1000+bodySlack) + "}\r\n" + strings.Repeat("b", 1000+bodySlack) + ")\r\n", 1000, ""},
		{"body one past the bound", "* 1 FETCH (BODY[] {" + strconv.Itoa(1001+bodySlack) + "}\r\n", 1000, "a message body of"},
		{"literal bytes do not count as line", "* 1 FETCH (BODY[] {" + "9000000" + "}\r\n" + strings.Repeat("y", 9000000) + ")\r\n", 9000000, ""},
	}
	for _, tt := range tests {
		for seed := range uint64(3) {
			n, err := readAllLimited(tt.stream, tt.maxBody, seed)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("%s: %v after %d bytes", tt.name, err, n)
			case tt.want != "" && (err == nil || !errors.Is(err, errResponseTooLarge) || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
			}
		}
	}
}

// TestEndlessResponseLine: a server that answers with an endless line is
// cut off once the line passes MaxResponseLine, not read to the end.
func TestEndlessResponseLine(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var sent atomic.Int64
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		chunk := []byte(strings.Repeat("a", 64<<10))
		if _, err := io.WriteString(c, "* OK "); err != nil {
			return
		}
		for range (1 << 30) / len(chunk) { // up to 1 GiB without CRLF
			n, err := c.Write(chunk)
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	var read atomic.Int64
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countingConn{Conn: c, n: &read}, nil
	}
	a, err := New(Config{
		Name: "hostile", Addr: ln.Addr().String(), TLS: TLSNone, Username: "u",
		Secret:  func(context.Context) (string, error) { return "p", nil },
		Timeout: 30 * time.Second, Dial: dial,
	}, func(context.Context, *Message) Outcome { return Outcome{Verdict: Done} }, Events{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = a.dial(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "imap server response too large") {
		t.Fatalf("dial: %v, want the response refused as too large", err)
	}
	// What the daemon read, not what the server wrote: the kernel's
	// socket buffers take megabytes on their own.
	if n := read.Load(); n > MaxResponseLine+(64<<10) || n < MaxResponseLine {
		t.Errorf("read %d bytes before the cut; the bound is %d", n, MaxResponseLine)
	}
	if sent.Load() >= 1<<30 {
		t.Error("the server wrote its whole gigabyte")
	}
}

// countingConn counts the bytes read from a connection.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// FuzzLimitConn: any stream, in any chunking, is passed through or refused
// with errResponseTooLarge; never a panic, never more bytes than given.
func FuzzLimitConn(f *testing.F) {
	f.Add("* 1 FETCH (BODY[] {5}\r\nhello)\r\n", uint64(1), int64(10))
	f.Add("* OK {3}\r\nabc}\r\n{", uint64(2), int64(0))
	f.Add("}\r\n{-1}\r\n{99999999999999999999}\r\n", uint64(3), int64(5))
	f.Fuzz(func(t *testing.T, s string, seed uint64, maxBody int64) {
		n, err := readAllLimited(s, max(maxBody, 0), seed)
		if err != nil && !errors.Is(err, errResponseTooLarge) {
			t.Fatalf("unexpected error %v", err)
		}
		if n > len(s) {
			t.Fatalf("read %d bytes of %d", n, len(s))
		}
	})
}
