package queue

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/triage-dev/triage/internal/duration"
	"go.yaml.in/yaml/v3"
)

func decodeQueues(t *testing.T, src string) (map[string]Config, error) {
	t.Helper()
	var doc struct {
		Queues map[string]Config `yaml:"queues"`
	}
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	err := dec.Decode(&doc)
	return doc.Queues, err
}

func TestConfigYAMLStrict(t *testing.T) {
	q, err := decodeQueues(t, `
queues:
  helpdesk: {type: smtp, addr: "tracker.example.com:587", to: l1@tracker.example.com, from: triage@example.com,
             subject_tag: "[{{.Tier}}][{{.Priority}}]", retry: {initial: 2s, max: 10m, give_up_after: 24h}}
  security:
    type: webhook
    url: https://tracker.example.com/api/tickets
    secret_env: HOOK_SECRET
    headers: {X-Source: triage}
    headers_env: {Authorization: TRACKER_TOKEN}
    timeout: 15s
  systems: {type: nats, url: "nats://127.0.0.1:4222", subject: "tickets.{{.Tier}}", stream: TICKETS}
  script: {type: exec, command: [/usr/local/bin/hook, --fast]}
  default: {type: file, path: tickets.jsonl}
`)
	if err != nil {
		t.Fatal(err)
	}
	h := q["helpdesk"]
	if to := h.Settings.(*SMTPConfig).To; len(to) != 1 || to[0] != "l1@tracker.example.com" {
		t.Errorf("to as a scalar: %v", to)
	}
	if time.Duration(h.Retry.Initial) != 2*time.Second || time.Duration(h.Retry.Max) != 10*time.Minute || time.Duration(h.Retry.GiveUpAfter) != 24*time.Hour {
		t.Errorf("retry: %+v", h.Retry)
	}
	if time.Duration(q["security"].Timeout) != 15*time.Second || q["security"].Settings.(*WebhookConfig).HeadersEnv["Authorization"] != "TRACKER_TOKEN" {
		t.Errorf("webhook: %+v", q["security"])
	}
	if c := q["script"].Settings.(*ExecConfig).Command; len(c) != 2 {
		t.Errorf("command: %v", c)
	}
	for name, c := range q {
		if p := ValidateConfig(name, c); len(p) > 0 {
			t.Errorf("%s: %v", name, p)
		}
	}
	// JSON (for /status) shows durations as strings and no secrets exist to show.
	b, err := json.Marshal(h)
	if err != nil || !bytes.Contains(b, []byte(`"give_up_after":"24h0m0s"`)) {
		t.Errorf("json: %s %v", b, err)
	}
}

// TestDurationSyntax: queue durations take the same syntax as triage.yaml
// and the rules' SLA targets (internal/duration), days included.
func TestDurationSyntax(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		name, fields string
		timeout      time.Duration
		max          time.Duration
	}{
		{"go durations", "timeout: 30s, retry: {max: 5m}", 30 * time.Second, 5 * time.Minute},
		{"whole days", "timeout: 3d, retry: {max: 3d}", 3 * day, 3 * day},
		{"days and hours", "timeout: 1d12h, retry: {max: 1d12h}", 36 * time.Hour, 36 * time.Hour},
		{"days minus hours", "timeout: 1d-1h, retry: {max: \" 2d \"}", 23 * time.Hour, 2 * day},
		{"zero", "timeout: 0s, retry: {max: 0d}", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "queues: {a: {type: file, path: x, " + tt.fields + "}}"
			q, err := decodeQueues(t, src)
			if err != nil {
				t.Fatalf("%s: %v", src, err)
			}
			a := q["a"]
			if time.Duration(a.Timeout) != tt.timeout || time.Duration(a.Retry.Max) != tt.max {
				t.Errorf("timeout %v, retry.max %v; want %v, %v", time.Duration(a.Timeout), time.Duration(a.Retry.Max), tt.timeout, tt.max)
			}
			// JSON (/status, config reload) reads back what it writes.
			b, err := json.Marshal(a)
			if err != nil {
				t.Fatal(err)
			}
			var back Config
			if err := json.Unmarshal(b, &back); err != nil || back.Timeout != a.Timeout || back.Retry.Max != a.Retry.Max {
				t.Errorf("JSON round trip %s: %+v, %v", b, back, err)
			}
		})
	}
	for in, want := range map[string]time.Duration{`"1d12h"`: 36 * time.Hour, `"3d"`: 3 * day, `"90s"`: 90 * time.Second} {
		var d duration.Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil || time.Duration(d) != want {
			t.Errorf("JSON %s = %v, %v; want %v", in, time.Duration(d), err, want)
		}
	}
	for _, in := range []string{`"-1s"`, `"3 days"`, `"3651d"`, `30`} {
		var d duration.Duration
		if err := json.Unmarshal([]byte(in), &d); err == nil {
			t.Errorf("JSON %s accepted as %v", in, time.Duration(d))
		}
	}
}

func TestConfigYAMLErrors(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"unknown key", "queues: {a: {type: file, path: x, colour: red}}", "colour"},
		{"another type's key", "queues: {a: {type: file, path: x, url: https://x.example.com/}}", "line 1: field url not found in type file queue"},
		{"unknown retry key", "queues: {a: {type: stdout, retry: {jitter: 1s}}}", "field jitter not found in type queue.RetryConfig"},
		{"unknown key merged in", "base: &b {type: stdout, colour: red}\nqueues: {a: {<<: *b}}", "line 1: field colour not found in type stdout queue"},
		{"not a mapping", "queues: {a: file}", "cannot unmarshal"},
		{"bad duration", "queues: {a: {type: file, path: x, timeout: soon}}", "invalid duration"},
		{"negative duration", "queues: {a: {type: file, path: x, retry: {max: -1s}}}", "negative"},
		{"negative total", "queues: {a: {type: file, path: x, timeout: 0d-1h}}", "negative"},
		{"days with a space", "queues: {a: {type: file, path: x, timeout: 3 d}}", "invalid duration"},
		{"more than 3650 days", "queues: {a: {type: file, path: x, retry: {give_up_after: 3651d}}}", "too long"},
		{"duration as a list", "queues: {a: {type: file, path: x, timeout: [1s]}}", "expected a duration"},
		{"map as list", "queues: {a: {type: smtp, to: {x: y}}}", "string or a list"},
		{"nested list", "queues: {a: {type: exec, command: [[a]]}}", "strings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeQueues(t, tt.src)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want error with %q, got %v", tt.want, err)
			}
		})
	}
}

// TestConfigYAMLStrictPositions: the keys of a queue are checked against
// its type, with the line of each unknown key, and every problem of a
// decode is reported at once (the daemon prints them as file:line:col).
func TestConfigYAMLStrictPositions(t *testing.T) {
	var doc struct {
		Base   map[string]any `yaml:"base"`
		Queues Queues         `yaml:"queues"`
	}
	src := `base: &defaults {retry: {max: 1m}, timeout: 5s}
queues:
  hook:
    type: webhook
    url: https://tracker.example.com/
    path: tickets.jsonl
    headers: [a]
  archive:
    <<: *defaults
    type: file
    path: tickets.jsonl
    retry: {initial: 1s, jitter: 1s}
  script: {type: exec, command: [a], timeout: 1s, colour: red}
`
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	err := dec.Decode(&doc)
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		t.Fatalf("want a *yaml.TypeError, got %v", err)
	}
	want := []string{
		"line 6: field path not found in type webhook queue",
		"line 7: cannot unmarshal !!seq into map[string]string",
		"line 12: field jitter not found in type queue.RetryConfig",
		"line 13: field colour not found in type exec queue",
	}
	slices.Sort(te.Errors)
	slices.Sort(want)
	if len(te.Errors) != len(want) {
		t.Fatalf("errors %q, want %d", te.Errors, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(te.Errors[i], w) {
			t.Errorf("error %d = %q, want %q…", i, te.Errors[i], w)
		}
	}
	// Queues with errors are decoded as far as they go, so that the loader
	// can validate them too.
	a := doc.Queues["archive"]
	if len(doc.Queues) != 3 || a.Settings.(*FileConfig).Path != "tickets.jsonl" || time.Duration(a.Timeout) != 5*time.Second {
		t.Errorf("queues: %+v", doc.Queues)
	}

	dec = yaml.NewDecoder(strings.NewReader("base: &d {retry: {max: 1m}, timeout: 5s}\nqueues:\n  a: {<<: *d, type: file, path: x, retry: {initial: 2s}}\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	a = doc.Queues["a"]
	if a.Settings.(*FileConfig).Path != "x" || time.Duration(a.Timeout) != 5*time.Second || time.Duration(a.Retry.Initial) != 2*time.Second {
		t.Errorf("merged queue: %+v %+v", a, a.Settings)
	}
}

func TestValidateConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // "" = valid
	}{
		{"missing type", Config{}, "type is missing"},
		{"unknown type", Config{Type: "pigeon"}, "unknown type"},
		{"stdout", Config{Type: "stdout"}, ""},
		{"file without path", Config{Type: "file"}, "needs path"},
		{"exec without command", Config{Type: "exec"}, "needs command"},
		{"nats without subject", Config{Type: "nats", Settings: &NATSConfig{URL: "nats://127.0.0.1:4222"}}, "needs subject"},
		{"nats bad subject template", Config{Type: "nats", Settings: &NATSConfig{URL: "nats://x", Subject: "{{.Tier"}}, "subject"},
		{"nats create without subjects", Config{Type: "nats", Settings: &NATSConfig{URL: "nats://x", Subject: "a", Stream: "S", CreateStream: true}}, "stream_subjects"},
		{"nats bad stream name", Config{Type: "nats", Settings: &NATSConfig{URL: "nats://x", Subject: "a", Stream: "a.b"}}, "stream"},
		{"webhook without url", Config{Type: "webhook"}, "needs url"},
		{"webhook bad header", Config{Type: "webhook", Settings: &WebhookConfig{URL: "https://x/", Headers: map[string]string{"Bad Header": "v"}}}, "header name"},
		{"both secrets", Config{Type: "webhook", Settings: &WebhookConfig{URL: "https://x/", SecretEnv: "A", SecretFile: "b"}}, "not both"},
		{"retry max below initial", Config{Type: "stdout", Retry: RetryConfig{Initial: duration.Duration(time.Minute), Max: duration.Duration(time.Second)}}, "below"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := strings.Join(ValidateConfig("q", tt.cfg), "\n")
			if tt.want == "" && p != "" || tt.want != "" && !strings.Contains(p, tt.want) {
				t.Errorf("problems %q, want %q", p, tt.want)
			}
		})
	}
}
