// Package config owns triage.yaml, the daemon's configuration: its types,
// strict loading (unknown keys are errors) with file:line:col errors,
// defaults, validation section by section, and the JSON Schema generated
// from the same types (schema/config.schema.json, a public contract). It
// must not know how the daemon runs what it describes: connecting to IMAP,
// reading secrets, delivering to sinks or holding leases.
package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/triage-dev/triage/internal/boundedfile"
	"github.com/triage-dev/triage/internal/duration"
	"github.com/triage-dev/triage/internal/fileerr"
	"github.com/triage-dev/triage/internal/netaddr"
	"github.com/triage-dev/triage/mailbox"
	"github.com/triage-dev/triage/oauth"
	"github.com/triage-dev/triage/queue"
)

// Config is triage.yaml, the daemon's configuration. It is decoded strictly in
// one pass (unknown keys are errors) and then validated with positions taken
// from the YAML node tree.
type Config struct {
	Rules            string            `yaml:"rules" json:"rules" jsonschema:"description=rules file or directory; watched and hot-reloaded"`
	Accounts         []AccountConfig   `yaml:"accounts" json:"accounts"`
	Queues           queue.Queues      `yaml:"queues" json:"queues"`
	HTTP             HTTPConfig        `yaml:"http" json:"http"`
	StateDir         string            `yaml:"state_dir" json:"state_dir"`
	DedupeWindow     duration.Duration `yaml:"dedupe_window" json:"dedupe_window"`
	MaxMessageBytes  int64             `yaml:"max_message_bytes" json:"max_message_bytes"`
	MaxBufferedBytes int64             `yaml:"max_buffered_bytes" json:"max_buffered_bytes"`
	MemoryLimit      int64             `yaml:"memory_limit" json:"memory_limit"`
	ShutdownTimeout  duration.Duration `yaml:"shutdown_timeout" json:"shutdown_timeout"`
	Log              LogConfig         `yaml:"log" json:"log"`
	Lease            *LeaseConfig      `yaml:"lease" json:"lease"`
	Console          ConsoleConfig     `yaml:"console" json:"console"`
	Problems         ProblemsConfig    `yaml:"problems" json:"problems"`

	// Path is the file the config was read from; relative paths resolve against its directory.
	Path string `yaml:"-" json:"-"`
}

// AccountConfig is one IMAP account.
type AccountConfig struct {
	Name               string            `yaml:"name" json:"name"`
	Addr               string            `yaml:"addr" json:"addr"`
	TLS                string            `yaml:"tls" json:"tls"`
	InsecureSkipVerify bool              `yaml:"insecure_skip_verify" json:"insecure_skip_verify"`
	Username           string            `yaml:"username" json:"username"`
	PasswordEnv        string            `yaml:"password_env" json:"password_env"`
	PasswordFile       string            `yaml:"password_file" json:"password_file"`
	OAuth2             *OAuth2Config     `yaml:"oauth2" json:"oauth2"`
	Mailboxes          []string          `yaml:"mailboxes" json:"mailboxes"`
	Done               DoneConfig        `yaml:"done" json:"done"`
	Quarantine         string            `yaml:"quarantine" json:"quarantine"`
	Failed             string            `yaml:"failed" json:"failed"`
	PollInterval       duration.Duration `yaml:"poll_interval" json:"poll_interval"`
	IdleRestart        duration.Duration `yaml:"idle_restart" json:"idle_restart"`
	BatchSize          int               `yaml:"batch_size" json:"batch_size"`
	Concurrency        int               `yaml:"concurrency" json:"concurrency"`
	Timeout            duration.Duration `yaml:"timeout" json:"timeout"`
	RetryBackoff       duration.Duration `yaml:"retry_backoff" json:"retry_backoff"`
	ReconnectMin       duration.Duration `yaml:"reconnect_min" json:"reconnect_min"`
	ReconnectMax       duration.Duration `yaml:"reconnect_max" json:"reconnect_max"`
}

// OAuth2Config says where an access token comes from: triage gets and
// refreshes it itself (provider set), or an external refresher keeps the
// file fresh, or the command prints a current token.
type OAuth2Config struct {
	Mechanism    string   `yaml:"mechanism" json:"mechanism"` // xoauth2 (default) | oauthbearer
	TokenFile    string   `yaml:"token_file" json:"token_file"`
	TokenEnv     string   `yaml:"token_env" json:"token_env"`
	TokenCommand []string `yaml:"token_command" json:"token_command"`

	Provider           string   `yaml:"provider" json:"provider"` // microsoft | google | generic
	Flow               string   `yaml:"flow" json:"flow"`         // app_only | service_account | delegated
	Tenant             string   `yaml:"tenant" json:"tenant"`
	ClientID           string   `yaml:"client_id" json:"client_id"`
	ClientSecretEnv    string   `yaml:"client_secret_env" json:"client_secret_env"`
	ClientSecretFile   string   `yaml:"client_secret_file" json:"client_secret_file"`
	CertificateFile    string   `yaml:"certificate_file" json:"certificate_file"`
	ServiceAccountFile string   `yaml:"service_account_file" json:"service_account_file"`
	Scopes             []string `yaml:"scopes" json:"scopes"`
	TokenURL           string   `yaml:"token_url" json:"token_url"`
	DeviceAuthURL      string   `yaml:"device_auth_url" json:"device_auth_url"`
	AuthURL            string   `yaml:"auth_url" json:"auth_url"`
}

// DoneConfig is how a handled message is marked on the server.
type DoneConfig struct {
	Keyword *string `yaml:"keyword" json:"keyword"`
	MoveTo  string  `yaml:"move_to" json:"move_to"`
}

// HTTPConfig is the admin HTTP server.
type HTTPConfig struct {
	Listen    string `yaml:"listen" json:"listen"`
	TokenEnv  string `yaml:"token_env" json:"token_env"`
	TokenFile string `yaml:"token_file" json:"token_file"`
	// AllowedHosts are the names the server answers to besides loopback
	// names and the listen address's own host (DNS rebinding protection).
	AllowedHosts []string `yaml:"allowed_hosts" json:"allowed_hosts"`
}

// ConsoleConfig is the web console the admin HTTP server serves under /.
type ConsoleConfig struct {
	Enabled   *bool `yaml:"enabled" json:"enabled"`       // default true
	AllowEdit bool  `yaml:"allow_edit" json:"allow_edit"` // the playground may save the rules file, the quarantine page requeue
	Recent    int   `yaml:"recent" json:"recent"`         // handled messages kept in memory; default DefaultConsoleRecent
}

// On reports whether the console is served.
func (c ConsoleConfig) On() bool { return c.Enabled == nil || *c.Enabled }

// LogConfig selects the log format and level.
type LogConfig struct {
	Level  string `yaml:"level" json:"level"`   // debug | info | warn | error
	Format string `yaml:"format" json:"format"` // text | json
}

// LeaseConfig lets several daemons watch the same accounts for failover:
// an account is served only by the daemon holding its lease, a key in a
// NATS JetStream KV bucket written with compare-and-set and expiring after
// ttl. IMAP alone cannot arbitrate (racing MOVEs and conditional STOREs
// both succeed); the stable ticket id de-duplicates the overlap at a
// takeover.
type LeaseConfig struct {
	URL       string            `yaml:"url" json:"url"`
	Bucket    string            `yaml:"bucket" json:"bucket"`         // default triage-leases
	TTL       duration.Duration `yaml:"ttl" json:"ttl"`               // default 15s
	Holder    string            `yaml:"holder" json:"holder"`         // default hostname:pid
	CredsFile string            `yaml:"creds_file" json:"creds_file"` // NATS credentials
}

// Defaults of what triage.yaml leaves out, beside those of the mailbox
// package (mailbox.DefaultMaxMessageBytes, mailbox.DefaultConcurrency, …),
// which the accounts' keys take.
const (
	DefaultHTTPListen = "127.0.0.1:9425"
	// DefaultMaxBufferedBytes holds thousands of ordinary mails, or five of
	// the largest allowed, fetched at once.
	DefaultMaxBufferedBytes = 128 << 20
	// MemoryLimitOverhead is what the default memory_limit allows beside
	// twice max_buffered_bytes (the mail and its decoding): the runtime,
	// the rules, the state store's pages, the console's ring.
	MemoryLimitOverhead    = 64 << 20
	DefaultDedupeWindow    = 7 * 24 * time.Hour
	DefaultShutdownTimeout = 15 * time.Second
	DefaultLogLevel        = "info"
	DefaultLogFormat       = "text"
	DefaultLeaseBucket     = "triage-leases"
	DefaultLeaseTTL        = 15 * time.Second
	MinLeaseTTL            = 3 * time.Second // the shortest lease.ttl accepted
	DefaultConsoleRecent   = 500
	MaxConsoleRecent       = 5000 // console.recent's bound: the ring is kept in memory
	maxConfigBytes         = 1 << 20
)

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlColumnRE finds the column our own scalar types add after the line.
var yamlColumnRE = regexp.MustCompile(`^column (\d+): (.*)$`)

var unknownFieldRE = regexp.MustCompile(`field (\S+) not found in type`)

// Load reads, strictly decodes, defaults and validates triage.yaml.
// The error is fileerr.List with every problem found.
func Load(path string) (*Config, error) {
	data, err := boundedfile.Read(path, maxConfigBytes)
	if errors.Is(err, boundedfile.ErrTooLarge) {
		return nil, tooLarge(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

func tooLarge(name string) error {
	return fileerr.List{{File: name, Line: 1, Col: 1, Msg: "config file larger than 1 MiB"}}
}

// Parse is Load on bytes already read; path names the file in
// errors and anchors relative paths.
func Parse(path string, data []byte) (*Config, error) {
	name := path
	if len(data) > maxConfigBytes {
		return nil, tooLarge(name)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fileerr.List{yamlErrorString(name, err.Error(), nil)}
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return nil, fileerr.List{{File: name, Line: 1, Col: 1, Msg: "config file is empty"}}
	}
	var cfg Config
	var errs fileerr.List
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, fileerr.List{yamlErrorString(name, err.Error(), &root)}
		}
		// Type errors leave the rest decoded: report them together with
		// what validation finds, so one run shows every problem.
		for _, m := range te.Errors {
			errs = append(errs, yamlErrorString(name, m, &root))
		}
	}
	cfg.Path = path
	cfg.ApplyDefaults()
	errs = append(errs, cfg.validate(name, &root)...)
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b fileerr.Error) int { return cmp.Or(a.Line-b.Line, a.Col-b.Col) })
		return nil, errs
	}
	return &cfg, nil
}

// yamlErrorString turns "line N: msg" into a positioned error; for unknown
// fields the column of the offending key is looked up in the node tree.
func yamlErrorString(file, msg string, root *yaml.Node) fileerr.Error {
	m := yamlLineRE.FindStringSubmatch(msg)
	if m == nil {
		return fileerr.Error{File: file, Line: 1, Col: 1, Msg: strings.TrimPrefix(msg, "yaml: ")}
	}
	line, _ := strconv.Atoi(m[1])
	text, col := m[2], 1
	if c := yamlColumnRE.FindStringSubmatch(text); c != nil {
		col, _ = strconv.Atoi(c[1])
		text = c[2]
	}
	if f := unknownFieldRE.FindStringSubmatch(text); f != nil {
		text = fmt.Sprintf("unknown key %q", f[1])
		if root != nil {
			if n := findKey(root, line, f[1]); n != nil {
				col = n.Column
			}
		}
	}
	return fileerr.Error{File: file, Line: line, Col: col, Msg: text}
}

func findKey(n *yaml.Node, line int, key string) *yaml.Node {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Line == line && k.Value == key {
				return k
			}
		}
	}
	for _, c := range n.Content {
		if r := findKey(c, line, key); r != nil {
			return r
		}
	}
	return nil
}

// ApplyDefaults fills in what the file left out; Load applies them
// before validating.
func (c *Config) ApplyDefaults() {
	c.HTTP.Listen = cmp.Or(c.HTTP.Listen, DefaultHTTPListen)
	c.MaxMessageBytes = cmp.Or(c.MaxMessageBytes, mailbox.DefaultMaxMessageBytes)
	c.MaxBufferedBytes = cmp.Or(c.MaxBufferedBytes, DefaultMaxBufferedBytes)
	c.MemoryLimit = cmp.Or(c.MemoryLimit, 2*c.MaxBufferedBytes+MemoryLimitOverhead)
	c.DedupeWindow = cmp.Or(c.DedupeWindow, duration.Duration(DefaultDedupeWindow))
	c.ShutdownTimeout = cmp.Or(c.ShutdownTimeout, duration.Duration(DefaultShutdownTimeout))
	c.Log.Level = cmp.Or(c.Log.Level, DefaultLogLevel)
	c.Log.Format = cmp.Or(c.Log.Format, DefaultLogFormat)
	c.Console.Recent = cmp.Or(c.Console.Recent, DefaultConsoleRecent)
	for i := range c.Accounts {
		c.Accounts[i].applyDefaults()
	}
	c.Problems.applyDefaults()
}

// applyDefaults fills in the account's keys with the mailbox package's
// defaults.
func (a *AccountConfig) applyDefaults() {
	a.TLS = cmp.Or(a.TLS, mailbox.TLSImplicit)
	if len(a.Mailboxes) == 0 {
		a.Mailboxes = []string{mailbox.DefaultMailbox}
	}
	if a.Done.Keyword == nil {
		kw := mailbox.DefaultDoneKeyword
		a.Done.Keyword = &kw
	}
	// Enough messages in flight that a sink's group commit (one fsync for
	// every ticket written meanwhile) or a slow tracker API does not bound
	// the drain; memory is bounded by concurrency × message size.
	a.Concurrency = cmp.Or(a.Concurrency, mailbox.DefaultConcurrency)
	a.BatchSize = cmp.Or(a.BatchSize, mailbox.DefaultBatchSize)
	a.Quarantine = cmp.Or(a.Quarantine, mailbox.DefaultQuarantine)
	a.Failed = cmp.Or(a.Failed, mailbox.DefaultFailed)
	if o := a.OAuth2; o != nil {
		o.Mechanism = cmp.Or(o.Mechanism, mailbox.AuthXOAuth2)
		if o.Provider != "" {
			o.Flow = cmp.Or(o.Flow, oauth.DefaultFlow(o.Provider))
		}
	}
}

// WithDefaults returns the lease config with its defaults filled in.
func (c *LeaseConfig) WithDefaults() LeaseConfig {
	l := *c
	l.Bucket = cmp.Or(l.Bucket, DefaultLeaseBucket)
	l.TTL = cmp.Or(l.TTL, duration.Duration(DefaultLeaseTTL))
	if l.Holder == "" {
		host, _ := os.Hostname()
		l.Holder = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	return l
}

// Resolve returns p relative to the config file's directory unless absolute.
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(c.Path), p)
}

var leaseBucketRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

var accountNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// problems collects validation errors, each positioned at the YAML node
// its path (keys and sequence indexes) leads to.
type problems struct {
	file string
	root *yaml.Node
	list fileerr.List
}

// at adds msg at the deepest node of path that exists.
func (p *problems) at(msg string, path ...any) {
	line, col := position(p.root, path...)
	p.list = append(p.list, fileerr.Error{File: p.file, Line: line, Col: col, Msg: msg})
}

// validate checks the config section by section.
func (c *Config) validate(file string, root *yaml.Node) fileerr.List {
	p := &problems{file: file, root: root}
	c.validateTopLevel(p)
	if c.Lease != nil {
		c.Lease.validate(p)
	}
	c.Log.validate(p)
	c.Problems.validate(p)
	c.HTTP.validate(p)
	if c.Console.Recent < 1 || c.Console.Recent > MaxConsoleRecent {
		p.at(fmt.Sprintf("console.recent %d: want 1 to %d", c.Console.Recent, MaxConsoleRecent), "console", "recent")
	}
	seen := map[string]bool{}
	for i := range c.Accounts {
		c.Accounts[i].validate(p, i, seen)
	}
	c.validateQueues(p)
	return p.list
}

// validateTopLevel checks the keys that are not a section of their own.
func (c *Config) validateTopLevel(p *problems) {
	for _, check := range []struct {
		bad      bool
		key, msg string
	}{
		{c.Rules == "", "rules", "rules: required (a rules file or directory)"},
		{len(c.Accounts) == 0, "accounts", "accounts: at least one IMAP account is required"},
		{c.StateDir == "", "state_dir", "state_dir: required (where handled ids are kept, e.g. /var/lib/triage)"},
		{len(c.Queues) == 0, "queues", "queues: at least one queue is required"},
		{c.MaxMessageBytes < 0, "max_message_bytes", "max_message_bytes must be positive"},
		{c.MaxBufferedBytes < 0, "max_buffered_bytes", "max_buffered_bytes must be positive"},
		{c.MemoryLimit < 0, "memory_limit", "memory_limit must be positive"},
	} {
		if check.bad {
			p.at(check.msg, check.key)
		}
	}
}

func (l *LeaseConfig) validate(p *problems) {
	if l.URL == "" {
		p.at("lease.url: required (the NATS server holding the leases)", "lease")
	}
	if l.TTL != 0 && l.TTL.D() < MinLeaseTTL {
		p.at(fmt.Sprintf("lease.ttl %v: at least %v", l.TTL.D(), MinLeaseTTL), "lease", "ttl")
	}
	if l.Bucket != "" && !leaseBucketRE.MatchString(l.Bucket) {
		p.at(fmt.Sprintf("lease.bucket %q: letters, digits, '-' and '_' only", l.Bucket), "lease", "bucket")
	}
}

// The values log.level and log.format take.
var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"text", "json"}
)

func (l *LogConfig) validate(p *problems) {
	if !slices.Contains(logLevels, l.Level) {
		p.at(fmt.Sprintf("log.level %q: want debug, info, warn or error", l.Level), "log", "level")
	}
	if !slices.Contains(logFormats, l.Format) {
		p.at(fmt.Sprintf("log.format %q: want text or json", l.Format), "log", "format")
	}
}

func (h *HTTPConfig) validate(p *problems) {
	host, _, err := net.SplitHostPort(h.Listen)
	if err != nil {
		p.at(fmt.Sprintf("http.listen %q: want host:port", h.Listen), "http", "listen")
	}
	if h.TokenEnv != "" && h.TokenFile != "" {
		p.at("http: set token_env or token_file, not both", "http")
	}
	// /status, /metrics and POST /-/reload must not be open to the network.
	if err == nil && !netaddr.IsLoopbackHost(host) && h.TokenEnv == "" && h.TokenFile == "" {
		p.at(fmt.Sprintf("http.listen %q is reachable from the network: set token_env or token_file, or listen on 127.0.0.1", h.Listen), "http", "listen")
	}
}

// validate checks the i-th account; seen holds the names of those before it.
func (a *AccountConfig) validate(p *problems, i int, seen map[string]bool) {
	if !accountNameRE.MatchString(a.Name) {
		p.at(fmt.Sprintf("account name %q: want letters, digits, '.', '_' or '-'", a.Name), "accounts", i, "name")
	} else if seen[a.Name] {
		p.at(fmt.Sprintf("duplicate account name %q", a.Name), "accounts", i, "name")
	}
	seen[a.Name] = true
	a.validateServer(p, i)
	if a.Username == "" {
		p.at("username: required", "accounts", i)
	}
	a.validateSecret(p, i)
	if a.Done.Keyword != nil && *a.Done.Keyword == "" && a.Done.MoveTo == "" {
		p.at("done: set a keyword, a move_to folder, or both", "accounts", i, "done")
	}
	if a.BatchSize < 0 || a.Concurrency < 0 {
		p.at("batch_size and concurrency must be positive", "accounts", i)
	}
}

// validateServer checks the account's address and TLS mode: clear text only
// to a loopback address.
func (a *AccountConfig) validateServer(p *problems, i int) {
	host, _, err := net.SplitHostPort(a.Addr)
	if err != nil {
		p.at(fmt.Sprintf("addr %q: want host:port", a.Addr), "accounts", i, "addr")
	}
	switch a.TLS {
	case mailbox.TLSImplicit, mailbox.TLSStartTLS:
	case mailbox.TLSNone:
		if err == nil && !netaddr.IsLoopbackHost(host) {
			p.at(fmt.Sprintf("tls: none is only allowed to a loopback address, not %q (passwords would cross the network in clear text)", host), "accounts", i, "tls")
		}
	default:
		p.at(fmt.Sprintf("tls %q: want implicit, starttls or none", a.TLS), "accounts", i, "tls")
	}
}

// validateSecret checks that the account names exactly one secret source.
func (a *AccountConfig) validateSecret(p *problems, i int) {
	secrets := countSet(a.PasswordEnv != "", a.PasswordFile != "", a.OAuth2 != nil)
	if o := a.OAuth2; o != nil {
		switch o.Mechanism {
		case "", mailbox.AuthXOAuth2, mailbox.AuthOAuthBearer:
		default:
			p.at(fmt.Sprintf("oauth2.mechanism %q: want xoauth2 or oauthbearer", o.Mechanism), "accounts", i, "oauth2", "mechanism")
		}
		if countSet(o.TokenFile != "", o.TokenEnv != "", len(o.TokenCommand) > 0, o.Provider != "") != 1 {
			p.at("oauth2: set exactly one of provider, token_file, token_env, token_command", "accounts", i, "oauth2")
		}
		if o.Provider != "" {
			o.validateProvider(p, i)
		} else if o.providerKeys() {
			p.at("oauth2: tenant, client_id, client secrets, certificate_file, service_account_file, scopes and the URLs need a provider", "accounts", i, "oauth2")
		}
	}
	if secrets != 1 {
		p.at("set exactly one of password_env, password_file, oauth2 (secrets never sit in the YAML)", "accounts", i)
	}
}

// providerKeys reports whether any key of the built-in token acquisition
// is set.
func (o *OAuth2Config) providerKeys() bool {
	return o.Flow != "" || o.Tenant != "" || o.ClientID != "" || o.ClientSecretEnv != "" || o.ClientSecretFile != "" ||
		o.CertificateFile != "" || o.ServiceAccountFile != "" || len(o.Scopes) > 0 || o.TokenURL != "" ||
		o.DeviceAuthURL != "" || o.AuthURL != ""
}

// validateProvider checks that the provider's flow has what it needs and
// nothing another flow uses.
func (o *OAuth2Config) validateProvider(p *problems, i int) {
	at := func(msg string, path ...any) {
		p.at("oauth2: "+msg, append([]any{"accounts", i, "oauth2"}, path...)...)
	}
	if !slices.Contains(oauth.Providers(), o.Provider) {
		at(fmt.Sprintf("provider %q: want %s", o.Provider, strings.Join(oauth.Providers(), ", ")), "provider")
		return
	}
	flow := cmp.Or(o.Flow, oauth.DefaultFlow(o.Provider))
	if !slices.Contains(oauth.Flows(), flow) {
		at(fmt.Sprintf("flow %q: want %s", flow, strings.Join(oauth.Flows(), ", ")), "flow")
		return
	}
	secrets := countSet(o.ClientSecretEnv != "", o.ClientSecretFile != "")
	if secrets > 1 {
		at("set client_secret_env or client_secret_file, not both")
	}
	o.validateProviderKeys(at)
	if flow != oauth.FlowAppOnly && o.CertificateFile != "" {
		at("certificate_file: only for flow app_only", "certificate_file")
	}
	if flow != oauth.FlowServiceAccount && o.ServiceAccountFile != "" {
		at("service_account_file: only for flow service_account", "service_account_file")
	}
	for _, kv := range [][2]string{{"token_url", o.TokenURL}, {"device_auth_url", o.DeviceAuthURL}, {"auth_url", o.AuthURL}} {
		if kv[1] != "" && !secureURL(kv[1]) {
			at(fmt.Sprintf("%s %q: want an https URL (http only to a loopback address)", kv[0], kv[1]), kv[0])
		}
	}
	o.validateFlow(at, flow, secrets)
}

// validateProviderKeys checks the keys one provider requires or alone
// accepts.
func (o *OAuth2Config) validateProviderKeys(at func(msg string, path ...any)) {
	if o.Provider == oauth.ProviderMicrosoft && o.Tenant == "" {
		at("tenant: required with provider microsoft (the directory id or a domain of the tenant)")
	}
	if o.Provider != oauth.ProviderMicrosoft && o.Tenant != "" {
		at("tenant: only for provider microsoft", "tenant")
	}
	if o.Provider == oauth.ProviderGeneric && o.TokenURL == "" {
		at("token_url: required with provider generic")
	}
	if o.Provider == oauth.ProviderGeneric && len(o.Scopes) == 0 {
		at("scopes: required with provider generic")
	}
}

// validateFlow checks what the flow needs; secrets is the number of client
// secrets set.
func (o *OAuth2Config) validateFlow(at func(msg string, path ...any), flow string, secrets int) {
	switch flow {
	case oauth.FlowAppOnly:
		if o.Provider == oauth.ProviderGoogle {
			at("flow app_only: Google's unattended flow is service_account", "flow")
		}
		if o.ClientID == "" {
			at("client_id: required with flow app_only")
		}
		if secrets+countSet(o.CertificateFile != "") != 1 {
			at("flow app_only: set exactly one of client_secret_env, client_secret_file, certificate_file")
		}
	case oauth.FlowServiceAccount:
		if o.Provider != oauth.ProviderGoogle {
			at("flow service_account: only with provider google", "flow")
		}
		if o.ServiceAccountFile == "" {
			at("service_account_file: required with flow service_account")
		}
		if o.ClientID != "" || secrets > 0 {
			at("flow service_account: client_id and client secrets come from the service account file")
		}
	case oauth.FlowDelegated:
		if o.ClientID == "" {
			at("client_id: required with flow delegated")
		}
		if o.Provider == oauth.ProviderGeneric && o.DeviceAuthURL == "" && o.AuthURL == "" {
			at("flow delegated with provider generic: set device_auth_url or auth_url for triage login")
		}
	}
}

// secureURL accepts https URLs, and http ones to a loopback host: secrets
// and tokens must not cross the network in clear text.
func secureURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return false
	}
	return u.Scheme == "https" || (u.Scheme == "http" && netaddr.IsLoopbackHost(u.Hostname()))
}

// countSet is how many of set are true.
func countSet(set ...bool) int {
	n := 0
	for _, b := range set {
		if b {
			n++
		}
	}
	return n
}

// validateQueues checks every queue with the queue package, in name order.
func (c *Config) validateQueues(p *problems) {
	for _, n := range slices.Sorted(maps.Keys(c.Queues)) {
		for _, msg := range queue.ValidateConfig(n, c.Queues[n]) {
			p.at(fmt.Sprintf("queue %q: %s", n, msg), "queues", n)
		}
	}
}

// position walks the document by keys (string) and sequence indexes (int) and
// returns the deepest node's line and column that exists.
func position(root *yaml.Node, path ...any) (int, int) {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line, col := n.Line, n.Column
	for _, p := range path {
		var next *yaml.Node
		switch k := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == k {
						line, col = n.Content[i].Line, n.Content[i].Column
						next = n.Content[i+1]
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && k < len(n.Content) {
				next = n.Content[k]
				line, col = next.Line, next.Column
			}
		}
		if next == nil {
			break
		}
		n = next
	}
	if line == 0 {
		line, col = 1, 1
	}
	return line, col
}
