// Package faultproxy is a fault-injecting TCP proxy for tests: it relays
// connections from a loopback listener to one upstream address and resets,
// delays, black-holes or refuses them on demand, at exact byte counts if
// asked. It owns the relaying and the faults; it must not know the protocol
// of the bytes it relays (IMAP, SMTP, HTTP) or anything of triage.
//
// The proxy is our own rather than Toxiproxy: the newest Toxiproxy module on
// the proxy (v2.5.0, 2022) brings gorilla/mux, zerolog, tomb.v1 and
// urfave/cli into the shared go.mod and needs its API server to run in
// process, while the network fault suite (suites/netfault) and the daemon
// benchmarks need only four faults, one of them (a reset after an exact byte
// count, to land inside a FETCH literal or SMTP DATA) that Toxiproxy has no
// toxic for.
package faultproxy

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Direction is one way of a proxied connection.
type Direction int

const (
	// Upstream is client → server.
	Upstream Direction = iota
	// Downstream is server → client.
	Downstream
)

const (
	chunkSize = 32 << 10
	// queuedChunks bounds what a direction holds while latency delays it.
	queuedChunks = 64
	dialTimeout  = 5 * time.Second
)

// Proxy relays TCP connections from a loopback listener to one upstream
// address and injects faults on demand: resets (now, or once a byte count is
// reached), latency, a black hole (accept, read, never answer) and an outage
// (every connection reset on accept). The zero faults relay bytes unchanged.
type Proxy struct {
	upstream string
	ln       net.Listener
	wg       sync.WaitGroup

	mu        sync.Mutex
	links     map[*link]struct{}
	latency   time.Duration
	blackhole bool
	down      bool
	trip      *tripwire
	closed    bool

	accepted, refused, cut atomic.Int64
	relayed, discarded     [2]atomic.Int64
}

// tripwire resets, closes or silences every connection once left more bytes
// have crossed in dir; then the next of marks is armed, counting afresh.
type tripwire struct {
	dir     Direction
	left    int64
	marks   []int64 // the marks still to come after this one
	silence bool    // black hole instead of reset
	fin     bool    // orderly close (FIN) instead of reset
	fired   chan struct{}
	// Shared by the tripwires of one arm (guarded by Proxy.mu): marks are
	// reached on different links' writers, and the channel closes only
	// after the last one's value is in, whichever writer gets there first.
	reached *int
	total   int
}

// next is the tripwire for the following mark, nil after the last.
func (tw *tripwire) next() *tripwire {
	if len(tw.marks) == 0 {
		return nil
	}
	n := *tw
	n.left, n.marks = max(tw.marks[0], 1), tw.marks[1:]
	return &n
}

// Stats counts what the proxy did since it started.
type Stats struct {
	Accepted  int64    // connections accepted, refused ones included
	Refused   int64    // connections reset on accept while down
	Cut       int64    // connections ended by Cut, a tripwire or SetDown
	Active    int      // connections open now
	Relayed   [2]int64 // bytes written on, by Direction
	Discarded [2]int64 // bytes read and dropped (black hole, past a tripwire), by Direction
}

// Listen starts a proxy on 127.0.0.1 (a free port) that relays to upstream.
func Listen(upstream string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	p := &Proxy{upstream: upstream, ln: ln, links: map[*link]struct{}{}}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr is the proxy's listening address (host:port).
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Close stops accepting, resets every connection and waits for the relay
// goroutines to end.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	links := slices.Collect(maps.Keys(p.links))
	p.mu.Unlock()
	err := p.ln.Close()
	for _, l := range links {
		l.close(true)
	}
	p.wg.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("faultproxy: close: %w", err)
	}
	return nil
}

// Stats returns the counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	active := len(p.links)
	p.mu.Unlock()
	s := Stats{Accepted: p.accepted.Load(), Refused: p.refused.Load(), Cut: p.cut.Load(), Active: active}
	for d := range 2 {
		s.Relayed[d] = p.relayed[d].Load()
		s.Discarded[d] = p.discarded[d].Load()
	}
	return s
}

// Cut resets every open connection (RST to both peers) and returns how many
// there were.
func (p *Proxy) Cut() int { return p.cutAll(true) }

// cutAll ends every open connection, with RSTs or FINs.
func (p *Proxy) cutAll(rst bool) int {
	p.mu.Lock()
	links := slices.Collect(maps.Keys(p.links))
	p.mu.Unlock()
	for _, l := range links {
		if l.close(rst) {
			p.cut.Add(1)
		}
	}
	return len(links)
}

// CutAfter arms a tripwire: once marks[0] more bytes have been relayed in dir
// (over all connections), the chunk that crosses the mark is written only up
// to it, nothing more is relayed on the connections open then, and they are
// reset. The next mark is armed at once and counts afresh, so a client that
// reconnects meets it however fast it is. The channel receives a value per
// mark reached and is closed after the last. Arming again replaces marks not
// reached yet.
func (p *Proxy) CutAfter(dir Direction, marks ...int64) <-chan struct{} {
	return p.arm(tripwire{dir: dir}, marks)
}

// BlackholeAfter is CutAfter with SetBlackhole(true) instead of a reset: the
// path goes silent in the middle of a transfer.
func (p *Proxy) BlackholeAfter(dir Direction, marks ...int64) <-chan struct{} {
	return p.arm(tripwire{dir: dir, silence: true}, marks)
}

// CloseAfter is CutAfter with an orderly close (FIN) instead of a reset: a
// peer that exits or a middlebox that ends the stream cleanly, mid-transfer.
func (p *Proxy) CloseAfter(dir Direction, marks ...int64) <-chan struct{} {
	return p.arm(tripwire{dir: dir, fin: true}, marks)
}

func (p *Proxy) arm(tw tripwire, marks []int64) <-chan struct{} {
	tw.fired = make(chan struct{}, len(marks))
	tw.marks = marks
	tw.reached, tw.total = new(int), len(marks)
	first := tw.next()
	if first == nil {
		close(tw.fired)
	}
	p.mu.Lock()
	p.trip = first
	p.mu.Unlock()
	return tw.fired
}

// SetLatency delays every chunk read from now on by d, in both directions.
// Chunks are delayed, not serialised: a stream keeps its throughput.
func (p *Proxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	p.latency = max(d, 0)
	p.mu.Unlock()
}

// SetBlackhole turns the black hole on or off. While on, open connections go
// silent for good (whatever they send is read and dropped, nothing more
// arrives) and new ones are accepted but never connected upstream: a server
// that accepts and never answers. Turning it off lets new connections
// through; the silenced ones stay dead until their peers give up.
func (p *Proxy) SetBlackhole(on bool) {
	p.mu.Lock()
	p.blackhole = on
	links := slices.Collect(maps.Keys(p.links))
	p.mu.Unlock()
	if on {
		for _, l := range links {
			l.silenced.Store(true)
		}
	}
}

// SetDown makes the upstream unreachable (true): open connections are reset
// and new ones are reset as soon as they are accepted. SetDown(false) lets
// connections through again.
func (p *Proxy) SetDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
	// A connection accepted from now on is refused under the lock (serve),
	// so cutting what is open now leaves none through.
	if down {
		p.cutAll(true)
	}
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary accept errors (EMFILE): back off briefly.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		p.accepted.Add(1)
		p.mu.Lock()
		closed, down, blackhole := p.closed, p.down, p.blackhole
		p.mu.Unlock()
		switch {
		case closed:
			_ = c.Close()
			return
		case down:
			p.refused.Add(1)
			reset(c)
			continue
		}
		p.wg.Add(1)
		go p.serve(c, blackhole)
	}
}

// serve connects c upstream (unless black-holed) and relays both ways.
func (p *Proxy) serve(client net.Conn, blackhole bool) {
	defer p.wg.Done()
	l := &link{client: client, done: make(chan struct{})}
	l.silenced.Store(blackhole)
	if !blackhole {
		server, err := net.DialTimeout("tcp", p.upstream, dialTimeout)
		if err != nil {
			reset(client)
			return
		}
		l.server = server
	}
	p.mu.Lock()
	// Faults switched on while the upstream was being dialled apply too.
	if p.closed || p.down {
		p.mu.Unlock()
		p.refused.Add(1)
		l.close(true)
		return
	}
	if p.blackhole {
		l.silenced.Store(true)
	}
	p.links[l] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.links, l)
		p.mu.Unlock()
	}()

	var dirs sync.WaitGroup
	dirs.Go(func() { p.pipe(l, Upstream, client, l.server) })
	dirs.Go(func() { p.pipe(l, Downstream, l.server, client) })
	dirs.Wait()
	l.close(false)
}

// link is one proxied connection. server is nil for a connection accepted
// into the black hole.
type link struct {
	client, server net.Conn
	silenced       atomic.Bool
	doomed         bool // guarded by Proxy.mu: past a tripwire's mark
	once           sync.Once
	done           chan struct{}
	halfClosed     atomic.Int32
}

// close ends the link once, resetting both peers when rst is set (else an
// orderly close); it reports whether this call closed it.
func (l *link) close(rst bool) bool {
	closed := false
	l.once.Do(func() {
		closed = true
		close(l.done)
		for _, c := range []net.Conn{l.client, l.server} {
			if c == nil {
				continue
			}
			if rst {
				reset(c)
			} else {
				_ = c.Close()
			}
		}
	})
	return closed
}

// reset closes c with an RST rather than a FIN, as a crashed peer or a
// middlebox dropping state would.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

type chunk struct {
	data []byte
	due  time.Time
	trip *tripwire // set on the chunk that reaches an armed tripwire's mark
}

// pipe relays src → dst for one direction: a reader stamps each chunk with
// its due time, a writer delivers it then. With dst nil (black hole) or the
// link silenced, what is read is dropped.
func (p *Proxy) pipe(l *link, dir Direction, src, dst net.Conn) {
	if src == nil {
		return // the black hole's server side: nothing ever comes from it
	}
	queue := make(chan chunk, queuedChunks)
	var writer sync.WaitGroup
	writer.Go(func() { p.deliver(l, dir, dst, queue) })
	defer writer.Wait()
	defer close(queue)
	buf := make([]byte, chunkSize)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if c, ok := p.stamp(l, dir, buf[:n]); ok {
				select {
				case queue <- c:
				case <-l.done:
					p.springLost(c)
					return
				}
			}
		}
		if err != nil {
			switch {
			case l.silenced.Load():
				// A black hole tells the other side nothing, not even this.
			case errors.Is(err, io.EOF) && dst != nil:
				select {
				case queue <- chunk{}: // end of stream: half-close after the queued data
				case <-l.done:
				}
			default:
				l.close(true)
			}
			return
		}
	}
}

// stamp decides what happens to n freshly read bytes: dropped (black hole),
// or queued with a due time and, at an armed tripwire's mark, truncated.
func (p *Proxy) stamp(l *link, dir Direction, b []byte) (chunk, bool) {
	if l.server == nil || l.silenced.Load() {
		p.discarded[dir].Add(int64(len(b)))
		return chunk{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if l.doomed {
		p.discarded[dir].Add(int64(len(b))) // past a tripwire's mark: about to be cut
		return chunk{}, false
	}
	c := chunk{data: append([]byte(nil), b...), due: time.Now().Add(p.latency)}
	if tw := p.trip; tw != nil && tw.dir == dir {
		if int64(len(c.data)) >= tw.left {
			c.data = c.data[:tw.left]
			c.trip = tw
			p.trip = tw.next()
			for other := range p.links {
				other.doomed = true
			}
		} else {
			tw.left -= int64(len(c.data))
		}
	}
	return c, true
}

// deliver writes queued chunks to dst when due. An empty chunk marks the
// end of the stream; a tripwire chunk resets every connection once written.
func (p *Proxy) deliver(l *link, dir Direction, dst net.Conn, queue <-chan chunk) {
	defer func() {
		for c := range queue { // the link ended; the reader closes queue soon
			p.springLost(c)
		}
	}()
	for c := range queue {
		if wait := time.Until(c.due); wait > 0 {
			select {
			case <-time.After(wait): // an unfired timer is collected, stopped or not
			case <-l.done:
				p.springLost(c)
				return
			}
		}
		if l.silenced.Load() {
			p.discarded[dir].Add(int64(len(c.data)))
			p.springLost(c)
			continue
		}
		if c.data == nil && c.trip == nil {
			p.halfClose(l, dst)
			return
		}
		if _, err := dst.Write(c.data); err != nil {
			l.close(true)
			p.springLost(c)
			return
		}
		p.relayed[dir].Add(int64(len(c.data)))
		if tw := c.trip; tw != nil {
			p.spring(tw)
			if tw.silence {
				continue // what follows is read and dropped
			}
			return
		}
	}
}

// spring does what tw is armed to do, to every connection, and reports it.
func (p *Proxy) spring(tw *tripwire) {
	if tw.silence {
		p.SetBlackhole(true)
	} else {
		p.cutAll(!tw.fin)
	}
	p.fire(tw)
}

// springLost springs the tripwire of a chunk that will never be written
// because its link already ended (an earlier mark's cut can close a
// connection after its chunk reached the next mark): the mark was reached,
// and a mark that never fires would leave its waiter hanging.
func (p *Proxy) springLost(c chunk) {
	if c.trip != nil {
		p.spring(c.trip)
	}
}

// fire reports that tw's mark was reached.
func (p *Proxy) fire(tw *tripwire) {
	p.mu.Lock()
	defer p.mu.Unlock()
	tw.fired <- struct{}{} // room for every mark
	*tw.reached++
	if *tw.reached == tw.total {
		close(tw.fired)
	}
}

// halfClose forwards an end of stream; when both directions have ended the
// link closes.
func (p *Proxy) halfClose(l *link, dst net.Conn) {
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	if l.halfClosed.Add(1) == 2 {
		l.close(false)
	}
}
