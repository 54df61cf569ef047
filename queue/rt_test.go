package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/triage-dev/triage/classifier"
	"github.com/triage-dev/triage/ticket"
)

// fakeRT implements the REST 2 endpoints the rt sink uses, as RT 5.0's
// documentation (RT::REST2) describes them.
type fakeRT struct {
	mu      sync.Mutex
	tickets map[int]*fakeRTTicket
	next    int
	creates int
	queues  map[string]bool
	fail    int // status every call answers while not 0
	// createFail: a create is answered 400 with this message
	createFail string
	requests   []string
}

type fakeRTTicket struct {
	Queue      string
	Subject    string
	Requestor  string
	Cc         []string
	Priority   int
	Due        string
	Fields     map[string]string
	Content    string
	Type       string
	Files      []ticket.File
	Correspond []fakeRTMessage
	Comments   []string
}

type fakeRTMessage struct {
	Content string
	Files   []ticket.File
}

func newFakeRT(t *testing.T) (*fakeRT, *httptest.Server) {
	f := &fakeRT{tickets: map[int]*fakeRTTicket{}, next: 1, queues: map[string]bool{"General": true, "Systems": true, "Security": true}}
	srv := httptest.NewServer(http.StripPrefix("/REST/2.0", f))
	t.Cleanup(srv.Close)
	return f, srv
}

var fakeRTSearch = regexp.MustCompile(`^CF\.\{(\w+)\} = '([^']*)'$`)

func (f *fakeRT) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	if r.Header.Get("Authorization") != "token 1-2-secret" {
		http.Error(w, `{"message":"Unauthorized"}`, http.StatusUnauthorized)
		return
	}
	if f.fail != 0 {
		http.Error(w, `{"message":"down"}`, f.fail)
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodGet && parts[0] == "tickets":
		f.search(w, r)
	case r.Method == http.MethodPost && len(parts) == 1 && parts[0] == "ticket":
		f.create(w, r)
	case len(parts) >= 2 && parts[0] == "ticket":
		f.onTicket(w, r, parts)
	default:
		http.NotFound(w, r)
	}
}

// search finds tickets by one custom field's value.
func (f *fakeRT) search(w http.ResponseWriter, r *http.Request) {
	m := fakeRTSearch.FindStringSubmatch(r.URL.Query().Get("query"))
	items := []map[string]string{}
	for id := 1; id < f.next; id++ {
		if m != nil && f.tickets[id].Fields[m[1]] == m[2] {
			items = append(items, map[string]string{"id": strconv.Itoa(id)})
		}
	}
	writeJSON(w, 200, map[string]any{"items": items, "pages": 1})
}

// create creates a ticket from a multipart request, refusing unknown queues.
func (f *fakeRT) create(w http.ResponseWriter, r *http.Request) {
	var msg rtMessage
	files := f.readMultipart(w, r, &msg)
	if files == nil {
		return
	}
	if f.createFail != "" {
		writeJSON(w, 400, map[string]string{"message": f.createFail})
		return
	}
	if !f.queues[msg.Queue] {
		writeJSON(w, 403, map[string]string{"message": "No permission to create tickets in the queue '" + msg.Queue + "'"})
		return
	}
	tk := &fakeRTTicket{Queue: msg.Queue, Subject: msg.Subject, Requestor: msg.Requestor, Cc: msg.Cc, Due: msg.Due,
		Fields: msg.CustomFields, Content: msg.Content, Type: msg.ContentType, Files: files}
	if msg.Priority != nil {
		tk.Priority = *msg.Priority
	}
	f.creates++
	id := f.next
	f.next++
	f.tickets[id] = tk
	writeJSON(w, 201, map[string]string{"id": strconv.Itoa(id), "type": "ticket"})
}

// onTicket serves ticket/{id}[/correspond|/comment]: reply, comment, get
// or update.
func (f *fakeRT) onTicket(w http.ResponseWriter, r *http.Request, parts []string) {
	id, _ := strconv.Atoi(parts[1])
	tk := f.tickets[id]
	if tk == nil {
		writeJSON(w, 404, map[string]string{"message": "Resource does not exist"})
		return
	}
	switch {
	case len(parts) == 3 && parts[2] == "correspond":
		var msg rtMessage
		files := f.readMultipart(w, r, &msg)
		if files == nil {
			return
		}
		tk.Correspond = append(tk.Correspond, fakeRTMessage{Content: msg.Content, Files: files})
		writeJSON(w, 201, []string{"Correspondence added"})
	case len(parts) == 3 && parts[2] == "comment":
		var msg rtMessage
		_ = json.NewDecoder(r.Body).Decode(&msg)
		tk.Comments = append(tk.Comments, msg.Content)
		writeJSON(w, 201, []string{"Comments added"})
	case r.Method == http.MethodGet:
		cfs := []map[string]any{}
		for k, v := range tk.Fields {
			cfs = append(cfs, map[string]any{"id": k, "name": k, "values": []string{v}})
		}
		writeJSON(w, 200, map[string]any{"id": id, "Priority": strconv.Itoa(tk.Priority), "Status": "new", "CustomFields": cfs})
	case r.Method == http.MethodPut:
		var upd struct {
			Priority     *int
			Queue        string
			CustomFields map[string]string
		}
		_ = json.NewDecoder(r.Body).Decode(&upd)
		if upd.Priority != nil {
			tk.Priority = *upd.Priority
		}
		if upd.Queue != "" {
			tk.Queue = upd.Queue
		}
		for k, v := range upd.CustomFields {
			tk.Fields[k] = v
		}
		writeJSON(w, 200, []string{"updated"})
	}
}

// readMultipart reads the JSON field and the Attachments parts; nil after
// answering an error.
func (f *fakeRT) readMultipart(w http.ResponseWriter, r *http.Request, msg *rtMessage) []ticket.File {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		writeJSON(w, 400, map[string]string{"message": "want multipart/form-data"})
		return nil
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	files := []ticket.File{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return files
		}
		if err != nil {
			writeJSON(w, 400, map[string]string{"message": err.Error()})
			return nil
		}
		b, _ := io.ReadAll(p)
		switch p.FormName() {
		case "JSON":
			if err := json.Unmarshal(b, msg); err != nil {
				writeJSON(w, 400, map[string]string{"message": err.Error()})
				return nil
			}
		case "Attachments":
			files = append(files, ticket.File{Attachment: ticket.Attachment{Name: p.FileName(), Type: p.Header.Get("Content-Type"), Size: len(b)}, Data: b})
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// mapIndex is a TrackerIndex in memory.
type mapIndex struct {
	mu sync.Mutex
	m  map[string]string
}

func (x *mapIndex) TrackerTicket(tracker, key string) (string, bool, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	id, ok := x.m[tracker+"\x00"+key]
	return id, ok, nil
}

func (x *mapIndex) RecordTrackerTicket(tracker, triageID, messageID, id string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.m == nil {
		x.m = map[string]string{}
	}
	for _, k := range []string{triageID, messageID} {
		if k != "" {
			x.m[tracker+"\x00"+k] = id
		}
	}
	return nil
}

func newRTSink(t *testing.T, url string, cfg RTConfig, ix TrackerIndex) Sink {
	t.Helper()
	t.Setenv("RT_TEST_TOKEN", "1-2-secret")
	cfg.URL, cfg.TokenEnv = url, "RT_TEST_TOKEN"
	if cfg.Queue == "" {
		cfg.Queue = `{{index (dict "systems" "Systems" "security" "Security" "helpdesk" "General" "legal" "Legal") .Queue}}`
	}
	cfg.RTName = "rt.example"
	return newTrackerTestSink(t, "helpdesk", Config{Type: "rt", Settings: &cfg}, ix)
}

func attachmentTicket(t *testing.T) *ticket.Ticket {
	t.Helper()
	raw := readMail(t, "attachments.eml")
	tk := sampleTicket(raw)
	tk.ID = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	tk.MessageID = "<attach-1@example.com>"
	tk.From = ticket.Address{Name: "Jürgen Weiß", Address: "juergen@example.com"}
	tk.Cc = []ticket.Address{{Name: "Bob Cc", Address: "bob@example.com"}}
	tk.Subject = "Printer log attached"
	return tk
}

func TestRTCreate(t *testing.T) {
	f, srv := newFakeRT(t)
	s := newRTSink(t, srv.URL, RTConfig{CustomFields: map[string]string{"Runbook": "{{.Runbook}}"}}, nil)
	tk := attachmentTicket(t)
	if err := s.Send(context.Background(), tk); err != nil {
		t.Fatal(err)
	}
	got := f.tickets[1]
	if got == nil {
		t.Fatal("no ticket created")
	}
	want := content(t, tk.Raw)
	checks := []struct{ name, got, want string }{
		{"queue", got.Queue, "Systems"},
		{"priority", strconv.Itoa(got.Priority), "70"},
		{"due", got.Due, "2026-11-27 13:00:00"},
		{"requestor", got.Requestor, `"Jürgen Weiß" <juergen@example.com>`},
		{"cc", strings.Join(got.Cc, ","), `"Bob Cc" <bob@example.com>`},
		{"content type", got.Type, "text/html"},
		{"content", got.Content, "<p>The printer prints <b>blank</b> pages. Log attached.</p>"},
		{"TriageID", got.Fields["TriageID"], tk.ID},
		{"Tier", got.Fields["Tier"], "L2"},
		{"Rules", got.Fields["Rules"], "network,error-codes"},
		{"Runbook", got.Fields["Runbook"], "kb/vpn"},
		{"files", fmt.Sprint(len(got.Files)), "2"},
		{"comments", fmt.Sprint(len(got.Comments)), "1"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	for i, fl := range got.Files {
		if fl.Name != formFileName(want.Attachments[i].Name) || !bytes.Equal(fl.Data, want.Attachments[i].Data) {
			t.Errorf("file %d: %q (%d bytes), want %q (%d bytes)", i, fl.Name, len(fl.Data), want.Attachments[i].Name, len(want.Attachments[i].Data))
		}
	}
	if len(got.Files) > 0 && got.Files[0].Name != `Größe 'x'.bin` {
		t.Errorf("decoded name = %q", got.Files[0].Name)
	}
	if len(got.Comments) > 0 && !strings.Contains(got.Comments[0], "network: VPN, DNS, wifi") {
		t.Errorf("note lacks the rule and its description:\n%s", got.Comments[0])
	}
}

func content(t *testing.T, raw []byte) *ticket.Content {
	t.Helper()
	c, err := classifier.DecodeContent(raw)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRTExactlyOnce: a mail delivered again (crash before it was marked
// done, no state store) or concurrently (two lists) makes one ticket.
func TestRTExactlyOnce(t *testing.T) {
	for _, tc := range []struct {
		name  string
		index TrackerIndex
	}{{"tracker search", nil}, {"state store", &mapIndex{}}} {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newFakeRT(t)
			s := newRTSink(t, srv.URL, RTConfig{}, tc.index)
			tk := attachmentTicket(t)
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for range 8 {
				wg.Go(func() { errs <- s.Send(context.Background(), tk) })
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Send(context.Background(), tk); err != nil {
				t.Fatal(err)
			}
			if f.creates != 1 {
				t.Fatalf("%d tickets created, want 1", f.creates)
			}
		})
	}
}

// filedOnce is a fake RT holding the attachment ticket as #1, and a sink
// with a state store that filed it.
func filedOnce(t *testing.T) (*fakeRT, Sink) {
	t.Helper()
	f, srv := newFakeRT(t)
	s := newRTSink(t, srv.URL, RTConfig{}, &mapIndex{})
	if err := s.Send(context.Background(), attachmentTicket(t)); err != nil {
		t.Fatal(err)
	}
	return f, s
}

func TestRTReplies(t *testing.T) {
	cases := []struct {
		name   string
		change func(tk *ticket.Ticket)
		want   int // ticket the reply lands on; 0: a new ticket
	}{
		{"rt subject tag", func(tk *ticket.Ticket) { tk.Subject = "Re: [rt.example #1] Printer log attached" }, 1},
		{"threading ticket_ref", func(tk *ticket.Ticket) { tk.Thread.TicketRef = "1" }, 1},
		{"in-reply-to", func(tk *ticket.Ticket) { tk.Thread.InReplyTo = "<attach-1@example.com>" }, 1},
		{"references", func(tk *ticket.Ticket) {
			tk.Thread.References = []string{"<attach-1@example.com>", "<unknown@example.com>"}
		}, 1},
		{"ticket that does not exist", func(tk *ticket.Ticket) { tk.Subject = "Re: [rt.example #77] old" }, 0},
		{"other rtname", func(tk *ticket.Ticket) { tk.Subject = "Re: [rt.other #1] x" }, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, s := filedOnce(t)
			reply := attachmentTicket(t)
			reply.ID, reply.MessageID = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "<reply-1@example.com>"
			tc.change(reply)
			if err := s.Send(context.Background(), reply); err != nil {
				t.Fatal(err)
			}
			if err := s.Send(context.Background(), reply); err != nil { // a redelivery adds nothing
				t.Fatal(err)
			}
			if tc.want == 0 {
				if f.creates != 2 || len(f.tickets[1].Correspond) != 0 {
					t.Fatalf("creates %d, correspondence on #1 %d; want a new ticket", f.creates, len(f.tickets[1].Correspond))
				}
				return
			}
			tk := f.tickets[tc.want]
			if f.creates != 1 || len(tk.Correspond) != 1 {
				t.Fatalf("creates %d, correspondence %d; want 1 and 1", f.creates, len(tk.Correspond))
			}
			if len(tk.Correspond[0].Files) != 2 {
				t.Errorf("reply carried %d files, want 2", len(tk.Correspond[0].Files))
			}
		})
	}
}

func TestRTEscalationOnReply(t *testing.T) {
	cases := []struct {
		name               string
		priority, tier     string
		wantPrio           int
		wantQueue, wantTir string
	}{
		{"more urgent, higher tier", "P1", "L3", 90, "Security", "L3"},
		{"more urgent only", "P1", "L2", 90, "Systems", "L2"},
		{"routine reply lowers nothing", "P4", "L1", 70, "Systems", "L2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, s := filedOnce(t)
			reply := attachmentTicket(t)
			reply.ID, reply.Subject = "cccccccccccccccccccccccccccccccc", "Re: [rt.example #1] now it is worse"
			reply.Class.Priority, reply.Class.Tier = tc.priority, tc.tier
			if tc.tier == "L3" {
				reply.Class.Queue = "security"
			} else if tc.tier == "L1" {
				reply.Class.Queue = "helpdesk"
			}
			if err := s.Send(context.Background(), reply); err != nil {
				t.Fatal(err)
			}
			tk := f.tickets[1]
			if tk.Priority != tc.wantPrio || tk.Queue != tc.wantQueue || tk.Fields["Tier"] != tc.wantTir {
				t.Fatalf("priority %d queue %s tier %s; want %d %s %s", tk.Priority, tk.Queue, tk.Fields["Tier"], tc.wantPrio, tc.wantQueue, tc.wantTir)
			}
		})
	}
}

func TestRTRefusals(t *testing.T) {
	cases := []struct {
		name      string
		change    func(tk *ticket.Ticket, f *fakeRT)
		temporary bool
		wantErr   string // "" means success
	}{
		{"unknown queue is permanent, with RT's words", func(tk *ticket.Ticket, _ *fakeRT) { tk.Class.Queue = "legal" }, false, "No permission to create tickets in the queue 'Legal'"},
		{"unmapped queue is permanent", func(tk *ticket.Ticket, _ *fakeRT) { tk.Class.Queue = "nowhere" }, false, "queue template rendered nothing"},
		{"RT down is temporary", func(_ *ticket.Ticket, f *fakeRT) { f.fail = 503 }, true, "503"},
		{"RT's internal error is temporary", func(_ *ticket.Ticket, f *fakeRT) {
			f.createFail = "Ticket could not be created due to an internal error"
		}, true, "internal error"},
		{"RT's other 400 is permanent", func(_ *ticket.Ticket, f *fakeRT) { f.createFail = "Invalid value for custom field" }, false, "Invalid value"},
		{"non-ASCII requester: ticket without it", func(tk *ticket.Ticket, _ *fakeRT) {
			tk.From = ticket.Address{Name: "Jürgen", Address: "jürgen.weiß@example.com"}
		}, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newFakeRT(t)
			s := newRTSink(t, srv.URL, RTConfig{}, nil)
			tk := attachmentTicket(t)
			tc.change(tk, f)
			err := s.Send(context.Background(), tk)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				got := f.tickets[1]
				if got.Requestor != "" || !strings.Contains(got.Comments[0], "jürgen.weiß@example.com") {
					t.Fatalf("requestor %q, note %q", got.Requestor, got.Comments)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if Temporary(err) != tc.temporary {
				t.Fatalf("temporary = %v, want %v (%v)", Temporary(err), tc.temporary, err)
			}
			var qe *Error
			if !errors.As(err, &qe) {
				t.Fatalf("%T is no *Error", err)
			}
		})
	}
}

func TestRTConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  RTConfig
		want string
	}{
		{"ok", RTConfig{URL: "https://rt.example.com", TokenEnv: "T"}, ""},
		{"no url", RTConfig{TokenEnv: "T"}, "rt needs url"},
		{"no auth", RTConfig{URL: "https://rt.example.com"}, "needs token_env"},
		{"both tokens", RTConfig{URL: "https://rt.example.com", TokenEnv: "T", TokenFile: "f"}, "not both"},
		{"plain http remote", RTConfig{URL: "http://rt.example.com", TokenEnv: "T"}, "plain http"},
		{"plain http loopback", RTConfig{URL: "http://127.0.0.1:8080", TokenEnv: "T"}, ""},
		{"bad priority", RTConfig{URL: "https://rt.example.com", TokenEnv: "T", Priority: map[string]int{"urgent": 1}}, "not P1..P9"},
		{"bad template", RTConfig{URL: "https://rt.example.com", TokenEnv: "T", Queue: "{{.Queue"}, "queue:"},
		{"credentials in url", RTConfig{URL: "https://u:p@rt.example.com", TokenEnv: "T"}, "credentials"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			p := strings.Join(ValidateConfig("q", Config{Type: "rt", Settings: &cfg}), "; ")
			if (tc.want == "") != (p == "") || !strings.Contains(p, tc.want) {
				t.Fatalf("problems %q, want %q", p, tc.want)
			}
		})
	}
}
