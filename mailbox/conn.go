package mailbox

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
)

// deadlineConn gives every read and write a deadline, so a dead connection
// fails the blocked command instead of hanging: go-imap's client reads
// between responses without any deadline. A read may wait `window` for data
// (Timeout normally, longer while in IDLE); a write also pushes the read
// deadline out, since its reply is due within the window.
//
// Deadlines set by the IMAP or TLS client are ignored: this wrapper owns them.
//
// A failed read fails every later read the same way: go-imap's decoder and
// crypto/tls read again after a timeout, and each retry would wait another
// full window (a silent server took 4× the timeout to be noticed).
type deadlineConn struct {
	net.Conn
	window       atomic.Int64 // time.Duration
	writeTimeout time.Duration
	readErr      atomic.Pointer[error]
	readerDone   atomic.Pointer[<-chan struct{}] // go-imap's Client.Closed(), once known
}

// readerGoneWait bounds how long a failed write waits for go-imap's reader
// goroutine to finish before it decides the reader is still running.
const readerGoneWait = time.Second

func newDeadlineConn(c net.Conn, timeout time.Duration) *deadlineConn {
	dc := &deadlineConn{Conn: c, writeTimeout: timeout}
	dc.window.Store(int64(timeout))
	return dc
}

// setWindow changes how long reads may wait from now on.
func (c *deadlineConn) setWindow(d time.Duration) {
	c.window.Store(int64(d))
	_ = c.Conn.SetReadDeadline(time.Now().Add(d))
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	if err := c.readErr.Load(); err != nil {
		return 0, *err
	}
	_ = c.Conn.SetReadDeadline(time.Now().Add(time.Duration(c.window.Load())))
	n, err := c.Conn.Read(p)
	if err != nil {
		c.readErr.CompareAndSwap(nil, &err)
		return n, *c.readErr.Load() // a failed write's error, if that came first
	}
	return n, nil
}

// Write fails the connection, not the write, while go-imap's reader
// goroutine runs. go-imap (v2.0.0-beta.8) answers a failed write by
// completing every pending command from the writing goroutine, closing a
// FETCH's message channel while the reader may be sending on it (a data
// race, and a panic if the close wins). So a failed write closes the
// connection and is reported by the reads: the reader fails the pending
// commands itself, this one included (it was registered before it was
// written). Once the reader has ended, nothing else would ever complete a
// new command, so the error goes to the writer as go-imap expects.
func (c *deadlineConn) Write(p []byte) (int, error) {
	if err := c.readErr.Load(); err != nil {
		return c.failedWrite(len(p), *err)
	}
	now := time.Now()
	_ = c.Conn.SetWriteDeadline(now.Add(c.writeTimeout))
	_ = c.Conn.SetReadDeadline(now.Add(time.Duration(c.window.Load())))
	if _, err := c.Conn.Write(p); err != nil {
		werr := fmt.Errorf("write: %w", err)
		c.readErr.CompareAndSwap(nil, &werr)
		_ = c.Conn.Close()
		return c.failedWrite(len(p), *c.readErr.Load())
	}
	return len(p), nil
}

// watchReader tells the connection when go-imap's reader goroutine ends.
func (c *deadlineConn) watchReader(done <-chan struct{}) { c.readerDone.Store(&done) }

// failedWrite decides what a write on a failed connection reports: the
// error once the reader has ended (or when there is none yet, during the
// handshake), else success, leaving the reader to fail the command.
func (c *deadlineConn) failedWrite(n int, err error) (int, error) {
	done := c.readerDone.Load()
	if done == nil {
		return 0, err
	}
	t := time.NewTimer(readerGoneWait)
	defer t.Stop()
	select {
	case <-*done:
		return 0, err
	case <-t.C:
		return n, nil // the reader still runs; it completes the command
	}
}

func (c *deadlineConn) SetDeadline(time.Time) error      { return nil }
func (c *deadlineConn) SetReadDeadline(time.Time) error  { return nil }
func (c *deadlineConn) SetWriteDeadline(time.Time) error { return nil }

// dial connects, secures and authenticates a connection. The unilateral
// handler is installed before the first byte is read.
func (a *Account) dial(ctx context.Context, uh *imapclient.UnilateralDataHandler) (*imapclient.Client, *deadlineConn, error) {
	cfg := &a.cfg
	host, _, _ := net.SplitHostPort(cfg.Addr)

	dctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	dialFn := cfg.Dial
	if dialFn == nil {
		d := &net.Dialer{KeepAlive: 15 * time.Second} // TCP keepalive finds dead peers while in IDLE
		dialFn = d.DialContext
	}
	raw, err := dialFn(dctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dial %s: %w", cfg.Addr, err)
	}
	dc := newDeadlineConn(raw, cfg.Timeout)
	// Until the session is set up, cancelling ctx aborts it by closing the
	// connection (go-imap has no context support).
	stop := context.AfterFunc(ctx, func() { _ = dc.Close() })
	defer stop()

	var conn net.Conn = dc
	if cfg.TLS == TLSImplicit || cfg.TLS == TLSStartTLS {
		if cfg.TLS == TLSStartTLS {
			if err := startTLS(dc); err != nil {
				_ = dc.Close()
				return nil, nil, fmt.Errorf("starttls with %s: %w", cfg.Addr, ctxErr(ctx, err))
			}
		}
		tc := tls.Client(dc, a.tlsConfig(host))
		if err := tc.HandshakeContext(dctx); err != nil {
			_ = dc.Close()
			return nil, nil, fmt.Errorf("tls handshake with %s: %w", cfg.Addr, err)
		}
		conn = tc
		if cfg.TLS == TLSStartTLS {
			// go-imap waits for a greeting: the server's real one came
			// before the upgrade.
			conn = readerConn{Conn: tc, r: io.MultiReader(strings.NewReader("* OK TLS established\r\n"), tc)}
		}
	}
	// Every response go-imap reads passes the bounds of limitConn.
	c := imapclient.New(newLimitConn(conn, cfg.MaxMessageBytes), &imapclient.Options{UnilateralDataHandler: uh})
	dc.watchReader(c.Closed())
	if err := c.WaitGreeting(); err != nil {
		_ = c.Close()
		return nil, nil, fmt.Errorf("greeting from %s: %w", cfg.Addr, ctxErr(ctx, err))
	}
	if err := a.authenticate(ctx, c); err != nil {
		_ = c.Close()
		return nil, nil, ctxErr(ctx, err)
	}
	return c, dc, nil
}

func (a *Account) tlsConfig(host string) *tls.Config {
	t := a.cfg.TLSConfig.Clone() // nil without one
	if t == nil {
		t = &tls.Config{}
	}
	t.ServerName = cmp.Or(t.ServerName, host)
	t.MinVersion = max(t.MinVersion, tls.VersionTLS12)
	t.InsecureSkipVerify = a.cfg.InsecureSkipVerify
	return t
}

// ctxErr prefers the context's error when ctx ended: the connection error is
// then only a consequence.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

// errAuth marks authentication failures (wrong secret, unsupported mechanism).
var errAuth = errors.New("authentication failed")

func (a *Account) authenticate(ctx context.Context, c *imapclient.Client) error {
	if c.State() == imap.ConnStateAuthenticated {
		return nil // PREAUTH
	}
	secret, err := a.cfg.Secret(ctx)
	if err != nil {
		return fmt.Errorf("secret for %s: %w", a.cfg.Name, err)
	}
	caps := c.Caps()
	user := a.cfg.Username
	var authErr error
	switch a.cfg.Auth {
	case AuthPlain:
		switch {
		case hasAuth(caps, sasl.Plain):
			authErr = c.Authenticate(sasl.NewPlainClient("", user, secret))
		case !caps.Has(imap.CapLoginDisabled):
			authErr = c.Login(user, secret).Wait()
		default:
			return fmt.Errorf("%w: server offers neither AUTH=PLAIN nor LOGIN", errAuth)
		}
	case AuthLogin:
		switch {
		case !caps.Has(imap.CapLoginDisabled):
			authErr = c.Login(user, secret).Wait()
		case hasAuth(caps, sasl.Login):
			authErr = c.Authenticate(sasl.NewLoginClient(user, secret))
		default:
			return fmt.Errorf("%w: LOGIN is disabled", errAuth)
		}
	case AuthXOAuth2:
		authErr = c.Authenticate(NewXOAuth2Client(user, secret))
	case AuthOAuthBearer:
		host, portStr, _ := net.SplitHostPort(a.cfg.Addr)
		port, _ := strconv.Atoi(portStr)
		authErr = c.Authenticate(sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{
			Username: user, Token: secret, Host: host, Port: port,
		}))
	}
	if authErr != nil {
		// The error text is the server's; it never contains the secret.
		return fmt.Errorf("%w as %q (%s): %w", errAuth, user, a.cfg.Auth, authErr)
	}
	return nil
}

func hasAuth(caps imap.CapSet, mech string) bool {
	return slices.ContainsFunc(caps.AuthMechanisms(), func(m string) bool { return strings.EqualFold(m, mech) })
}
