package mailbox

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"
)

// checkDefaults: a config that sets nothing optional gets the defaults,
// which the daemon and the README take from here.
func checkDefaults(t *testing.T, c Config) {
	t.Helper()
	want := Config{Name: c.Name, Addr: c.Addr, Username: c.Username, Secret: c.Secret,
		TLS: TLSImplicit, Auth: AuthPlain, DoneKeyword: DefaultDoneKeyword, Mailboxes: []string{"INBOX"},
		Quarantine: DefaultQuarantine, Failed: DefaultFailed, BatchSize: DefaultBatchSize, Concurrency: DefaultConcurrency,
		Timeout: DefaultTimeout, IdleRestart: DefaultIdleRestart, ShutdownGrace: DefaultShutdownGrace,
		PollInterval: DefaultPollInterval, MaxMessageBytes: DefaultMaxMessageBytes}
	got := []any{c.TLS, c.Auth, c.DoneKeyword, c.Mailboxes, c.Quarantine, c.Failed, c.BatchSize, c.Concurrency,
		c.Timeout, c.IdleRestart, c.ShutdownGrace, c.PollInterval, c.MaxMessageBytes}
	exp := []any{want.TLS, want.Auth, want.DoneKeyword, want.Mailboxes, want.Quarantine, want.Failed, want.BatchSize, want.Concurrency,
		want.Timeout, want.IdleRestart, want.ShutdownGrace, want.PollInterval, want.MaxMessageBytes}
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("defaults not applied:\n got %v\nwant %v", got, exp)
	}
	if c.Concurrency != 16 || c.BatchSize != 100 || c.MaxMessageBytes != 25<<20 {
		t.Errorf("concurrency %d, batch %d, max message %d: want the documented 16, 100, 25 MiB",
			c.Concurrency, c.BatchSize, c.MaxMessageBytes)
	}
}

func TestConfigValidation(t *testing.T) {
	secret := func(context.Context) (string, error) { return "s", nil }
	base := func() Config {
		return Config{Name: "a", Addr: "imap.example.com:993", Username: "u", Secret: secret}
	}
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string // "" = valid
		check   func(t *testing.T, c Config)
	}{
		{name: "defaults", mod: func(*Config) {}, check: checkDefaults},
		{name: "move only keeps keyword empty", mod: func(c *Config) { c.DoneMoveTo = "Done" }, check: func(t *testing.T, c Config) {
			if c.DoneKeyword != "" {
				t.Errorf("DoneKeyword = %q, want empty (move only)", c.DoneKeyword)
			}
		}},
		{name: "tls none to loopback", mod: func(c *Config) { c.TLS, c.Addr = TLSNone, "127.0.0.1:143" }},
		{name: "tls none to ::1", mod: func(c *Config) { c.TLS, c.Addr = TLSNone, "[::1]:143" }},
		{name: "tls none to localhost", mod: func(c *Config) { c.TLS, c.Addr = TLSNone, "localhost:143" }},
		{name: "tls none to remote refused", mod: func(c *Config) { c.TLS, c.Addr = TLSNone, "imap.example.com:143" }, wantErr: "loopback"},
		{name: "tls none to LAN IP refused", mod: func(c *Config) { c.TLS, c.Addr = TLSNone, "10.0.0.5:143" }, wantErr: "loopback"},
		{name: "unknown tls", mod: func(c *Config) { c.TLS = "ssl" }, wantErr: "tls"},
		{name: "unknown auth", mod: func(c *Config) { c.Auth = "cram-md5" }, wantErr: "auth"},
		{name: "no name", mod: func(c *Config) { c.Name = "" }, wantErr: "name"},
		{name: "bad addr", mod: func(c *Config) { c.Addr = "imap.example.com" }, wantErr: "addr"},
		{name: "no user", mod: func(c *Config) { c.Username = "" }, wantErr: "username"},
		{name: "no secret", mod: func(c *Config) { c.Secret = nil }, wantErr: "secret"},
		{name: "duplicate mailbox", mod: func(c *Config) { c.Mailboxes = []string{"INBOX", "inbox"} }, wantErr: "twice"},
		{name: "quarantine watched", mod: func(c *Config) { c.Mailboxes = []string{"INBOX", "Q"}; c.Quarantine = "Q" }, wantErr: "also a watched"},
		{name: "move_to watched", mod: func(c *Config) { c.DoneMoveTo = "inbox" }, wantErr: "also a watched"},
		// The folder checks report in one order, whatever Go's map order.
		{name: "two folders watched", mod: func(c *Config) { c.Quarantine, c.Failed = "INBOX", "INBOX" },
			wantErr: "quarantine folder \"INBOX\" is also a watched mailbox\nfailed folder \"INBOX\" is also a watched mailbox"},
		{name: "keyword injection", mod: func(c *Config) { c.DoneKeyword = "$T) \\Deleted" }, wantErr: "keyword"},
		{name: "keyword system flag", mod: func(c *Config) { c.DoneKeyword = `\Seen` }, wantErr: "keyword"},
		{name: "folder with newline", mod: func(c *Config) { c.Failed = "a\r\nb" }, wantErr: "control"},
		{name: "negative timeout", mod: func(c *Config) { c.Timeout = -time.Second }, wantErr: "negative"},
		{name: "huge batch", mod: func(c *Config) { c.BatchSize = 100000 }, wantErr: "batch"},
		{name: "negative concurrency", mod: func(c *Config) { c.Concurrency = -1 }, wantErr: "concurrency"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			tc.mod(&cfg)
			a, err := New(cfg, func(context.Context, *Message) Outcome { return Outcome{} }, Events{}, nil)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if tc.check != nil {
					tc.check(t, a.Config())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New error = %v, want one mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestNewRefusesNilHandler(t *testing.T) {
	cfg := Config{Name: "a", Addr: "127.0.0.1:1", Username: "u", Secret: func(context.Context) (string, error) { return "", nil }}
	if _, err := New(cfg, nil, Events{}, nil); err == nil {
		t.Fatal("New accepted a nil handler")
	}
}

func TestZeroOutcomeIsRetry(t *testing.T) {
	if (Outcome{}).Verdict != Retry {
		t.Fatal("a zero Outcome must not mark a message done")
	}
}

func TestRetryDelayBackoff(t *testing.T) {
	w := &worker{cfg: &Config{RetryBackoff: time.Second, RetryBackoffMax: 8 * time.Second}}
	bo := w.retryBackOff()
	for n := 1; n <= 10; n++ {
		want := min(time.Second<<(n-1), 8*time.Second)
		got := bo.NextBackOff()
		if got < want*8/10 || got > want*12/10 {
			t.Errorf("retry %d: delay %v, want %v ±20%%", n, got, want)
		}
	}
}

func TestReconnectBackoff(t *testing.T) {
	bo := reconnectBackOff(&Config{ReconnectMin: time.Second, ReconnectMax: 2 * time.Minute})
	// The delays double from 1s and stop at the 2m cap: 1s, 2s, … 64s, 2m, 2m.
	for i := range 12 {
		limit := min(time.Second<<i, 2*time.Minute)
		if d := bo.NextBackOff(); d < limit/2 || d > limit {
			t.Fatalf("step %d: %v outside [%v, %v]", i, d, limit/2, limit)
		}
	}
	bo.Reset()
	if d := bo.NextBackOff(); d < time.Second/2 || d > time.Second {
		t.Errorf("after reset: %v, want within [0.5s, 1s]", d)
	}
}
