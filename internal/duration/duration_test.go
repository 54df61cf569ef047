package duration

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const day = 24 * time.Hour

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  error // nil: accepted with want
	}{
		{"30s", 30 * time.Second, nil},
		{"15m", 15 * time.Minute, nil},
		{"4h", 4 * time.Hour, nil},
		{"3d", 3 * day, nil},
		{"1d12h", 36 * time.Hour, nil},
		{"1d+12h", 36 * time.Hour, nil},
		{"1d-1h", 23 * time.Hour, nil},
		{"1d-0s", day, nil},
		{"1d0", day, nil},
		{"7d", 7 * day, nil},
		{"0d", 0, nil},
		{"0", 0, nil},
		{"+0", 0, nil},
		{"0s", 0, nil},
		{"0d-0s", 0, nil},
		{"1d-24h", 0, nil},
		{"0.5ns", 0, nil},
		{"1h30m", 90 * time.Minute, nil},
		{"1.5h", 90 * time.Minute, nil},
		{".5h", 30 * time.Minute, nil},
		{"1.h", time.Hour, nil},
		{"500ms", 500 * time.Millisecond, nil},
		{"2µs", 2 * time.Microsecond, nil},
		{"2μs", 2 * time.Microsecond, nil},
		{"2us", 2 * time.Microsecond, nil},
		{"+1h", time.Hour, nil},
		{" 3d ", 3 * day, nil},
		{"\t\n\v\f\r 4h \r\n", 4 * time.Hour, nil},
		{"0003d", 3 * day, nil},
		{"3650d", 3650 * day, nil},
		{"3650d1h", 3650*day + time.Hour, nil},
		{"2562047h47m16.854775807s", math.MaxInt64, nil},
		{"3650d2562047h", 0, ErrTooLong},
		{"1d2562047h47m16.854775807s", 0, ErrTooLong},
		{"2562048h", 0, ErrTooLong},
		{"99999999999999999999ns", 0, ErrTooLong},
		{"3651d", 0, ErrTooLong},
		{"99999999999999999999999d", 0, ErrTooLong},
		{"-1h", 0, ErrNegative},
		{"-0s", 0, ErrNegative},
		{"-0", 0, ErrNegative},
		{"0d-1h", 0, ErrNegative},
		{"1d-25h", 0, ErrNegative},
		{"1d-9223372036854775808ns", 0, ErrNegative},
		{"3650d-9223372036m", 0, ErrNegative}, // the Go part alone overflows, downwards
		{"", 0, ErrSyntax},
		{"   ", 0, ErrSyntax},
		{"d", 0, ErrSyntax},
		{"+", 0, ErrSyntax},
		{"-", 0, ErrSyntax},
		{"15", 0, ErrSyntax},
		{"15 m", 0, ErrSyntax},
		{"3 d", 0, ErrSyntax},
		{"1d 12h", 0, ErrSyntax},
		{"1d+", 0, ErrSyntax},
		{"1d1d", 0, ErrSyntax},
		{"3dd", 0, ErrSyntax},
		{"+3d", 0, ErrSyntax},
		{"-1d", 0, ErrSyntax},
		{"-0d", 0, ErrSyntax},
		{"1.5d", 0, ErrSyntax},
		{"x3d", 0, ErrSyntax},
		{"1h2d", 0, ErrSyntax},
		{"1w", 0, ErrSyntax},
		{"abc", 0, ErrSyntax},
		{"1e3s", 0, ErrSyntax},
		{"--1h", 0, ErrSyntax},
		{"+-1h", 0, ErrSyntax},
		{".s", 0, ErrSyntax},
		{"1hm", 0, ErrSyntax},
		{"00", 0, ErrSyntax},
		{"0x10s", 0, ErrSyntax},
		{"\u00a04h", 0, ErrSyntax}, // only ASCII whitespace is trimmed
		{"4h\u0085", 0, ErrSyntax},
		{"1\xb5s", 0, ErrSyntax},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if tt.err == nil {
			if err != nil || got != tt.want {
				t.Errorf("Parse(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			continue
		}
		if !errors.Is(err, tt.err) || got != 0 {
			t.Errorf("Parse(%q) = %v, %v; want error %v", tt.in, got, err, tt.err)
		}
	}
}

func TestParseErrorText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"soon", `invalid duration "soon" (use e.g. 30s, 15m, 4h, 3d, 1d12h)`},
		{" 3 days ", `invalid duration "3 days" (use e.g. 30s, 15m, 4h, 3d, 1d12h)`},
		{"-1s", `duration "-1s" is negative or has a minus sign (use e.g. 30s, 15m, 4h, 3d, 1d12h)`},
		{"0d-1s", `duration "0d-1s" is negative (use e.g. 30s, 15m, 4h, 3d, 1d12h)`},
		{"9999d", `duration "9999d" is too long (at most 3650d)`},
		{"9999999h", `duration "9999999h" is too long (at most about 292 years)`},
		{"a\nb", `invalid duration "a\nb" (use e.g. 30s, 15m, 4h, 3d, 1d12h)`},
	}
	for _, tt := range tests {
		if _, err := Parse(tt.in); err == nil || err.Error() != tt.want {
			t.Errorf("Parse(%q) error %v, want %s", tt.in, err, tt.want)
		}
	}
}

var pattern = regexp.MustCompile(Pattern)

// checkAccepted holds an accepted value to what it must be: never
// negative, matched by the schema Pattern, and the days plus what
// time.ParseDuration makes of the rest.
func checkAccepted(t *testing.T, s string) {
	t.Helper()
	got, err := Parse(s)
	if err != nil {
		if got != 0 {
			t.Errorf("Parse(%q) = %v with error %v", s, got, err)
		}
		if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrNegative) && !errors.Is(err, ErrTooLong) {
			t.Errorf("Parse(%q): error %v has no reason", s, err)
		}
		return
	}
	if got < 0 {
		t.Errorf("Parse(%q) = %v, negative", s, got)
	}
	if !pattern.MatchString(s) {
		t.Errorf("Parse(%q) accepts, Pattern refuses", s)
	}
	v := strings.Trim(s, " \t\n\v\f\r")
	var want time.Duration
	if days, rest, ok := strings.Cut(v, "d"); ok {
		n, _ := strconv.Atoi(days)
		want = time.Duration(n) * day
		v = rest
	}
	if v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("Parse(%q) accepts what time.ParseDuration refuses: %v", s, err)
		}
		want += d
	}
	if got != want {
		t.Errorf("Parse(%q) = %v, want %v", s, got, want)
	}
}

func TestParseRandom(t *testing.T) {
	// Strings built from the syntax's own pieces reach the corners a
	// hand-written table misses; the seed keeps the run repeatable.
	pieces := []string{"0", "1", "2", "9", "12", "3650", "3651", ".", "d", "+", "-", "ns", "us", "µs", "μs", "ms",
		"s", "m", "h", " ", "\t", "x", "e", "99999999999", "2562047", "\xb5", "\u00a0"}
	rng := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	accepted := 0
	for range 100_000 {
		b.Reset()
		if rng.IntN(2) == 0 {
			for range 1 + rng.IntN(8) {
				b.WriteString(pieces[rng.IntN(len(pieces))])
			}
		} else {
			grammarShaped(rng, &b)
		}
		checkAccepted(t, b.String())
		if _, err := Parse(b.String()); err == nil {
			accepted++
		}
	}
	// Both sides must be exercised, or the loop proves nothing.
	if accepted < 1_000 || accepted > 99_000 {
		t.Errorf("%d of 100000 random strings accepted; the generator needs tuning", accepted)
	}
}

// grammarShaped writes [days][sign] number unit ..., mostly valid, so the
// random check also covers values, overflow and negative totals.
func grammarShaped(rng *rand.Rand, b *strings.Builder) {
	numbers := []string{"0", "1", "12", "365", "3650", "3651", "2562047", "9223372036", "99999999999999999999", "1.5", ".5", "1.", "0.000000001", "86400"}
	units := []string{"ns", "us", "µs", "μs", "ms", "s", "m", "h"}
	if rng.IntN(2) == 0 {
		b.WriteString(numbers[rng.IntN(5)])
		b.WriteString("d")
	}
	b.WriteString([]string{"", "", "+", "-"}[rng.IntN(4)])
	for range rng.IntN(4) {
		b.WriteString(numbers[rng.IntN(len(numbers))])
		b.WriteString(units[rng.IntN(len(units))])
	}
}

func TestPatternRefusesNonDurations(t *testing.T) {
	for _, s := range []string{"", "soon", "15 m", "1w", "-1h", "1d 12h", "x3d", "3 days"} {
		if pattern.MatchString(s) {
			t.Errorf("Pattern accepts %q", s)
		}
	}
}

func TestDurationYAMLAndJSON(t *testing.T) {
	var y struct{ D Duration }
	if err := yaml.Unmarshal([]byte("d: 1d12h"), &y); err != nil || y.D.D() != 36*time.Hour {
		t.Fatalf("yaml: %v, %v", y.D.D(), err)
	}
	var te *yaml.TypeError
	if err := yaml.Unmarshal([]byte("d: [1h]"), &y); !errors.As(err, &te) || te.Errors[0] != "line 1: column 4: expected a duration (use e.g. 30s, 15m, 4h, 3d, 1d12h)" {
		t.Errorf("yaml list: error %v, want a positioned type error", err)
	}
	if err := yaml.Unmarshal([]byte("x: 1\nd: -1h"), &y); !errors.As(err, &te) || !strings.HasPrefix(te.Errors[0], `line 2: column 4: duration "-1h" is negative`) {
		t.Errorf("yaml -1h: error %v, want a positioned type error", err)
	}
	var j struct{ D Duration }
	if err := json.Unmarshal([]byte(`{"D":"90m"}`), &j); err != nil || j.D.D() != 90*time.Minute {
		t.Fatalf("json: %v, %v", j.D.D(), err)
	}
	if out, err := json.Marshal(j); err != nil || string(out) != `{"D":"1h30m0s"}` {
		t.Errorf("json out: %s, %v", out, err)
	}
	if err := json.Unmarshal([]byte(`{"D":"3dd"}`), &j); !errors.Is(err, ErrSyntax) {
		t.Errorf("json 3dd: error %v, want ErrSyntax", err)
	}
}

// FuzzParse holds Parse to checkAccepted on any string.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"30s", "1d12h", "1d-1h", "3651d", "-0", "2562048h", "3650d-9223372036m", " 4h "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkAccepted(t, s)
	})
}

func BenchmarkParse(b *testing.B) {
	for b.Loop() {
		if _, err := Parse("1d12h30m"); err != nil {
			b.Fatal(err)
		}
	}
}
