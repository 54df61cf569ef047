package rules

// This file describes the rules file (and a separate test file) as Go types
// and reflects them into a JSON Schema for editors
// (`# yaml-language-server: $schema=…`). The loader walks yaml.Node with
// explicit allowed-key lists; schema_test.go proves that every mapping type
// here has exactly the keys the loader allows, so the two cannot drift.
//
// Scalar types follow the loader's decoders: a field read with `str`
// accepts a string or a number (schemaText), one read with `anyScalar` also
// a boolean (schemaScalar). Checks that need the whole rule set (declared
// tiers, duplicate names, expressions that compile) stay with `triage check`.

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/invopop/jsonschema"

	"github.com/triage-dev/triage/internal/duration"
)

// schemaDraft is the JSON Schema dialect emitted. Draft-07 is the one editor
// plugins (yaml-language-server, JetBrains) support best; the output uses no
// keyword newer than draft-07 ($defs is reached only through JSON pointers).
const schemaDraft = "http://json-schema.org/draft-07/schema#"

// Patterns shared with the loader's own checks.
const (
	// weekdayPattern matches parseDay (case-insensitive, three letters).
	weekdayPattern = `^([Ss][Uu][Nn]|[Mm][Oo][Nn]|[Tt][Uu][Ee]|[Ww][Ee][Dd]|[Tt][Hh][Uu]|[Ff][Rr][Ii]|[Ss][Aa][Tt])$`
	// headerNamePattern and headerValuePattern mirror inlineMessage's check.
	headerNamePattern  = `^[^:\r\n \t]+$`
	headerValuePattern = `^[^\r\n]*$`
	// notBlankPattern rejects a value that is empty after trimming spaces.
	notBlankPattern = `\S`
)

// schemaRulesFile is one rules file.
type schemaRulesFile struct {
	Version    int                        `yaml:"version" jsonschema:"required" jsonschema_description:"File format version; this triage reads version 1."`
	Tiers      []schemaText               `yaml:"tiers" jsonschema_description:"Declared support tiers, replacing the default [L1, L2, L3]. Once across the rule files."`
	Priorities []schemaText               `yaml:"priorities" jsonschema_description:"Declared priorities, replacing the default [P1, P2, P3, P4]. Once across the rule files."`
	Defaults   schemaDefaults             `yaml:"defaults" jsonschema_description:"Decision before any rule matched. Required once across the rule files."`
	SLA        map[string]schemaSLATarget `yaml:"sla" jsonschema_description:"Response and resolution targets by tier (keys are tier names)."`
	Calendar   schemaCalendar             `yaml:"calendar" jsonschema_description:"Time zone and business hours behind hour, weekday and business_hours."`
	Threading  schemaThreading            `yaml:"threading" jsonschema_description:"Regular expressions that find a ticket number (first capture group) for ticket_ref."`
	Lists      map[string][]schemaScalar  `yaml:"lists" jsonschema_description:"Named lists usable in expressions by their name."`
	Rules      []schemaRuleItem           `yaml:"rules" jsonschema_description:"Rules and groups, evaluated in file order."`
	Tests      []schemaTest               `yaml:"tests" jsonschema_description:"Rule tests; a rule set whose tests fail is not activated."`
}

// JSONSchemaExtend adds the constraints that field types cannot carry.
func (schemaRulesFile) JSONSchemaExtend(s *jsonschema.Schema) {
	one := uint64(1)
	prop(s, "version").Const = 1
	for _, name := range []string{"tiers", "priorities"} {
		p := prop(s, name)
		p.MinItems = &one
		p.UniqueItems = true
	}
	reserved := make([]any, 0, 64)
	for _, n := range slices.Sorted(maps.Keys(reservedNames())) {
		reserved = append(reserved, n)
	}
	prop(s, "lists").PropertyNames = &jsonschema.Schema{
		Type:        "string",
		Pattern:     listNamePattern.String(),
		Not:         &jsonschema.Schema{Enum: reserved},
		Description: "A letter followed by letters, digits or _; not a field or function name of the rule language.",
	}
	prop(s, "sla").PropertyNames = &jsonschema.Schema{Ref: "#/$defs/Tier"}
}

// schemaTestFile is a separate test file (`triage test RULES TESTFILE`).
type schemaTestFile struct {
	Tests []schemaTest `yaml:"tests" jsonschema:"required" jsonschema_description:"Rule tests run against the rule set given on the command line."`
}

type schemaDefaults struct {
	Tier     schemaTier     `yaml:"tier" jsonschema:"required" jsonschema_description:"Tier when no rule sets one."`
	Priority schemaPriority `yaml:"priority" jsonschema:"required" jsonschema_description:"Priority when no rule sets one."`
	Queue    schemaNonEmpty `yaml:"queue" jsonschema:"required" jsonschema_description:"Queue (a name under queues: in triage.yaml) when no rule sets one."`
	Runbook  schemaText     `yaml:"runbook" jsonschema_description:"Runbook when no rule sets one."`
}

type schemaSLATarget struct {
	Response    schemaSLADuration `yaml:"response" jsonschema_description:"Time to first response, e.g. 15m, 1h."`
	Resolve     schemaSLADuration `yaml:"resolve" jsonschema_description:"Time to resolution, e.g. 4h, 3d, 1d12h."`
	Clock       schemaClock       `yaml:"clock" jsonschema_description:"calendar (default: around the clock) or business (the calendar's business hours, weekends and holidays skipped)."`
	UpdateEvery schemaSLADuration `yaml:"update_every" jsonschema_description:"A status update is due this often; the ticket carries the first (next_update_due)."`
}

type schemaCalendar struct {
	Holidays      []schemaHoliday `yaml:"holidays" jsonschema_description:"Dates (YYYY-MM-DD) without business hours, and/or iCalendar files (*.ics, relative to the rules file) of such days."`
	Timezone      schemaText      `yaml:"timezone" jsonschema_description:"IANA time zone such as Europe/Berlin; default UTC."`
	BusinessHours schemaText      `yaml:"business_hours" jsonschema_description:"Day ranges and hours, comma-separated spans: \"Mon-Thu 08:00-18:00, Fri 08:00-14:00\"; 24:00 ends a day. Default \"Mon-Fri 08:00-18:00\"."`
}

type schemaThreading struct {
	Subject   []schemaScalar `yaml:"subject" jsonschema_description:"Patterns matched against the decoded subject; default ['\\[#(\\d+)\\]']."`
	MessageID []schemaScalar `yaml:"message_id" jsonschema_description:"Patterns matched against In-Reply-To and each References id."`
}

// schemaRuleItem is one entry of a rules list: a rule or a group. The
// loader treats a mapping with a `group` key as a group.
type schemaRuleItem struct{}

// JSONSchema makes a rule item one of the two shapes.
func (schemaRuleItem) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{
		Description: "A rule, or a group of rules (a mapping with a group key).",
		OneOf: []*jsonschema.Schema{
			{Ref: "#/$defs/Rule"},
			{Ref: "#/$defs/Group"},
		},
	}
}

type schemaRule struct {
	Name        schemaName             `yaml:"name" jsonschema:"required" jsonschema_description:"Unique rule name: lower-case letters, digits and -."`
	Description schemaText             `yaml:"description" jsonschema_description:"Shown in explain output and in the ticket's matched list."`
	When        schemaExpr             `yaml:"when" jsonschema:"required" jsonschema_description:"Boolean expr-lang condition over the mail's fields, lists and the decision so far."`
	Action      schemaAction           `yaml:"action" jsonschema_description:"forward (default) or drop: a dropped mail is marked done and filed in folder, never forwarded."`
	Set         schemaSet              `yaml:"set" jsonschema_description:"Decision fields this rule overrides when it matches."`
	Tags        []schemaTag            `yaml:"tags" jsonschema_description:"Tags added when the rule matches; they accumulate."`
	Extract     map[string]schemaRegex `yaml:"extract" jsonschema_description:"Ticket field name to regular expression; the first match becomes the field's value."`
	Stop        bool                   `yaml:"stop" jsonschema_description:"End evaluation when this rule matches (also from inside a group)."`
}

// JSONSchemaExtend constrains extract's field names.
func (schemaRule) JSONSchemaExtend(s *jsonschema.Schema) {
	prop(s, "extract").PropertyNames = &jsonschema.Schema{
		Type:        "string",
		Pattern:     fieldName.String(),
		Description: "A letter followed by letters, digits, _ . or -.",
	}
}

type schemaGroup struct {
	Group       schemaName       `yaml:"group" jsonschema:"required" jsonschema_description:"Unique group name: lower-case letters, digits and -."`
	Description schemaText       `yaml:"description" jsonschema_description:"Shown in explain output."`
	When        schemaExpr       `yaml:"when" jsonschema_description:"Optional guard: the group's rules run only when it is true."`
	FirstMatch  bool             `yaml:"first_match" jsonschema_description:"Apply only the first matching rule of the group, then go on after the group."`
	Rules       []schemaRuleItem `yaml:"rules" jsonschema:"required" jsonschema_description:"Rules and nested groups, in order."`
}

type schemaSet struct {
	Tier     schemaTier     `yaml:"tier" jsonschema_description:"Support tier."`
	Priority schemaPriority `yaml:"priority" jsonschema_description:"Priority."`
	Queue    schemaNonEmpty `yaml:"queue" jsonschema_description:"Target queue: a name under queues: in triage.yaml."`
	Runbook  schemaNonEmpty `yaml:"runbook" jsonschema_description:"Runbook reference passed on with the ticket."`
	Folder   schemaNonEmpty `yaml:"folder" jsonschema_description:"IMAP folder the mail is filed in once done."`
}

type schemaTest struct {
	Name    schemaNonEmpty `yaml:"name" jsonschema:"required" jsonschema_description:"Unique test name."`
	Mail    schemaNonEmpty `yaml:"mail" jsonschema_description:"An .eml file, relative to this file. Give mail or message."`
	Message schemaMessage  `yaml:"message" jsonschema_description:"A test mail written inline. Give mail or message."`
	Env     schemaTestEnv  `yaml:"env" jsonschema_description:"Overrides of mail fields, applied after the calendar."`
	Expect  schemaExpect   `yaml:"expect" jsonschema:"required" jsonschema_description:"What the decision must be; fields left out are not checked."`
}

// JSONSchemaExtend requires exactly one of mail and message.
func (schemaTest) JSONSchemaExtend(s *jsonschema.Schema) {
	s.OneOf = []*jsonschema.Schema{
		{Required: []string{"mail"}},
		{Required: []string{"message"}},
	}
}

type schemaMessage struct {
	From    schemaText               `yaml:"from" jsonschema_description:"From address, e.g. \"Ann <ann@example.com>\"."`
	To      schemaStrOrList          `yaml:"to" jsonschema_description:"To addresses: one or a list."`
	Cc      schemaStrOrList          `yaml:"cc" jsonschema_description:"Cc addresses: one or a list."`
	Subject schemaScalar             `yaml:"subject" jsonschema_description:"Subject."`
	Body    schemaScalar             `yaml:"body" jsonschema_description:"Plain-text body."`
	Date    schemaText               `yaml:"date" jsonschema_description:"RFC 5322 date; default a fixed date."`
	Headers map[string]schemaHeaderV `yaml:"headers" jsonschema_description:"Further header fields, name to value."`
}

// JSONSchemaExtend constrains header names the way the loader does.
func (schemaMessage) JSONSchemaExtend(s *jsonschema.Schema) {
	prop(s, "headers").PropertyNames = &jsonschema.Schema{Type: "string", Pattern: headerNamePattern}
}

// schemaTestEnv lists the Env fields a test may override (envOverrides).
type schemaTestEnv struct {
	Account       schemaText    `yaml:"account" jsonschema_description:"Account name."`
	Mailbox       schemaText    `yaml:"mailbox" jsonschema_description:"Mailbox name."`
	TicketRef     schemaText    `yaml:"ticket_ref" jsonschema_description:"Ticket number found in the thread."`
	Weekday       schemaWeekday `yaml:"weekday" jsonschema_description:"Day of week: Mon … Sun."`
	Hour          int           `yaml:"hour" jsonschema_description:"Hour of day, 0 to 23."`
	Duplicate     bool          `yaml:"duplicate" jsonschema_description:"Same mail already handled within the dedupe window."`
	List          bool          `yaml:"list" jsonschema_description:"Mailing-list mail."`
	AutoReply     bool          `yaml:"auto_reply" jsonschema_description:"Automatic reply."`
	Bounce        bool          `yaml:"bounce" jsonschema_description:"Delivery failure report."`
	BusinessHours bool          `yaml:"business_hours" jsonschema_description:"Inside business hours."`
	Signed        bool          `yaml:"signed" jsonschema_description:"S/MIME or PGP/MIME signature present."`
	Encrypted     bool          `yaml:"encrypted" jsonschema_description:"S/MIME or PGP/MIME encrypted; the body is empty."`
	Signer        schemaText    `yaml:"signer" jsonschema_description:"Address of the S/MIME signer's certificate."`
	SimilarRecent int           `yaml:"similar_recent" jsonschema_description:"Mails of the same group within the problems window, this one included (default 1)."`
	SenderRecent  int           `yaml:"sender_recent" jsonschema_description:"Mails from the same sender within the problems window, this one included (default 1)."`
	ProblemSize   int           `yaml:"problem_size" jsonschema_description:"problem.size: tickets of the mail's problem within the window (0: none; any other value also sets problem.id)."`
}

// JSONSchemaExtend bounds hour.
func (schemaTestEnv) JSONSchemaExtend(s *jsonschema.Schema) {
	h := prop(s, "hour")
	h.Minimum, h.Maximum = "0", "23"
	for _, name := range []string{"similar_recent", "sender_recent", "problem_size"} {
		c := prop(s, name)
		c.Minimum, c.Maximum = "0", "1000000"
	}
}

type schemaExpect struct {
	Tier       schemaTier              `yaml:"tier" jsonschema_description:"Expected tier."`
	Priority   schemaPriority          `yaml:"priority" jsonschema_description:"Expected priority."`
	Queue      schemaNonEmpty          `yaml:"queue" jsonschema_description:"Expected queue."`
	Runbook    schemaNonEmpty          `yaml:"runbook" jsonschema_description:"Expected runbook."`
	Action     schemaAction            `yaml:"action" jsonschema_description:"Expected action."`
	Folder     schemaNonEmpty          `yaml:"folder" jsonschema_description:"Expected folder."`
	Tags       schemaStrOrList         `yaml:"tags" jsonschema_description:"Tags that must be present."`
	Matched    schemaStrOrList         `yaml:"matched" jsonschema_description:"Exactly these rules must match, in this order."`
	NotMatched schemaStrOrList         `yaml:"not_matched" jsonschema_description:"None of these rules may match."`
	Fields     map[string]schemaScalar `yaml:"fields" jsonschema_description:"Extracted fields that must have these values."`
}

// Scalar types. Each becomes one entry under $defs.

type (
	schemaText        string // loader `str`: a string or a number
	schemaNonEmpty    string // loader `nonEmpty`
	schemaScalar      string // loader `anyScalar`: any non-null scalar
	schemaExpr        string
	schemaName        string
	schemaTag         string
	schemaRegex       string
	schemaHeaderV     string
	schemaTier        string
	schemaPriority    string
	schemaAction      string
	schemaSLADuration string
	schemaWeekday     string
	schemaClock       string
	schemaHoliday     string
	schemaStrOrList   []string // loader `strList` with single: one scalar or a list
)

// typed is a schema of several JSON types, with a pattern unless "".
func typed(desc, pattern string, types ...string) *jsonschema.Schema {
	return &jsonschema.Schema{Description: desc, Pattern: pattern, Extras: map[string]any{"type": types}}
}

// JSONSchema implementations for the scalar types.
func (schemaText) JSONSchema() *jsonschema.Schema {
	return typed("A string (numbers are read as their text).", "", "string", "number")
}

func (schemaNonEmpty) JSONSchema() *jsonschema.Schema {
	return typed("A non-empty string.", notBlankPattern, "string", "number")
}

func (schemaScalar) JSONSchema() *jsonschema.Schema {
	return typed("A string (numbers and booleans are read as their text).", "", "string", "number", "boolean")
}

func (schemaExpr) JSONSchema() *jsonschema.Schema {
	return typed("An expr-lang expression that yields a boolean.", notBlankPattern, "string", "boolean")
}

func (schemaName) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{Type: "string", Pattern: namePattern.String(), Description: "Lower-case letters, digits and -, starting with a letter or digit."}
}

func (schemaTag) JSONSchema() *jsonschema.Schema {
	return typed("A non-empty tag.", notBlankPattern, "string", "number", "boolean")
}

func (schemaRegex) JSONSchema() *jsonschema.Schema {
	return typed("A regular expression in Go (RE2) syntax.", "", "string", "number", "boolean")
}

func (schemaHeaderV) JSONSchema() *jsonschema.Schema {
	return typed("A header value on one line.", headerValuePattern, "string", "number", "boolean")
}

// declaredOrDefault offers the default values for completion while
// accepting any value a `tiers:` / `priorities:` declaration may add.
func declaredOrDefault(desc string, defaults []string) *jsonschema.Schema {
	enum := make([]any, len(defaults))
	for i, d := range defaults {
		enum[i] = d
	}
	custom := typed("", "", "string", "number")
	custom.MinLength = new(uint64(1))
	return &jsonschema.Schema{Description: desc, AnyOf: []*jsonschema.Schema{{Enum: enum}, custom}}
}

func (schemaTier) JSONSchema() *jsonschema.Schema {
	return declaredOrDefault("Support tier: "+strings.Join(defaultTiers, ", ")+" unless tiers: declares others.", defaultTiers)
}

func (schemaPriority) JSONSchema() *jsonschema.Schema {
	return declaredOrDefault("Priority: "+strings.Join(defaultPriorities, ", ")+" unless priorities: declares others.", defaultPriorities)
}

func (schemaAction) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{Type: "string", Enum: []any{"forward", "drop"}, Description: "forward (default) or drop."}
}

func (schemaSLADuration) JSONSchema() *jsonschema.Schema {
	// The shared pattern admits zero ("0s", "0d") and totals below zero
	// ("0d-1h"); only the loader can require a positive value.
	return &jsonschema.Schema{Type: "string", Pattern: duration.Pattern, Description: "A positive duration: 90m, 4h, 3d, 1d12h."}
}

func (schemaClock) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{Type: "string", Enum: []any{"calendar", "business"}}
}

func (schemaHoliday) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{Type: "string", Pattern: `^([0-9]{4}-[0-9]{2}-[0-9]{2}|.*\.[iI][cC][sS])$`}
}

func (schemaWeekday) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{Type: "string", Pattern: weekdayPattern, Description: "Sun, Mon, Tue, Wed, Thu, Fri or Sat."}
}

func (schemaStrOrList) JSONSchema() *jsonschema.Schema {
	s := typed("One value or a list of values.", "", "string", "number", "boolean", "array")
	s.Items = &jsonschema.Schema{Ref: "#/$defs/Scalar"}
	return s
}

// prop returns a property schema of s; the types above name only fields
// they declare, so a missing one is a bug in this file.
func prop(s *jsonschema.Schema, name string) *jsonschema.Schema {
	p, ok := s.Properties.Get(name)
	if !ok {
		panic("rules schema: no property " + name)
	}
	return p
}

// newSchemaReflector reflects the schema types above: yaml keys, required
// only where tagged, unknown keys rejected, $defs named without the
// "schema" prefix.
func newSchemaReflector() *jsonschema.Reflector {
	return &jsonschema.Reflector{
		FieldNameTag:               "yaml",
		RequiredFromJSONSchemaTags: true,
		Anonymous:                  true,
		ExpandedStruct:             true,
		Namer: func(t reflect.Type) string {
			name, ok := strings.CutPrefix(t.Name(), "schema")
			if !ok || name == "" {
				return ""
			}
			return name
		},
	}
}

// reflectSchema reflects root and the extra types its custom schemas refer
// to by name, into one document.
func reflectSchema(root reflect.Type, title, desc string, extra ...reflect.Type) ([]byte, error) {
	r := newSchemaReflector()
	s := r.ReflectFromType(root)
	r.ExpandedStruct = false // keep the extra types themselves under $defs
	for _, t := range extra {
		for name, def := range r.ReflectFromType(t).Definitions {
			s.Definitions[name] = def
		}
	}
	s.Version = schemaDraft
	s.Title = title
	s.Description = desc
	if err := checkRefs(s); err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("marshal %s schema: %w", title, err)
	}
	return append(out, '\n'), nil
}

// checkRefs makes sure every "#/$defs/X" the document uses exists.
func checkRefs(s *jsonschema.Schema) error {
	raw, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("marshal schema: %w", err)
	}
	var missing []string
	for _, part := range strings.Split(string(raw), `"$ref":"#/$defs/`)[1:] {
		name, _, _ := strings.Cut(part, `"`)
		if _, ok := s.Definitions[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("schema refers to undefined $defs: %s", strings.Join(missing, ", "))
	}
	return nil
}

// RulesSchema returns the JSON Schema (draft-07) of a rules file.
func RulesSchema() ([]byte, error) {
	return reflectSchema(reflect.TypeFor[schemaRulesFile](),
		"triage rules file",
		"Ordered rules that set tier, priority, queue and runbook of help-desk mail. Validate fully with `triage check`.",
		reflect.TypeFor[schemaRule](), reflect.TypeFor[schemaGroup](), reflect.TypeFor[schemaScalar]())
}

// TestsSchema returns the JSON Schema (draft-07) of a separate rule test
// file (a mapping with only `tests:`).
func TestsSchema() ([]byte, error) {
	return reflectSchema(reflect.TypeFor[schemaTestFile](),
		"triage rule tests file",
		"Rule tests run with `triage test RULES TESTFILE`.",
		reflect.TypeFor[schemaScalar]())
}
