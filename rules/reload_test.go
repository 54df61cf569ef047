package rules

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/triage-dev/triage/internal/boundedfile"
	"github.com/triage-dev/triage/internal/fileerr"
)

// rulesContent is a valid rules file whose content (and so version) is
// distinguished by marker.
func rulesContent(marker string) string {
	return fmt.Sprintf(`version: 1
defaults: {tier: L1, priority: P3, queue: helpdesk, runbook: kb/general-triage}
rules:
  - name: r-%s
    when: subject contains "%s"
    tags: [t-%s]
`, marker, marker, marker)
}

// extraRulesContent is a valid second file of a rules directory: only
// the first file may hold defaults.
func extraRulesContent(marker string) string {
	return fmt.Sprintf(`version: 1
rules:
  - name: extra-%s
    when: body contains "%s"
`, marker, marker)
}

// brokenContent is a rules file that must never load: an unknown key the
// strict loader rejects, and the word "broken" the fake loader rejects. It
// comes first so that a partly written file is broken too.
func brokenContent(marker string) string {
	return "broken_" + marker + ": true\n" + rulesContent(marker)
}

// fakeLoad stands in for Load: it rejects empty files and content
// containing "broken" with positioned errors and versions the set with ContentHash's
// definition over the bytes it read, as Load does.
func fakeLoad(path string) (*Set, error) {
	files, err := RuleFiles(path)
	if err != nil {
		return nil, err
	}
	var contents [][]byte
	var errs fileerr.List
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for i, line := range bytes.Split(b, []byte("\n")) {
			if col := bytes.Index(line, []byte("broken")); col >= 0 {
				errs = append(errs, fileerr.Error{File: f, Line: i + 1, Col: col + 1, Msg: "unknown key " + string(line)})
			}
		}
		if len(bytes.TrimSpace(b)) == 0 {
			errs = append(errs, fileerr.Error{File: f, Line: 1, Col: 1, Msg: "empty rules file"})
		}
		contents = append(contents, b)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return &Set{Version: HashFileContents(files, contents), Files: files}, nil
}

// countingLoad wraps a loader and counts its calls.
type countingLoad struct {
	n    atomic.Int64
	load func(string) (*Set, error)
}

func (c *countingLoad) Load(path string) (*Set, error) {
	c.n.Add(1)
	return c.load(path)
}

func writeRulesFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustContentHash(t testing.TB, path string) string {
	t.Helper()
	h, err := ContentHash(path)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// waitFor polls cond until it holds; the deadline is generous because it
// only bounds a test that would otherwise hang.
func pollUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func reloadTestLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tLogWriter struct{ t testing.TB }

func (w tLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestRuleFiles(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"20-b.yaml", "10-a.yaml", "15-c.yml", ".#10-a.yaml", ".10-a.yaml.swp", "notes.txt", "10-a.yaml~", "4913"} {
		writeRulesFile(t, filepath.Join(dir, name), name)
	}
	for _, d := range []string{"sub.yaml", "..2026_11_27_10_00_00.123"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("..2026_11_27_10_00_00.123", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	files, err := RuleFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "10-a.yaml"), filepath.Join(dir, "15-c.yml"), filepath.Join(dir, "20-b.yaml")}
	if fmt.Sprint(files) != fmt.Sprint(want) {
		t.Fatalf("RuleFiles = %v, want %v", files, want)
	}
	if _, err := RuleFiles(t.TempDir()); err == nil {
		t.Error("RuleFiles of an empty directory: no error")
	}
}

func TestContentHash(t *testing.T) {
	dir := t.TempDir()
	writeRulesFile(t, filepath.Join(dir, "20-b.yaml"), "b")
	writeRulesFile(t, filepath.Join(dir, "10-a.yaml"), "a")
	h1 := mustContentHash(t, dir)
	if got := HashFileContents([]string{"10-a.yaml", "20-b.yaml"}, [][]byte{[]byte("a"), []byte("b")}); got != h1 {
		t.Errorf("HashFileContents = %s, ContentHash = %s", got, h1)
	}
	if mustContentHash(t, dir) != h1 {
		t.Error("ContentHash not stable")
	}
	tests := []struct {
		name  string
		names []string
		data  []string
	}{
		{"content changed", []string{"10-a.yaml", "20-b.yaml"}, []string{"a", "c"}},
		{"renamed", []string{"10-x.yaml", "20-b.yaml"}, []string{"a", "b"}},
		{"bytes moved between files", []string{"10-a.yaml", "20-b.yaml"}, []string{"ab", ""}},
		{"file dropped", []string{"10-a.yaml"}, []string{"a"}},
		{"order", []string{"20-b.yaml", "10-a.yaml"}, []string{"b", "a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var data [][]byte
			for _, d := range tc.data {
				data = append(data, []byte(d))
			}
			if HashFileContents(tc.names, data) == h1 {
				t.Errorf("hash collides with the original content")
			}
		})
	}
	single := filepath.Join(dir, "10-a.yaml")
	if got, want := mustContentHash(t, single), HashFileContents([]string{"10-a.yaml"}, [][]byte{[]byte("a")}); got != want {
		t.Errorf("single file hash = %s, want %s", got, want)
	}

	if err := os.Symlink("missing.yaml", filepath.Join(dir, "30-dangling.yaml")); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{filepath.Join(dir, "none.yaml"), t.TempDir(), dir} {
		if _, err := ContentHash(bad); err == nil {
			t.Errorf("ContentHash(%s): no error", bad)
		}
	}

	// A FIFO among the rules files is refused without being opened (an
	// open would block the reload until some writer came).
	fifoDir := t.TempDir()
	writeRulesFile(t, filepath.Join(fifoDir, "10-a.yaml"), "a")
	if err := syscall.Mkfifo(filepath.Join(fifoDir, "20-fifo.yaml"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ContentHash(fifoDir); !errors.Is(err, boundedfile.ErrNotRegular) {
		t.Errorf("ContentHash with a FIFO: %v, want not a regular file", err)
	}
}

// TestContentHashMatchesLoadVersion pins the shared definition: the cheap
// pre-load hash must equal the Version Load computes, or every trigger
// would reload.
func TestContentHashMatchesLoadVersion(t *testing.T) {
	dir := t.TempDir()
	writeRulesFile(t, filepath.Join(dir, "10-a.yaml"), rulesContent("a"))
	writeRulesFile(t, filepath.Join(dir, "20-b.yml"), extraRulesContent("b"))
	for _, path := range []string{dir, filepath.Join(dir, "10-a.yaml")} {
		set, err := Load(path)
		if err != nil {
			t.Fatalf("Load(%s): %v", path, err)
		}
		if h := mustContentHash(t, path); set.Version != h {
			t.Errorf("Load(%s).Version = %s, ContentHash = %s", path, set.Version, h)
		}
	}
}

func newTestReloader(t *testing.T, cfg ReloaderConfig) *Reloader {
	t.Helper()
	if cfg.Log == nil {
		cfg.Log = reloadTestLogger(t)
	}
	r, err := NewReloader(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestNewReloaderRejectsBrokenRules(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	writeRulesFile(t, path, brokenContent("x"))
	_, err := NewReloader(ReloaderConfig{Path: path, Load: fakeLoad})
	var list fileerr.List
	if !errors.As(err, &list) || len(list) != 1 || list[0].Line != 1 {
		t.Fatalf("NewReloader error = %v, want the loader's fileerr.List at line 1", err)
	}
	if _, err := NewReloader(ReloaderConfig{Path: filepath.Join(t.TempDir(), "missing.yaml"), Load: fakeLoad}); err == nil {
		t.Fatal("NewReloader on a missing file: no error")
	}
}

func TestReloadNoOpOnUnchangedContent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	writeRulesFile(t, path, rulesContent("a"))
	loads := &countingLoad{load: fakeLoad}
	var results []ReloadResult
	r := newTestReloader(t, ReloaderConfig{Path: path, Load: loads.Load, OnResult: func(res ReloadResult) { results = append(results, res) }})
	first := r.Active().Current()
	if first.Version != mustContentHash(t, path) || loads.n.Load() != 1 {
		t.Fatalf("initial: version %s, %d loads", first.Version, loads.n.Load())
	}

	// Same bytes rewritten: new mtime and inode, same content.
	writeRulesFile(t, path, rulesContent("a"))
	res := r.Reload(context.Background())
	if res.Changed || res.Err != nil || res.Version != first.Version {
		t.Fatalf("reload of unchanged content = %+v", res)
	}
	if loads.n.Load() != 1 {
		t.Fatalf("unchanged content was loaded again (%d loads)", loads.n.Load())
	}
	if r.Active().Current() != first {
		t.Fatal("unchanged content swapped the set")
	}

	writeRulesFile(t, path, rulesContent("b"))
	res = r.Reload(context.Background())
	if !res.Changed || res.Err != nil || res.Version != mustContentHash(t, path) || r.Active().Current().Version != res.Version {
		t.Fatalf("reload of changed content = %+v", res)
	}
	if len(results) != 3 || !results[0].Changed || results[1].Changed || !results[2].Changed {
		t.Fatalf("OnResult saw %+v", results)
	}
	if r.Last().Version != res.Version {
		t.Fatalf("Last = %+v", r.Last())
	}
}

func TestReloadFailureKeepsOldSet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	writeRulesFile(t, path, rulesContent("good"))
	var rejectValidation atomic.Bool
	validate := func(s *Set) error {
		if rejectValidation.Load() {
			return fileerr.List{{File: s.Files[0], Line: 3, Col: 5, Msg: `queue "nowhere" is not configured`}}
		}
		return nil
	}
	r := newTestReloader(t, ReloaderConfig{Path: path, Validate: validate})
	good := r.Active().Current()

	tests := []struct {
		name     string
		content  string   // "" removes the file
		validate bool     // reject in Validate
		wantLine []string // substrings of Errors[0]
	}{
		{"load error", brokenContent("b1"), false, []string{path + ":1:1: ", "broken_b1"}},
		{"validate error", rulesContent("unknown-queue"), true, []string{path + `:3:5: queue "nowhere" is not configured`}},
		{"file removed", "", false, []string{"no such file"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.content == "" {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			} else {
				writeRulesFile(t, path, tc.content)
			}
			rejectValidation.Store(tc.validate)
			res := r.Reload(context.Background())
			if res.Err == nil || res.Changed {
				t.Fatalf("result = %+v, want a rejection", res)
			}
			for _, want := range tc.wantLine {
				if len(res.Errors) == 0 || !strings.Contains(res.Errors[0], want) {
					t.Fatalf("Errors = %q, want a first line containing %q", res.Errors, want)
				}
			}
			if res.Version != good.Version || r.Active().Current() != good {
				t.Fatalf("active set changed to %s after a rejected reload", r.Active().Current().Version)
			}
			if r.Last().Err == nil {
				t.Fatal("Last does not report the rejection")
			}
		})
	}

	// Validation passing again activates the same content that failed it:
	// a rejected hash is never remembered as active.
	writeRulesFile(t, path, rulesContent("unknown-queue"))
	rejectValidation.Store(false)
	if res := r.Reload(context.Background()); !res.Changed || res.Err != nil {
		t.Fatalf("after validation passes: %+v", res)
	}
}

func TestReloadManyBrokenEditsNeverActivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	writeRulesFile(t, path, rulesContent("good"))
	r := newTestReloader(t, ReloaderConfig{Path: path, Log: slog.New(slog.DiscardHandler)})
	good := r.Active().Current()
	for i := range 150 {
		content := brokenContent(fmt.Sprint(i))
		if i%2 == 1 {
			content = rulesContent(fmt.Sprint(i)) + "broken: true\n" // error on the last line
		}
		writeRulesFile(t, path, content)
		res := r.Reload(context.Background())
		if res.Err == nil || res.Changed || r.Active().Current() != good {
			t.Fatalf("broken edit %d: result %+v, active %s", i, res, r.Active().Current().Version)
		}
	}
}

// TestReloadCoalesces checks that triggers arriving while a reload runs
// share one following reload instead of queueing one each.
func TestReloadCoalesces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	writeRulesFile(t, path, rulesContent("v1"))
	var blockNext atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	loads := &countingLoad{load: func(p string) (*Set, error) {
		if blockNext.CompareAndSwap(true, false) {
			close(entered)
			<-release
		}
		return fakeLoad(p)
	}}
	r := newTestReloader(t, ReloaderConfig{Path: path, Load: loads.Load})

	writeRulesFile(t, path, rulesContent("v2"))
	blockNext.Store(true)
	first := make(chan ReloadResult, 1)
	go func() { first <- r.Reload(context.Background()) }()
	<-entered

	const waiters = 10
	results := make(chan ReloadResult, waiters)
	var wg sync.WaitGroup
	for range waiters {
		wg.Go(func() { results <- r.Reload(context.Background()) })
	}
	pollUntil(t, "all triggers to join the pending reload", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.pending != nil && r.pending.triggers == waiters
	})
	writeRulesFile(t, path, rulesContent("v3"))
	close(release)
	wg.Wait()
	close(results)

	if res := <-first; !res.Changed || res.Err != nil {
		t.Fatalf("first reload = %+v", res)
	}
	v3 := mustContentHash(t, path)
	for res := range results {
		if res.Err != nil || res.Version != v3 {
			t.Fatalf("coalesced result = %+v, want version %s", res, v3)
		}
	}
	if n := loads.n.Load(); n != 3 { // initial, the blocked one, one shared
		t.Fatalf("%d loads, want 3", n)
	}
	if r.Active().Current().Version != v3 {
		t.Fatalf("active version %s, want %s", r.Active().Current().Version, v3)
	}
}

func TestReloadWaitHonoursContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	writeRulesFile(t, path, rulesContent("v1"))
	var blockNext atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	r := newTestReloader(t, ReloaderConfig{Path: path, Load: func(p string) (*Set, error) {
		if blockNext.CompareAndSwap(true, false) {
			close(entered)
			<-release
		}
		return fakeLoad(p)
	}})
	writeRulesFile(t, path, rulesContent("v2"))
	blockNext.Store(true)
	done := make(chan ReloadResult, 1)
	go func() { done <- r.Reload(context.Background()) }()
	<-entered

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if res := r.Reload(ctx); !errors.Is(res.Err, context.Canceled) {
		t.Fatalf("Reload with a cancelled context while another runs = %+v", res)
	}
	close(release)
	if res := <-done; !res.Changed {
		t.Fatalf("running reload = %+v", res)
	}
	// The abandoned trigger left a pending call; the next trigger runs it.
	if res := r.Reload(context.Background()); res.Err != nil || res.Changed {
		t.Fatalf("next reload = %+v, want a no-op", res)
	}
}

// TestActiveCurrentDuringReloads has readers take one set per "message"
// while reloads swap it; run with -race.
func TestActiveCurrentDuringReloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	writeRulesFile(t, path, rulesContent("v0"))
	r := newTestReloader(t, ReloaderConfig{Path: path, Log: slog.New(slog.DiscardHandler)})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				s := r.Active().Current()
				if s == nil || s.Version == "" || len(s.Files) != 1 {
					t.Error("reader saw an incomplete set")
					return
				}
			}
		})
	}
	for i := range 50 {
		writeRulesFile(t, path, rulesContent(fmt.Sprint("v", i+1)))
		if res := r.Reload(context.Background()); !res.Changed {
			t.Errorf("reload %d = %+v", i, res)
		}
	}
	close(stop)
	wg.Wait()
}

func TestErrorLines(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{"list", fmt.Errorf("wrapped: %w", fileerr.List{{File: "a.yaml", Line: 1, Col: 2, Msg: "x"}, {File: "b.yaml", Line: 3, Col: 4, Msg: "y"}}),
			[]string{"a.yaml:1:2: x", "b.yaml:3:4: y"}},
		{"single", fileerr.Error{File: "a.yaml", Line: 5, Col: 1, Msg: "z"}, []string{"a.yaml:5:1: z"}},
		{"plain multi-line", errors.New("one\n\n two \n"), []string{"one", "two"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := errorLines(tc.err); fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) {
				t.Errorf("errorLines = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestReloadContentChangedWhileLoading covers an edit that lands between
// the content hash and the load: the set read is newer than the hash, so
// that hash must not be remembered as active, or restoring the hashed
// content later would be skipped as unchanged.
func TestReloadContentChangedWhileLoading(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	writeRulesFile(t, path, rulesContent("a"))
	var editDuringLoad atomic.Pointer[string]
	r := newTestReloader(t, ReloaderConfig{Path: path, Load: func(p string) (*Set, error) {
		if c := editDuringLoad.Swap(nil); c != nil {
			writeRulesFile(t, p, *c)
		}
		return fakeLoad(p)
	}})

	writeRulesFile(t, path, rulesContent("b"))
	hashB := mustContentHash(t, path)
	c := rulesContent("c")
	editDuringLoad.Store(&c)
	if res := r.Reload(context.Background()); !res.Changed || res.Version != mustContentHash(t, path) {
		t.Fatalf("reload = %+v, want the content read (c) active", res)
	}

	writeRulesFile(t, path, rulesContent("b"))
	if res := r.Reload(context.Background()); !res.Changed || res.Version != hashB {
		t.Fatalf("restoring b = %+v, want b (%s) active", res, hashB)
	}
}
