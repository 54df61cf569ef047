// Package fileerr owns the one error type for a problem at a place in a
// file a person edits (rules files, triage.yaml): file:line:col, as editors
// and CI annotations read it. It knows nothing of what the file means.
package fileerr

import (
	"errors"
	"fmt"
	"strings"
)

// Error is one problem in a file, positioned for a person and an editor.
type Error struct {
	File string
	Line int // 1-based
	Col  int // 1-based
	Msg  string
}

func (e Error) Error() string { return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg) }

// List is every problem found in one pass over a file or a set of files.
type List []Error

// Of returns the positioned problems err carries, a List or one Error,
// wrapped or not; nil when it carries none.
func Of(err error) List {
	var list List
	if errors.As(err, &list) && len(list) > 0 {
		return list
	}
	var one Error
	if errors.As(err, &one) {
		return List{one}
	}
	return nil
}

func (l List) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}
