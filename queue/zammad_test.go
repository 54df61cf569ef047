package queue

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/triage-dev/triage/ticket"
)

// fakeZammad implements the endpoints of Zammad's REST API (api/v1) that
// the zammad sink uses, as its documentation describes them: ticket
// search (ids plus assets), create with the first article and base64
// attachments, articles, tags, user search and create, ticket update.
// Validation refusals answer 422 with {"error", "error_human"} as Zammad
// does.
type fakeZammad struct {
	fakeAPI
	users    []*zUser
	tickets  []*zTicket
	groups   []string
	attrs    map[string]bool // custom attributes known
	priority []string
	// listSearch answers searches with a list of tickets, as the API
	// documentation of Zammad releases before 5 shows.
	listSearch bool
}

type zUser struct {
	ID                         int64
	Firstname, Lastname, Email string
}

type zTicket struct {
	ID       int64
	Number   string
	Title    string
	Group    string
	Customer int64
	State    string
	Priority string
	Attrs    map[string]any
	Tags     []string
	Articles []map[string]any
}

func newFakeZammad(t testing.TB) (*fakeZammad, *httptest.Server) {
	z := &fakeZammad{
		fakeAPI: fakeAPI{
			t: t, auth: "Token token=zammad-secret", create: "POST /api/v1/tickets", fail: map[string]int{},
			unauthorized: func(w http.ResponseWriter) {
				writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "authentication failed"})
			},
			injected: func(w http.ResponseWriter, status int, msg string) {
				writeJSON(w, status, map[string]string{"error": msg})
			},
		},
		groups:   []string{"Users", "systems", "security", "q"},
		priority: []string{"1 low", "2 normal", "3 high"},
		attrs:    map[string]bool{"triage_id": true, "triage_due": true, "triage_tier": true},
	}
	z.mux = z.routes()
	srv := httptest.NewServer(z)
	t.Cleanup(srv.Close)
	return z, srv
}

func (z *fakeZammad) refuse(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": msg, "error_human": msg})
}

func (z *fakeZammad) ticket(id int64) *zTicket {
	for _, tk := range z.tickets {
		if tk.ID == id {
			return tk
		}
	}
	return nil
}

var zammadQuery = regexp.MustCompile(`^([a-z_]+):"?([^"]*)"?$`)

// routes is the dispatch of fakeZammad's endpoints; handlers run with z.mu
// held.
func (z *fakeZammad) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/tickets/search", z.searchTickets)
	mux.HandleFunc("GET /api/v1/tags", z.tags)
	mux.HandleFunc("POST /api/v1/tags/add", z.addTag)
	mux.HandleFunc("GET /api/v1/users/search", z.searchUsers)
	mux.HandleFunc("POST /api/v1/users", z.createUser)
	mux.HandleFunc("POST /api/v1/tickets", z.jsonHandler(z.create))
	mux.HandleFunc("POST /api/v1/ticket_articles", z.addArticle)
	mux.HandleFunc("GET /api/v1/tickets/{id...}", z.getTicket)
	mux.HandleFunc("PUT /api/v1/tickets/{id...}", z.updateTicket)
	mux.HandleFunc("/", z.noRoute)
	return mux
}

// searchTickets finds tickets by tag, number or attribute, as a list or with assets.
func (z *fakeZammad) searchTickets(w http.ResponseWriter, r *http.Request) {
	m := zammadQuery.FindStringSubmatch(r.URL.Query().Get("query"))
	ids, assets := []int64{}, map[string]any{}
	for _, tk := range z.tickets {
		if m == nil {
			break
		}
		hit := false
		switch m[1] {
		case "tags":
			for _, tg := range tk.Tags {
				hit = hit || strings.Contains(tg, m[2]) // words, as a search engine matches
			}
		case "number":
			hit = tk.Number == m[2]
		default:
			v, _ := tk.Attrs[m[1]].(string)
			hit = v != "" && strings.Contains(v, m[2])
		}
		if hit {
			ids = append(ids, tk.ID)
			a := map[string]any{"id": tk.ID, "number": tk.Number, "title": tk.Title}
			for k, v := range tk.Attrs {
				a[k] = v
			}
			assets[strconv.FormatInt(tk.ID, 10)] = a
		}
	}
	if z.listSearch {
		list := []any{}
		for _, id := range ids {
			list = append(list, assets[strconv.FormatInt(id, 10)])
		}
		writeJSON(w, http.StatusOK, list)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tickets": ids, "tickets_count": len(ids), "assets": map[string]any{"Ticket": assets}})
}

// tags lists a ticket's tags.
func (z *fakeZammad) tags(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.URL.Query().Get("o_id"), 10, 64)
	tk := z.ticket(id)
	if r.URL.Query().Get("object") != "Ticket" || tk == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Not found"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tags": tk.Tags})
}

// addTag tags a ticket.
func (z *fakeZammad) addTag(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Item   string `json:"item"`
		Object string `json:"object"`
		OID    int64  `json:"o_id"`
	}
	if !readJSON(z.t, r, &in) {
		return
	}
	tk := z.ticket(in.OID)
	if tk == nil || in.Object != "Ticket" || in.Item == "" {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Not found"})
		return
	}
	tk.Tags = append(tk.Tags, in.Item)
	writeJSON(w, http.StatusCreated, true)
}

// searchUsers finds users by address.
func (z *fakeZammad) searchUsers(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimPrefix(r.URL.Query().Get("query"), "email:")
	q, _ = strconv.Unquote(q)
	out := []map[string]any{}
	for _, u := range z.users {
		if strings.EqualFold(u.Email, q) {
			out = append(out, map[string]any{"id": u.ID, "firstname": u.Firstname, "lastname": u.Lastname, "email": u.Email})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// createUser creates a user, refusing non-ASCII local parts.
func (z *fakeZammad) createUser(w http.ResponseWriter, r *http.Request) {
	var in zUser
	var body map[string]string
	if !readJSON(z.t, r, &body) {
		return
	}
	in.Firstname, in.Lastname, in.Email = body["firstname"], body["lastname"], body["email"]
	local, _, _ := strings.Cut(in.Email, "@")
	if strings.ContainsFunc(local, func(r rune) bool { return r > 127 }) {
		z.refuse(w, fmt.Sprintf("Invalid email '%s'", in.Email))
		return
	}
	in.ID = int64(100 + len(z.users))
	z.users = append(z.users, &in)
	writeJSON(w, http.StatusCreated, map[string]any{"id": in.ID, "firstname": in.Firstname, "lastname": in.Lastname, "email": in.Email})
}

// addArticle adds an article to a ticket.
func (z *fakeZammad) addArticle(w http.ResponseWriter, r *http.Request) {
	var in map[string]any
	if !readJSON(z.t, r, &in) {
		return
	}
	id, _ := in["ticket_id"].(float64)
	tk := z.ticket(int64(id))
	if tk == nil {
		z.refuse(w, "No such ticket")
		return
	}
	tk.Articles = append(tk.Articles, in)
	writeJSON(w, http.StatusCreated, map[string]any{"id": 1000 + len(tk.Articles), "ticket_id": tk.ID})
}

// getTicket returns a ticket, expanded on request.
func (z *fakeZammad) getTicket(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(strings.TrimPrefix(r.URL.Path, "/api/v1/tickets/"), 10, 64)
	tk := z.ticket(id)
	if tk == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Not found"})
		return
	}
	out := map[string]any{"id": tk.ID, "number": tk.Number, "title": tk.Title}
	if r.URL.Query().Get("expand") == "true" {
		out["priority"], out["group"], out["state"] = tk.Priority, tk.Group, tk.State
	}
	for k, v := range tk.Attrs {
		out[k] = v
	}
	writeJSON(w, http.StatusOK, out)
}

// updateTicket updates a ticket's group, priority, attributes and articles.
func (z *fakeZammad) updateTicket(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(strings.TrimPrefix(r.URL.Path, "/api/v1/tickets/"), 10, 64)
	tk := z.ticket(id)
	var in map[string]any
	if tk == nil || !readJSON(z.t, r, &in) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Not found"})
		return
	}
	if g, ok := in["group"].(string); ok {
		tk.Group = g
	}
	if p, ok := in["priority"].(string); ok {
		tk.Priority = p
	}
	for k, v := range in {
		if z.attrs[k] {
			tk.Attrs[k] = v
		}
	}
	if a, ok := in["article"].(map[string]any); ok {
		tk.Articles = append(tk.Articles, a)
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": tk.ID, "number": tk.Number})
}

// noRoute answers an unknown route as Zammad does.
func (z *fakeZammad) noRoute(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotFound, map[string]string{"error": "No route matches [" + r.Method + "] " + r.URL.Path})
}

// create is POST /api/v1/tickets (z.mu held).
func (z *fakeZammad) create(w http.ResponseWriter, in map[string]any) {
	group, _ := in["group"].(string)
	if !contains(z.groups, group) {
		z.refuse(w, fmt.Sprintf("No lookup value found for 'group': %q", group))
		return
	}
	prio, _ := in["priority"].(string)
	if prio != "" && !contains(z.priority, prio) {
		z.refuse(w, fmt.Sprintf("No lookup value found for 'priority': %q", prio))
		return
	}
	cust, _ := in["customer_id"].(float64)
	if guess, ok := in["customer_id"].(string); ok && strings.HasPrefix(guess, "guess:") {
		u := &zUser{ID: int64(100 + len(z.users)), Email: strings.TrimPrefix(guess, "guess:")}
		z.users = append(z.users, u)
		cust = float64(u.ID)
	}
	found := false
	for _, u := range z.users {
		found = found || u.ID == int64(cust)
	}
	if !found {
		z.refuse(w, "No lookup value found for 'customer_id'")
		return
	}
	tk := &zTicket{
		ID: int64(len(z.tickets) + 1), Number: strconv.Itoa(31001 + len(z.tickets)), Group: group,
		Customer: int64(cust), Priority: prio, Attrs: map[string]any{},
	}
	tk.Title, _ = in["title"].(string)
	tk.State, _ = in["state"].(string)
	for k, v := range in {
		switch k {
		case "title", "group", "customer_id", "state", "priority", "article":
		default:
			if !z.attrs[k] {
				z.refuse(w, fmt.Sprintf("unknown attribute %q", k))
				return
			}
			tk.Attrs[k] = v
		}
	}
	art, _ := in["article"].(map[string]any)
	if art == nil {
		z.refuse(w, "Need at least article: { body: '...' }")
		return
	}
	for _, a := range asList(art["attachments"]) {
		m, _ := a.(map[string]any)
		if _, err := base64.StdEncoding.DecodeString(fmt.Sprint(m["data"])); err != nil || m["filename"] == "" {
			z.refuse(w, "Invalid attachment")
			return
		}
	}
	tk.Articles = append(tk.Articles, art)
	z.creates++
	z.tickets = append(z.tickets, tk)
	writeJSON(w, http.StatusCreated, map[string]any{"id": tk.ID, "number": tk.Number, "title": tk.Title, "group_id": 1, "customer_id": tk.Customer, "article_ids": []int{1}})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func asList(v any) []any { l, _ := v.([]any); return l }

func newZammadSink(t testing.TB, srvURL string, cfg ZammadConfig, index TrackerIndex) Sink {
	t.Helper()
	t.Setenv("ZAMMAD_TEST_TOKEN", "zammad-secret")
	cfg.URL = srvURL
	cfg.TokenEnv = "ZAMMAD_TEST_TOKEN"
	return newTrackerTestSink(t, "zammad-q", Config{Type: "zammad", Settings: &cfg}, index)
}

func TestZammadCreateAllFields(t *testing.T) {
	z, srv := newFakeZammad(t)
	s := newZammadSink(t, srv.URL, ZammadConfig{
		Group: "{{.Queue}}", DueAttribute: "triage_due", TierAttribute: "triage_tier",
	}, nil)
	tk := sendTrackerMail(t, s)
	z.mu.Lock()
	defer z.mu.Unlock()
	if len(z.tickets) != 1 {
		t.Fatalf("%d tickets, want 1", len(z.tickets))
	}
	got := z.tickets[0]
	if got.Group != "systems" || got.Priority != "3 high" || got.State != "new" || got.Title != "Printer on floor 3 prints garbage" {
		t.Errorf("ticket group %q priority %q state %q title %q", got.Group, got.Priority, got.State, got.Title)
	}
	if got.Attrs["triage_tier"] != "L2" || got.Attrs["triage_due"] != "2026-11-27T13:00:00Z" {
		t.Errorf("attributes %v", got.Attrs)
	}
	wantTags := []string{trackerIDLabel(tk.ID), "printer", "floor 3"}
	if strings.Join(got.Tags, "|") != strings.Join(wantTags, "|") {
		t.Errorf("tags %q, want %q", got.Tags, wantTags)
	}
	if len(z.users) != 1 || z.users[0].Firstname != "Jürgen" || z.users[0].Lastname != "Müller" || z.users[0].Email != "juergen.mueller@example.com" || got.Customer != z.users[0].ID {
		t.Errorf("customer %+v, ticket customer %d", z.users, got.Customer)
	}
	checkZammadArticles(t, got)
}

// checkZammadArticles checks a created ticket's two articles: the mail,
// with its attachments, and triage's internal note.
func checkZammadArticles(t *testing.T, got *zTicket) {
	t.Helper()
	if len(got.Articles) != 2 {
		t.Fatalf("%d articles, want the mail and triage's note", len(got.Articles))
	}
	art := got.Articles[0]
	if art["internal"] != false || art["sender"] != "Customer" || art["type"] != "note" || art["message_id"] != "<att-1@example.com>" ||
		art["from"] != "Jürgen Müller <juergen.mueller@example.com>" || art["cc"] != "Bea Boss <bea@example.com>" ||
		!strings.Contains(fmt.Sprint(art["body"]), "prints garbage since this morning") {
		t.Errorf("article %v", art)
	}
	checkZammadAttachments(t, art)
	note := got.Articles[1]
	if note["internal"] != true || !strings.Contains(fmt.Sprint(note["body"]), "printers: Printer trouble goes to systems") ||
		!strings.Contains(fmt.Sprint(note["body"]), "Resolve due: 2026-11-27T13:00:00Z") {
		t.Errorf("note %v", note)
	}
}

// checkZammadAttachments compares an article's attachments with the
// sample mail's, byte for byte.
func checkZammadAttachments(t *testing.T, art map[string]any) {
	t.Helper()
	atts := asList(art["attachments"])
	if len(atts) != len(attachmentSums) {
		t.Fatalf("%d attachments, want %d", len(atts), len(attachmentSums))
	}
	for _, a := range atts {
		m := a.(map[string]any)
		data, _ := base64.StdEncoding.DecodeString(m["data"].(string))
		name := m["filename"].(string)
		if sha256Hex(data) != attachmentSums[name] {
			t.Errorf("attachment %q: sha256 %s, want %s", name, sha256Hex(data), attachmentSums[name])
		}
	}
}

// The crash case: the ticket was created (and tagged) but neither the
// state store nor the mailbox recorded it; delivering the mail again, in
// a new process, must find it, not create another.
func TestZammadLookupBeforeCreate(t *testing.T) {
	for _, c := range []struct {
		attr string
		list bool
	}{{"", false}, {"triage_id", false}, {"triage_id", true}} {
		attr := c.attr
		t.Run(fmt.Sprintf("attribute=%s,list=%v", attr, c.list), func(t *testing.T) {
			z, srv := newFakeZammad(t)
			z.listSearch = c.list
			tk := mailTicket(t, "tracker-attachments.eml")
			for range 3 {
				s := newZammadSink(t, srv.URL, ZammadConfig{IDAttribute: attr}, &mapTrackerIndex{})
				if err := s.Send(context.Background(), tk); err != nil {
					t.Fatal(err)
				}
			}
			z.mu.Lock()
			defer z.mu.Unlock()
			if z.creates != 1 || len(z.tickets) != 1 {
				t.Fatalf("%d creates, want 1", z.creates)
			}
			if attr != "" && z.tickets[0].Attrs[attr] != tk.ID {
				t.Errorf("attribute %s = %v, want the id", attr, z.tickets[0].Attrs[attr])
			}
		})
	}
}

// A search hit whose tag only contains the id's tag is another ticket.
func TestZammadLookupIsExact(t *testing.T) {
	z, srv := newFakeZammad(t)
	tk := mailTicket(t, "tracker-attachments.eml")
	z.users = append(z.users, &zUser{ID: 1, Email: "x@example.com"})
	z.tickets = append(z.tickets, &zTicket{ID: 7, Number: "30007", Tags: []string{trackerIDLabel(tk.ID) + "-other"}, Attrs: map[string]any{}})
	s := newZammadSink(t, srv.URL, ZammadConfig{}, nil)
	if err := s.Send(context.Background(), tk); err != nil {
		t.Fatal(err)
	}
	if z.creates != 1 {
		t.Fatalf("%d creates, want 1", z.creates)
	}
}

func TestZammadReplies(t *testing.T) {
	cases := append(replyCases("[Ticket#31001]", "31001"), replyCase{"references", func(first, r *ticket.Ticket) {
		r.Thread.References = []string{first.MessageID, "<unknown@example.com>"}
	}})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			z, srv := newFakeZammad(t)
			s := newZammadSink(t, srv.URL, ZammadConfig{}, &mapTrackerIndex{})
			first := sendTrackerMail(t, s)
			reply := replyTicket(t)
			c.reply(first, reply)
			if err := s.Send(context.Background(), reply); err != nil {
				t.Fatal(err)
			}
			if z.creates != 1 {
				t.Fatalf("%d tickets, want the reply on the first", z.creates)
			}
			arts := z.tickets[0].Articles
			if len(arts) != 3 || arts[2]["subject"] != reply.Subject || arts[2]["internal"] != false || arts[2]["message_id"] != reply.MessageID {
				t.Fatalf("articles %v", arts)
			}
			checkZammadAttachments(t, arts[2])
		})
	}
}

// A reply naming a ticket Zammad does not have becomes a ticket of its own.
func TestZammadReplyToMissingTicket(t *testing.T) {
	z, srv := newFakeZammad(t)
	s := newZammadSink(t, srv.URL, ZammadConfig{}, nil)
	reply := mailTicket(t, "tracker-attachments.eml")
	reply.Subject = "Re: [Ticket#99999] gone"
	if err := s.Send(context.Background(), reply); err != nil {
		t.Fatal(err)
	}
	if z.creates != 1 || z.tickets[0].Title != reply.Subject {
		t.Fatalf("%d creates", z.creates)
	}
}

func TestZammadEscalationOnReply(t *testing.T) {
	z, srv := newFakeZammad(t)
	s := newZammadSink(t, srv.URL, ZammadConfig{Group: "{{.Queue}}", TierAttribute: "triage_tier"}, &mapTrackerIndex{})
	first := mailTicket(t, "tracker-attachments.eml")
	first.Class.Tier, first.Class.Priority, first.Class.Queue = "L1", "P3", "Users"
	if err := s.Send(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	reply := mailTicket(t, "tracker-attachments.eml")
	reply.ID, reply.MessageID, reply.Subject = "fedcba9876543210fedcba9876543210", "<reply-2@example.com>", "Re: [Ticket#31001] now the whole floor is down"
	reply.Class.Tier, reply.Class.Priority, reply.Class.Queue = "L3", "P1", "security"
	if err := s.Send(context.Background(), reply); err != nil {
		t.Fatal(err)
	}
	tk := z.tickets[0]
	if tk.Priority != "3 high" || tk.Group != "security" || tk.Attrs["triage_tier"] != "L3" {
		t.Fatalf("after the reply: priority %q group %q tier %v", tk.Priority, tk.Group, tk.Attrs["triage_tier"])
	}
	last := tk.Articles[len(tk.Articles)-1]
	if last["internal"] != true || !strings.Contains(fmt.Sprint(last["body"]), "Escalated by a reply") {
		t.Fatalf("escalation note %v", last)
	}
}

func TestZammadRefusals(t *testing.T) {
	cases := []struct {
		name      string
		cfg       ZammadConfig
		from      string
		fail      map[string]int
		temporary bool
		message   string
	}{
		{name: "unknown group", cfg: ZammadConfig{Group: "Nowhere"}, message: `No lookup value found for 'group'`},
		{name: "requester refused, no fallback", from: "jürgen.weiß@example.com", message: "no fallback_customer"},
		{name: "server error", fail: map[string]int{"POST /api/v1/tickets": 503}, temporary: true, message: "503"},
		{name: "rate limited", fail: map[string]int{"GET /api/v1/tickets/search": 429}, temporary: true, message: "429"},
		{name: "bad token", fail: map[string]int{"GET /api/v1/tickets/search": 401}, message: "401"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			z, srv := newFakeZammad(t)
			z.fail = c.fail
			s := newZammadSink(t, srv.URL, c.cfg, nil)
			tk := mailTicket(t, "tracker-attachments.eml")
			if c.from != "" {
				tk.From = ticket.Address{Name: "Jürgen Weiß", Address: c.from}
			}
			z.checkRefused(t, s.Send(context.Background(), tk), c.temporary, c.message)
		})
	}
}

// With fallback_customer a refused sender still gets a ticket, named in
// the note.
func TestZammadRequesterFallback(t *testing.T) {
	z, srv := newFakeZammad(t)
	s := newZammadSink(t, srv.URL, ZammadConfig{FallbackCustomer: "unknown-sender@example.com"}, nil)
	tk := mailTicket(t, "tracker-attachments.eml")
	tk.From = ticket.Address{Name: "Jürgen Weiß", Address: "jürgen.weiß@example.com"}
	if err := s.Send(context.Background(), tk); err != nil {
		t.Fatal(err)
	}
	if z.creates != 1 {
		t.Fatalf("%d creates", z.creates)
	}
	cust := z.users[len(z.users)-1]
	note := fmt.Sprint(z.tickets[0].Articles[1]["body"])
	if cust.Email != "unknown-sender@example.com" || z.tickets[0].Customer != cust.ID || !strings.Contains(note, "Requester refused by the tracker") || !strings.Contains(note, "jürgen.weiß@example.com") {
		t.Fatalf("customer %+v, note %q", cust, note)
	}
}

// A mail with an HTML part reaches Zammad as an HTML article (Zammad
// shows it and sanitizes it itself); a text-only mail as text.
func TestZammadHTMLArticle(t *testing.T) {
	z, srv := newFakeZammad(t)
	s := newZammadSink(t, srv.URL, ZammadConfig{}, nil)
	raw := []byte("From: Ann <ann@example.com>\r\nTo: helpdesk@example.com\r\nSubject: Layout broken\r\n" +
		"Message-ID: <html-1@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe *table* is broken.\r\n" +
		"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>The <b>table</b> is broken.</p>\r\n--b--\r\n")
	tk := sampleTicket(raw)
	if err := s.Send(context.Background(), tk); err != nil {
		t.Fatal(err)
	}
	art := z.tickets[0].Articles[0]
	if art["content_type"] != "text/html" || !strings.Contains(fmt.Sprint(art["body"]), "<b>table</b>") {
		t.Fatalf("article %v", art)
	}
	tk = sampleTicket(nil)
	tk.ID = "another"
	if err := s.Send(context.Background(), tk); err != nil {
		t.Fatal(err)
	}
	if art := z.tickets[1].Articles[0]; art["content_type"] != "text/plain" || art["body"] != tk.Body {
		t.Fatalf("text article %v", art)
	}
}

// A 5xx is retried by the router until Zammad takes the ticket; a 422 is
// not retried at all.
func TestZammadRetriedThroughRouter(t *testing.T) {
	for _, c := range []struct {
		name    string
		fail    map[string]int
		wantErr bool
		creates int
	}{
		{"503 then ok", map[string]int{"POST /api/v1/tickets": 503}, false, 1},
		{"429 on search then ok", map[string]int{"GET /api/v1/tickets/search": 429}, false, 1},
		{"422", nil, true, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			z, srv := newFakeZammad(t)
			z.fail = c.fail
			cfg := ZammadConfig{Group: "{{.Queue}}"}
			s := newZammadSink(t, srv.URL, cfg, nil)
			log, _ := testLogger()
			r := NewRouter(map[string]Sink{"q": s}, map[string]Config{"q": {Type: "zammad", Retry: fastRetry()}}, log, nil)
			tk := mailTicket(t, "tracker-attachments.eml")
			tk.Class.Queue = "q"
			if c.wantErr {
				z.groups = []string{"Users"} // "q" is no group
			}
			err := r.Deliver(context.Background(), tk)
			if (err != nil) != c.wantErr || z.creates != c.creates {
				t.Fatalf("err %v, %d creates; want error %v, %d creates", err, z.creates, c.wantErr, c.creates)
			}
			if c.wantErr && (Temporary(err) || !strings.Contains(err.Error(), "No lookup value found for 'group'")) {
				t.Fatalf("error %v", err)
			}
		})
	}
}
