package queue

import (
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Settings are the keys of one sink type: a pointer to the config struct
// its sink file registers (*SMTPConfig, *WebhookConfig, …).
type Settings interface {
	// validate reports what is wrong with the settings of a queue of type
	// typ, without the file system or the environment (open reads those).
	validate(typ string, add func(format string, a ...any))
	// open builds the sink.
	open(q sinkSpec) (Sink, error)
}

// sinkSpec is what a sink's constructor gets beside its settings.
type sinkSpec struct {
	name    string // the queue's
	typ     string
	timeout time.Duration // per attempt, the type's default applied
	baseDir string        // the directory of triage.yaml, for relative paths
	log     *slog.Logger
	index   TrackerIndex // tracker sinks: the state store; may be nil
	content ContentFunc  // tracker sinks: attachments of the original; may be nil
}

// sinkType is one kind of sink, as its file registers it.
type sinkType struct {
	doc      string          // what it does, for the config schema
	timeout  time.Duration   // the default of timeout; 0: the sink takes none
	settings func() Settings // new empty settings to decode a queue's keys into
	// audit opens the type's AuditReader (tracker types that support
	// `triage audit`); nil when the type has none.
	audit func(s Settings, q sinkSpec) (AuditReader, error)
}

// sinkTypes is filled by the init functions of the sink files and only
// read afterwards, like database/sql's drivers.
var sinkTypes = map[string]sinkType{}

// register makes a sink type known under a type name; each sink file
// calls it from init.
func register(typ string, t sinkType) {
	if _, dup := sinkTypes[typ]; dup || typ == "" {
		panic("queue: sink type " + typ + " registered twice or without a name")
	}
	sinkTypes[typ] = t
}

// typeNames lists the registered types for messages: "a, b or c".
func typeNames() string {
	names := slices.Sorted(maps.Keys(sinkTypes))
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// TypeInfo describes one sink type for the config schema.
type TypeInfo struct {
	Name string // the value of type:
	Doc  string
	// Settings is the struct the type's own keys decode into: yaml tags
	// name the keys, jsonschema tags and a JSONSchemaExtend method
	// (github.com/invopop/jsonschema) document them.
	Settings reflect.Type
	// Timeout is the default of the timeout key; 0 when the type takes none.
	Timeout time.Duration
}

// Types lists the sink types by name.
func Types() []TypeInfo {
	out := make([]TypeInfo, 0, len(sinkTypes))
	for name, t := range sinkTypes {
		out = append(out, TypeInfo{Name: name, Doc: t.doc, Settings: reflect.TypeOf(t.settings()).Elem(), Timeout: t.timeout})
	}
	slices.SortFunc(out, func(a, b TypeInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}
