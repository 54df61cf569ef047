package rules

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is how long the Watcher waits after the last relevant
// file event before it reports a change: editors and `cp` produce bursts of
// events for one logical save.
const DefaultDebounce = 150 * time.Millisecond

// DefaultRecheckInterval is how often the Watcher compares the content hash
// even without events, in case events were lost (queue overflow, network
// file systems, a watched directory that was replaced).
const DefaultRecheckInterval = 30 * time.Second

// Watcher reports changes of a rules file or rules directory.
//
// It watches the directory that holds the rules file (or the rules directory
// itself), never the file: editors replace files by rename, which would
// silently end a watch on the file's inode. Kubernetes ConfigMap volumes
// swap a `..data` symlink and never touch an entry with the file's own name,
// so entries whose names start with ".." count as changes too.
type Watcher struct {
	path     string // absolute rules file or directory
	dir      string // absolute directory being watched
	base     string // rules file base name; "" when path is a directory
	debounce time.Duration
	log      *slog.Logger
	fs       *fsnotify.Watcher

	// RecheckInterval is the period of the safety hash comparison; set it
	// before Run. Zero or negative means DefaultRecheckInterval.
	RecheckInterval time.Duration

	// Owned by the Run goroutine.
	lastHash   string // content hash (or error text) when a change was last reported
	targetDir  string // directory of the rules file's symlink target when outside dir
	targetName string // base name of that target
}

// NewWatcher starts watching path, a rules file or a rules directory. A
// debounce of zero or less means DefaultDebounce; a nil log discards. The
// watch is in place when NewWatcher returns, so a change made after it
// returns is reported by Run. Call Run (which closes the Watcher when it
// returns) or Close.
func NewWatcher(path string, debounce time.Duration, log *slog.Logger) (*Watcher, error) {
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	log = cmp.Or(log, slog.New(slog.DiscardHandler))
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("watch rules %s: %w", path, err)
	}
	w := &Watcher{path: abs, debounce: debounce, log: log}
	fi, err := os.Stat(abs)
	switch {
	case err == nil && fi.IsDir():
		w.dir = abs
	case err == nil || errors.Is(err, os.ErrNotExist):
		// A missing file is allowed: it may be (re)created later.
		w.dir, w.base = filepath.Dir(abs), filepath.Base(abs)
	default:
		return nil, fmt.Errorf("watch rules %s: %w", path, err)
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch rules %s: %w", path, err)
	}
	w.fs = fsw
	if err := fsw.Add(w.dir); err != nil {
		_ = fsw.Close()
		return nil, fmt.Errorf("watch rules directory %s: %w", w.dir, err)
	}
	w.updateTargetWatch()
	w.lastHash = w.contentState()
	return w, nil
}

// Close stops watching. It is safe to call more than once and after Run
// (fsnotify's Close is).
func (w *Watcher) Close() error { return w.fs.Close() }

// Run calls changed once per burst of relevant file events, after the
// events have been quiet for the debounce interval, and whenever the
// periodic hash check finds content that differs from the last report.
// changed runs on Run's goroutine, so calls never overlap; events that
// arrive meanwhile lead to another call. Run returns when ctx is done and
// closes the Watcher. Call Run at most once.
func (w *Watcher) Run(ctx context.Context, changed func()) {
	defer func() { _ = w.Close() }()

	recheckEvery := w.RecheckInterval
	if recheckEvery <= 0 {
		recheckEvery = DefaultRecheckInterval
	}
	recheck := time.NewTicker(recheckEvery)
	defer recheck.Stop()
	quiet := time.NewTimer(w.debounce)
	quiet.Stop()
	defer quiet.Stop()

	fire := func(reason string) {
		w.lastHash = w.contentState()
		w.updateTargetWatch()
		w.log.Debug("rules changed", "path", w.path, "reason", reason)
		changed()
	}

	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.fs.Events:
			if !ok {
				return
			}
			if w.relevant(ev) {
				quiet.Reset(w.debounce)
			}
		case err, ok := <-w.fs.Errors:
			if !ok {
				return
			}
			w.log.Warn("rules watcher error", "path", w.path, "error", err)
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// Events were dropped; one of them may have been ours.
				quiet.Reset(w.debounce)
			}
		case <-quiet.C:
			fire("file event")
		case <-recheck.C:
			w.ensureWatches()
			if h := w.contentState(); h != w.lastHash {
				w.log.Info("rules content changed without a file event", "path", w.path)
				fire("periodic check")
			}
		}
	}
}

// relevant reports whether ev may have changed the rules content.
func (w *Watcher) relevant(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		// Metadata only (touch, indexers, backup tools); content is unchanged.
		return false
	}
	if ev.Name == w.dir {
		return true // the watched directory itself was removed or moved
	}
	dir, name := filepath.Dir(ev.Name), filepath.Base(ev.Name)
	switch dir {
	case w.dir:
		if strings.HasPrefix(name, "..") {
			return true // Kubernetes atomic writer: ..data, ..data_tmp, ..2026_11_27_10_00_00.123
		}
		if w.base == "" {
			return isRulesFileName(name)
		}
		return name == w.base
	case w.targetDir:
		return name == w.targetName
	}
	return false
}

// contentState is the content hash, or the error text when it cannot be
// computed, so that a file coming back is noticed as a change.
func (w *Watcher) contentState() string {
	h, err := ContentHash(w.path)
	if err != nil {
		return "error: " + err.Error()
	}
	return h
}

// ensureWatches re-adds the directory watch when it was lost because the
// directory was removed or moved and has come back since.
func (w *Watcher) ensureWatches() {
	watched := w.fs.WatchList()
	if !slices.Contains(watched, w.dir) {
		if err := w.fs.Add(w.dir); err != nil {
			w.log.Warn("rules directory not watchable", "dir", w.dir, "error", err)
		} else {
			w.log.Info("rules directory watched again", "dir", w.dir)
		}
	}
	if w.targetDir != "" && !slices.Contains(watched, w.targetDir) {
		w.targetDir, w.targetName = "", ""
	}
	w.updateTargetWatch()
}

// updateTargetWatch also watches the directory of the rules file's symlink
// target when that lies outside the watched directory (rules.yaml linked
// into a git checkout): writes there produce no event in dir.
func (w *Watcher) updateTargetWatch() {
	if w.base == "" {
		return
	}
	var wantDir, wantName string
	if real, err := filepath.EvalSymlinks(w.path); err == nil {
		realDir := filepath.Dir(real)
		if !w.containsDir(realDir) {
			wantDir, wantName = realDir, filepath.Base(real)
		}
	}
	if wantDir == w.targetDir {
		w.targetName = wantName
		return
	}
	if w.targetDir != "" {
		if err := w.fs.Remove(w.targetDir); err != nil && !errors.Is(err, fsnotify.ErrNonExistentWatch) {
			w.log.Debug("unwatch rules symlink target", "dir", w.targetDir, "error", err)
		}
		w.targetDir, w.targetName = "", ""
	}
	if wantDir == "" {
		return
	}
	if err := w.fs.Add(wantDir); err != nil {
		w.log.Warn("rules symlink target not watchable; relying on the periodic check", "dir", wantDir, "error", err)
		return
	}
	w.targetDir, w.targetName = wantDir, wantName
}

// containsDir reports whether events in d already reach the watch on the
// rules directory: d is that directory, or one of the Kubernetes atomic
// writer's ..2026_… directories whose swaps show up as ..data events.
func (w *Watcher) containsDir(d string) bool {
	root, err := filepath.EvalSymlinks(w.dir)
	if err != nil {
		root = w.dir
	}
	if d == root || d == w.dir {
		return true
	}
	parent := filepath.Dir(d)
	return (parent == root || parent == w.dir) && strings.HasPrefix(filepath.Base(d), "..")
}
