package rules

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// testDebounce keeps the editor tests quick; the latency measurement uses
// DefaultDebounce.
const testDebounce = 20 * time.Millisecond

// watching starts r.Watch and stops it when the test ends.
func watching(t *testing.T, r *Reloader) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Watch(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	})
}

func waitForVersion(t *testing.T, r *Reloader, want string) {
	t.Helper()
	pollUntil(t, "version "+want+" to be active", func() bool { return r.Active().Current().Version == want })
}

// configMap emulates the Kubernetes atomic writer: dir/rules.yaml is a
// symlink to ..data/rules.yaml, ..data a symlink to a timestamped dir.
type configMap struct {
	t   *testing.T
	dir string
	ts  string
	n   int
}

func newConfigMap(t *testing.T, dir string, files map[string]string) *configMap {
	c := &configMap{t: t, dir: dir}
	c.ts = c.writeTimestampDir(files)
	if err := os.Symlink(c.ts, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for name := range files {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func (c *configMap) writeTimestampDir(files map[string]string) string {
	c.n++
	ts := fmt.Sprintf("..2026_11_27_10_00_%02d.%03d", c.n%60, c.n)
	if err := os.Mkdir(filepath.Join(c.dir, ts), 0o755); err != nil {
		c.t.Fatal(err)
	}
	for name, content := range files {
		writeRulesFile(c.t, filepath.Join(c.dir, ts, name), content)
	}
	return ts
}

// update swaps in new content exactly as kubelet does; no event carries a
// rules file's own name. Files must keep the same names.
func (c *configMap) update(files map[string]string) {
	ts := c.writeTimestampDir(files)
	tmp := filepath.Join(c.dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		c.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(c.dir, "..data")); err != nil {
		c.t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(c.dir, c.ts)); err != nil {
		c.t.Fatal(err)
	}
	c.ts = ts
}

// editorPattern changes the rules file at path to content the way one tool does.
type editorPattern struct {
	name string
	edit func(t *testing.T, path, content string)
}

var editorPatterns = []editorPattern{
	{"in-place write", func(t *testing.T, path, content string) {
		// Overwrite without truncating; content is padded to at least the
		// old length so no stale tail is left.
		old, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if pad := len(old) - len(content); pad > 0 {
			content += "#" + strings.Repeat(" ", pad-1)
		}
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = f.Close() }()
		if _, err := f.WriteAt([]byte(content), 0); err != nil {
			t.Fatal(err)
		}
	}},
	{"truncate and write in two parts", func(t *testing.T, path, content string) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = f.Close() }()
		half := len(content) / 2
		for _, part := range []string{content[:half], content[half:]} {
			if _, err := f.WriteString(part); err != nil {
				t.Fatal(err)
			}
		}
	}},
	{"atomic save (temp file renamed over)", func(t *testing.T, path, content string) {
		tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp4711")
		writeRulesFile(t, tmp, content)
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}},
	{"vim backupcopy=no", func(t *testing.T, path, content string) {
		backup := path + "~"
		if err := os.Rename(path, backup); err != nil {
			t.Fatal(err)
		}
		writeRulesFile(t, path, content)
		if err := os.Remove(backup); err != nil {
			t.Fatal(err)
		}
	}},
	{"sed -i (emulated: sedXXXXXX renamed over)", func(t *testing.T, path, content string) {
		tmp := filepath.Join(filepath.Dir(path), "sedAb12Cd")
		writeRulesFile(t, tmp, content)
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}},
	{"cp over", func(t *testing.T, path, content string) {
		src := filepath.Join(t.TempDir(), "new.yaml")
		writeRulesFile(t, src, content)
		if cp, err := exec.LookPath("cp"); err == nil {
			if out, err := exec.Command(cp, src, path).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v: %s", err, out)
			}
			return
		}
		writeRulesFile(t, path, content) // what cp does: open with O_TRUNC, write
	}},
}

func TestWatchEditorPatterns(t *testing.T) {
	for _, p := range editorPatterns {
		t.Run(p.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rules.yaml")
			writeRulesFile(t, path, rulesContent("initial-version"))
			r := newTestReloader(t, ReloaderConfig{Path: path, Debounce: testDebounce})
			watching(t, r)
			for i := range 3 {
				p.edit(t, path, rulesContent(fmt.Sprint("edit", i)))
				waitForVersion(t, r, mustContentHash(t, path))
			}
		})
	}
}

func TestWatchRealSed(t *testing.T) {
	sed, err := exec.LookPath("sed")
	if err != nil {
		t.Skip("no sed on PATH; the emulated sed -i pattern covers the same events")
	}
	path := filepath.Join(t.TempDir(), "rules.yaml")
	writeRulesFile(t, path, rulesContent("before"))
	r := newTestReloader(t, ReloaderConfig{Path: path, Debounce: testDebounce})
	watching(t, r)
	if out, err := exec.Command(sed, "-i", "s/before/after/g", path).CombinedOutput(); err != nil {
		t.Fatalf("sed: %v: %s", err, out)
	}
	want := HashFileContents([]string{"rules.yaml"}, [][]byte{[]byte(rulesContent("after"))})
	waitForVersion(t, r, want)
}

func TestWatchRemovedThenRecreated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	writeRulesFile(t, path, rulesContent("v1"))
	r := newTestReloader(t, ReloaderConfig{Path: path, Debounce: testDebounce})
	v1 := r.Active().Current().Version
	watching(t, r)

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, "the removal to be rejected", func() bool { return r.Last().Err != nil })
	if got := r.Active().Current().Version; got != v1 {
		t.Fatalf("active version %s while the file is missing, want %s", got, v1)
	}
	writeRulesFile(t, path, rulesContent("v2"))
	waitForVersion(t, r, mustContentHash(t, path))
}

func TestWatchRulesDirectory(t *testing.T) {
	dir := t.TempDir()
	writeRulesFile(t, filepath.Join(dir, "10-base.yaml"), rulesContent("base"))
	r := newTestReloader(t, ReloaderConfig{Path: dir, Debounce: testDebounce})
	watching(t, r)

	steps := []struct {
		name string
		do   func(t *testing.T)
	}{
		{"new file appears", func(t *testing.T) { writeRulesFile(t, filepath.Join(dir, "20-extra.yaml"), extraRulesContent("extra")) }},
		{"file edited", func(t *testing.T) { writeRulesFile(t, filepath.Join(dir, "10-base.yaml"), rulesContent("base2")) }},
		{"atomic save in the directory", func(t *testing.T) {
			editorPatterns[2].edit(t, filepath.Join(dir, "20-extra.yaml"), extraRulesContent("extra2"))
		}},
		{"file removed", func(t *testing.T) {
			if err := os.Remove(filepath.Join(dir, "20-extra.yaml")); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.do(t)
			waitForVersion(t, r, mustContentHash(t, dir))
		})
	}
}

func TestWatchKubernetesConfigMap(t *testing.T) {
	t.Run("file path", func(t *testing.T) {
		dir := t.TempDir()
		cm := newConfigMap(t, dir, map[string]string{"rules.yaml": rulesContent("cm0")})
		path := filepath.Join(dir, "rules.yaml")
		r := newTestReloader(t, ReloaderConfig{Path: path, Debounce: testDebounce})
		watching(t, r)
		for i := range 3 {
			cm.update(map[string]string{"rules.yaml": rulesContent(fmt.Sprint("cm", i+1))})
			waitForVersion(t, r, mustContentHash(t, path))
		}
	})
	t.Run("directory path", func(t *testing.T) {
		dir := t.TempDir()
		files := func(v string) map[string]string {
			return map[string]string{"10-a.yaml": rulesContent("a" + v), "20-b.yaml": extraRulesContent("b" + v)}
		}
		cm := newConfigMap(t, dir, files("0"))
		r := newTestReloader(t, ReloaderConfig{Path: dir, Debounce: testDebounce})
		if got := r.Active().Current().Files; len(got) != 2 {
			t.Fatalf("loaded %v, want the two ConfigMap files and no ..data entries", got)
		}
		watching(t, r)
		for i := range 3 {
			cm.update(files(fmt.Sprint(i + 1)))
			waitForVersion(t, r, mustContentHash(t, dir))
		}
	})
}

func TestWatchSymlinkTargetElsewhere(t *testing.T) {
	target := filepath.Join(t.TempDir(), "checkout", "rules.yaml")
	if err := os.Mkdir(filepath.Dir(target), 0o755); err != nil {
		t.Fatal(err)
	}
	writeRulesFile(t, target, rulesContent("t0"))
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	r := newTestReloader(t, ReloaderConfig{Path: path, Debounce: testDebounce, RecheckInterval: time.Hour})
	watching(t, r)
	writeRulesFile(t, target, rulesContent("t1"))
	waitForVersion(t, r, mustContentHash(t, path))

	// Retargeting the link moves the extra watch along.
	other := filepath.Join(t.TempDir(), "other.yaml")
	writeRulesFile(t, other, rulesContent("o0"))
	tmpLink := path + ".new"
	if err := os.Symlink(other, tmpLink); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmpLink, path); err != nil {
		t.Fatal(err)
	}
	waitForVersion(t, r, mustContentHash(t, path))
	writeRulesFile(t, other, rulesContent("o1"))
	waitForVersion(t, r, mustContentHash(t, path))
}

// TestWatchBrokenEditsNeverActivate makes 120 distinct broken edits with
// the editor patterns, waits until each was seen and rejected, and checks
// that none ever became active.
func TestWatchBrokenEditsNeverActivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	writeRulesFile(t, path, rulesContent("good"))
	var activated atomic.Int64
	r := newTestReloader(t, ReloaderConfig{
		Path: path, Debounce: 5 * time.Millisecond, Log: slog.New(slog.DiscardHandler),
		OnResult: func(res ReloadResult) {
			if res.Changed {
				activated.Add(1)
			}
		},
	})
	good := r.Active().Current()
	activated.Store(0)
	watching(t, r)

	const edits = 120
	for i := range edits {
		marker := fmt.Sprintf("b%03d", i)
		editorPatterns[i%len(editorPatterns)].edit(t, path, brokenContent(marker))
		pollUntil(t, "broken edit "+marker+" to be rejected", func() bool {
			last := r.Last()
			return last.Err != nil && slices.ContainsFunc(last.Errors, func(l string) bool { return strings.Contains(l, "broken_"+marker) })
		})
		if r.Active().Current() != good {
			t.Fatalf("broken edit %d activated version %s", i, r.Active().Current().Version)
		}
	}
	if n := activated.Load(); n != 0 {
		t.Fatalf("%d broken edits were activated", n)
	}
	// The watcher is still live and a good edit still takes effect.
	writeRulesFile(t, path, rulesContent("good2"))
	waitForVersion(t, r, mustContentHash(t, path))
}

func TestWatcherIgnoresUnrelatedEntries(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	writeRulesFile(t, path, "x")
	fileW, err := NewWatcher(path, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = fileW.Close() }()
	dirW, err := NewWatcher(dir, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = dirW.Close() }()

	tests := []struct {
		name          string
		op            fsnotify.Op
		file, dirMode bool
	}{
		{"rules.yaml", fsnotify.Write, true, true},
		{"rules.yaml", fsnotify.Chmod, false, false},
		{"rules.yaml", fsnotify.Remove | fsnotify.Chmod, true, true},
		{"other.yaml", fsnotify.Create, false, true},
		{"other.yml", fsnotify.Create, false, true},
		{".rules.yaml.swp", fsnotify.Write, false, false},
		{".#rules.yaml", fsnotify.Create, false, false},
		{"rules.yaml~", fsnotify.Create, false, false},
		{"4913", fsnotify.Create, false, false},
		{"notes.txt", fsnotify.Write, false, false},
		{"..data", fsnotify.Create, true, true},
		{"..data_tmp", fsnotify.Rename, true, true},
		{"..2026_11_27_10_00_00.123", fsnotify.Remove, true, true},
	}
	for _, tc := range tests {
		ev := fsnotify.Event{Name: filepath.Join(dir, tc.name), Op: tc.op}
		if got := fileW.relevant(ev); got != tc.file {
			t.Errorf("file watcher: %v relevant = %v, want %v", ev, got, tc.file)
		}
		if got := dirW.relevant(ev); got != tc.dirMode {
			t.Errorf("directory watcher: %v relevant = %v, want %v", ev, got, tc.dirMode)
		}
	}
	if fileW.relevant(fsnotify.Event{Name: filepath.Join(t.TempDir(), "rules.yaml"), Op: fsnotify.Write}) {
		t.Error("event in another directory counted")
	}
}

// TestWatcherPeriodicRecheck drops the directory watch so that no event
// arrives, and expects the periodic hash comparison to notice the change
// and restore the watch.
func TestWatcherPeriodicRecheck(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	writeRulesFile(t, path, "v1")
	w, err := NewWatcher(path, testDebounce, reloadTestLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	w.RecheckInterval = 20 * time.Millisecond
	if err := w.fs.Remove(w.dir); err != nil {
		t.Fatal(err)
	}
	writeRulesFile(t, path, "v2") // unseen: nothing watches the directory now
	calls := runCounting(t, w)

	pollUntil(t, "the periodic check to report the change", func() bool { return calls.Load() >= 1 })
	pollUntil(t, "the directory watch to be restored", func() bool { return slices.Contains(w.fs.WatchList(), dir) })
	// Reported by the restored watch or the next check, whichever is first;
	// a redundant later call is harmless (the reload is a no-op).
	n := calls.Load()
	writeRulesFile(t, path, "v3")
	pollUntil(t, "the next change to be reported", func() bool { return calls.Load() > n })
}

// runCounting runs w until the test ends and counts the changes it
// reports.
func runCounting(t *testing.T, w *Watcher) *atomic.Int64 {
	t.Helper()
	var calls atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx, func() { calls.Add(1) })
	}()
	t.Cleanup(func() { cancel(); <-done })
	return &calls
}

func TestWatcherDebouncesBursts(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	writeRulesFile(t, path, "v0")
	// A debounce far longer than the burst takes: the burst must yield one call.
	w, err := NewWatcher(path, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.RecheckInterval = time.Hour
	calls := runCounting(t, w)

	for i := range 20 {
		writeRulesFile(t, path, fmt.Sprint("v", i+1))
	}
	pollUntil(t, "the burst to be reported", func() bool { return calls.Load() >= 1 })
	// A marker write after the report: its own call proves the burst made
	// exactly one (the count is sequential because changed runs on Run).
	writeRulesFile(t, path, "marker")
	pollUntil(t, "the marker write to be reported", func() bool { return calls.Load() >= 2 })
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d calls for one burst and one write, want 2", n)
	}
}

func TestWatchStopsWithoutLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	path := filepath.Join(t.TempDir(), "rules.yaml")
	writeRulesFile(t, path, rulesContent("v1"))
	r := newTestReloader(t, ReloaderConfig{Path: path, Debounce: testDebounce, Log: slog.New(slog.DiscardHandler)})
	var wg sync.WaitGroup
	for range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		wg.Go(func() {
			if err := r.Watch(ctx); err != nil {
				t.Error(err)
			}
		})
		writeRulesFile(t, path, rulesContent(fmt.Sprint(time.Now().UnixNano())))
		waitForVersion(t, r, mustContentHash(t, path))
		cancel()
		wg.Wait()
	}
	w, err := NewWatcher(path, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	pollUntil(t, "watcher goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

func TestNewWatcherErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing-dir", "rules.yaml")
	if _, err := NewWatcher(missing, 0, nil); err == nil {
		t.Fatal("NewWatcher in a missing directory: no error")
	}
	// Watch reports a setup failure instead of blocking.
	r := &Reloader{cfg: ReloaderConfig{Path: missing}, log: slog.New(slog.DiscardHandler), runSlot: make(chan struct{}, 1)}
	if err := r.Watch(context.Background()); err == nil {
		t.Fatal("Watch in a missing directory: no error")
	}
}

// TestReloadLatency measures the time from a file write to the new version
// being active, through the real watcher with the default debounce. It is a
// measurement, not a check of speed: run it with
//
//	TRIAGE_MEASURE=1 go test ./rules -run TestReloadLatency -v
func TestReloadLatency(t *testing.T) {
	if os.Getenv("TRIAGE_MEASURE") == "" {
		t.Skip("measurement; set TRIAGE_MEASURE=1")
	}
	path := filepath.Join(t.TempDir(), "rules.yaml")
	writeRulesFile(t, path, rulesContent("m0"))
	r := newTestReloader(t, ReloaderConfig{Path: path, Load: Load, Log: slog.New(slog.DiscardHandler)})
	watching(t, r)
	const writes = 50
	var lat []time.Duration
	for i := range writes {
		content := rulesContent(fmt.Sprint("m", i+1))
		want := HashFileContents([]string{"rules.yaml"}, [][]byte{[]byte(content)})
		start := time.Now()
		editorPatterns[i%len(editorPatterns)].edit(t, path, content)
		if i%len(editorPatterns) == 0 { // in-place write may pad
			want = mustContentHash(t, path)
		}
		for r.Active().Current().Version != want {
			if time.Since(start) > 10*time.Second {
				t.Fatalf("write %d never became active", i)
			}
			time.Sleep(time.Millisecond)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	t.Logf("reload latency over %d writes (debounce %v): median %v, p90 %v, max %v",
		writes, DefaultDebounce, lat[writes/2], lat[writes*9/10], lat[writes-1])
}
