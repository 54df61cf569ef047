package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/triage-dev/triage/internal/duration"
	"github.com/triage-dev/triage/internal/fileerr"
	"github.com/triage-dev/triage/internal/netaddr"
	"github.com/triage-dev/triage/queue"
)

// Config is triage.yaml (DESIGN.md "Daemon config"). It is decoded strictly in
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
	ShutdownTimeout  duration.Duration `yaml:"shutdown_timeout" json:"shutdown_timeout"`
	Log              LogConfig         `yaml:"log" json:"log"`
	Lease            *LeaseConfig      `yaml:"lease" json:"lease"`

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

// OAuth2Config says where an access token comes from. An external refresher
// keeps the file fresh, or the command prints a current token.
type OAuth2Config struct {
	Mechanism    string   `yaml:"mechanism" json:"mechanism"` // xoauth2 | oauthbearer
	TokenFile    string   `yaml:"token_file" json:"token_file"`
	TokenEnv     string   `yaml:"token_env" json:"token_env"`
	TokenCommand []string `yaml:"token_command" json:"token_command"`
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
}

// LogConfig selects the log format and level.
type LogConfig struct {
	Level  string `yaml:"level" json:"level"`   // debug | info | warn | error
	Format string `yaml:"format" json:"format"` // text | json
}

const (
	defaultConcurrency     = 16
	defaultBatchSize       = 100
	defaultMaxMessageBytes = 25 << 20
	// defaultMaxBufferedBytes holds thousands of ordinary mails, or five of
	// the largest allowed, fetched at once.
	defaultMaxBufferedBytes = 128 << 20
	maxConfigBytes          = 1 << 20
)

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
var unknownFieldRE = regexp.MustCompile(`field (\S+) not found in type`)

// LoadConfig reads, strictly decodes, defaults and validates triage.yaml.
// The error is fileerr.List with every problem found.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return ParseConfig(path, data)
}

// ParseConfig is LoadConfig on bytes already read; path names the file in
// errors and anchors relative paths.
func ParseConfig(path string, data []byte) (*Config, error) {
	name := path
	if len(data) > maxConfigBytes {
		return nil, fileerr.List{{File: name, Line: 1, Col: 1, Msg: "config file larger than 1 MiB"}}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fileerr.List{yamlError(name, err, nil)}
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
			return nil, fileerr.List{yamlError(name, err, &root)}
		}
		// Type errors leave the rest decoded: report them together with
		// what validation finds, so one run shows every problem.
		for _, m := range te.Errors {
			errs = append(errs, yamlErrorString(name, m, &root))
		}
	}
	cfg.Path = path
	cfg.applyDefaults()
	errs = append(errs, cfg.validate(name, &root)...)
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool {
			return errs[i].Line < errs[j].Line || errs[i].Line == errs[j].Line && errs[i].Col < errs[j].Col
		})
		return nil, errs
	}
	return &cfg, nil
}

func yamlError(file string, err error, root *yaml.Node) fileerr.Error {
	return yamlErrorString(file, err.Error(), root)
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

func (c *Config) applyDefaults() {
	if c.HTTP.Listen == "" {
		c.HTTP.Listen = "127.0.0.1:9425"
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = defaultMaxMessageBytes
	}
	if c.MaxBufferedBytes == 0 {
		c.MaxBufferedBytes = defaultMaxBufferedBytes
	}
	if c.DedupeWindow == 0 {
		c.DedupeWindow = duration.Duration(7 * 24 * time.Hour)
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = duration.Duration(15 * time.Second)
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	for i := range c.Accounts {
		a := &c.Accounts[i]
		if a.TLS == "" {
			a.TLS = "implicit"
		}
		if len(a.Mailboxes) == 0 {
			a.Mailboxes = []string{"INBOX"}
		}
		if a.Done.Keyword == nil {
			kw := "$Triaged"
			a.Done.Keyword = &kw
		}
		// Enough messages in flight that a sink's group commit (one fsync
		// for every ticket written meanwhile) or a slow tracker API does not
		// bound the drain; memory is bounded by concurrency × message size.
		if a.Concurrency == 0 {
			a.Concurrency = defaultConcurrency
		}
		if a.BatchSize == 0 {
			a.BatchSize = defaultBatchSize
		}
		if a.Quarantine == "" {
			a.Quarantine = "Triage/Quarantine"
		}
		if a.Failed == "" {
			a.Failed = "Triage/Failed"
		}
	}
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

func (c *Config) validate(file string, root *yaml.Node) fileerr.List {
	var errs fileerr.List
	at := func(msg string, path ...any) {
		line, col := position(root, path...)
		errs = append(errs, fileerr.Error{File: file, Line: line, Col: col, Msg: msg})
	}
	if c.Rules == "" {
		at("rules: required (a rules file or directory)", "rules")
	}
	if len(c.Accounts) == 0 {
		at("accounts: at least one IMAP account is required", "accounts")
	}
	if l := c.Lease; l != nil {
		if l.URL == "" {
			at("lease.url: required (the NATS server holding the leases)", "lease")
		}
		if l.TTL != 0 && l.TTL.D() < minLeaseTTL {
			at(fmt.Sprintf("lease.ttl %v: at least %v", l.TTL.D(), minLeaseTTL), "lease", "ttl")
		}
		if l.Bucket != "" && !leaseBucketRE.MatchString(l.Bucket) {
			at(fmt.Sprintf("lease.bucket %q: letters, digits, '-' and '_' only", l.Bucket), "lease", "bucket")
		}
	}
	if c.StateDir == "" {
		at("state_dir: required (where handled ids are kept, e.g. /var/lib/triage)", "state_dir")
	}
	if len(c.Queues) == 0 {
		at("queues: at least one queue is required", "queues")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		at(fmt.Sprintf("log.level %q: want debug, info, warn or error", c.Log.Level), "log", "level")
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		at(fmt.Sprintf("log.format %q: want text or json", c.Log.Format), "log", "format")
	}
	if c.MaxMessageBytes < 0 {
		at("max_message_bytes must be positive", "max_message_bytes")
	}
	if c.MaxBufferedBytes < 0 {
		at("max_buffered_bytes must be positive", "max_buffered_bytes")
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		at(fmt.Sprintf("http.listen %q: want host:port", c.HTTP.Listen), "http", "listen")
	}
	if c.HTTP.TokenEnv != "" && c.HTTP.TokenFile != "" {
		at("http: set token_env or token_file, not both", "http")
	}
	// /status, /metrics and POST /-/reload must not be open to the network.
	if host, _, err := net.SplitHostPort(c.HTTP.Listen); err == nil && !netaddr.IsLoopbackHost(host) && c.HTTP.TokenEnv == "" && c.HTTP.TokenFile == "" {
		at(fmt.Sprintf("http.listen %q is reachable from the network: set token_env or token_file, or listen on 127.0.0.1", c.HTTP.Listen), "http", "listen")
	}
	seen := map[string]bool{}
	for i, a := range c.Accounts {
		if !accountNameRE.MatchString(a.Name) {
			at(fmt.Sprintf("account name %q: want letters, digits, '.', '_' or '-'", a.Name), "accounts", i, "name")
		} else if seen[a.Name] {
			at(fmt.Sprintf("duplicate account name %q", a.Name), "accounts", i, "name")
		}
		seen[a.Name] = true
		host, _, err := net.SplitHostPort(a.Addr)
		if err != nil {
			at(fmt.Sprintf("addr %q: want host:port", a.Addr), "accounts", i, "addr")
		}
		switch a.TLS {
		case "implicit", "starttls":
		case "none":
			if err == nil && !netaddr.IsLoopbackHost(host) {
				at(fmt.Sprintf("tls: none is only allowed to a loopback address, not %q (passwords would cross the network in clear text)", host), "accounts", i, "tls")
			}
		default:
			at(fmt.Sprintf("tls %q: want implicit, starttls or none", a.TLS), "accounts", i, "tls")
		}
		if a.Username == "" {
			at("username: required", "accounts", i)
		}
		secrets := 0
		for _, s := range []string{a.PasswordEnv, a.PasswordFile} {
			if s != "" {
				secrets++
			}
		}
		if a.OAuth2 != nil {
			secrets++
			o := a.OAuth2
			switch o.Mechanism {
			case "xoauth2", "oauthbearer":
			default:
				at(fmt.Sprintf("oauth2.mechanism %q: want xoauth2 or oauthbearer", o.Mechanism), "accounts", i, "oauth2", "mechanism")
			}
			n := 0
			if o.TokenFile != "" {
				n++
			}
			if o.TokenEnv != "" {
				n++
			}
			if len(o.TokenCommand) > 0 {
				n++
			}
			if n != 1 {
				at("oauth2: set exactly one of token_file, token_env, token_command", "accounts", i, "oauth2")
			}
		}
		if secrets != 1 {
			at("set exactly one of password_env, password_file, oauth2 (secrets never sit in the YAML)", "accounts", i)
		}
		if a.Done.Keyword != nil && *a.Done.Keyword == "" && a.Done.MoveTo == "" {
			at("done: set a keyword, a move_to folder, or both", "accounts", i, "done")
		}
		if a.BatchSize < 0 || a.Concurrency < 0 {
			at("batch_size and concurrency must be positive", "accounts", i)
		}
	}
	names := make([]string, 0, len(c.Queues))
	for n := range c.Queues {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, p := range queue.ValidateConfig(n, c.Queues[n]) {
			at(fmt.Sprintf("queue %q: %s", n, p), "queues", n)
		}
	}
	return errs
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
