package rules

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/triage-dev/triage/internal/boundedfile"
	"github.com/triage-dev/triage/internal/fileerr"
)

// RuleFiles lists the files a rules path stands for, in merge order: the
// path itself when it is a file, or a directory's *.yaml and *.yml entries
// (not directories, not hidden: editor swap and lock files, Kubernetes'
// ..data entries) sorted by name. It is the file set Load reads.
func RuleFiles(path string) ([]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("rules %s: %w", path, err)
	}
	if !fi.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("rules directory %s: %w", path, err)
	}
	var files []string
	for _, e := range entries {
		if name := e.Name(); !e.IsDir() && isRulesFileName(name) {
			files = append(files, filepath.Join(path, name))
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("rules directory %s: no *.yaml or *.yml file", path)
	}
	sort.Strings(files)
	return files, nil
}

// isRulesFileName reports whether a directory entry is a rules file.
func isRulesFileName(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	return strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")
}

// ContentHash is the content hash of the rules at path, the same value as
// Set.Version for rules loaded from that content: the first 16 hex digits
// of SHA-256 over, for each file of RuleFiles in order, its base name, a
// NUL byte, its bytes and a NUL byte. It reads the files (regular files of
// at most the loader's bound: a FIFO named rules.yaml cannot block a
// reload) but does not parse them, so a reload can skip unchanged content
// cheaply.
func ContentHash(path string) (string, error) {
	files, err := RuleFiles(path)
	if err != nil {
		return "", err
	}
	contents := make([][]byte, len(files))
	for i, f := range files {
		if contents[i], err = boundedfile.Read(f, maxFileSize); err != nil {
			return "", fmt.Errorf("hash rules: %w", err)
		}
	}
	return HashFileContents(files, contents), nil
}

// HashFileContents is ContentHash for files already read into memory:
// names[i] (a base name or path; only the base name counts) holds
// contents[i], in merge order.
func HashFileContents(names []string, contents [][]byte) string {
	h := sha256.New()
	for i, name := range names {
		h.Write([]byte(filepath.Base(name)))
		h.Write([]byte{0})
		if i < len(contents) {
			h.Write(contents[i])
		}
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Active holds the rule set in force. Current is lock-free; a message calls
// it once and uses that Set throughout, so every message is classified by
// exactly one version even while a reload swaps the set.
type Active struct{ p atomic.Pointer[Set] }

// Current returns the rule set in force.
func (a *Active) Current() *Set { return a.p.Load() }

// ReloaderConfig configures a Reloader.
type ReloaderConfig struct {
	Path string // rules file or directory
	// Load loads and compiles the rules; nil means the package's Load.
	Load func(path string) (*Set, error)
	// Validate runs checks that must pass before activation: the rule set's
	// own tests, every queue name known to the daemon config. Optional.
	Validate func(*Set) error
	Log      *slog.Logger // nil discards
	// OnResult observes every reload result (metrics, status); optional.
	// Calls never overlap.
	OnResult func(ReloadResult)
	// Debounce and RecheckInterval tune Watch; zero means DefaultDebounce
	// and DefaultRecheckInterval.
	Debounce        time.Duration
	RecheckInterval time.Duration
}

// ReloadResult is the outcome of one reload.
type ReloadResult struct {
	Version  string        // the version serving after the reload (the old one when it failed or nothing changed)
	Changed  bool          // a new set was activated
	Err      error         // why the new content was rejected; the old set keeps serving
	Errors   []string      // Err as lines, file:line:col: msg where known
	At       time.Time     // when the reload started
	Duration time.Duration // how long it took
}

// Reloader loads rules, activates them only when they load, compile, lint
// and validate cleanly, and reloads them on demand or on file changes.
// Reloads are serialized, and triggers that arrive while one runs share
// the single reload that follows it.
type Reloader struct {
	cfg    ReloaderConfig
	log    *slog.Logger
	active Active

	runSlot chan struct{} // capacity 1; held while a reload runs

	mu      sync.Mutex
	pending *reloadCall // the next reload, not yet started; triggers join it
	last    ReloadResult

	activeHash string // content hash the active set was loaded from; guarded by runSlot
}

type reloadCall struct {
	done     chan struct{} // closed once res is set
	res      ReloadResult
	triggers int // Reload calls sharing it; guarded by Reloader.mu
}

// NewReloader loads the rules once and returns an error when that fails:
// the daemon must not start with broken rules.
func NewReloader(cfg ReloaderConfig) (*Reloader, error) {
	if cfg.Path == "" {
		return nil, errors.New("rules reloader: no rules path")
	}
	if cfg.Load == nil {
		cfg.Load = Load
	}
	r := &Reloader{cfg: cfg, log: cmp.Or(cfg.Log, slog.New(slog.DiscardHandler)), runSlot: make(chan struct{}, 1)}
	res := r.Reload(context.Background())
	if res.Err != nil {
		return nil, fmt.Errorf("initial rules load: %w", res.Err)
	}
	return r, nil
}

// Active returns the holder of the rule set in force.
func (r *Reloader) Active() *Active { return &r.active }

// Last returns the result of the most recent reload.
func (r *Reloader) Last() ReloadResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// Reload loads the rules again and activates them if they are valid. If
// the content hash equals that of the active set it does nothing
// (Changed=false). On failure the old set keeps serving and the errors are
// logged. A Reload that finds another running waits for it and then shares
// the next reload with every other waiter. ctx bounds only the waiting.
func (r *Reloader) Reload(ctx context.Context) ReloadResult {
	r.mu.Lock()
	call := r.pending
	if call == nil {
		call = &reloadCall{done: make(chan struct{})}
		r.pending = call
	}
	call.triggers++
	r.mu.Unlock()

	select {
	case <-call.done:
		return call.res
	case <-ctx.Done():
		return ReloadResult{Version: r.currentVersion(), Err: fmt.Errorf("rules reload: %w", context.Cause(ctx)), At: time.Now()}
	case r.runSlot <- struct{}{}:
	}
	defer func() { <-r.runSlot }()
	select {
	case <-call.done: // another trigger of the same call ran it
		return call.res
	default:
	}
	// Detach the call: triggers from now on need a reload that starts later.
	r.mu.Lock()
	if r.pending == call {
		r.pending = nil
	}
	r.mu.Unlock()

	call.res = r.reload()
	r.mu.Lock()
	r.last = call.res
	r.mu.Unlock()
	if r.cfg.OnResult != nil {
		r.cfg.OnResult(call.res)
	}
	close(call.done)
	return call.res
}

// Watch reloads whenever the rules change on disk, until ctx is done; it
// returns nil then, or an error if the watch cannot be set up.
func (r *Reloader) Watch(ctx context.Context) error {
	w, err := NewWatcher(r.cfg.Path, r.cfg.Debounce, r.log)
	if err != nil {
		return err
	}
	w.RecheckInterval = r.cfg.RecheckInterval
	// A change between the initial load and the watch produced no event.
	r.Reload(ctx)
	w.Run(ctx, func() { r.Reload(ctx) })
	return nil
}

func (r *Reloader) currentVersion() string {
	if s := r.active.Current(); s != nil {
		return s.Version
	}
	return ""
}

// reload does one reload; the caller holds runSlot.
func (r *Reloader) reload() ReloadResult {
	start := time.Now()
	res := ReloadResult{Version: r.currentVersion(), At: start}
	path := r.cfg.Path
	fail := func(err error) ReloadResult {
		res.Err = err
		res.Errors = errorLines(err)
		res.Duration = time.Since(start)
		r.logRejected(res)
		return res
	}

	before, err := ContentHash(path)
	if err != nil {
		return fail(err)
	}
	if r.active.Current() != nil && before == r.activeHash {
		res.Duration = time.Since(start)
		r.log.Debug("rules unchanged", "path", path, "version", res.Version)
		return res
	}
	set, err := r.cfg.Load(path)
	if err != nil {
		return fail(err)
	}
	if set == nil {
		return fail(fmt.Errorf("rules %s: loader returned no rule set", path))
	}
	if r.cfg.Validate != nil {
		if err := r.cfg.Validate(set); err != nil {
			return fail(fmt.Errorf("rules %s rejected: %w", path, err))
		}
	}

	// Remember which content is active so an unchanged trigger is a no-op.
	// If the files changed while loading we cannot tell which content was
	// read; an empty hash makes the next trigger (their event) load again.
	loadedHash := before
	if set.Version != before {
		if after, err := ContentHash(path); err != nil || after != before {
			loadedHash = ""
		}
	}
	previous := res.Version
	r.active.p.Store(set)
	r.activeHash = loadedHash
	res.Version, res.Changed = set.Version, true
	res.Duration = time.Since(start)
	r.log.Info("rules activated", "path", path, "version", set.Version, "previous", previous,
		"files", len(set.Files), "warnings", len(set.Warnings), "duration", res.Duration)
	return res
}

// maxLoggedErrors bounds the log lines of one rejected reload.
const maxLoggedErrors = 50

func (r *Reloader) logRejected(res ReloadResult) {
	r.log.Error("rules rejected; previous rules stay active", "path", r.cfg.Path,
		"active_version", res.Version, "errors", len(res.Errors))
	for i, line := range res.Errors {
		if i == maxLoggedErrors {
			r.log.Error("rules error", "error", fmt.Sprintf("... and %d more", len(res.Errors)-i))
			break
		}
		r.log.Error("rules error", "error", line)
	}
}

// errorLines renders err one problem per line, file:line:col: msg where
// the error carries positions.
func errorLines(err error) []string {
	if list := fileerr.Of(err); list != nil {
		lines := make([]string, len(list))
		for i, e := range list {
			lines[i] = e.Error()
		}
		return lines
	}
	var lines []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}
