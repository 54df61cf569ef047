package faultproxy

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/triage-dev/triage/internal/testkit"
)

// upstreamServer is a loopback TCP server whose connections run serve.
type upstreamServer struct {
	ln       net.Listener
	accepted atomic.Int64
	received atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

func startUpstream(t *testing.T, serve func(s *upstreamServer, c net.Conn)) *upstreamServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &upstreamServer{ln: ln}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Go(func() {
				defer c.Close()
				serve(s, c)
			})
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// echo sends back what it reads and forwards the end of stream.
func echo(s *upstreamServer, c net.Conn) {
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		s.received.Add(int64(n))
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				_ = c.(*net.TCPConn).CloseWrite()
			}
			return
		}
	}
}

// source writes sourceBytes of data, then closes.
const sourceBytes = 1 << 20

func source(_ *upstreamServer, c net.Conn) {
	_, _ = c.Write(bytes.Repeat([]byte("0123456789abcdef"), sourceBytes/16))
}

// drain reads until the connection ends, counting bytes.
func drain(s *upstreamServer, c net.Conn) {
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		s.received.Add(int64(n))
		if err != nil {
			return
		}
	}
}

func startProxy(t *testing.T, upstream string) *Proxy {
	t.Helper()
	p, err := Listen(upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	return p
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	// Bounds every read in these tests: a proxy bug fails, it does not hang.
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return c.(*net.TCPConn)
}

// waitUntil polls cond every 5 ms for at most 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// isReset reports whether err is what a peer's RST produces (as opposed to
// an orderly end of stream).
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func TestProxyRelaysBothWaysUnchanged(t *testing.T) {
	for _, tc := range []struct {
		name    string
		latency time.Duration
		size    int
	}{
		{"small", 0, 10},
		{"1MiB", 0, 1 << 20},
		{"1MiB with latency", 20 * time.Millisecond, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := startUpstream(t, echo)
			p := startProxy(t, up.ln.Addr().String())
			p.SetLatency(tc.latency)
			c := dial(t, p.Addr())
			want := make([]byte, tc.size)
			_, _ = rand.Read(want)
			werr := make(chan error, 1)
			go func() {
				_, err := c.Write(want)
				if err == nil {
					err = c.CloseWrite()
				}
				werr <- err
			}()
			got, err := io.ReadAll(c) // ends only if the half-close came back through
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if err := <-werr; err != nil {
				t.Fatalf("write: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got %d bytes back, want the %d sent, unchanged", len(got), len(want))
			}
			st := p.Stats()
			if st.Relayed[Upstream] != int64(tc.size) || st.Relayed[Downstream] != int64(tc.size) {
				t.Errorf("relayed = %v, want %d each way", st.Relayed, tc.size)
			}
		})
	}
}

func TestProxyLatencyDelaysEachDirection(t *testing.T) {
	up := startUpstream(t, echo)
	p := startProxy(t, up.ln.Addr().String())
	const latency = 60 * time.Millisecond
	p.SetLatency(latency)
	c := dial(t, p.Addr())
	start := time.Now()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	// A lower bound only: the delay is applied, however slow the machine.
	if rtt := time.Since(start); rtt < 2*latency {
		t.Errorf("round trip took %v, want at least %v (latency each way)", rtt, 2*latency)
	}
	p.SetLatency(0)
	if _, err := c.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("after latency off: %q %v", buf, err)
	}
}

func TestProxyCutResetsBothPeers(t *testing.T) {
	serverErr := make(chan error, 1)
	up := startUpstream(t, func(s *upstreamServer, c net.Conn) {
		buf := make([]byte, 1)
		_, _ = c.Write([]byte("hello"))
		_, err := c.Read(buf)
		serverErr <- err
	})
	p := startProxy(t, up.ln.Addr().String())
	c := dial(t, p.Addr())
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	if n := p.Cut(); n != 1 {
		t.Errorf("Cut() = %d, want 1 connection", n)
	}
	if _, err := c.Read(buf); !isReset(err) {
		t.Errorf("client read after cut: %v, want a connection reset", err)
	}
	if err := <-serverErr; !isReset(err) {
		t.Errorf("server read after cut: %v, want a connection reset", err)
	}
	if st := p.Stats(); st.Cut != 1 {
		t.Errorf("Stats.Cut = %d, want 1", st.Cut)
	}
}

func TestProxyCutAfterTruncatesAtTheMark(t *testing.T) {
	const mark = 100_000
	t.Run("downstream", func(t *testing.T) {
		// The upstream sends once asked: were it to start on connect, the
		// reset at the mark could reach the client before its connect
		// call returned, failing the dial instead of the read.
		up := startUpstream(t, func(s *upstreamServer, c net.Conn) {
			if _, err := c.Read(make([]byte, 1)); err == nil {
				source(s, c)
			}
		})
		p := startProxy(t, up.ln.Addr().String())
		fired := p.CutAfter(Downstream, mark)
		c := dial(t, p.Addr())
		if _, err := c.Write([]byte("?")); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(c)
		if !isReset(err) {
			t.Fatalf("read ended with %v, want a connection reset", err)
		}
		// The proxy wrote exactly up to the mark; bytes still in its send
		// buffer may be dropped by the RST, and none past the mark arrive.
		if r := p.Stats().Relayed[Downstream]; r != mark {
			t.Errorf("proxy relayed %d bytes downstream, want exactly %d", r, mark)
		}
		if len(got) > mark {
			t.Errorf("client got %d bytes, want at most %d", len(got), mark)
		}
		want := bytes.Repeat([]byte("0123456789abcdef"), sourceBytes/16)[:len(got)]
		if !bytes.Equal(got, want) {
			t.Error("the bytes before the cut were altered")
		}
		select {
		case <-fired:
		case <-time.After(10 * time.Second):
			t.Error("tripwire channel not closed after the cut")
		}
	})
	t.Run("upstream", func(t *testing.T) {
		up := startUpstream(t, drain)
		p := startProxy(t, up.ln.Addr().String())
		fired := p.CutAfter(Upstream, mark)
		c := dial(t, p.Addr())
		werr := make(chan error, 1)
		go func() {
			payload := make([]byte, 64<<10)
			for range 1024 { // 64 MiB at most: far past the mark and any socket buffer
				if _, err := c.Write(payload); err != nil {
					werr <- err
					return
				}
			}
			werr <- nil
		}()
		select {
		case <-fired:
		case <-time.After(10 * time.Second):
			t.Fatal("tripwire did not fire")
		}
		if err := <-werr; !isReset(err) {
			t.Errorf("client write after the cut: %v, want a connection reset", err)
		}
		waitUntil(t, "the upstream connection to end", func() bool { return p.Stats().Active == 0 })
		// Exactly up to the mark left the proxy; the RST may drop what was
		// still in flight, and nothing past the mark arrives.
		if r := p.Stats().Relayed[Upstream]; r != mark {
			t.Errorf("proxy relayed %d bytes upstream, want exactly %d", r, mark)
		}
		if n := up.received.Load(); n > mark {
			t.Errorf("server got %d bytes, want at most %d", n, mark)
		}
	})
}

func TestProxyBlackhole(t *testing.T) {
	up := startUpstream(t, echo)
	p := startProxy(t, up.ln.Addr().String())

	// A connection that worked goes silent.
	old := dial(t, p.Addr())
	buf := make([]byte, 2)
	if _, err := old.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(old, buf); err != nil {
		t.Fatal(err)
	}
	p.SetBlackhole(true)
	if _, err := old.Write([]byte("lost")); err != nil {
		t.Fatal(err)
	}
	// New connections are accepted and read, never connected upstream.
	fresh := dial(t, p.Addr())
	if _, err := fresh.Write(make([]byte, 10_000)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the black hole to swallow both writes", func() bool {
		return p.Stats().Discarded[Upstream] == 10_004
	})
	if n := up.received.Load(); n != 2 {
		t.Errorf("upstream received %d bytes, want only the 2 sent before the black hole", n)
	}
	if n := up.accepted.Load(); n != 1 {
		t.Errorf("upstream accepted %d connections, want 1 (none while black-holed)", n)
	}

	p.SetBlackhole(false)
	c := dial(t, p.Addr())
	if _, err := c.Write([]byte("ok")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ok" {
		t.Fatalf("after the black hole: %q %v", buf, err)
	}
}

func TestProxyDownThenUp(t *testing.T) {
	up := startUpstream(t, echo)
	p := startProxy(t, up.ln.Addr().String())
	open := dial(t, p.Addr())
	buf := make([]byte, 2)
	if _, err := open.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(open, buf); err != nil {
		t.Fatal(err)
	}

	p.SetDown(true)
	if _, err := open.Read(buf); !isReset(err) {
		t.Errorf("open connection when going down: %v, want a reset", err)
	}
	// The reset may reach the client before or after connect returns.
	if c, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second); err == nil {
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := c.Read(buf); err == nil {
			t.Error("a connection accepted while down delivered data")
		}
		c.Close()
	}
	if st := p.Stats(); st.Refused != 1 || st.Cut != 1 {
		t.Errorf("stats = %+v, want 1 refused and 1 cut", st)
	}

	p.SetDown(false)
	c := dial(t, p.Addr())
	if _, err := c.Write([]byte("up")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "up" {
		t.Fatalf("after coming back up: %q %v", buf, err)
	}
}

func TestProxyCloseEndsEverything(t *testing.T) {
	up := startUpstream(t, echo)
	p, err := Listen(up.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p.SetLatency(time.Hour) // queued data must not hold Close up
	c := dial(t, p.Addr())
	if _, err := c.Write([]byte("never delivered")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the connection to be relayed", func() bool { return p.Stats().Active == 1 })
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Active != 0 {
		t.Errorf("%d connections still open after Close", st.Active)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("client connection still delivers data after Close")
	}
	if c2, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		c2.Close()
		t.Error("proxy still accepts after Close")
	}
}

func TestProxyBlackholeAfterGoesSilentAtTheMark(t *testing.T) {
	const mark = 100_000
	up := startUpstream(t, source)
	p := startProxy(t, up.ln.Addr().String())
	fired := p.BlackholeAfter(Downstream, mark)
	c := dial(t, p.Addr())
	got := make([]byte, mark)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read up to the mark: %v", err)
	}
	<-fired
	waitUntil(t, "the rest of the stream to fall into the black hole", func() bool {
		return p.Stats().Discarded[Downstream] > 0
	})
	// Silence, not a reset: the read runs into its deadline.
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	n, err := c.Read(make([]byte, 1))
	var ne net.Error
	if n != 0 || !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("read past the mark = %d, %v; want a timeout with no data", n, err)
	}
	if st := p.Stats(); st.Relayed[Downstream] != mark || st.Cut != 0 {
		t.Errorf("stats = %+v, want exactly %d bytes relayed downstream and no cut", st, mark)
	}
}

func TestProxyCloseAfterEndsTheStreamCleanly(t *testing.T) {
	const mark = 100_000
	up := startUpstream(t, source)
	p := startProxy(t, up.ln.Addr().String())
	fired := p.CloseAfter(Downstream, mark)
	c := dial(t, p.Addr())
	got, err := io.ReadAll(c) // an orderly end: no error
	if err != nil {
		t.Fatalf("read ended with %v, want a clean end of stream", err)
	}
	if len(got) != mark {
		t.Errorf("client got %d bytes, want exactly %d", len(got), mark)
	}
	testkit.WaitFired(t, fired, 10*time.Second, "the tripwire")
	if st := p.Stats(); st.Cut != 1 {
		t.Errorf("Stats.Cut = %d, want 1", st.Cut)
	}
}

func TestProxyCutAfterSeveralMarks(t *testing.T) {
	up := startUpstream(t, source)
	p := startProxy(t, up.ln.Addr().String())
	ms := []int64{1_000, 50_000, 200_000}
	fired := p.CutAfter(Downstream, ms...)
	for i, mark := range ms {
		// Each connection meets the next mark, counted afresh. The reset
		// can beat connect's return on loopback.
		var got []byte
		c, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			got, err = io.ReadAll(c)
			c.Close()
		}
		if !isReset(err) || len(got) > int(mark) {
			t.Errorf("connection %d: got %d bytes and %v, want at most %d and a reset", i, len(got), err, mark)
		}
		testkit.WaitFired(t, fired, 10*time.Second, fmt.Sprintf("mark %d", i))
	}
	if _, open := <-fired; open {
		t.Error("the channel got a value past the last mark")
	}
	c := dial(t, p.Addr())
	if got, err := io.ReadAll(c); err != nil || len(got) != sourceBytes {
		t.Errorf("after the last mark: got %d bytes and %v, want the whole %d", len(got), err, sourceBytes)
	}
}

// TestProxyMarkReachedOnALinkAnEarlierMarkCuts covers a mark reached on a
// connection that an earlier mark's cut closes before the chunk is written
// (a client that reconnected fast, seen in CI): the mark still fires.
func TestProxyMarkReachedOnALinkAnEarlierMarkCuts(t *testing.T) {
	up := startUpstream(t, drain)
	p := startProxy(t, up.ln.Addr().String())
	// The first mark's chunk waits two seconds in the proxy, the second's
	// a minute: the second is still queued when the first is written and
	// cuts everything, however the goroutines are scheduled.
	p.SetLatency(2 * time.Second)
	fired := p.CutAfter(Upstream, 10, 10)
	armed := func(left int64, marksAfter int) func() bool {
		return func() bool {
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.trip != nil && p.trip.left == left && len(p.trip.marks) == marksAfter
		}
	}
	first := dial(t, p.Addr())
	if _, err := first.Write([]byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	// The second connection must open after the first mark was reached, or
	// it is doomed with the first and relays nothing.
	waitUntil(t, "the first mark to be reached", armed(10, 0))
	p.SetLatency(time.Minute)
	second := dial(t, p.Addr())
	if _, err := second.Write([]byte("abcdefghij")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the second mark to be reached", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.trip == nil
	})
	testkit.WaitFired(t, fired, 10*time.Second, "the first mark")
	testkit.WaitFired(t, fired, 10*time.Second, "the second mark, whose connection the first cut")
	if _, open := <-fired; open {
		t.Error("the channel got a value past the last mark")
	}
	if got := p.Stats().Relayed[Upstream]; got != 10 {
		t.Errorf("relayed %d bytes upstream, want the first connection's 10", got)
	}
}
