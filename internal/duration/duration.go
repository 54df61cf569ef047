// Package duration parses the one duration syntax shared by triage.yaml,
// the queue configs and the rules' SLA targets, so that a value an admin
// writes in one place means the same in every other.
//
// Grammar (after removing surrounding ASCII whitespace, " \t\n\v\f\r"):
//
//	duration = days [ sign ] [ godur ]   whole days, then optionally a Go duration: 3d, 1d12h, 1d-1h (= 23h)
//	         | [ "+" ] godur             a Go duration alone: 90s, 1h30m, +4h
//	days     = digit { digit } "d"        at most MaxDays (3650), leading zeros allowed
//	godur    = what time.ParseDuration accepts after its sign: "0", or one or
//	           more of number unit, number = 12 | 1.5 | 1. | .5,
//	           unit = ns | us | µs | μs | ms | s | m | h
//
// The result is never negative: "0d-1h" is refused. A Go duration alone may
// not carry a minus sign at all, even when it is zero ("-0s", "-0"): a minus
// is only meaningful after days, and refusing it there keeps the schema
// pattern simple. Zero ("0", "0s", "0d") is accepted; callers that need a
// positive value check that themselves. Values beyond time.Duration's range
// (about 292 years, e.g. "3650d2562047h") are refused, never wrapped.
package duration

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
)

// MaxDays is the largest whole-day count Parse accepts (about ten years).
const MaxDays = 3650

// Examples is the hint every syntax error carries.
const Examples = "use e.g. 30s, 15m, 4h, 3d, 1d12h"

// Pattern is a JSON-schema (ECMA-262 and Go RE2 compatible) regular
// expression for the same grammar as Parse, days capped at MaxDays included.
// It accepts two things Parse refuses, which a regular expression cannot
// weigh: a total that is negative ("0d-1h", "1d-25h") and a total beyond
// time.Duration's range (about 292 years, e.g. "3000000h"). Everything else
// Parse refuses, the pattern refuses too, and it accepts everything Parse
// accepts.
const Pattern = `^` + space + `(` + daysPart + `([-+]?` + goDurationBody + `)?|\+?` + goDurationBody + `)` + space + `$`

const (
	// asciiSpace is what Parse trims; space is the same set for Pattern.
	asciiSpace = " \t\n\v\f\r"
	space      = `[\t\n\v\f\r ]*`
	// daysPart is 0..MaxDays whole days, leading zeros allowed.
	daysPart = `0*([0-9]{1,3}|[12][0-9]{3}|3[0-5][0-9]{2}|36[0-4][0-9]|3650)d`
	// goDurationBody matches what time.ParseDuration accepts after the sign.
	goDurationBody = `(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)`
)

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

// Parse reads a duration in the grammar of the package comment.
func Parse(s string) (time.Duration, error) {
	v := strings.Trim(s, asciiSpace)
	rest := v
	var days time.Duration
	if i := strings.IndexByte(v, 'd'); i >= 0 {
		n, ok := wholeDays(v[:i])
		rest = v[i+1:]
		unsigned := rest
		if rest != "" && (rest[0] == '+' || rest[0] == '-') {
			unsigned = rest[1:]
		}
		if !ok || (rest != "" && !goSyntax(unsigned)) {
			return 0, fail(ErrSyntax, `invalid duration %q (`+Examples+`)`, v)
		}
		if n > MaxDays {
			return 0, fail(ErrTooLong, `duration %q is too long (at most 3650d)`, v)
		}
		days = time.Duration(n) * 24 * time.Hour
		if rest == "" {
			return days, nil
		}
	} else {
		unsigned := rest
		if rest != "" && (rest[0] == '+' || rest[0] == '-') {
			unsigned = rest[1:]
		}
		if !goSyntax(unsigned) {
			return 0, fail(ErrSyntax, `invalid duration %q (`+Examples+`)`, v)
		}
		if rest[0] == '-' {
			return 0, fail(ErrNegative, `duration %q is negative or has a minus sign (`+Examples+`)`, v)
		}
	}
	d, err := time.ParseDuration(rest)
	if err != nil {
		// The syntax is checked above, so only the range is left to fail;
		// a negative Go part that large outweighs any MaxDays days.
		if rest[0] == '-' {
			return 0, fail(ErrNegative, `duration %q is negative (`+Examples+`)`, v)
		}
		return 0, fail(ErrTooLong, `duration %q is too long (at most about 292 years)`, v)
	}
	if d > 0 && days > math.MaxInt64-d {
		return 0, fail(ErrTooLong, `duration %q is too long (at most about 292 years)`, v)
	}
	if days+d < 0 {
		return 0, fail(ErrNegative, `duration %q is negative (`+Examples+`)`, v)
	}
	return days + d, nil
}

// wholeDays reads the decimal digits before "d"; past MaxDays it returns
// MaxDays+1 rather than overflowing.
func wholeDays(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = min(n*10+int(c-'0'), MaxDays+1)
	}
	return n, true
}

// goSyntax reports whether s (without sign) is in time.ParseDuration's
// grammar, by the same expression Pattern uses; checked here so that a
// ParseDuration error can only mean "out of range" and the two error
// kinds get honest messages.
func goSyntax(s string) bool { return goDuration.MatchString(s) }

var goDuration = regexp.MustCompile(`^` + goDurationBody + `$`)
