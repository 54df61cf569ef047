package queue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
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
