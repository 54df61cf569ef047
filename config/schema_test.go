package config

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/triage-dev/triage/internal/duration"
	"github.com/triage-dev/triage/internal/testkit"
	"github.com/triage-dev/triage/queue"
)

var updateSchema = flag.Bool("update-schema", false, "rewrite schema/config.schema.json from the Go types")

func compileConfigSchema(t *testing.T) (*jsonschema.Schema, map[string]any) {
	t.Helper()
	doc, err := Schema()
	if err != nil {
		t.Fatalf("Schema: %v", err)
	}
	var raw map[string]any
	if err := json.Unmarshal(doc, &raw); err != nil {
		t.Fatalf("Schema output: %v", err)
	}
	return testkit.CompileSchema(t, "config.schema.json", doc), raw
}

// schemaTestConfig uses every queue type and most keys.
const schemaTestConfig = configHead + `    mailboxes: [INBOX, Support]
    done: {keyword: $Triaged, move_to: ""}
    quarantine: Triage/Quarantine
    failed: Triage/Failed
    poll_interval: 30s
    idle_restart: 25m
    batch_size: 50
    concurrency: 4
    timeout: 1m
  - name: m365
    addr: outlook.office365.com:993
    username: helpdesk@example.onmicrosoft.com
    oauth2: {mechanism: xoauth2, token_command: [/usr/local/bin/get-token, --tenant, example]}
    done: {keyword: "", move_to: Archive/Triaged}
queues:
  helpdesk: {type: smtp, addr: tracker.example.com:587, to: l1@tracker.example.com, from: triage@example.com, username: triage, password_file: /run/credentials/triage.service/smtp}
  local: {type: lmtp, addr: /run/dovecot/lmtp, to: [a@example.com, b@example.com], from: triage@example.com}
  security:
    type: webhook
    url: https://tracker.example.com/api/tickets
    secret_env: HOOK_SECRET
    method: PUT
    headers: {X-Source: triage}
    headers_env: {Authorization: ZAMMAD_AUTH}
    timeout: 30s
    retry: {initial: 1s, max: 5m, give_up_after: 24h}
  systems: {type: nats, url: nats://127.0.0.1:4222, subject: tickets.l2, stream: TICKETS, create_stream: true, stream_subjects: tickets.>}
  script: {type: exec, command: [/usr/local/bin/sink, --json]}
  default: {type: file, path: tickets.jsonl}
  debug: {type: stdout}
http: {listen: 127.0.0.1:9425, token_env: TRIAGE_ADMIN_TOKEN}
state_dir: /var/lib/triage
dedupe_window: 3d
max_message_bytes: 26214400
shutdown_timeout: 15s
log: {level: info, format: json}
`

func edit(t *testing.T, src, old, new string) string {
	t.Helper()
	out := strings.Replace(src, old, new, 1)
	if out == src {
		t.Fatalf("edit %q not found", old)
	}
	return out
}

// TestConfigSchemaAgreesWithLoader validates configs and edits of them with
// both the schema and Parse; the two must agree on each.
func TestConfigSchemaAgreesWithLoader(t *testing.T) {
	sch, _ := compileConfigSchema(t)
	s := schemaTestConfig
	tests := []struct {
		name     string
		src      string
		accepted bool
	}{
		{"full config", s, true},
		{"unknown top-level key", s + "colour: blue\n", false},
		{"unknown key in an account", edit(t, s, "    tls: implicit\n", "    tls: implicit\n    pasword: x\n"), false},
		{"unknown key in a queue", edit(t, s, "{type: file, path: tickets.jsonl}", "{type: file, path: tickets.jsonl, mode: append}"), false},
		{"another type's key in a queue", edit(t, s, "{type: file, path: tickets.jsonl}", "{type: file, path: tickets.jsonl, url: https://x.example.com/}"), false},
		{"unknown key in a stdout queue", edit(t, s, "{type: stdout}", "{type: stdout, path: x}"), false},
		{"queue without type", edit(t, s, "{type: stdout}", "{}"), false},
		{"queue timeout on a file queue", edit(t, s, "{type: file, path: tickets.jsonl}", "{type: file, path: tickets.jsonl, timeout: 5s}"), true},
		{"queue password twice", edit(t, s, "password_file: /run/credentials/triage.service/smtp}", "password_file: /x, password_env: Y}"), false},
		{"webhook secret twice", edit(t, s, "    secret_env: HOOK_SECRET\n", "    secret_env: HOOK_SECRET\n    secret_file: /x\n"), false},
		{"unknown key in done", edit(t, s, "move_to: \"\"}", "move_to: \"\", flag: x}"), false},
		{"unknown key in oauth2", edit(t, s, "mechanism: xoauth2,", "mechanism: xoauth2, tennant: x,"), false},
		{"oauth2 microsoft app-only with a secret", edit(t, s, "token_command: [/usr/local/bin/get-token, --tenant, example]", "provider: microsoft, tenant: example.com, client_id: 00000000-0000-0000-0000-000000000001, client_secret_env: M365_SECRET"), true},
		{"oauth2 microsoft app-only with a certificate", edit(t, s, "token_command: [/usr/local/bin/get-token, --tenant, example]", "provider: microsoft, tenant: example.com, client_id: c, certificate_file: m365.pem"), true},
		{"oauth2 google service account", edit(t, s, "token_command: [/usr/local/bin/get-token, --tenant, example]", "provider: google, service_account_file: sa.json"), true},
		{"oauth2 microsoft delegated", edit(t, s, "token_command: [/usr/local/bin/get-token, --tenant, example]", "provider: microsoft, flow: delegated, tenant: common, client_id: c"), true},
		{"oauth2 provider and a token command", edit(t, s, "token_command:", "provider: google, service_account_file: sa.json, token_command:"), false},
		{"oauth2 unknown provider", edit(t, s, "token_command: [/usr/local/bin/get-token, --tenant, example]", "provider: okta, client_id: c"), false},
		{"oauth2 unknown flow", edit(t, s, "token_command: [/usr/local/bin/get-token, --tenant, example]", "provider: google, flow: implicit, service_account_file: sa.json"), false},
		{"unknown key in retry", edit(t, s, "give_up_after: 24h}", "give_up_after: 24h, jitter: 1s}"), false},
		{"unknown key in http", edit(t, s, "token_env: TRIAGE_ADMIN_TOKEN}", "token_env: TRIAGE_ADMIN_TOKEN, tls: true}"), false},
		{"unknown key in log", edit(t, s, "format: json}", "format: json, colour: true}"), false},
		{"bad tls", edit(t, s, "tls: implicit", "tls: maybe"), false},
		{"bad queue type", edit(t, s, "{type: stdout}", "{type: kafka}"), false},
		{"bad log level", edit(t, s, "level: info", "level: verbose"), false},
		{"bad log format", edit(t, s, "format: json", "format: xml"), false},
		{"bad oauth2 mechanism", edit(t, s, "mechanism: xoauth2", "mechanism: plain"), false},
		{"bad duration", edit(t, s, "dedupe_window: 3d", "dedupe_window: 3 days"), false},
		{"bad queue duration", edit(t, s, "timeout: 30s", "timeout: 3 days"), false},
		{"negative queue duration", edit(t, s, "timeout: 30s", "timeout: -30s"), false},
		{"days and hours", edit(t, s, "dedupe_window: 3d", "dedupe_window: 1d12h"), true},
		{"queue timeout in days", edit(t, s, "timeout: 30s", "timeout: 3d"), true},
		{"queue timeout in days and hours", edit(t, s, "timeout: 30s", "timeout: 1d12h"), true},
		{"queue retry max in days and hours", edit(t, s, "max: 5m,", "max: 1d12h,"), true},
		{"more than 3650 days", edit(t, s, "dedupe_window: 3d", "dedupe_window: 3651d"), false},
		{"no secret", edit(t, s, "    password_env: TRIAGE_IMAP_PASSWORD\n", ""), false},
		{"two secrets", edit(t, s, "    password_env: TRIAGE_IMAP_PASSWORD\n", "    password_env: A\n    password_file: /x\n"), false},
		{"oauth2 with two token sources", edit(t, s, "mechanism: xoauth2,", "mechanism: xoauth2, token_env: T,"), false},
		{"done marks nothing", edit(t, s, "move_to: Archive/Triaged}", "move_to: \"\"}"), false},
		{"webhook without url", edit(t, s, "    url: https://tracker.example.com/api/tickets\n", ""), false},
		{"webhook with url_env", edit(t, s, "    url: https://tracker.example.com/api/tickets\n", "    url_env: HOOK_URL\n"), true},
		{"webhook with url and url_env", edit(t, s, "    url: https://tracker.example.com/api/tickets\n", "    url: https://tracker.example.com/api/tickets\n    url_env: HOOK_URL\n"), false},
		{"smtp without to", edit(t, s, " to: l1@tracker.example.com,", ""), false},
		{"create_stream without subjects", edit(t, s, ", stream_subjects: tickets.>", ""), false},
		{"bad account name", edit(t, s, "name: helpdesk", "name: help desk"), false},
		{"two http tokens", edit(t, s, "token_env: TRIAGE_ADMIN_TOKEN}", "token_env: TRIAGE_ADMIN_TOKEN, token_file: /x}"), false},
		{"no accounts", edit(t, s, "accounts:\n", "accounts: []\nx_accounts:\n"), false},
		{"keyword null means the default", edit(t, s, "keyword: $Triaged", "keyword: null"), true},
		{"to as a single address", edit(t, s, "to: [a@example.com, b@example.com]", "to: a@example.com"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			serr := sch.Validate(testkit.YAMLToJSONValue(t, []byte(tt.src)))
			_, lerr := Parse("/etc/triage/triage.yaml", []byte(tt.src))
			if (serr == nil) != tt.accepted {
				t.Errorf("schema accepted=%v, want %v: %v", serr == nil, tt.accepted, serr)
			}
			if (lerr == nil) != tt.accepted {
				t.Errorf("loader accepted=%v, want %v: %v", lerr == nil, tt.accepted, lerr)
			}
		})
	}
}

// TestConfigSchemaEarlyRangeChecks covers what the schema reports before
// the daemon does: the mailbox checks these ranges when an account starts.
func TestConfigSchemaEarlyRangeChecks(t *testing.T) {
	sch, _ := compileConfigSchema(t)
	for _, bad := range []string{"batch_size: 5000", "concurrency: 1000", "batch_size: -1"} {
		src := edit(t, schemaTestConfig, "batch_size: 50\n    concurrency: 4", bad)
		if err := sch.Validate(testkit.YAMLToJSONValue(t, []byte(src))); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

// TestConfigSchemaExampleFile validates examples/triage.yaml when present.
func TestConfigSchemaExampleFile(t *testing.T) {
	path := filepath.Join("..", "examples", "triage.yaml")
	src, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		t.Log("examples/triage.yaml does not exist yet; the inline config stands in")
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	sch, _ := compileConfigSchema(t)
	if err := sch.Validate(testkit.YAMLToJSONValue(t, src)); err != nil {
		t.Errorf("%s rejected by the schema: %v", path, err)
	}
	if _, err := Parse(path, src); err != nil {
		t.Errorf("%s rejected by the loader: %v", path, err)
	}
}

// yamlKeys lists the yaml keys of struct types, as the strict decoder
// knows them (inlined structs' keys included).
func yamlKeys(types ...reflect.Type) []string {
	var keys []string
	for _, t := range types {
		for i := range t.NumField() {
			name, opts, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			switch {
			case opts == "inline":
				keys = append(keys, yamlKeys(t.Field(i).Type)...)
			case name != "" && name != "-":
				keys = append(keys, name)
			}
		}
	}
	sort.Strings(keys)
	return keys
}

// queueTypeDefs maps each queue type to the $defs entry QueueConfig checks
// a queue of that type against.
func queueTypeDefs(t *testing.T, defs map[string]any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, b := range defs["QueueConfig"].(map[string]any)["allOf"].([]any) {
		branch := b.(map[string]any)
		typ := branch["if"].(map[string]any)["properties"].(map[string]any)["type"].(map[string]any)
		ref := branch["then"].(map[string]any)["$ref"].(string)
		for _, name := range typ["enum"].([]any) {
			out[name.(string)] = strings.TrimPrefix(ref, "#/$defs/")
		}
	}
	return out
}

// TestConfigSchemaKeysAndDocs checks that each $defs entry has exactly the
// decoder's keys and that every key carries a description.
func TestConfigSchemaKeysAndDocs(t *testing.T) {
	_, raw := compileConfigSchema(t)
	defs := raw["$defs"].(map[string]any)
	types := map[string]reflect.Type{
		"":                 reflect.TypeFor[Config](),
		"AccountConfig":    reflect.TypeFor[AccountConfig](),
		"OAuth2Config":     reflect.TypeFor[OAuth2Config](),
		"DoneConfig":       reflect.TypeFor[DoneConfig](),
		"HTTPConfig":       reflect.TypeFor[HTTPConfig](),
		"LogConfig":        reflect.TypeFor[LogConfig](),
		"QueueRetryConfig": reflect.TypeFor[queue.RetryConfig](),
	}
	// A queue is checked against its type's entry: the keys every queue
	// has and the type's own.
	byType := queueTypeDefs(t, defs)
	var typeNames []string
	for _, qt := range queue.Types() {
		typeNames = append(typeNames, qt.Name)
		def, ok := byType[qt.Name]
		if !ok {
			t.Errorf("QueueConfig does not check queues of type %s", qt.Name)
			continue
		}
		types[def] = reflect.StructOf([]reflect.StructField{
			{Name: "Common", Type: reflect.TypeFor[queue.Config](), Tag: `yaml:",inline"`},
			{Name: "Own", Type: qt.Settings, Tag: `yaml:",inline"`},
		})
	}
	if len(byType) != len(typeNames) {
		t.Errorf("QueueConfig checks types %v, the registry has %v", byType, typeNames)
	}
	qprops := defs["QueueConfig"].(map[string]any)["properties"].(map[string]any)
	var common []string
	for k := range qprops {
		common = append(common, k)
	}
	sort.Strings(common)
	if want := yamlKeys(reflect.TypeFor[queue.Config]()); !slices.Equal(common, want) {
		t.Errorf("QueueConfig: schema keys %v, decoder keys %v", common, want)
	}
	var enum []string
	for _, v := range qprops["type"].(map[string]any)["enum"].([]any) {
		enum = append(enum, v.(string))
	}
	if !slices.Equal(enum, typeNames) {
		t.Errorf("QueueConfig type enum %v, registry %v", enum, typeNames)
	}
	for name, typ := range types {
		obj := raw
		if name != "" {
			obj = defs[name].(map[string]any)
		}
		props := obj["properties"].(map[string]any)
		var got []string
		for k, v := range props {
			got = append(got, k)
			if d, _ := v.(map[string]any)["description"].(string); d == "" {
				t.Errorf("%s.%s has no description", name, k)
			}
		}
		sort.Strings(got)
		if want := yamlKeys(typ); !slices.Equal(got, want) {
			t.Errorf("%s: schema keys %v, decoder keys %v", name, got, want)
		}
		if obj["additionalProperties"] != false {
			t.Errorf("%s: unknown keys are not rejected", name)
		}
	}
}

var durationSamples = []string{
	"30s", "15m", "4h", "3d", "0", "0s", "1h30m", "1.5h", ".5h", "500ms", "2µs", "+1h", "-0s", "-0", " 3d ", "0d", "+3d",
	"-1h", "-1d", "1d12h", "1d-1h", "3650d", "3651d", "15", "3 d", "d", "1w", "", "abc", "1e3s", "--1h",
}

// TestDurationPatterns checks that every duration in triage.yaml and the
// queues reads the one syntax (internal/duration.Duration) and that the
// schema's pattern never refuses a value the loader accepts.
func TestDurationPatterns(t *testing.T) {
	if got := scalarDefs()["Duration"].Pattern; got != duration.Pattern {
		t.Errorf("$defs/Duration pattern %q, want duration.Pattern", got)
	}
	re := regexp.MustCompile(duration.Pattern)
	for _, s := range durationSamples {
		want, werr := duration.Parse(s)
		if werr == nil && !re.MatchString(s) {
			t.Errorf("duration %q: loader accepts, pattern refuses", s)
		}
		var yd duration.Duration
		yerr := yd.UnmarshalYAML(&yaml.Node{Kind: yaml.ScalarNode, Value: s})
		if time.Duration(yd) != want || (yerr == nil) != (werr == nil) {
			t.Errorf("duration %q from YAML: %v, %v; duration.Parse gives %v, %v", s, time.Duration(yd), yerr, want, werr)
		}
		var jd duration.Duration
		jerr := json.Unmarshal([]byte(strconv.Quote(s)), &jd)
		if time.Duration(jd) != want || (jerr == nil) != (werr == nil) {
			t.Errorf("duration %q from JSON: %v, %v; duration.Parse gives %v, %v", s, time.Duration(jd), jerr, want, werr)
		}
	}
}

// TestConfigSchemaFileUpToDate keeps schema/config.schema.json equal to the
// generated schema; run with -update-schema to rewrite it.
func TestConfigSchemaFileUpToDate(t *testing.T) {
	want, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "schema", "config.schema.json")
	if _, ok := testkit.Golden(t, path, want, *updateSchema, "run go test ./config -run TestConfigSchemaFileUpToDate -update-schema"); !ok {
		t.Errorf("%s is stale: run go test ./config -run TestConfigSchemaFileUpToDate -update-schema", path)
	}
	for range 3 {
		again, err := Schema()
		if err != nil || !bytes.Equal(again, want) {
			t.Fatalf("Schema output differs between calls (err %v)", err)
		}
	}
}
