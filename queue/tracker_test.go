package queue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/triage-dev/triage/classifier"
	"github.com/triage-dev/triage/ticket"
)

// Tests of the zammad and jira sinks run against local HTTP servers that
// implement the documented endpoints the sinks use (Zammad's api/v1, Jira
// Service Management's servicedeskapi and Jira's api/2 search), not a
// live tracker.

// attachmentSums are the SHA-256 sums of the attachments of
// testdata/mail/attachments.eml, computed from the bytes that were
// encoded into it.
var attachmentSums = map[string]string{
	"logo.png":        "6b7fa434f92a8b80aab02d9bf1a12e49ffcae424e4013a1c4f68b67e3d2bbcd0",
	"scan.pdf":        "a9357bf317e2ecd122a3b1e7f0333456caa38cc5e1e3747fbe483bbd02e9fb58",
	"drücker-log.txt": "0eedf94cf371b7e570d148f07337809c770f51cd5d65c3d05948442a519ba435",
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// mailTicket decodes a sample mail with the real classifier and gives it
// a decision, as the daemon would hand it to a sink.
func mailTicket(t testing.TB, name string) *ticket.Ticket {
	t.Helper()
	raw := readMail(t, name)
	m, err := classifier.Decode(raw, classifier.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	due := time.Date(2026, 11, 27, 13, 0, 0, 0, time.UTC)
	resp := time.Date(2026, 11, 27, 10, 15, 0, 0, time.UTC)
	return &ticket.Ticket{
		ID: m.ID, MessageID: m.MessageID, From: m.From, To: m.To, Cc: m.Cc,
		Subject: m.Subject, Body: m.Body, Attachments: m.Attachments,
		Thread: ticket.Thread{InReplyTo: m.InReplyTo, References: m.References, TicketRef: m.TicketRef},
		Class: ticket.Classification{
			Tier: "L2", Priority: "P2", Queue: "systems", Runbook: "kb/printers", Action: "forward",
			Tags:    []string{"printer", "floor 3"},
			Fields:  map[string]string{"floor": "3"},
			SLA:     ticket.SLA{ResponseDue: &resp, ResolveDue: &due},
			Matched: []ticket.MatchedRule{{Rule: "printers", Description: "Printer trouble goes to systems"}},
		},
		Raw: raw,
	}
}

func TestDecodeContentSample(t *testing.T) {
	tk := mailTicket(t, "tracker-attachments.eml")
	c, err := classifier.DecodeContent(tk.Raw)
	if err != nil {
		t.Fatal(err)
	}
	atts := c.Attachments
	if len(atts) != len(attachmentSums) {
		t.Fatalf("got %d attachments, want %d: %+v", len(atts), len(attachmentSums), tk.Attachments)
	}
	for _, a := range atts {
		if want, ok := attachmentSums[a.Name]; !ok || sha256Hex(a.Data) != want {
			t.Errorf("attachment %q (%s): sha256 %s, want %s", a.Name, a.Type, sha256Hex(a.Data), want)
		}
	}
}

// readJSON decodes a request body in a test server.
func readJSON(t testing.TB, r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		t.Errorf("read request: %v", err)
		return false
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Errorf("%s %s: body is not JSON: %v", r.Method, r.URL.Path, err)
		return false
	}
	return true
}

// mapTrackerIndex is the state store's tracker index in memory.
type mapTrackerIndex struct {
	mu sync.Mutex
	m  map[string]string
}

func (x *mapTrackerIndex) TrackerTicket(tracker, key string) (string, bool, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	id, ok := x.m[tracker+"\x00"+key]
	return id, ok, nil
}

func (x *mapTrackerIndex) RecordTrackerTicket(tracker, triageID, messageID, id string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.m == nil {
		x.m = map[string]string{}
	}
	x.m[tracker+"\x00"+triageID] = id
	if messageID != "" {
		x.m[tracker+"\x00"+messageID] = id
	}
	return nil
}

// mustContent is the content of the sample mail with attachments.
func mustContent(t testing.TB) *ticket.Content {
	t.Helper()
	c, err := classifier.DecodeContent(readMail(t, "tracker-attachments.eml"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fakeAPI is what the fakes of the trackers' REST APIs (Jira, Zammad)
// share: the Authorization value they accept, failures injected per call,
// the gate on the create call, and the lock their handlers run under.
type fakeAPI struct {
	t      testing.TB
	auth   string // the Authorization value accepted
	create string // "METHOD path" of the create call, held by gate
	// unauthorized answers a wrong Authorization, injected an injected
	// failure, each in the tracker's own error form.
	unauthorized func(w http.ResponseWriter)
	injected     func(w http.ResponseWriter, status int, msg string)

	mu      sync.Mutex
	creates int
	fail    map[string]int // "METHOD path" → status to answer once
	gate    createGate     // holds creates when armed
	mux     *http.ServeMux // the tracker's endpoints, called with mu held
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != f.auth {
		f.unauthorized(w)
		return
	}
	key := r.Method + " " + r.URL.Path
	f.mu.Lock()
	if code := f.fail[key]; code != 0 {
		delete(f.fail, key)
		f.mu.Unlock()
		f.injected(w, code, "injected")
		return
	}
	f.mu.Unlock()
	if key == f.create {
		f.gate.pass()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mux.ServeHTTP(w, r)
}

// jsonHandler decodes the request's JSON object and hands it to h.
func (f *fakeAPI) jsonHandler(h func(http.ResponseWriter, map[string]any)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		if readJSON(f.t, r, &in) {
			h(w, in)
		}
	}
}

// checkRefused checks that a send failed with an error of the kind
// (temporary or not) that names message, and created nothing.
func (f *fakeAPI) checkRefused(t *testing.T, err error, temporary bool, message string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	if Temporary(err) != temporary || !strings.Contains(err.Error(), message) {
		t.Fatalf("error %v (temporary %v), want temporary %v with %q", err, Temporary(err), temporary, message)
	}
	if f.creates != 0 {
		t.Fatalf("%d created", f.creates)
	}
}

// newTrackerTestSink opens the tracker sink of cfg for the test, reading
// mail content with the classifier, with the state store index if not nil.
func newTrackerTestSink(t testing.TB, name string, cfg Config, index TrackerIndex) Sink {
	t.Helper()
	log, _ := testLogger()
	opts := []Option{WithContent(classifier.DecodeContent)}
	if index != nil {
		opts = append(opts, WithTrackerIndex(index))
	}
	s, err := New(name, cfg, t.TempDir(), log, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// sendTrackerMail sends the tracker test mail through s.
func sendTrackerMail(t *testing.T, s Sink) *ticket.Ticket {
	t.Helper()
	first := mailTicket(t, "tracker-attachments.eml")
	if err := s.Send(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	return first
}

// replyCase makes replyTicket's reply name the first ticket one way.
type replyCase struct {
	name  string
	reply func(first, r *ticket.Ticket)
}

// replyCases are the ways a reply names the first ticket that every
// tracker knows: its subject tag, the threading ticket_ref (ref) and
// In-Reply-To.
func replyCases(tag, ref string) []replyCase {
	return []replyCase{
		{"subject tag", func(_, r *ticket.Ticket) { r.Subject = "Re: " + tag + " Printer on floor 3 prints garbage" }},
		{"threading ticket_ref", func(_, r *ticket.Ticket) { r.Thread.TicketRef = ref }},
		{"in-reply-to", func(first, r *ticket.Ticket) { r.Thread.InReplyTo = first.MessageID }},
	}
}

// replyTicket is a reply to the tracker test mail, with attachments of its
// own, that names the first neither in its subject nor its threading.
func replyTicket(t *testing.T) *ticket.Ticket {
	t.Helper()
	reply := mailTicket(t, "tracker-attachments.eml")
	reply.ID, reply.MessageID = "fedcba9876543210fedcba9876543210", "<reply-1@example.com>"
	reply.Subject = "Re: Printer on floor 3 prints garbage"
	return reply
}

// createGate holds a fake tracker's creates, once armed, until the test
// opens it: concurrent deliveries of one mail all start before any create
// is answered.
type createGate struct {
	mu   sync.Mutex
	open chan struct{}
	held int
}

// pass is called by a fake tracker's create handler, outside its lock.
func (g *createGate) pass() {
	g.mu.Lock()
	open := g.open
	if open != nil {
		g.held++
	}
	g.mu.Unlock()
	if open != nil {
		<-open
	}
}

// TestTrackerConcurrentSameID: eight deliveries of one mail at once, the
// creates held until all have started, make one ticket.
func TestTrackerConcurrentSameID(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T) (Sink, *fakeAPI)
	}{
		{"jira", func(t *testing.T) (Sink, *fakeAPI) {
			j, srv := newFakeJira(t)
			return newJiraSink(t, srv.URL, JiraConfig{}, nil), &j.fakeAPI
		}},
		{"zammad", func(t *testing.T) (Sink, *fakeAPI) {
			z, srv := newFakeZammad(t)
			return newZammadSink(t, srv.URL, ZammadConfig{}, nil), &z.fakeAPI
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, f := tc.open(t)
			sendConcurrently(t, s, mailTicket(t, "tracker-attachments.eml"), &f.gate)
			if f.creates != 1 {
				t.Fatalf("%d creates for one id, want 1", f.creates)
			}
		})
	}
}

// sendConcurrently delivers tk eight times at once through s, the first
// create held at the gate until all have started, and fails on an error.
func sendConcurrently(t *testing.T, s Sink, tk *ticket.Ticket, g *createGate) {
	t.Helper()
	g.mu.Lock()
	g.open = make(chan struct{})
	g.mu.Unlock()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() { errs <- s.Send(context.Background(), tk) })
	}
	waitFor(t, "a create to reach the tracker", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.held > 0
	})
	close(g.open)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
