package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/invopop/jsonschema"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/triage-dev/triage/internal/clip"
	"github.com/triage-dev/triage/internal/netaddr"
	"github.com/triage-dev/triage/ticket"
)

func init() {
	register("nats", sinkType{
		doc:      "publishes the ticket JSON to NATS JetStream and waits for the ack",
		timeout:  10 * time.Second,
		settings: func() Settings { return new(NATSConfig) },
	})
}

// NATSConfig are the keys of a nats queue.
type NATSConfig struct {
	URL            string     `yaml:"url,omitempty" json:"url,omitempty" jsonschema:"required" jsonschema_description:"Server URL(s), comma-separated."`
	Subject        string     `yaml:"subject,omitempty" json:"subject,omitempty" jsonschema:"required" jsonschema_description:"Subject template, e.g. tickets.{{.Tier}}.{{.Queue}}."`
	Stream         string     `yaml:"stream,omitempty" json:"stream,omitempty" jsonschema_description:"JetStream stream checked to exist at start."`
	CreateStream   bool       `yaml:"create_stream,omitempty" json:"create_stream,omitempty" jsonschema_description:"Create the stream when missing (needs stream and stream_subjects)."`
	StreamSubjects StringList `yaml:"stream_subjects,omitempty" json:"stream_subjects,omitempty" jsonschema_description:"Subjects of a stream created by create_stream."`
	CredsFile      string     `yaml:"creds_file,omitempty" json:"creds_file,omitempty" jsonschema_description:"Credentials file, relative to this file."`
	credentials    `yaml:",inline"`
}

// JSONSchemaExtend states in the config schema what validate checks across keys.
func (c NATSConfig) JSONSchemaExtend(s *jsonschema.Schema) {
	c.credentials.JSONSchemaExtend(s)
	create := jsonschema.NewProperties()
	create.Set("create_stream", &jsonschema.Schema{Const: true})
	s.AllOf = append(s.AllOf, &jsonschema.Schema{
		If:   &jsonschema.Schema{Required: []string{"create_stream"}, Properties: create},
		Then: &jsonschema.Schema{Required: []string{"stream", "stream_subjects"}},
	})
}

func (c *NATSConfig) validate(_ string, add func(string, ...any)) {
	if c.URL == "" {
		add("nats needs url")
	}
	if c.Subject == "" {
		add("nats needs subject")
	}
	checkTemplate("subject", c.Subject, add)
	if c.CreateStream && (c.Stream == "" || len(c.StreamSubjects) == 0) {
		add("create_stream needs stream and stream_subjects")
	}
	if c.Stream != "" && strings.ContainsAny(c.Stream, ". *>\t\r\n") {
		add("stream %q: a stream name cannot contain '.', '*', '>' or spaces", c.Stream)
	}
	c.credentials.validate(add)
	for _, raw := range strings.Split(c.URL, ",") {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil || u.Host == "" {
			continue
		}
		if u.User != nil {
			add("url %s://%s holds credentials: use username with password_env/password_file, or creds_file", u.Scheme, u.Host)
		}
		if c.Username != "" && u.Scheme != "tls" && u.Scheme != "wss" && !netaddr.IsLoopbackHost(u.Hostname()) {
			add("username and password to %s would cross the network in clear text: use a tls:// url", u.Hostname())
		}
	}
}

// natsSink publishes the ticket JSON to JetStream and waits for the ack.
// The connection is shared and reconnected by nats.go; the ticket id is
// the Nats-Msg-Id, so the stream drops a re-delivery inside its duplicate
// window.
type natsSink struct {
	name    string
	nc      *nats.Conn
	js      jetstream.JetStream
	subject *template.Template
	cfg     NATSConfig
	timeout time.Duration
	log     *slog.Logger

	mu            sync.Mutex
	streamChecked bool
}

func (c *NATSConfig) open(q sinkSpec) (Sink, error) {
	subj, err := parseTemplate("subject", c.Subject)
	if err != nil {
		return nil, fmt.Errorf("queue %s: subject: %w", q.name, err)
	}
	s := &natsSink{
		name:    q.name,
		subject: subj,
		cfg:     *c,
		timeout: q.timeout,
		log:     q.log,
	}
	opts := []nats.Option{
		nats.Name("triage queue " + q.name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		// Start even when the server is down; Send fails (temporary) until it is up.
		nats.RetryOnFailedConnect(true),
		// No buffering while disconnected: a publish fails at once and the
		// router retries it, instead of waiting for an ack that may never come.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			q.log.Warn("queue: nats disconnected", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			q.log.Info("queue: nats reconnected", "server", nc.ConnectedUrlRedacted())
		}),
	}
	if c.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(resolvePath(q.baseDir, c.CredsFile)))
	}
	if c.Username != "" {
		pw, err := c.password(q.baseDir)
		if err != nil {
			return nil, fmt.Errorf("queue %s: password: %w", q.name, err)
		}
		opts = append(opts, nats.UserInfo(c.Username, pw))
	}
	nc, err := nats.Connect(c.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("queue %s: nats connect: %w", q.name, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("queue %s: jetstream: %w", q.name, err)
	}
	s.nc, s.js = nc, js
	if s.cfg.Stream != "" && nc.IsConnected() {
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		defer cancel()
		if err := s.ensureStream(ctx); err != nil {
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				nc.Close()
				return nil, err
			}
			q.log.Warn("queue: could not check the stream yet; checking on first send", "stream", s.cfg.Stream, "err", err)
		}
	}
	return s, nil
}

// ensureStream checks once that the configured stream exists, creating it
// only when create_stream says so.
func (s *natsSink) ensureStream(ctx context.Context) error {
	if s.cfg.Stream == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.streamChecked {
		return nil
	}
	_, err := s.js.Stream(ctx, s.cfg.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) && s.cfg.CreateStream {
		_, err = s.js.CreateStream(ctx, jetstream.StreamConfig{Name: s.cfg.Stream, Subjects: s.cfg.StreamSubjects})
		if err == nil {
			s.log.Info("queue: created stream", "stream", s.cfg.Stream, "subjects", s.cfg.StreamSubjects)
		}
	}
	if err != nil {
		return fmt.Errorf("queue %s: stream %s: %w", s.name, s.cfg.Stream, err)
	}
	s.streamChecked = true
	return nil
}

func (s *natsSink) Close() error {
	s.nc.Close()
	return nil
}

func (s *natsSink) Send(ctx context.Context, t *ticket.Ticket) error {
	b, err := execTemplate(s.subject, newTemplateData(t))
	if err != nil {
		return permanent("queue %s: subject: %w", s.name, err)
	}
	subject := sanitizeSubject(string(b))
	payload, err := json.Marshal(t)
	if err != nil {
		return permanent("queue %s: encode ticket: %w", s.name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.ensureStream(ctx); err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return permanent("%w", err)
		}
		return temporary("%w", err)
	}
	opts := []jetstream.PublishOpt{jetstream.WithMsgID(t.ID)}
	if s.cfg.Stream != "" {
		opts = append(opts, jetstream.WithExpectStream(s.cfg.Stream))
	}
	ack, err := s.js.Publish(ctx, subject, payload, opts...)
	if err != nil {
		if errors.Is(err, nats.ErrMaxPayload) {
			return permanent("queue %s: publish %s: %w", s.name, subject, err)
		}
		return temporary("queue %s: publish %s: %w", s.name, subject, err)
	}
	if ack.Duplicate {
		s.log.Debug("queue: stream already had this ticket", "ticket", t.ID, "stream", ack.Stream)
	}
	return nil
}

// sanitizeSubject makes a rendered subject a valid publish subject: no
// wildcards, spaces or control characters in any token, no empty token.
func sanitizeSubject(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 255 {
		s = clip.UTF8(s, 255)
	}
	tokens := strings.Split(s, ".")
	for i, tok := range tokens {
		tokens[i] = cleanToken(tok)
	}
	return strings.Join(tokens, ".")
}

// subjectToken makes s one subject token ('.' replaced too).
func subjectToken(s string) string {
	return cleanToken(strings.ReplaceAll(s, ".", "_"))
}

func cleanToken(tok string) string {
	tok = strings.Map(func(r rune) rune {
		if r <= ' ' || r >= 0x7f || r == '*' || r == '>' {
			return '_'
		}
		return r
	}, tok)
	if tok == "" {
		return "_"
	}
	return tok
}
