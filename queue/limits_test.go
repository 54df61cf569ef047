package queue

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"text/template"
)

// The sinks' bounds at exactly the bound and one past it. The re-encoding
// depth of forwarded mail is in TestRewriteNestedMultipartMemory.

// TestHeaderValueBounds: an X-Triage-* header value (and the same value in
// an exec sink's TRIAGE_* variable) and the subject tag are kept whole at
// their bound and cut to it one byte past.
func TestHeaderValueBounds(t *testing.T) {
	raw := []byte("Subject: printer\r\n\r\nbody\r\n")
	for _, n := range []int{maxHeaderValue, maxHeaderValue + 1} {
		tk := sampleTicket(raw)
		tk.Class.Runbook = strings.Repeat("r", n)
		kept := strings.Repeat("r", maxHeaderValue)
		forwarded := string(forwardMessage(tk, ""))
		if !strings.Contains(forwarded, "X-Triage-Runbook: "+kept+"\r\n") {
			t.Errorf("runbook of %d bytes: X-Triage-Runbook not %d bytes:\n%.2000s", n, maxHeaderValue, forwarded)
		}
		var env string
		for _, kv := range (&execSink{}).env(tk) {
			if v, ok := strings.CutPrefix(kv, "TRIAGE_RUNBOOK="); ok {
				env = v
			}
		}
		if env != kept {
			t.Errorf("runbook of %d bytes: TRIAGE_RUNBOOK of %d bytes, want %d", n, len(env), maxHeaderValue)
		}
	}
	for _, n := range []int{maxSubjectTag, maxSubjectTag + 1} {
		tag := strings.Repeat("t", n)
		forwarded := string(forwardMessage(sampleTicket(raw), tag))
		if want := "Subject: " + strings.Repeat("t", maxSubjectTag) + " printer\r\n"; !strings.Contains(forwarded, want) {
			t.Errorf("tag of %d bytes: subject not tagged with %d bytes:\n%s", n, maxSubjectTag, forwarded)
		}
	}
}

// TestExecOutputBound: a failing command's output is kept whole up to
// maxCapturedOutput bytes; one byte more is cut there and marked.
func TestExecOutputBound(t *testing.T) {
	log, _ := testLogger()
	for _, tt := range []struct {
		n         int
		truncated bool
	}{{maxCapturedOutput, false}, {maxCapturedOutput + 1, true}} {
		script := fmt.Sprintf("head -c %d /dev/zero | tr '\\0' o; exit 1", tt.n)
		sink, err := New("x", Config{Type: "exec", Settings: &ExecConfig{Command: StringList{"sh", "-c", script}}}, t.TempDir(), log)
		if err != nil {
			t.Fatal(err)
		}
		err = sink.Send(context.Background(), sampleTicket([]byte("Subject: x\r\n\r\nb\r\n")))
		want := "output: " + strings.Repeat("o", maxCapturedOutput)
		if tt.truncated {
			want += " …[truncated]"
		}
		if err == nil || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("%d bytes of output: %v", tt.n, err)
		}
	}
}

// TestWebhookResponseBounds: an error reply's body is kept in the error up
// to maxLoggedResponse bytes; a reply of up to maxLoggedResponse +
// maxDrainedResponse bytes is read to its end so the connection is reused,
// one byte more is not read and the connection is not reused.
func TestWebhookResponseBounds(t *testing.T) {
	for _, tt := range []struct {
		name  string
		code  int
		size  int
		conns int64 // connections for two sends
		kept  int   // bytes of the body in the error
	}{
		{"error body at the kept bound", 400, maxLoggedResponse, 1, maxLoggedResponse},
		{"error body one past the kept bound", 400, maxLoggedResponse + 1, 1, maxLoggedResponse},
		{"error body at the read bound", 400, maxLoggedResponse + maxDrainedResponse, 1, maxLoggedResponse},
		{"error body one past the read bound", 400, maxLoggedResponse + maxDrainedResponse + 1, 2, maxLoggedResponse},
		{"reply at the read bound", 200, maxLoggedResponse + maxDrainedResponse, 1, 0},
		{"reply one past the read bound", 200, maxLoggedResponse + maxDrainedResponse + 1, 2, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var conns atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Length", fmt.Sprint(tt.size))
				w.WriteHeader(tt.code)
				_, _ = io.WriteString(w, strings.Repeat("e", tt.size))
			}))
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			srv.Start()
			defer srv.Close()
			sink, err := New("q", Config{Type: "webhook", Settings: &WebhookConfig{URL: srv.URL}}, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer sink.Close()
			for range 2 {
				err := sink.Send(context.Background(), sampleTicket(nil))
				switch {
				case tt.kept == 0 && err != nil:
					t.Fatal(err)
				case tt.kept > 0 && (err == nil || !strings.HasSuffix(err.Error(), ": "+strings.Repeat("e", tt.kept))):
					t.Fatalf("error %v, want the body's first %d bytes", err, tt.kept)
				}
			}
			if got := conns.Load(); got != tt.conns {
				t.Errorf("%d connections for two sends, want %d", got, tt.conns)
			}
		})
	}
}

// TestTemplateOutputBound: a template renders exactly maxTemplateOutput
// bytes; one more is an error.
func TestTemplateOutputBound(t *testing.T) {
	tmpl := template.Must(template.New("body").Parse(`{{.}}`))
	for _, tt := range []struct {
		n  int
		ok bool
	}{{maxTemplateOutput, true}, {maxTemplateOutput + 1, false}} {
		out, err := execTemplate(tmpl, strings.Repeat("b", tt.n))
		switch {
		case tt.ok && (err != nil || len(out) != tt.n):
			t.Errorf("%d bytes: %d rendered, %v", tt.n, len(out), err)
		case !tt.ok && (out != nil || err == nil || !strings.Contains(err.Error(), fmt.Sprintf("template output exceeds %d bytes", maxTemplateOutput))):
			t.Errorf("%d bytes: %d rendered, %v; want refused", tt.n, len(out), err)
		}
	}
}

// multiline is an SMTP reply of exactly n bytes: code-continued lines,
// then "code ok".
func multiline(code string, n int) string {
	last := code + " ok\r\n"
	var b strings.Builder
	for rest := n - len(last); rest > 0; {
		l := min(rest, 1000)
		if rest-l > 0 && rest-l < 7 {
			l = rest - 7 // leave room for a whole last line
		}
		b.WriteString(code + "-" + strings.Repeat("x", l-6) + "\r\n")
		rest -= l
	}
	return b.String() + last
}

// startFakeSMTP serves SMTP on 127.0.0.1 with the given greeting and EHLO
// reply, 250 to other commands, 354 to DATA; it counts the messages whose
// data ended.
func startFakeSMTP(t *testing.T, greeting, ehlo string) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var delivered atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				_, _ = io.WriteString(c, greeting)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					reply := "250 ok\r\n"
					switch cmd := strings.ToUpper(strings.Fields(line + " x")[0]); cmd {
					case "EHLO":
						reply = ehlo
					case "QUIT":
						_, _ = io.WriteString(c, "221 bye\r\n")
						return
					case "DATA":
						_, _ = io.WriteString(c, "354 go on\r\n")
						for {
							l, err := r.ReadString('\n')
							if err != nil {
								return
							}
							if l == ".\r\n" {
								break
							}
						}
						delivered.Add(1)
					}
					if _, err := io.WriteString(c, reply); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), &delivered
}

// TestSMTPReplyBound: a server's answer to one command (the greeting
// too) is read up to maxReplyBytes; one byte more fails the delivery as
// temporary instead of being read on. The bound restarts at each command.
func TestSMTPReplyBound(t *testing.T) {
	ok := "250 ok\r\n"
	for _, tt := range []struct {
		name, greeting, ehlo string
		delivered            bool
	}{
		{"greeting at the bound", multiline("220", maxReplyBytes), ok, true},
		{"greeting one past", multiline("220", maxReplyBytes+1), ok, false},
		{"greeting and EHLO reply each at the bound", multiline("220", maxReplyBytes), multiline("250", maxReplyBytes), true},
		{"EHLO reply one past", "220 hi\r\n", multiline("250", maxReplyBytes+1), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr, delivered := startFakeSMTP(t, tt.greeting, tt.ehlo)
			sink, err := New("q", Config{Type: "smtp", Settings: &SMTPConfig{Addr: addr, TLS: "none", From: "triage@h.test", To: StringList{"a@t.test"}}}, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			err = sink.Send(context.Background(), sampleTicket(readMail(t, "vpn.eml")))
			switch {
			case tt.delivered && (err != nil || delivered.Load() != 1):
				t.Errorf("%v, %d delivered; want delivered", err, delivered.Load())
			case !tt.delivered && (err == nil || !Temporary(err) || !strings.Contains(err.Error(), errReplyTooLarge.Error()) || delivered.Load() != 0):
				t.Errorf("%v, %d delivered; want a temporary error naming the bound", err, delivered.Load())
			}
		})
	}
}
