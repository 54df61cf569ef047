package classifier

import (
	"strings"
	"testing"
)

func TestUnflow(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		delSp bool
		want  string
	}{
		{"fixed lines stay", "one\ntwo\n\nthree", false, "one\ntwo\n\nthree"},
		{"soft break joins", "my disk is \nfull since \nMonday.\nThanks", false, "my disk is full since Monday.\nThanks"},
		{"delsp drops the space", "my disk is \nfull\n", true, "my disk isfull\n"},
		{"delsp between word halves", "Verbindungs \nabbruch", true, "Verbindungsabbruch"},
		{"stuffing dropped", " From the office:\n >not a quote", false, "From the office:\n>not a quote"},
		{"stuffed continuation", "see \n From here", false, "see From here"},
		{"quoted paragraph joins, marks kept", "> the server \n> is down\nok", false, "> the server is down\nok"},
		{"nested quotes", ">> old \n>> text\n> new \n> text", false, ">> old text\n> new text"},
		{"quote depth change ends a paragraph", "> quoted \nunquoted", false, "> quoted \nunquoted"},
		{"marks without space", ">>deep \n>>er", false, ">>deep er"},
		{"signature separator starts a line", "Ann \n-- \nAnn Example", false, "Ann \n-- \nAnn Example"},
		{"separator alone", "body\n-- \nsig", false, "body\n-- \nsig"},
		{"flowed line before blank ends the paragraph", "para \n\nnext", false, "para \nnext"},
		{"trailing soft break", "end ", false, "end "},
		{"empty", "", false, ""},
		{"only newlines", "\n\n", false, "\n\n"},
		{"unicode", "Grüße aus \nKöln", true, "Grüße ausKöln"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := unflow(tt.in, tt.delSp); got != tt.want {
				t.Errorf("unflow(%q, %v) = %q, want %q", tt.in, tt.delSp, got, tt.want)
			}
		})
	}
}

// FuzzUnflow: never longer than its input, never more lines, and text
// with no soft breaks and no stuffing comes back unchanged.
func FuzzUnflow(f *testing.F) {
	for _, s := range []string{"a \nb", "> x \n> y", " From\n", "-- \n", "", "\n", ">> \n>>"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, delSp bool) {
		got := unflow(s, delSp)
		if len(got) > len(s) {
			t.Fatalf("unflow(%q) = %q, longer than its input", s, got)
		}
		if strings.Count(got, "\n") > strings.Count(s, "\n") {
			t.Fatalf("unflow(%q) = %q, more lines than its input", s, got)
		}
		plain := true
		for line := range strings.SplitSeq(s, "\n") {
			content := strings.TrimLeft(line, ">")
			if strings.HasSuffix(line, " ") || (strings.HasPrefix(content, " ") && len(content) == len(line)) {
				plain = false
			}
		}
		if plain && got != s {
			t.Fatalf("unflow(%q) = %q, want it unchanged (no soft break, no stuffing)", s, got)
		}
	})
}
