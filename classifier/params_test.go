package classifier

import (
	"strings"
	"testing"
)

// A hostile Content-Type with a million ';' must not cost a million strings.
func TestSplitParamsBounded(t *testing.T) {
	tests := []struct {
		name string
		v    string
		want int
	}{
		{"normal", `attachment; filename="a;b.txt"; size=3`, 3},
		{"million semicolons", "text/plain" + strings.Repeat(";", 1_000_000), maxParams},
		{"exactly the bound", strings.Repeat("a;", maxParams-1) + "a", maxParams},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := len(splitParams(tt.v)); got != tt.want {
				t.Errorf("len(splitParams) = %d, want %d", got, tt.want)
			}
		})
	}
	raw, _, _, ok := headerParam("attachment; filename=ok.txt"+strings.Repeat(";", 1_000_000), "filename")
	if !ok || string(raw) != "ok.txt" {
		t.Errorf("filename before the flood = %q, %v", raw, ok)
	}
}
