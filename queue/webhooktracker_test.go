package queue

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/triage-dev/triage/ticket"
)

// fakeDesk is an in-house tracker behind a webhook, shaped like
// Freshdesk's API: POST /api/v2/tickets answers {"id": N, ...}, POST
// /api/v2/tickets/N/reply adds a conversation, 404 for an unknown N.
type fakeDesk struct {
	mu      sync.Mutex
	tickets map[string][]map[string]any // id → the create body, then the replies
	order   []string
	answer  func(id string) string // the create answer; default {"id": id}
}

var deskReply = regexp.MustCompile(`^/api/v2/tickets/([^/]+)/reply$`)

func (d *fakeDesk) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var body map[string]any
	_ = json.Unmarshal(b, &body)
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/v2/tickets":
		id := string(rune('0'+len(d.order)+1)) + "001"
		d.tickets[id] = []map[string]any{body}
		d.order = append(d.order, id)
		w.WriteHeader(http.StatusCreated)
		if d.answer != nil {
			_, _ = io.WriteString(w, d.answer(id))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"id": json.Number(id), "subject": body["subject"], "status": 2})
	case r.Method == http.MethodPost && deskReply.MatchString(r.URL.Path):
		id := deskReply.FindStringSubmatch(r.URL.Path)[1]
		if _, ok := d.tickets[id]; !ok {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"code":"access_denied"}`)
			return
		}
		d.tickets[id] = append(d.tickets[id], body)
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"id": 77}`)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func newFakeDesk(t testing.TB) (*fakeDesk, *httptest.Server) {
	d := &fakeDesk{tickets: map[string][]map[string]any{}}
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	return d, srv
}

func newDeskSink(t testing.TB, srvURL string, cfg WebhookConfig, index TrackerIndex) Sink {
	t.Helper()
	dir := t.TempDir()
	write := func(name, text string) string {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return name
	}
	cfg.URL = srvURL + "/api/v2/tickets"
	cfg.BodyTemplate = write("create.json.tmpl", `{"subject": {{json .Subject}}, "description": {{json .Body}}, "email": {{json .From.Address}}, "name": {{json .From.Name}}}`)
	if cfg.Reply.URL != "" {
		cfg.Reply.URL = srvURL + cfg.Reply.URL
		cfg.Reply.BodyTemplate = write("reply.json.tmpl", `{"body": {{json .Body}}, "from_email": {{json .From.Address}}, "ticket": {{json .TrackerID}}}`)
	}
	log, _ := testLogger()
	var opts []Option
	if index != nil {
		opts = append(opts, WithTrackerIndex(index))
	}
	s, err := New("desk", Config{Type: "webhook", Settings: &cfg}, dir, log, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var deskReplyCall = WebhookReply{URL: "/api/v2/tickets/{{.TrackerID}}/reply"}

func TestWebhookRepliesOnTheTicket(t *testing.T) {
	cases := []struct {
		name  string
		reply func(first, r *ticket.Ticket)
	}{
		{"in-reply-to", func(first, r *ticket.Ticket) { r.Thread.InReplyTo = first.MessageID }},
		{"references", func(first, r *ticket.Ticket) { r.Thread.References = []string{first.MessageID} }},
		{"ticket_ref", func(_, r *ticket.Ticket) { r.Thread.TicketRef = "1001" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, srv := newFakeDesk(t)
			s := newDeskSink(t, srv.URL, WebhookConfig{ResponseID: "/id", Reply: deskReplyCall}, &mapTrackerIndex{})
			first := sampleTicket(nil)
			if err := s.Send(context.Background(), first); err != nil {
				t.Fatal(err)
			}
			reply := sampleTicket(nil)
			reply.ID, reply.MessageID, reply.Body = "ffff", "<reply@example.com>", "Still dropping."
			c.reply(first, reply)
			if err := s.Send(context.Background(), reply); err != nil {
				t.Fatal(err)
			}
			d.mu.Lock()
			defer d.mu.Unlock()
			if len(d.order) != 1 || len(d.tickets["1001"]) != 2 {
				t.Fatalf("tickets %v", d.tickets)
			}
			got := d.tickets["1001"][1]
			if got["body"] != "Still dropping." || got["ticket"] != "1001" || got["from_email"] != "ann@example.com" {
				t.Fatalf("reply body %v", got)
			}
		})
	}
}

// One ticket per mail: the id read back is recorded, so a second delivery
// (the daemon crashed before marking the mail done) files nothing, and
// concurrent deliveries share one call.
func TestWebhookTrackerOncePerMail(t *testing.T) {
	d, srv := newFakeDesk(t)
	s := newDeskSink(t, srv.URL, WebhookConfig{ResponseID: "/id"}, &mapTrackerIndex{})
	tk := sampleTicket(nil)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := s.Send(context.Background(), tk); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := s.Send(context.Background(), tk); err != nil {
		t.Fatal(err)
	}
	if len(d.order) != 1 {
		t.Fatalf("%d tickets for one mail", len(d.order))
	}
}

func TestWebhookReplyFallsBackToNewTicket(t *testing.T) {
	for _, c := range []struct {
		name  string
		reply WebhookReply
	}{{"no reply call", WebhookReply{}}, {"ticket gone", deskReplyCall}} {
		t.Run(c.name, func(t *testing.T) {
			d, srv := newFakeDesk(t)
			s := newDeskSink(t, srv.URL, WebhookConfig{ResponseID: "/id", Reply: c.reply}, &mapTrackerIndex{})
			reply := sampleTicket(nil)
			reply.Thread.TicketRef = "9999"
			if err := s.Send(context.Background(), reply); err != nil {
				t.Fatal(err)
			}
			if len(d.order) != 1 {
				t.Fatalf("%d tickets, want the reply filed as a new one", len(d.order))
			}
		})
	}
}

func TestWebhookResponseIDAnswers(t *testing.T) {
	cases := []struct {
		name, pointer, answer string
		id                    string // "" when the answer has no usable id
	}{
		{"number", "/id", `{"id": 123456789012345678}`, "123456789012345678"},
		{"nested string", "/ticket/number", `{"ticket": {"number": "TK-2026-7"}}`, "TK-2026-7"},
		{"array and escapes", "/items/1/a~1b", `{"items": [{}, {"a/b": "x9"}]}`, "x9"},
		{"whole answer as text", ".", "482913\n", "482913"},
		{"whole answer, JSON string", ".", `"482913"`, "482913"},
		{"missing member", "/id", `{"ID": 1}`, ""},
		{"object, not an id", "/id", `{"id": {"n": 1}}`, ""},
		{"id with a slash", "/id", `{"id": "../../admin"}`, ""},
		{"id with a line break", ".", "12\r\nX-Evil: 1", ""},
		{"not JSON", "/id", `<html>created</html>`, ""},
		{"too deep", "/id", strings.Repeat("[", 100) + strings.Repeat("]", 100), ""},
		{"leading zero index", "/items/01", `{"items": ["a", "b"]}`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, err := trackerIDFrom([]byte(c.answer), c.pointer)
			if c.id == "" {
				if err == nil {
					t.Fatalf("id %q from %s, want an error", id, c.answer)
				}
				return
			}
			if err != nil || id != c.id {
				t.Fatalf("id %q, %v; want %q", id, err, c.id)
			}
		})
	}
}

// An answer without the id: the ticket was taken, so retrying would file
// it twice: the failure is permanent and says so.
func TestWebhookResponseIDMissingIsPermanent(t *testing.T) {
	d, srv := newFakeDesk(t)
	d.answer = func(string) string { return `{"status": "queued"}` }
	s := newDeskSink(t, srv.URL, WebhookConfig{ResponseID: "/id"}, &mapTrackerIndex{})
	err := s.Send(context.Background(), sampleTicket(nil))
	if err == nil || Temporary(err) || !strings.Contains(err.Error(), `no member "id"`) {
		t.Fatalf("error %v", err)
	}
}

func TestWebhookTrackerConfigErrors(t *testing.T) {
	cases := []struct {
		cfg  WebhookConfig
		want string
	}{
		{WebhookConfig{URL: "https://desk.example.com/t", ResponseID: "id"}, "not a JSON pointer"},
		{WebhookConfig{URL: "https://desk.example.com/t", Reply: deskReplyCall}, "reply needs response_id"},
		{WebhookConfig{URL: "https://desk.example.com/t", ResponseID: "/id", Reply: WebhookReply{URL: "ftp://x/{{.TrackerID}}"}}, "scheme must be http or https"},
		{WebhookConfig{URL: "https://desk.example.com/t", ResponseID: "/id", Reply: WebhookReply{URL: "https://desk.example.com/{{.Nope}}"}}, "reply.url"},
		{WebhookConfig{URL: "https://desk.example.com/t", ResponseID: "/id", Reply: WebhookReply{URL: "https://u:p@desk.example.com/{{.TrackerID}}"}}, "holds credentials"},
		{WebhookConfig{URL: "https://desk.example.com/t", ResponseID: "/id", HeadersEnv: map[string]string{"Authorization": "K"},
			Reply: WebhookReply{URL: "http://desk.example.com/{{.TrackerID}}"}}, "plain http"},
		{WebhookConfig{URL: "https://desk.example.com/t", ResponseID: "/id", Reply: WebhookReply{URL: "https://desk.example.com/{{.TrackerID}}", Method: "GET"}}, "reply.method"},
	}
	for _, c := range cases {
		problems := strings.Join(ValidateConfig("q", Config{Type: "webhook", Settings: &c.cfg}), "; ")
		if !strings.Contains(problems, c.want) {
			t.Errorf("%+v: problems %q, want %q", c.cfg, problems, c.want)
		}
	}
	ok := WebhookConfig{URL: "https://desk.example.com/t", ResponseID: "/id", Reply: deskReplyCall}
	ok.Reply.URL = "https://desk.example.com" + ok.Reply.URL
	if p := ValidateConfig("q", Config{Type: "webhook", Settings: &ok}); len(p) > 0 {
		t.Errorf("valid config refused: %v", p)
	}
}

// FuzzTrackerIDFrom: whatever a tracker answers, reading the id never
// panics and an id read is safe in a URL path, a JSON value and a key.
func FuzzTrackerIDFrom(f *testing.F) {
	for _, s := range []string{`{"id": 1}`, `{"a": [{"b": "c"}]}`, "123\n", `"x"`, `[]`, `{"id": 1e999}`} {
		f.Add([]byte(s), "/id")
		f.Add([]byte(s), ".")
		f.Add([]byte(s), "/a/0/b")
	}
	f.Fuzz(func(t *testing.T, answer []byte, pointer string) {
		id, err := trackerIDFrom(answer, pointer)
		if err == nil && (id == "" || len(id) > maxTrackerID || !trackerIDForm.MatchString(id)) {
			t.Fatalf("id %q", id)
		}
	})
}
