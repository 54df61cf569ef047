package queue

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Error is a delivery failure with its retry class.
type Error struct {
	Temporary  bool          // worth retrying: the peer may accept it later
	RetryAfter time.Duration // the peer's own hint, 0 when it gave none
	Err        error
}

func (e *Error) Error() string {
	kind := "permanent"
	if e.Temporary {
		kind = "temporary"
	}
	if e.Err == nil {
		return kind + " delivery failure"
	}
	return kind + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether err is worth retrying. Errors that say nothing
// about their class (network failures, context ends) count as temporary:
// losing a ticket is worse than retrying one.
func Temporary(err error) bool {
	return err != nil && asError(err).Temporary
}

func permanent(format string, a ...any) *Error {
	return &Error{Err: fmt.Errorf(format, a...)}
}

func temporary(format string, a ...any) *Error {
	return &Error{Temporary: true, Err: fmt.Errorf(format, a...)}
}

// asError classifies any error as a *Error, keeping an existing class.
func asError(err error) *Error {
	var qe *Error
	if errors.As(err, &qe) {
		return qe
	}
	return &Error{Temporary: true, Err: err}
}

// ctxTemporary turns a context end into a temporary error with context.
func ctxTemporary(ctx context.Context, what string) *Error {
	return &Error{Temporary: true, Err: fmt.Errorf("%s: %w", what, context.Cause(ctx))}
}
