package mailbox

import (
	"bufio"
	"context"
	"net"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"
)

// scriptedServer answers an Account's commands with fuzzed untagged data
// for SELECT, UID SEARCH and UID FETCH: a hostile or broken server.
// settle is called once the script has run its course (IDLE reached or the
// connection ended), so a fuzz iteration need not wait out its timeout.
func scriptedServer(conn net.Conn, sel, search, fetch []byte, settle func()) {
	defer settle()
	defer conn.Close()
	w := bufio.NewWriter(conn)
	r := bufio.NewReader(conn)
	write := func(parts ...[]byte) bool {
		for _, p := range parts {
			if _, err := w.Write(p); err != nil {
				return false
			}
		}
		return w.Flush() == nil
	}
	if !write([]byte("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN IDLE MOVE UIDPLUS] fuzz ready\r\n")) {
		return
	}
	for range 200 { // bounded: a fuzz iteration must end
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		tag, rest, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		cmd := strings.ToUpper(rest)
		ok := []byte(tag + " OK done\r\n")
		switch {
		case strings.HasPrefix(cmd, "CAPABILITY"):
			write([]byte("* CAPABILITY IMAP4rev1 IDLE MOVE UIDPLUS\r\n"), ok)
		case strings.HasPrefix(cmd, "SELECT"):
			write(sel, []byte(tag+" OK [READ-WRITE] selected\r\n"))
		case strings.HasPrefix(cmd, "UID SEARCH"):
			write(search, ok)
		case strings.HasPrefix(cmd, "UID FETCH"):
			write(fetch, ok)
		case strings.HasPrefix(cmd, "IDLE"):
			settle()
			if !write([]byte("+ idling\r\n")) {
				return
			}
			if _, err := r.ReadString('\n'); err != nil {
				return
			}
			write(ok)
		case strings.HasPrefix(cmd, "LOGOUT"):
			write([]byte("* BYE bye\r\n"), ok)
			return
		default:
			write(ok)
		}
	}
}

func FuzzHostileServer(f *testing.F) {
	goodSel := []byte("* 2 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [PERMANENTFLAGS (\\Seen \\*)] p\r\n* OK [UIDNEXT 3] n\r\n")
	f.Add(goodSel, []byte("* SEARCH 1 2\r\n"),
		[]byte("* 1 FETCH (UID 1 FLAGS () RFC822.SIZE 5 INTERNALDATE \"01-Jan-2026 10:00:00 +0000\" BODY[] {5}\r\nhello)\r\n"))
	f.Add(goodSel, []byte("* SEARCH 1:*\r\n"), []byte("* 1 FETCH (UID 1 BODY[] {1000}\r\nshort)\r\n"))
	f.Add(goodSel, []byte("* SEARCH 4294967295\r\n"), []byte("* 1 FETCH (UID 4294967295 RFC822.SIZE -1 BODY[] NIL)\r\n"))
	f.Add([]byte("* OK [PERMANENTFLAGS ()] none\r\n* 1 EXISTS\r\n"), []byte("* SEARCH 9 9 9\r\n"),
		[]byte("* 1 FETCH (UID 9 FLAGS (\\Deleted) BODY[] {3}\r\nabc)\r\n* 2 FETCH (UID 9 BODY[] {3}\r\nxyz)\r\n"))
	f.Add([]byte("* BYE go away\r\n"), []byte(""), []byte(""))
	f.Add(goodSel, []byte("* SEARCH\r\n* 99 EXISTS\r\n"), []byte("* 1 FETCH (UID 1 BODY[] {200}\r\n"+strings.Repeat("x", 200)+")\r\n"))
	f.Add([]byte("\x00\xff{99999999999}\r\n"), []byte("+ \r\n"), []byte(")))((("))

	f.Fuzz(runHostile)
}

// runHostile runs an Account against scriptedServer for a moment.
func runHostile(t *testing.T, sel, search, fetch []byte) {
	{
		const limit = 100
		var wg sync.WaitGroup
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Millisecond)
		defer cancel()
		dial := func(context.Context, string, string) (net.Conn, error) {
			client, server := net.Pipe()
			wg.Go(func() { scriptedServer(server, sel, search, fetch, cancel) })
			return client, nil
		}
		handler := func(_ context.Context, m *Message) Outcome {
			if int64(len(m.Raw)) > limit {
				t.Errorf("handler got %d bytes, limit %d", len(m.Raw), limit)
			}
			return Outcome{Verdict: Done}
		}
		a, err := New(Config{
			Name: "fuzz", Addr: "127.0.0.1:1", TLS: TLSNone, Username: "u",
			Secret:          func(context.Context) (string, error) { return "p", nil },
			Dial:            dial,
			Timeout:         100 * time.Millisecond,
			IdleRestart:     50 * time.Millisecond,
			ShutdownGrace:   10 * time.Millisecond,
			ReconnectMin:    5 * time.Millisecond,
			ReconnectMax:    10 * time.Millisecond,
			RetryBackoff:    5 * time.Millisecond,
			MaxMessageBytes: limit,
		}, handler, Events{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
			t.Fatal("Run did not return after cancel")
		}
		served := make(chan struct{})
		go func() { wg.Wait(); close(served) }()
		select {
		case <-served:
		case <-time.After(30 * time.Second):
			_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
			t.Fatal("a connection outlived Run")
		}
	}
}
