package testkit

import (
	"testing"
	"time"
)

func TestSumMetric(t *testing.T) {
	const body = `# TYPE triage_tickets_total counter
triage_tickets_total{tier="L1",queue="helpdesk"} 3
triage_tickets_total{tier="L2",queue="systems"} 2
triage_tickets_total{tier="L1",queue="systems"} 1
# TYPE triage_imap_idle gauge
triage_imap_idle{account="a",mailbox="INBOX"} 1
# TYPE triage_decode_duration_seconds histogram
triage_decode_duration_seconds_bucket{le="+Inf"} 7
triage_decode_duration_seconds_sum 0.1
triage_decode_duration_seconds_count 7
`
	tests := []struct {
		name  string
		match map[string]string
		want  float64
	}{
		{"triage_tickets_total", nil, 6},
		{"triage_tickets_total", map[string]string{"tier": "L1"}, 4},
		{"triage_tickets_total", map[string]string{"tier": "L1", "queue": "systems"}, 1},
		{"triage_tickets_total", map[string]string{"tier": "L3"}, 0},
		{"triage_imap_idle", map[string]string{"mailbox": "INBOX"}, 1},
		{"triage_decode_duration_seconds", nil, 7},
		{"triage_missing", nil, 0},
	}
	for _, tt := range tests {
		got, err := SumMetric(body, tt.name, tt.match)
		if err != nil || got != tt.want {
			t.Errorf("SumMetric(%s, %v) = %v, %v; want %v", tt.name, tt.match, got, err, tt.want)
		}
	}
	if _, err := SumMetric("not { metrics", "x", nil); err == nil {
		t.Error("SumMetric accepted garbage")
	}
}

func TestWithMessageID(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"replaced", "From: a\r\nMessage-ID: <old@x>\r\nSubject: s\r\n\r\nMessage-ID: in the body\r\n",
			"Message-ID: <new@x>\r\nFrom: a\r\nSubject: s\r\n\r\nMessage-ID: in the body\r\n"},
		{"folded", "message-id:\r\n <old@x>\r\nSubject: s\r\n\r\nbody\r\n",
			"Message-ID: <new@x>\r\nSubject: s\r\n\r\nbody\r\n"},
		{"added", "Subject: s\r\n\r\nbody\r\n", "Message-ID: <new@x>\r\nSubject: s\r\n\r\nbody\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(WithMessageID([]byte(tt.in), "<new@x>")); got != tt.want {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestAccountYAML(t *testing.T) {
	got := Account{
		Name: "helpdesk", Addr: "127.0.0.1:1143", User: "ann", PasswordEnv: "PW",
		ReconnectMax: 500 * time.Millisecond, Timeout: time.Minute,
	}.YAML()
	want := `accounts:
  - name: helpdesk
    addr: 127.0.0.1:1143
    tls: none
    username: ann
    password_env: PW
    mailboxes: [INBOX]
    reconnect_min: 100ms
    reconnect_max: 500ms
    retry_backoff: 200ms
    timeout: 1m0s
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
