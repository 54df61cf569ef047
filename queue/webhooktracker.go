package queue

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"text/template"

	"github.com/triage-dev/triage/ticket"
)

// A webhook with response_id is a tracker of its own (osTicket, GLPI,
// Freshdesk, an in-house desk): it keeps the tracker contract, with the
// ticket id read from the create answer as the only thing it knows of
// the tracker. It has no search, so the state store alone keeps a mail
// from being filed twice; and no way to read a ticket's state, so a reply
// never escalates.

// Bounds of what the webhook reads back: the answer and the id in it.
const (
	maxWebhookAnswer = 1 << 20
	maxTrackerID     = 128
)

// trackerIDForm is what a ticket id read from an answer may look like: it
// goes into reply URLs and bodies and the state store.
var trackerIDForm = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]*$`)

// trackerProblems checks response_id and reply.
func (c *WebhookConfig) trackerProblems(add func(string, ...any)) {
	if c.ResponseID != "" && c.ResponseID != "." && !strings.HasPrefix(c.ResponseID, "/") {
		add("response_id %q is not a JSON pointer (/id, /ticket/number) nor .", c.ResponseID)
	}
	r := c.Reply
	if r == (WebhookReply{}) {
		return
	}
	if c.ResponseID == "" {
		add("reply needs response_id: without the ticket id there is nothing to reply to")
	}
	if r.Method != "" && !validMethod(r.Method) {
		add("reply.method %q is not one of POST, PUT, PATCH", r.Method)
	}
	t, err := parseTemplate("reply.url", r.URL)
	switch {
	case r.URL == "":
		add("reply needs url")
	case err != nil:
		add("reply.url: %v", err)
	default:
		u, err := renderReplyURL(t, templateData{Ticket: &ticket.Ticket{}, TrackerID: "1"})
		if err != nil {
			add("reply.url: %v", err)
		} else if u.User != nil {
			add("reply.url holds credentials: send them with headers_env instead")
		} else if err := checkSecretHeaders(u, len(c.HeadersEnv)); err != nil {
			add("reply.url: %v", err)
		}
	}
}

// renderReplyURL renders the reply URL and checks it as url is checked.
func renderReplyURL(t *template.Template, data templateData) (*url.URL, error) {
	b, err := execTemplate(t, data)
	if err != nil {
		return nil, err
	}
	return parseWebhookURL(strings.TrimSpace(string(b)))
}

// webhookTracker is the TrackerClient of a webhook with response_id.
type webhookTracker struct {
	s         *webhookSink
	pointer   string
	replyURL  *template.Template // nil: replies open tickets of their own
	replyBody *template.Template // nil: the ticket document
	method    string
}

func (c *WebhookConfig) openTracker(q sinkSpec, s *webhookSink) (Sink, error) {
	w := &webhookTracker{s: s, pointer: c.ResponseID, method: cmp.Or(c.Reply.Method, http.MethodPost)}
	if c.Reply.URL != "" {
		var err error
		if w.replyURL, err = parseTemplate("reply.url", c.Reply.URL); err != nil {
			return nil, fmt.Errorf("queue %s: reply.url: %w", q.name, err)
		}
	}
	if c.Reply.BodyTemplate != "" {
		var err error
		if w.replyBody, err = bodyTemplate(q, "reply.body_template", c.Reply.BodyTemplate, s.contentType); err != nil {
			return nil, err
		}
	}
	// The state store keys the tracker by origin: the url may carry a
	// token, and the store must not.
	u, _ := url.Parse(s.url) // checked when opened
	return newTrackerSink(q, u.Scheme+"://"+u.Host, w, s.Close), nil
}

// Find: a webhook cannot search; the state store is the only guard.
func (w *webhookTracker) Find(context.Context, string) (string, error) { return "", nil }

// SubjectRef: a webhook's tracker tags subjects as the threading patterns
// of the rules say, which give ticket_ref.
func (w *webhookTracker) SubjectRef(string) string { return "" }

// State is unknown: a reply never escalates through a webhook.
func (w *webhookTracker) State(context.Context, string) (TrackerState, error) {
	return TrackerState{}, nil
}

func (w *webhookTracker) Escalate(context.Context, string, Escalation) error { return nil }

// Create posts the ticket as the plain webhook does and reads the ticket
// id from the answer.
func (w *webhookTracker) Create(ctx context.Context, m *TrackerMail) (string, error) {
	body, err := w.s.renderBody(w.s.body, newTemplateData(m.Ticket))
	if err != nil {
		return "", permanent("%w", err)
	}
	answer, err := w.s.post(ctx, w.s.method, w.s.url, body, m.Ticket.ID, maxWebhookAnswer+1)
	if err != nil {
		return "", err
	}
	id, err := trackerIDFrom(answer, w.pointer)
	if err != nil {
		// The tracker took the ticket: a retry would file it twice.
		return "", permanent("ticket sent, but its id is not in the answer: %w", err)
	}
	return id, nil
}

// Reply sends the reply call, or, without one, tells the sink to file the
// mail as a ticket of its own.
func (w *webhookTracker) Reply(ctx context.Context, id string, m *TrackerMail) error {
	if w.replyURL == nil {
		return fmt.Errorf("queue %s has no reply call: %w", w.s.name, ErrTicketNotFound)
	}
	if !trackerIDForm.MatchString(id) || len(id) > maxTrackerID {
		return fmt.Errorf("%q: %w", sanitizeHeaderText(id, maxTrackerID), ErrTicketNotFound)
	}
	data := newTemplateData(m.Ticket)
	data.TrackerID = id
	u, err := renderReplyURL(w.replyURL, data)
	if err != nil {
		return permanent("reply.url: %w", err)
	}
	body, err := w.s.renderBody(w.replyBody, data)
	if err != nil {
		return permanent("%w", err)
	}
	_, err = w.s.post(ctx, w.method, u.String(), body, m.Ticket.ID, 0)
	if code := statusOf(err); code == http.StatusNotFound || code == http.StatusGone {
		return fmt.Errorf("%w: %w", ErrTicketNotFound, err)
	}
	return err
}

// trackerIDFrom reads the ticket id at pointer in a create answer: a JSON
// string or number, or, for pointer ".", the whole answer as text.
func trackerIDFrom(answer []byte, pointer string) (string, error) {
	if len(answer) > maxWebhookAnswer {
		return "", fmt.Errorf("%w: answer over %d bytes", errAPIResponse, maxWebhookAnswer)
	}
	var id string
	if pointer == "." {
		id = strings.TrimSpace(string(answer))
		if u, err := strconv.Unquote(id); err == nil && strings.HasPrefix(id, `"`) {
			id = u
		}
	} else {
		if err := checkJSONDepth(answer, maxAPIJSONDepth); err != nil {
			return "", err
		}
		dec := json.NewDecoder(bytes.NewReader(answer))
		dec.UseNumber() // ids beyond 2^53 stay exact
		var doc any
		if err := dec.Decode(&doc); err != nil {
			return "", fmt.Errorf("%w: %w", errAPIResponse, err)
		}
		v, err := jsonPointer(doc, pointer)
		if err != nil {
			return "", err
		}
		switch x := v.(type) {
		case string:
			id = x
		case json.Number:
			id = x.String()
		default:
			return "", fmt.Errorf("%w: %s is %T, not a string or number", errAPIResponse, pointer, v)
		}
	}
	if len(id) > maxTrackerID || !trackerIDForm.MatchString(id) {
		return "", fmt.Errorf("%w: ticket id %q is not letters, digits and . _ : -", errAPIResponse, sanitizeHeaderText(id, 64))
	}
	return id, nil
}

// jsonPointer resolves an RFC 6901 pointer in a decoded document. Hand
// written: the pointer libraries (go-openapi/jsonpointer) bring a
// dependency tree for these fifteen lines.
func jsonPointer(doc any, pointer string) (any, error) {
	if pointer == "" {
		return doc, nil
	}
	cur := doc
	for _, tok := range strings.Split(pointer[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, fmt.Errorf("%w: %s: no member %q", errAPIResponse, pointer, tok)
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) || (len(tok) > 1 && tok[0] == '0') {
				return nil, fmt.Errorf("%w: %s: no element %q", errAPIResponse, pointer, tok)
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("%w: %s: %q inside a %T", errAPIResponse, pointer, tok, cur)
		}
	}
	return cur, nil
}
