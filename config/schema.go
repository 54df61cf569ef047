package config

// The JSON Schema of triage.yaml, reflected from the types Load
// decodes (Config, queue.Config, …) with their yaml tags as key names, so a
// key the loader knows is a key the schema knows. What reflection cannot
// see (descriptions, enums, patterns, which keys are required, "exactly one
// of") comes from the tables below, keyed by $defs name and property.

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/invopop/jsonschema"

	"github.com/triage-dev/triage/internal/duration"
	"github.com/triage-dev/triage/mailbox"
	"github.com/triage-dev/triage/oauth"
	detect "github.com/triage-dev/triage/problems"
	"github.com/triage-dev/triage/queue"
)

const schemaDraft = "http://json-schema.org/draft-07/schema#"

// fieldDoc is what the schema says about one key beyond its Go type.
type fieldDoc struct {
	desc     string
	required bool
	enum     []any
	pattern  string
	minZero  bool     // integer must not be negative
	max      int      // inclusive upper bound for integers when > 0
	types    []string // replaces the reflected type
}

// configFieldDocs describes every key of triage.yaml, by "$defs name.key".
func configFieldDocs() map[string]fieldDoc {
	tlsEnum := []any{mailbox.TLSImplicit, mailbox.TLSStartTLS, mailbox.TLSNone}
	return map[string]fieldDoc{
		"Config.rules":              {desc: "Rules file or directory (*.yaml merged in lexical order), relative to this file; watched and hot-reloaded.", required: true},
		"Config.accounts":           {desc: "IMAP accounts to watch.", required: true},
		"Config.queues":             {desc: "Downstream queues by name; rules name them in queue.", required: true},
		"Config.http":               {desc: "Admin HTTP server: /metrics /healthz /readyz /status and POST /-/reload."},
		"Config.state_dir":          {desc: "Directory of the small embedded store (handled ids for the dedupe window), relative to this file.", required: true},
		"Config.dedupe_window":      {desc: "How long a handled mail id is remembered; default " + days(DefaultDedupeWindow) + "."},
		"Config.max_message_bytes":  {desc: "Larger messages are not fetched whole; default " + mebibytes(mailbox.DefaultMaxMessageBytes) + ".", minZero: true},
		"Config.memory_limit":       {desc: "Soft memory limit of the process in bytes (the Go runtime's, as GOMEMLIMIT sets it): near it the garbage collector runs more often instead of letting the heap grow to twice what is live, so mail in flight does not leave the process far above what it holds. Default twice max_buffered_bytes plus " + mebibytes(MemoryLimitOverhead) + "; set at start, changing it needs a restart; the GOMEMLIMIT environment variable, when set, wins (GOMEMLIMIT=off: no limit).", minZero: true},
		"Config.max_buffered_bytes": {desc: "Most bytes of fetched mail held in memory at once, over all accounts, counting the copy a forward sets aside beside a message (re-encoded long lines, a repaired header); fetching waits for room; a message larger than this is handled alone. Default " + mebibytes(DefaultMaxBufferedBytes) + ".", minZero: true},
		"Config.shutdown_timeout":   {desc: "How long in-flight messages may finish on shutdown; default " + DefaultShutdownTimeout.String() + "."},
		"Config.log":                {desc: "Log level and format."},
		"Config.lease":              {desc: "Optional: several daemons for the same accounts (failover); an account is served only by the daemon holding its lease in a NATS JetStream KV bucket."},
		"LeaseConfig.url":           {desc: "NATS server URL(s) holding the leases.", required: true},
		"LeaseConfig.bucket":        {desc: "JetStream KV bucket; created if missing; default " + DefaultLeaseBucket + ".", pattern: leaseBucketRE.String()},
		"LeaseConfig.ttl":           {desc: "How long a lease lasts without renewal (renewed every ttl/3); at least " + MinLeaseTTL.String() + "; default " + DefaultLeaseTTL.String() + ". A standby takes over within this after a holder dies."},
		"LeaseConfig.holder":        {desc: "This daemon's name in the lease; default hostname:pid."},
		"LeaseConfig.creds_file":    {desc: "NATS credentials file, relative to this file."},

		"AccountConfig.name":                 {desc: "Account name, unique; shown as account to rules.", required: true, pattern: accountNameRE.String()},
		"AccountConfig.addr":                 {desc: "IMAP server host:port, e.g. imap.example.com:993.", required: true},
		"AccountConfig.tls":                  {desc: mailbox.TLSImplicit + " (default, port 993), " + mailbox.TLSStartTLS + ", or " + mailbox.TLSNone + " (loopback only).", enum: tlsEnum},
		"AccountConfig.insecure_skip_verify": {desc: "Accept any server certificate. For tests only."},
		"AccountConfig.username":             {desc: "IMAP login name.", required: true},
		"AccountConfig.password_env":         {desc: "Environment variable that holds the password. Set one of password_env, password_file, oauth2."},
		"AccountConfig.password_file":        {desc: "File that holds the password (e.g. a systemd credential). Set one of password_env, password_file, oauth2."},
		"AccountConfig.oauth2":               {desc: "OAuth 2.0 access token for XOAUTH2 or OAUTHBEARER (Microsoft 365, Google). Set one of password_env, password_file, oauth2."},
		"AccountConfig.mailboxes":            {desc: "Mailboxes to watch; default [" + mailbox.DefaultMailbox + "]."},
		"AccountConfig.done":                 {desc: "How a handled message is marked on the server; default keyword " + mailbox.DefaultDoneKeyword + "."},
		"AccountConfig.quarantine":           {desc: "Folder for mail that cannot be parsed; default " + mailbox.DefaultQuarantine + "."},
		"AccountConfig.failed":               {desc: "Folder for mail a queue rejected permanently; default " + mailbox.DefaultFailed + "."},
		"AccountConfig.poll_interval":        {desc: "Poll interval when the server has no IDLE; default " + mailbox.DefaultPollInterval.String() + "."},
		"AccountConfig.idle_restart":         {desc: "Re-issue IDLE after this long, before the server's timeout; default " + mailbox.DefaultIdleRestart.String() + "."},
		"AccountConfig.batch_size":           {desc: "Messages per FETCH, 1 to " + strconv.Itoa(mailbox.MaxBatchSize) + "; default " + strconv.Itoa(mailbox.DefaultBatchSize) + ".", minZero: true, max: mailbox.MaxBatchSize},
		"AccountConfig.concurrency":          {desc: "Messages handled at once per mailbox, 1 to " + strconv.Itoa(mailbox.MaxConcurrency) + "; default " + strconv.Itoa(mailbox.DefaultConcurrency) + ".", minZero: true, max: mailbox.MaxConcurrency},
		"AccountConfig.timeout":              {desc: "Per-command timeout and dead-connection detection; default " + mailbox.DefaultTimeout.String() + "."},
		"AccountConfig.retry_backoff":        {desc: "First delay before a message that failed temporarily (its queue or the state store) is tried again; doubles; default " + mailbox.DefaultRetryBackoff.String() + "."},
		"AccountConfig.reconnect_min":        {desc: "First delay before reconnecting to the server; doubles with jitter; default " + mailbox.DefaultReconnectMin.String() + "."},
		"AccountConfig.reconnect_max":        {desc: "Longest delay between reconnects; default " + mailbox.DefaultReconnectMax.String() + "."},

		"OAuth2Config.mechanism":            {desc: "SASL mechanism: " + mailbox.AuthXOAuth2 + " (default; Microsoft 365, Google) or " + mailbox.AuthOAuthBearer + " (RFC 7628).", enum: []any{mailbox.AuthXOAuth2, mailbox.AuthOAuthBearer}},
		"OAuth2Config.token_file":           {desc: "File holding a current access token, kept fresh by an external refresher. Set one of provider, token_file, token_env, token_command."},
		"OAuth2Config.token_env":            {desc: "Environment variable holding an access token. Set one of provider, token_file, token_env, token_command."},
		"OAuth2Config.token_command":        {desc: "Command (argv, no shell) that prints a current access token. Set one of provider, token_file, token_env, token_command."},
		"OAuth2Config.provider":             {desc: "triage gets and refreshes the token itself from this provider: " + oauth.ProviderMicrosoft + " (Microsoft 365), " + oauth.ProviderGoogle + " (Google Workspace) or " + oauth.ProviderGeneric + " (any OAuth 2.0 server; set token_url and scopes). Set one of provider, token_file, token_env, token_command.", enum: anyOf(oauth.Providers())},
		"OAuth2Config.flow":                 {desc: oauth.FlowAppOnly + " (client credentials with a secret or certificate; default for microsoft and generic), " + oauth.FlowServiceAccount + " (Google service account with domain-wide delegation; default for google) or " + oauth.FlowDelegated + " (a person signs in once with triage login; the refresh token is kept in state_dir).", enum: anyOf(oauth.Flows())},
		"OAuth2Config.tenant":               {desc: "Microsoft: the directory (tenant) id or a verified domain of the tenant. Required with provider microsoft."},
		"OAuth2Config.client_id":            {desc: "Application (client) id of the app registration or OAuth client. Required for app_only and delegated."},
		"OAuth2Config.client_secret_env":    {desc: "Environment variable holding the client secret, read at every token request."},
		"OAuth2Config.client_secret_file":   {desc: "File holding the client secret, read at every token request; relative to this file."},
		"OAuth2Config.certificate_file":     {desc: "app_only instead of a secret: PEM file with the certificate uploaded to the app registration and its RSA private key; relative to this file."},
		"OAuth2Config.service_account_file": {desc: "service_account: the Google service account's JSON key file; relative to this file. The account's username is the mailbox impersonated."},
		"OAuth2Config.scopes":               {desc: "Scopes requested; defaults: microsoft app_only " + oauth.ScopeMicrosoftAppOnly + ", microsoft delegated " + oauth.ScopeMicrosoftIMAP + " and " + oauth.ScopeOfflineAccess + ", google " + oauth.ScopeGoogleMail + ". Required with provider generic."},
		"OAuth2Config.token_url":            {desc: "Token endpoint; required with provider generic, otherwise replaces the provider's (https, or http to a loopback address)."},
		"OAuth2Config.device_auth_url":      {desc: "Device authorization endpoint for triage login; replaces the provider's."},
		"OAuth2Config.auth_url":             {desc: "Authorization endpoint for triage login in a browser; replaces the provider's."},

		"DoneConfig.keyword": {desc: "IMAP keyword set on a handled message; default " + mailbox.DefaultDoneKeyword + ", \"\" for none (then set move_to).", types: []string{"string", "null"}},
		"DoneConfig.move_to": {desc: "Folder a handled message is moved to; needed where the server stores no keywords (Microsoft 365)."},

		"HTTPConfig.listen":        {desc: "host:port of the admin server; default " + DefaultHTTPListen + "."},
		"HTTPConfig.token_env":     {desc: "Environment variable holding the bearer token that POST /-/reload and /status require. Set token_env or token_file."},
		"HTTPConfig.token_file":    {desc: "File holding the bearer token that POST /-/reload and /status require. Set token_env or token_file."},
		"HTTPConfig.allowed_hosts": {desc: "Without a token: host names the admin server answers to besides localhost, loopback addresses and the listen address's host (e.g. the name a reverse proxy forwards); other Host headers are refused, against DNS rebinding."},

		"Config.console":             {desc: "The web console under / of the admin server: overview, tickets, rules, playground. Same authentication as the admin API."},
		"ConsoleConfig.enabled":      {desc: "Serve the console; default true."},
		"ConsoleConfig.allow_edit":   {desc: "Let the console change things: the playground saves the rules file (through the same gate as every reload), the quarantine page moves a folder back to be handled again; default false."},
		"ConsoleConfig.recent":       {desc: "Handled messages the console keeps in memory (bodies truncated); default " + strconv.Itoa(DefaultConsoleRecent) + ".", max: MaxConsoleRecent},
		"Config.problems":            {desc: "Problem detection: mail reporting the same thing within a window is grouped (rule fields problem, similar_recent, sender_recent); see docs/problems.md."},
		"ProblemsConfig.enabled":     {desc: "Run problem detection; default true. Off: problem is empty, similar_recent and sender_recent are 1."},
		"ProblemsConfig.window":      {desc: "How long a mail counts for its group and its sender; " + MinProblemsWindow.String() + " to " + days(MaxProblemsWindow) + "; default " + detect.DefaultWindow.String() + "."},
		"ProblemsConfig.min_size":    {desc: "Mails a group needs to be a problem, 2 to " + strconv.Itoa(MaxProblemsSize) + "; default " + strconv.Itoa(detect.DefaultMinSize) + ".", minZero: true, max: MaxProblemsSize},
		"ProblemsConfig.threshold":   {desc: "Cosine similarity (0 to 1) to a mail of a group that joins the group; default " + strconv.FormatFloat(detect.DefaultThreshold, 'g', -1, 64) + " (measured, docs/problems.md)."},
		"ProblemsConfig.max_tracked": {desc: "Most mails kept in the window (the oldest go first beyond it), 1 to " + strconv.Itoa(MaxProblemsMails) + "; default " + strconv.Itoa(detect.DefaultMaxTracked) + ".", minZero: true, max: MaxProblemsMails},
		"ProblemsConfig.max_groups":  {desc: "Most groups kept (the oldest mails go first beyond it), 1 to " + strconv.Itoa(MaxProblemsMails) + "; default " + strconv.Itoa(detect.DefaultMaxGroups) + ".", minZero: true, max: MaxProblemsMails},

		"LogConfig.level":  {desc: "Minimum level; default " + DefaultLogLevel + ".", enum: anyOf(logLevels)},
		"LogConfig.format": {desc: DefaultLogFormat + " (default) or json.", enum: anyOf(logFormats)},
	}
}

// mebibytes writes a byte count as the schema's descriptions do: "26214400 (25 MiB)".
func mebibytes(n int64) string {
	return fmt.Sprintf("%d (%d MiB)", n, n>>20)
}

// days writes a whole number of days as triage.yaml does: "7d".
func days(d time.Duration) string {
	return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
}

// configTypeDocs describes the $defs themselves.
func configTypeDocs() map[string]string {
	return map[string]string{
		"Config":           "triage daemon configuration (triage run --config triage.yaml). Secrets never sit in this file.",
		"AccountConfig":    "One IMAP account.",
		"OAuth2Config":     "Where an OAuth 2.0 access token comes from: triage itself (provider) or an external refresher (token_file, token_env, token_command).",
		"DoneConfig":       "How a handled message is marked on the server: a keyword, a move, or both.",
		"HTTPConfig":       "The admin HTTP server.",
		"LogConfig":        "Log level and format.",
		"ConsoleConfig":    "The web console served by the admin HTTP server.",
		"ProblemsConfig":   "Problem detection: grouping mail that reports the same thing.",
		"QueueConfig":      "One downstream queue.",
		"QueueRetryConfig": "Retry of temporary failures.",
		"Duration":         "A duration: 500ms, 30s, 15m, 4h, whole days such as 3d, or both such as 1d12h.",
		"StringList":       "One string or a list of strings.",
	}
}

// configMapper gives the loader's custom scalar types their YAML shape.
func configMapper(t reflect.Type) *jsonschema.Schema {
	switch t {
	case reflect.TypeFor[duration.Duration]():
		return &jsonschema.Schema{Ref: "#/$defs/Duration"}
	case reflect.TypeFor[queue.StringList]():
		return &jsonschema.Schema{Ref: "#/$defs/StringList"}
	case reflect.TypeFor[queue.Queues](): // a map: its keywords must not stand beside a $ref
		return &jsonschema.Schema{Type: "object", AdditionalProperties: &jsonschema.Schema{Ref: "#/$defs/QueueConfig"}}
	}
	return nil
}

func scalarDefs() map[string]*jsonschema.Schema {
	return map[string]*jsonschema.Schema{
		// triage.yaml's durations and the queues' share one syntax. The
		// pattern cannot weigh totals: "0d-1h" (negative) and "3000000h"
		// (past ~292 years) match and only the loader refuses them.
		"Duration": {Type: "string", Pattern: duration.Pattern},
		"StringList": {AnyOf: []*jsonschema.Schema{
			{Type: "string"},
			{Type: "array", Items: &jsonschema.Schema{Type: "string"}},
		}},
	}
}

// nonEmpty is "key present with a non-empty value" for oneOf / not.
func nonEmpty(key string, array bool) *jsonschema.Schema {
	v := &jsonschema.Schema{MinLength: new(uint64(1))}
	if array {
		v = &jsonschema.Schema{MinItems: new(uint64(1))}
	}
	p := jsonschema.NewProperties()
	p.Set(key, v)
	return &jsonschema.Schema{Required: []string{key}, Properties: p}
}

// anyOf is a string list as a schema enum.
func anyOf(list []string) []any {
	out := make([]any, len(list))
	for i, v := range list {
		out[i] = v
	}
	return out
}

// notBoth rejects two keys that are both set to non-empty values.
func notBoth(a, b string) *jsonschema.Schema {
	p := jsonschema.NewProperties()
	p.Set(a, &jsonschema.Schema{MinLength: new(uint64(1))})
	p.Set(b, &jsonschema.Schema{MinLength: new(uint64(1))})
	return &jsonschema.Schema{Not: &jsonschema.Schema{Required: []string{a, b}, Properties: p}}
}

// addConstraints adds the rules across keys that validate() enforces.
func addConstraints(defs jsonschema.Definitions) {
	cfg := defs["Config"]
	if p, ok := cfg.Properties.Get("accounts"); ok {
		p.MinItems = new(uint64(1))
	}
	if p, ok := cfg.Properties.Get("queues"); ok {
		p.MinProperties = new(uint64(1))
		p.PropertyNames = &jsonschema.Schema{MinLength: new(uint64(1))}
	}

	oauth2 := jsonschema.NewProperties()
	oauth2.Set("oauth2", &jsonschema.Schema{Type: "object"}) // null means unset
	defs["AccountConfig"].OneOf = []*jsonschema.Schema{
		nonEmpty("password_env", false), nonEmpty("password_file", false),
		{Required: []string{"oauth2"}, Properties: oauth2},
	}
	defs["OAuth2Config"].OneOf = []*jsonschema.Schema{
		nonEmpty("token_file", false), nonEmpty("token_env", false), nonEmpty("token_command", true), nonEmpty("provider", false),
	}
	defs["HTTPConfig"].AllOf = []*jsonschema.Schema{notBoth("token_env", "token_file")}

	// keyword "" with no move_to would leave handled mail unmarked.
	done := jsonschema.NewProperties()
	done.Set("keyword", &jsonschema.Schema{Const: ""})
	done.Set("move_to", &jsonschema.Schema{Const: ""})
	defs["DoneConfig"].Not = &jsonschema.Schema{Required: []string{"keyword"}, Properties: done}

}

// addQueueTypes gives each queue type of the queue registry a $defs entry
// of its own, reflected from its settings struct (which documents its
// keys) with the keys every queue has, and makes QueueConfig check a queue
// against the entry its type names.
func addQueueTypes(r *jsonschema.Reflector, defs jsonschema.Definitions) {
	q := defs["QueueConfig"]
	typeDoc, _ := q.Properties.Get("type")
	byDef := map[string][]queue.TypeInfo{}
	var defNames, all []any
	for _, t := range queue.Types() {
		name := r.Namer(t.Settings)
		if byDef[name] == nil {
			defNames = append(defNames, name)
		}
		byDef[name] = append(byDef[name], t)
		all = append(all, t.Name)
	}
	typeDoc.Enum = all
	q.AdditionalProperties = nil // the keys of the type's entry are checked there
	for _, n := range defNames {
		name := n.(string)
		types := byDef[name]
		own := r.ReflectFromType(types[0].Settings).Definitions
		for k, d := range own {
			if _, ok := defs[k]; !ok {
				defs[k] = d
			}
		}
		def := defs[name]
		var names, docs []string
		for _, t := range types {
			names = append(names, t.Name)
			if !slices.Contains(docs, t.Doc) {
				docs = append(docs, t.Doc)
			}
		}
		def.Description = "A queue of type " + strings.Join(names, " or ") + ": it " + strings.Join(docs, "; ") + "."
		withCommonKeys(def, q, names, types[0].Timeout)
		is := jsonschema.NewProperties()
		is.Set("type", &jsonschema.Schema{Enum: anyOf(names)})
		q.AllOf = append(q.AllOf, &jsonschema.Schema{
			If:   &jsonschema.Schema{Required: []string{"type"}, Properties: is},
			Then: &jsonschema.Schema{Ref: "#/$defs/" + name},
		})
	}
}

// withCommonKeys puts into def, a queue type's entry, the keys every queue
// has: type first (one of names), then its own, then timeout (with the
// type's default) and retry.
func withCommonKeys(def, q *jsonschema.Schema, names []string, timeout time.Duration) {
	props := jsonschema.NewProperties()
	typ, _ := q.Properties.Get("type")
	t := *typ
	t.Enum = anyOf(names)
	props.Set("type", &t)
	for p := def.Properties.Oldest(); p != nil; p = p.Next() {
		props.Set(p.Key, p.Value)
	}
	to, _ := q.Properties.Get("timeout")
	d := *to
	d.Description = "Not used by this type."
	if timeout > 0 {
		d.Description = fmt.Sprintf("Per attempt; default %gs.", timeout.Seconds())
	}
	props.Set("timeout", &d)
	retry, _ := q.Properties.Get("retry")
	props.Set("retry", retry)
	def.Properties = props
	def.Required = append(def.Required, "type")
}

// applyDocs puts the tables into the reflected definitions. A table entry
// for a key the types do not have is an error, so the tables cannot go stale.
func applyDocs(defs jsonschema.Definitions) error {
	var stale []string
	for key, d := range configFieldDocs() {
		defName, prop, _ := strings.Cut(key, ".")
		def, ok := defs[defName]
		if !ok || def.Properties == nil {
			stale = append(stale, key)
			continue
		}
		p, ok := def.Properties.Get(prop)
		if !ok {
			stale = append(stale, key)
			continue
		}
		p.Description = d.desc
		if d.required {
			def.Required = append(def.Required, prop)
		}
		p.Enum = d.enum
		if d.pattern != "" {
			p.Pattern = d.pattern
		}
		if d.minZero {
			p.Minimum = "0"
		}
		if d.max > 0 {
			p.Maximum = json.Number(strconv.Itoa(d.max))
		}
		if d.types != nil {
			p.Type = ""
			p.Extras = map[string]any{"type": d.types}
		}
	}
	for name, desc := range configTypeDocs() {
		def, ok := defs[name]
		if !ok {
			stale = append(stale, name)
			continue
		}
		def.Description = desc
	}
	if len(stale) > 0 {
		sort.Strings(stale)
		return fmt.Errorf("config schema: description table names unknown keys: %s", strings.Join(stale, ", "))
	}
	for _, def := range defs {
		sort.Strings(def.Required) // map order must not reach the output
	}
	return nil
}

// Schema returns the JSON Schema (draft-07) of triage.yaml.
func Schema() ([]byte, error) {
	r := &jsonschema.Reflector{
		FieldNameTag:               "yaml",
		RequiredFromJSONSchemaTags: true,
		Anonymous:                  true,
		Mapper:                     configMapper,
		Namer: func(t reflect.Type) string {
			if t.PkgPath() == reflect.TypeFor[queue.Config]().PkgPath() && t.Name() != "" {
				return "Queue" + strings.TrimSuffix(t.Name(), "Config") + "Config"
			}
			return t.Name()
		},
	}
	s := r.ReflectFromType(reflect.TypeFor[Config]())
	maps.Copy(s.Definitions, r.ReflectFromType(reflect.TypeFor[queue.Config]()).Definitions)
	for name, def := range scalarDefs() {
		s.Definitions[name] = def
	}
	if err := applyDocs(s.Definitions); err != nil {
		return nil, err
	}
	addConstraints(s.Definitions)
	addQueueTypes(r, s.Definitions)
	// The root is Config itself (not a $ref), so editors show its
	// description and draft-07 ignores nothing beside it.
	root := *s.Definitions["Config"]
	delete(s.Definitions, "Config")
	root.Version = schemaDraft
	root.Title = "triage daemon configuration"
	root.Definitions = s.Definitions
	out, err := json.MarshalIndent(&root, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("marshal config schema: %w", err)
	}
	return append(out, '\n'), nil
}
