// Package demo runs `triage demo`: the real daemon against go-imap's
// in-memory IMAP server, seeded with the example mail and rules, printing
// one readable line per ticket. It owns the demo's server, its seeding, the
// drop folder new mail is read from and the ticket line; it must not know
// how the daemon handles mail, which it only configures and runs.
package demo

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"golang.org/x/text/width"

	"github.com/triage-dev/triage/config"
	"github.com/triage-dev/triage/daemon"
	"github.com/triage-dev/triage/examples"
	"github.com/triage-dev/triage/internal/boundedfile"
	"github.com/triage-dev/triage/mailbox"
	"github.com/triage-dev/triage/queue"
	"github.com/triage-dev/triage/rules"
	"github.com/triage-dev/triage/ticket"
)

// Options configure `triage demo`.
type Options struct {
	Out     io.Writer // one readable line per ticket
	Log     io.Writer // daemon logs (warnings and up)
	DropDir string    // .eml files dropped here are appended to the mailbox; default: a temp dir
	WorkDir string    // where rules, state and tickets.jsonl go; default: a temp dir
	Ready   func(dropDir string)
	// Listen is the admin server and web console's address; default
	// DefaultListen, or a free loopback port when that one is taken.
	Listen string
	// Token, when set, is the admin token the console asks for.
	Token string
	// ReadOnly turns console.allow_edit off: the demo's playground may
	// save its copy of the example rules otherwise.
	ReadOnly bool
	// Console, if set, is told the console's URL once it is served.
	Console func(url string)
}

// DefaultListen is where the demo serves its console when the port is free.
const DefaultListen = "127.0.0.1:9425"

const demoUser, demoPassword = "demo", "demo"

// Run runs the real daemon loop against go-imap's in-memory server seeded
// with the example mail, printing each ticket, until ctx ends.
func Run(ctx context.Context, o Options) error {
	o.Out = cmp.Or(o.Out, io.Writer(os.Stdout))
	o.Log = cmp.Or(o.Log, io.Writer(os.Stderr))
	work := o.WorkDir
	if work == "" {
		dir, err := os.MkdirTemp("", "triage-demo-")
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		defer os.RemoveAll(dir)
		work = dir
	}
	if err := examples.Extract(work); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	drop := cmp.Or(o.DropDir, filepath.Join(work, "drop"))
	if err := os.MkdirAll(drop, 0o755); err != nil {
		return fmt.Errorf("demo: %w", err)
	}

	// The in-memory IMAP server, on a loopback port.
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(demoUser, demoPassword)
	mem.AddUser(user)
	if err := user.Create("INBOX", nil); err != nil {
		return fmt.Errorf("demo: create INBOX: %w", err)
	}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}, imap.CapIdle: {}, imap.CapUIDPlus: {}, imap.CapMove: {}},
		InsecureAuth: true,
		Logger:       stdlog.New(io.Discard, "", 0),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	mails, err := examples.Mails()
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	for _, m := range mails {
		if err := appendMail(user, m.Raw); err != nil {
			return fmt.Errorf("demo: seed %s: %w", m.Name, err)
		}
	}

	set, err := rules.Load(filepath.Join(work, "rules.yaml"))
	if err != nil {
		return fmt.Errorf("demo: example rules: %w", err)
	}
	cfg := &config.Config{
		Path:  filepath.Join(work, "triage.yaml"),
		Rules: "rules.yaml",
		Accounts: []config.AccountConfig{{
			Name: "demo", Addr: ln.Addr().String(), TLS: "none", Username: demoUser,
			PasswordFile: "demo.password", Mailboxes: []string{"INBOX"},
		}},
		Queues:   map[string]queue.Config{},
		StateDir: "state",
		HTTP:     config.HTTPConfig{Listen: listenAddr(o.Listen)},
		Console:  config.ConsoleConfig{AllowEdit: !o.ReadOnly},
	}
	if o.Token != "" {
		cfg.HTTP.TokenFile = "http.token"
		if err := os.WriteFile(filepath.Join(work, "http.token"), []byte(o.Token), 0o600); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	for _, q := range set.Queues() {
		cfg.Queues[q] = queue.Config{Type: "file", Settings: &queue.FileConfig{Path: "tickets-" + q + ".jsonl"}}
	}
	cfg.ApplyDefaults()
	if err := os.WriteFile(filepath.Join(work, "demo.password"), []byte(demoPassword), 0o600); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	log := slog.New(slog.NewTextHandler(o.Log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := daemon.New(cfg, daemon.Options{Log: log, Version: "demo", OnTicket: func(h daemon.Handled) {
		fmt.Fprintln(o.Out, TicketLine(h.Ticket, h.Outcome))
	}, OnHTTP: func(addr net.Addr) {
		url := "http://" + addr.String() + "/"
		fmt.Fprintf(o.Out, "console: %s (overview, tickets, rules, playground)\n", url)
		if o.Console != nil {
			o.Console(url)
		}
	}})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "triage demo: %d sample mails in an in-memory IMAP server at %s, rules %s (version %s)\n",
		len(mails), ln.Addr(), "examples/rules.yaml", set.Version)
	fmt.Fprintf(o.Out, "drop .eml files into %s to deliver them; tickets are also written to %s; Ctrl-C stops\n", drop, work)
	if o.Ready != nil {
		o.Ready(drop)
	}
	go watchDropDir(ctx, drop, user, log)
	return d.Run(ctx)
}

// listenAddr is addr, or DefaultListen when that port is free, else any
// free loopback port: a second demo, or a daemon on the default port,
// must not stop the demo.
func listenAddr(addr string) string {
	if addr != "" {
		return addr
	}
	ln, err := net.Listen("tcp", DefaultListen)
	if err != nil {
		return "127.0.0.1:0"
	}
	_ = ln.Close()
	return DefaultListen
}

// TicketLine renders a ticket as one readable line.
func TicketLine(t *ticket.Ticket, outcome string) string {
	c := t.Class
	names := make([]string, len(c.Matched))
	for i, m := range c.Matched {
		names[i] = m.Rule
	}
	subj := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, t.Subject)
	rulesText := cmp.Or(strings.Join(names, ","), "(defaults)")
	return fmt.Sprintf("%-2s %-2s %-11s %-8s %s  rules=%s", c.Tier, c.Priority, c.Queue, c.Action, fitColumns(subj, 60), rulesText)
}

// fitColumns cuts s to at most cols terminal columns (ending it with "…"
// when cut) and pads it with spaces to exactly cols: East Asian wide
// characters take two columns, combining marks none, so columns after a
// Japanese or Chinese subject line up with the rest.
func fitColumns(s string, cols int) string {
	used, cut, cutUsed := 0, -1, 0
	for i, r := range s {
		w := runeColumns(r)
		if cut < 0 && used+w > cols-1 { // keep a column for the ellipsis
			cut, cutUsed = i, used
		}
		used += w
	}
	if used <= cols {
		return s + strings.Repeat(" ", cols-used)
	}
	return s[:cut] + "…" + strings.Repeat(" ", cols-cutUsed-1)
}

// runeColumns is how many terminal columns r takes.
func runeColumns(r rune) int {
	switch {
	case unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r) || r == 0x200b:
		return 0
	}
	switch width.LookupRune(r).Kind() {
	case width.EastAsianWide, width.EastAsianFullwidth:
		return 2
	}
	return 1
}

func appendMail(u *imapmemserver.User, raw []byte) error {
	raw = examples.ToCRLF(raw)
	// A *bytes.Reader is an imap.LiteralReader: its Size is len(raw).
	_, err := u.Append("INBOX", bytes.NewReader(raw), &imap.AppendOptions{Time: time.Now()})
	return err
}

// watchDropDir appends every new .eml in dir to the mailbox and removes it.
// Polling every 200 ms keeps this dependency-free and well inside "within a second".
func watchDropDir(ctx context.Context, dir string, u *imapmemserver.User, log *slog.Logger) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(strings.ToLower(e.Name()), ".eml") {
				continue
			}
			p := filepath.Join(dir, e.Name())
			raw, err := boundedfile.Read(p, mailbox.DefaultMaxMessageBytes)
			if errors.Is(err, boundedfile.ErrTooLarge) || errors.Is(err, boundedfile.ErrNotRegular) {
				// Set aside, not read again at every tick.
				log.Warn("demo: dropped file not delivered", "file", p, "err", err)
				_ = os.Rename(p, p+".refused")
				continue
			}
			if err != nil {
				continue
			}
			if err := appendMail(u, raw); err != nil {
				log.Warn("demo: append dropped mail", "file", p, "err", err)
				continue
			}
			_ = os.Rename(p, p+".delivered")
		}
	}
}
