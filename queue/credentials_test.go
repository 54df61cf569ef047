package queue

import (
	"context"
	"strings"
	"testing"
)

func TestCredentialProblems(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // "" = no problem
	}{
		{"https with secret headers", Config{Type: "webhook", Settings: &WebhookConfig{URL: "https://t.example.com/api", HeadersEnv: map[string]string{"Authorization": "T"}}}, ""},
		{"http to loopback with secret headers", Config{Type: "webhook", Settings: &WebhookConfig{URL: "http://127.0.0.1:8080/api", HeadersEnv: map[string]string{"Authorization": "T"}}}, ""},
		{"http without secrets", Config{Type: "webhook", Settings: &WebhookConfig{URL: "http://t.example.com/api", Headers: map[string]string{"X-Source": "triage"}}}, ""},
		{"http to a remote host with secret headers", Config{Type: "webhook", Settings: &WebhookConfig{URL: "http://t.example.com/api", HeadersEnv: map[string]string{"Authorization": "T"}}}, "plain http"},
		{"password in webhook url", Config{Type: "webhook", Settings: &WebhookConfig{URL: "https://user:pw@t.example.com/api"}}, "holds credentials"},
		{"authorization written in the yaml", Config{Type: "webhook", Settings: &WebhookConfig{URL: "https://t.example.com/", Headers: map[string]string{"Authorization": "Bearer x"}}}, "headers_env"},
		{"api key written in the yaml", Config{Type: "webhook", Settings: &WebhookConfig{URL: "https://t.example.com/", Headers: map[string]string{"X-Api-Key": "x"}}}, "headers_env"},
		{"nats user over tls", Config{Type: "nats", Settings: &NATSConfig{URL: "tls://nats.example.com:4222", Subject: "a", credentials: credentials{Username: "u", PasswordEnv: "P"}}}, ""},
		{"nats user to loopback", Config{Type: "nats", Settings: &NATSConfig{URL: "nats://127.0.0.1:4222", Subject: "a", credentials: credentials{Username: "u", PasswordEnv: "P"}}}, ""},
		{"nats user in clear to a remote host", Config{Type: "nats", Settings: &NATSConfig{URL: "nats://127.0.0.1:4222,nats://nats.example.com:4222", Subject: "a", credentials: credentials{Username: "u", PasswordEnv: "P"}}}, "clear text"},
		{"nats token in url", Config{Type: "nats", Settings: &NATSConfig{URL: "nats://s3cr3t@nats.example.com:4222", Subject: "a"}}, "holds credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := strings.Join(ValidateConfig("q", tt.cfg), "\n")
			if tt.want == "" && p != "" || tt.want != "" && !strings.Contains(p, tt.want) {
				t.Errorf("problems %q, want %q", p, tt.want)
			}
			if strings.Contains(p, "s3cr3t") || strings.Contains(p, ":pw@") {
				t.Errorf("a problem quotes the secret: %q", p)
			}
		})
	}
}

// A webhook URL with a token in its path or query never reaches an error
// (which is logged) in full.
func TestWebhookErrorHidesURLToken(t *testing.T) {
	s, err := New("q", Config{Type: "webhook", Settings: &WebhookConfig{URL: "http://127.0.0.1:1/hooks/T0K3N-path?key=T0K3N-query"}}, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Send(context.Background(), sampleTicket([]byte("Subject: x\r\n\r\nbody\r\n")))
	if err == nil {
		t.Fatal("send to a closed port succeeded")
	}
	if strings.Contains(err.Error(), "T0K3N") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("error = %v, want the origin without the token", err)
	}
}
