package fileerr

import (
	"errors"
	"fmt"
	"testing"
)

func TestListText(t *testing.T) {
	l := List{{File: "rules.yaml", Line: 3, Col: 9, Msg: "unknown name subjct"}, {File: "b.yaml", Line: 1, Col: 1, Msg: "empty"}}
	want := "rules.yaml:3:9: unknown name subjct\nb.yaml:1:1: empty"
	if l.Error() != want {
		t.Errorf("got %q, want %q", l.Error(), want)
	}
	var got List
	if !errors.As(fmt.Errorf("load: %w", l), &got) || len(got) != 2 || got[0].Line != 3 {
		t.Errorf("errors.As through a wrap: %v", got)
	}
}
