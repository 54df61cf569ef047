// Package duration owns the one duration syntax of triage.yaml, the queue
// configs and the rules' SLA targets, so that a value an admin writes in one
// place means the same in every other: a Go duration (30s, 15m, 1h30m),
// whole days (3d), or whole days followed by a signed Go duration (1d12h,
// 1d-1h = 23h). Surrounding ASCII whitespace is ignored. The result is
// never negative, a lone Go duration may not carry a minus sign, and values
// beyond MaxDays or time.Duration's range are refused, never wrapped.
package duration

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// MaxDays is the largest whole-day count Parse accepts (about ten years).
const MaxDays = 3650

// Examples is the hint every syntax error carries.
const Examples = "use e.g. 30s, 15m, 4h, 3d, 1d12h"

// Pattern is the JSON-schema pattern editors check durations with. It is a
// hint, not a second grammar: it accepts everything Parse accepts and
// refuses what is plainly not a duration; Parse has the last word.
const Pattern = `^[\t\n\v\f\r ]*(` + days + `([-+]?` + goDur + `)?|\+?` + goDur + `)[\t\n\v\f\r ]*$`

// days is 0..MaxDays whole days; goDur the shape of a Go duration.
const days = `0*([0-9]{1,3}|[12][0-9]{3}|3[0-5][0-9]{2}|36[0-4][0-9]|3650)d`
const goDur = `(0|([0-9.]+(ns|us|µs|μs|ms|s|m|h))+)`

// The reasons Parse gives; test them with errors.Is.
var (
	// ErrSyntax: the text is not a duration at all.
	ErrSyntax = errors.New("invalid duration")
	// ErrNegative: the value is negative, or a lone Go duration has a minus sign.
	ErrNegative = errors.New("negative duration")
	// ErrTooLong: more than MaxDays days, or beyond time.Duration's range.
	ErrTooLong = errors.New("duration too long")
)

// parseError carries a message for people and a reason for code.
type parseError struct {
	msg    string
	reason error
}

func (e *parseError) Error() string { return e.msg }
func (e *parseError) Unwrap() error { return e.reason }

func fail(reason error, format, value string) error {
	return &parseError{msg: fmt.Sprintf(format, value), reason: reason}
}

// digitRuns finds the numbers of a Go duration; see goError.
var digitRuns = regexp.MustCompile(`[0-9]+`)

// Parse reads a duration in the syntax of the package comment.
func Parse(s string) (time.Duration, error) {
	v := strings.Trim(s, " \t\n\v\f\r")
	goPart, days := v, time.Duration(0)
	if i := strings.IndexByte(v, 'd'); i >= 0 {
		// ParseUint takes digits only: no sign, no fraction, no base prefix.
		n, err := strconv.ParseUint(v[:i], 10, 64)
		switch {
		case errors.Is(err, strconv.ErrRange) || err == nil && n > MaxDays:
			return 0, fail(ErrTooLong, `duration %q is too long (at most 3650d)`, v)
		case err != nil:
			return 0, fail(ErrSyntax, `invalid duration %q (`+Examples+`)`, v)
		}
		days, goPart = time.Duration(n)*24*time.Hour, v[i+1:]
		if goPart == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(goPart)
	switch {
	case err != nil:
		return 0, goError(v, goPart)
	case days == 0 && goPart == v && v[0] == '-':
		return 0, fail(ErrNegative, `duration %q is negative or has a minus sign (`+Examples+`)`, v)
	case d > 0 && days > math.MaxInt64-d:
		return 0, fail(ErrTooLong, `duration %q is too long (at most about 292 years)`, v)
	case days+d < 0:
		return 0, fail(ErrNegative, `duration %q is negative (`+Examples+`)`, v)
	}
	return days + d, nil
}

// goError tells a Go part that is out of range from one that is not a
// duration: time.ParseDuration gives the same error for both, but the size
// of a number never makes the syntax wrong, so with every number made 1 an
// out-of-range value parses and a malformed one still does not.
func goError(v, goPart string) error {
	if _, err := time.ParseDuration(digitRuns.ReplaceAllString(goPart, "1")); err != nil {
		return fail(ErrSyntax, `invalid duration %q (`+Examples+`)`, v)
	}
	if goPart[0] == '-' {
		return fail(ErrNegative, `duration %q is negative (`+Examples+`)`, v)
	}
	return fail(ErrTooLong, `duration %q is too long (at most about 292 years)`, v)
}

// Duration is a config value in this syntax; it reads from YAML and JSON
// strings and writes JSON as a Go duration string.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML accepts what Parse accepts. Its error is a *yaml.TypeError
// ("line L: column C: …"), so a strict decoder records it and goes on to
// report the file's other problems too.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	msg := "expected a duration (" + Examples + ")"
	if n.Kind == yaml.ScalarNode {
		v, err := Parse(n.Value)
		if err == nil {
			*d = Duration(v)
			return nil
		}
		msg = err.Error()
	}
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: column %d: %s", n.Line, n.Column, msg)}}
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string, the same syntax as in YAML.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	v, err := Parse(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}
