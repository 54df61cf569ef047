package queue

import (
	"context"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/triage-dev/triage/ticket"
)

// The memo sink exists only in this file: registering it here, and nothing
// else, makes it a queue type that configs decode, ValidateConfig checks,
// New builds and the Router delivers to. Adding a sink is one new file.
func init() {
	register("memo", sinkType{
		doc:      "hands tickets to the test that owns the note",
		settings: func() Settings { return new(memoConfig) },
	})
}

type memoConfig struct {
	Note string `yaml:"note,omitempty" json:"note,omitempty"`
}

func (c *memoConfig) validate(typ string, add func(string, ...any)) {
	if c.Note == "" {
		add("%s needs note", typ)
	}
}

func (c *memoConfig) open(q sinkSpec) (Sink, error) {
	ch, _ := memoBoxes.Load(c.Note)
	box, _ := ch.(chan *ticket.Ticket)
	return memoSink{box}, nil
}

// memoBoxes are where memo sinks put tickets, by note.
var memoBoxes sync.Map

type memoSink struct{ box chan *ticket.Ticket }

func (s memoSink) Send(_ context.Context, t *ticket.Ticket) error {
	s.box <- t
	return nil
}

func (memoSink) Close() error { return nil }

func TestRegisteredSinkType(t *testing.T) {
	q, err := decodeQueues(t, "queues:\n  desk: {type: memo, note: desk, timeout: 5s, retry: {max: 1m}}\n")
	if err != nil {
		t.Fatal(err)
	}
	cfg := q["desk"]
	if s, ok := cfg.Settings.(*memoConfig); !ok || s.Note != "desk" {
		t.Fatalf("settings %#v", cfg.Settings)
	}
	if p := ValidateConfig("desk", cfg); len(p) > 0 {
		t.Fatalf("problems: %v", p)
	}
	if p := strings.Join(ValidateConfig("desk", Config{Type: "memo"}), "; "); !strings.Contains(p, "memo needs note") {
		t.Errorf("empty settings: %q", p)
	}
	if p := strings.Join(ValidateConfig("desk", Config{Type: "memo", Settings: &FileConfig{Path: "x"}}), "; "); !strings.Contains(p, "do not belong to a memo queue") {
		t.Errorf("another type's settings: %q", p)
	}

	_, err = decodeQueues(t, "queues:\n  desk:\n    type: memo\n    note: desk\n    path: x\n")
	if err == nil || !strings.Contains(err.Error(), "line 5: field path not found in type memo queue") {
		t.Errorf("unknown key: %v", err)
	}

	var info *TypeInfo
	for _, ti := range Types() {
		if ti.Name == "memo" {
			info = &ti
		}
	}
	if info == nil || info.Settings != reflect.TypeFor[memoConfig]() || info.Doc == "" {
		t.Errorf("Types: %+v", info)
	}

	box := make(chan *ticket.Ticket, 1)
	memoBoxes.Store("desk", box)
	sink, err := New("desk", cfg, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRouter(map[string]Sink{"desk": sink}, q, nil, nil)
	defer r.Close()
	tk := sampleTicket(nil)
	tk.Class.Queue = "desk"
	if err := r.Deliver(context.Background(), tk); err != nil {
		t.Fatal(err)
	}
	if got := <-box; got != tk {
		t.Errorf("delivered %v", got)
	}
}
