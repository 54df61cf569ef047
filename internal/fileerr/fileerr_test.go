package fileerr

import (
	"errors"
	"fmt"
	"slices"
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

func TestOf(t *testing.T) {
	one := Error{File: "r.yaml", Line: 2, Col: 3, Msg: "bad"}
	tests := []struct {
		name string
		err  error
		want List
	}{
		{"list", fmt.Errorf("load: %w", List{one, one}), List{one, one}},
		{"one error", fmt.Errorf("load: %w", one), List{one}},
		{"empty list", List{}, nil},
		{"plain", errors.New("no place"), nil},
	}
	for _, tt := range tests {
		if got := Of(tt.err); !slices.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
			t.Errorf("%s: Of = %v, want %v", tt.name, got, tt.want)
		}
	}
}
