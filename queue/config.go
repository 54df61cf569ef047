package queue

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/triage-dev/triage/internal/duration"
)

// Config is one entry under `queues:` in triage.yaml: what every queue has
// and the settings of its type, all keys of one mapping.
type Config struct {
	Type    string            `yaml:"type" json:"type" jsonschema:"required" jsonschema_description:"Sink kind."`
	Timeout duration.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty" jsonschema_description:"Per attempt; the default depends on the type."`
	Retry   RetryConfig       `yaml:"retry,omitempty" json:"retry,omitempty" jsonschema_description:"Backoff for temporary failures."`
	// Settings hold the type's own keys; nil is the type's empty settings.
	Settings Settings `yaml:"-" json:"-"`
}

// RetryConfig bounds the retries of temporary failures.
type RetryConfig struct {
	Initial duration.Duration `yaml:"initial,omitempty" json:"initial,omitempty" jsonschema_description:"First delay; default 1s."`
	Max     duration.Duration `yaml:"max,omitempty" json:"max,omitempty" jsonschema_description:"Longest delay, also caps a peer's Retry-After; default 5m."`
	// GiveUpAfter 0 means never: keep retrying while the daemon runs; the
	// message stays undone on the server.
	GiveUpAfter duration.Duration `yaml:"give_up_after,omitempty" json:"give_up_after,omitempty" jsonschema_description:"Stop retrying after this long and file the mail as failed; default 0s, never."`
	// MaxRetrying bounds the mailbox handlers one failing queue can hold:
	// each delivery in its retry loop keeps one busy.
	MaxRetrying int `yaml:"max_retrying,omitempty" json:"max_retrying,omitempty" jsonschema_description:"Deliveries of this queue that may wait in their retry loop at once, all mailboxes together (each holds a mailbox handler); a further failing delivery goes back to its mailbox's retry timer at once, freeing the handler for mail of other queues; default 4."`
}

// Retry defaults.
const (
	DefaultRetryInitial = time.Second
	DefaultRetryMax     = 5 * time.Minute
	// DefaultMaxRetrying leaves 12 of the 16 default handlers of a
	// mailbox to other queues while one queue's sink is down.
	DefaultMaxRetrying = 4
)

func (r RetryConfig) withDefaults() RetryConfig {
	if r.Initial <= 0 {
		r.Initial = duration.Duration(DefaultRetryInitial)
	}
	if r.Max <= 0 {
		r.Max = duration.Duration(DefaultRetryMax)
	}
	if r.Max < r.Initial {
		r.Max = r.Initial
	}
	if r.MaxRetrying <= 0 {
		r.MaxRetrying = DefaultMaxRetrying
	}
	return r
}

// StringList is a list that may be written as a single string in YAML.
type StringList []string

// UnmarshalYAML accepts a scalar or a sequence of scalars.
func (l *StringList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*l = StringList{n.Value}
		return nil
	case yaml.SequenceNode:
		out := make(StringList, 0, len(n.Content))
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: list items must be strings", c.Line)
			}
			out = append(out, c.Value)
		}
		*l = out
		return nil
	}
	return fmt.Errorf("line %d: want a string or a list of strings", n.Line)
}

// common is Config without its methods, for decoding the common keys.
type common Config

// sinkType is the registered type of c and its settings (the type's
// empty settings when c has none); ok is false for an unknown type.
func (c Config) sinkType() (t sinkType, s Settings, ok bool) {
	t, ok = sinkTypes[c.Type]
	if s = c.Settings; ok && s == nil {
		s = t.settings()
	}
	return t, s, ok
}

// UnmarshalYAML decodes the common keys, then the type's settings from
// the same mapping. yaml.v3 does not carry a decoder's KnownFields into a
// custom unmarshaler, so the keys are checked here, with yaml's own words
// for an unknown one (the daemon reports it at its line and column).
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	var terrs []string
	decode := func(v any) error {
		var te *yaml.TypeError
		if err := n.Decode(v); errors.As(err, &te) {
			terrs = append(terrs, te.Errors...) // decoding went on: collect
		} else if err != nil {
			return err
		}
		return nil
	}
	if err := decode((*common)(c)); err != nil {
		return err
	}
	if t, ok := sinkTypes[c.Type]; ok && n.Kind == yaml.MappingNode {
		c.Settings = t.settings()
		if err := decode(c.Settings); err != nil {
			return err
		}
		terrs = append(terrs, unknownKeys(n, c.Type+" queue", reflect.TypeFor[common](), reflect.TypeOf(c.Settings).Elem())...)
	}
	if len(terrs) > 0 {
		return &yaml.TypeError{Errors: terrs}
	}
	return nil
}

// Queues are the queues of triage.yaml by name. Decoding keeps a queue
// whose keys have errors (yaml.v3 leaves a map value out when its
// unmarshaler reports one) and reports the errors of all of them.
type Queues map[string]Config

// UnmarshalYAML decodes each queue as Config does.
func (q *Queues) UnmarshalYAML(n *yaml.Node) error {
	var nodes map[string]yaml.Node
	if err := n.Decode(&nodes); err != nil {
		return err
	}
	*q = make(Queues, len(nodes))
	var terrs []string
	for name, node := range nodes {
		var c Config
		var te *yaml.TypeError
		if err := c.UnmarshalYAML(unalias(&node)); errors.As(err, &te) {
			terrs = append(terrs, te.Errors...)
		} else if err != nil {
			return err
		}
		(*q)[name] = c
	}
	if len(terrs) > 0 {
		return &yaml.TypeError{Errors: terrs}
	}
	return nil
}

// unknownKeys lists the keys of mapping n that no yaml tag of the struct
// types names, and those of nested mappings that decode into structs.
func unknownKeys(n *yaml.Node, what string, types ...reflect.Type) []string {
	fields := map[string]reflect.Type{}
	for _, t := range types {
		yamlFields(t, fields)
	}
	var errs []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], unalias(n.Content[i+1])
		ft, known := fields[k.Value]
		switch {
		case k.ShortTag() == "!!merge": // <<: *defaults, or a list of them
			merged := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				merged = v.Content
			}
			for _, m := range merged {
				errs = append(errs, unknownKeys(unalias(m), what, types...)...)
			}
		case !known:
			errs = append(errs, fmt.Sprintf("line %d: field %s not found in type %s", k.Line, k.Value, what))
		case ft.Kind() == reflect.Struct && v.Kind == yaml.MappingNode:
			errs = append(errs, unknownKeys(v, ft.String(), ft)...)
		}
	}
	return errs
}

func unalias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// yamlFields adds the yaml keys of struct t, and of the structs it
// inlines, with their types.
func yamlFields(t reflect.Type, into map[string]reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case name == "-":
		case opts == "inline":
			yamlFields(f.Type, into)
		case f.IsExported():
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			into[name] = f.Type
		}
	}
}

// ValidateConfig lists the problems of one queue entry; the config loader
// adds file:line. It checks what can be checked without the file system or
// the environment (New does those).
func ValidateConfig(name string, cfg Config) []string {
	var p []string
	add := func(format string, a ...any) { p = append(p, fmt.Sprintf(format, a...)) }
	if name == "" {
		add("queue name is empty")
	}
	r := cfg.Retry
	if r.Initial < 0 || r.Max < 0 || r.GiveUpAfter < 0 {
		add("retry durations must not be negative")
	}
	if r.MaxRetrying < 0 {
		add("retry.max_retrying must not be negative")
	}
	if r.Initial > 0 && r.Max > 0 && r.Max < r.Initial {
		add("retry.max (%s) is below retry.initial (%s)", time.Duration(r.Max), time.Duration(r.Initial))
	}
	if cfg.Timeout < 0 {
		add("timeout must not be negative")
	}
	t, s, ok := cfg.sinkType()
	switch {
	case cfg.Type == "":
		add("type is missing (%s)", typeNames())
	case !ok:
		add("unknown type %q (want %s)", cfg.Type, typeNames())
	case reflect.TypeOf(s) != reflect.TypeOf(t.settings()):
		add("%T settings do not belong to a %s queue", s, cfg.Type)
	default:
		s.validate(cfg.Type, add)
	}
	return p
}
