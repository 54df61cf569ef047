package rules

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/triage-dev/triage/internal/fileerr"
	"github.com/triage-dev/triage/ticket"
)

// FuzzLoad feeds arbitrary bytes to the loader: it must never panic, every
// error must carry a position, and a set that loads must evaluate.
func FuzzLoad(f *testing.F) {
	if data, err := os.ReadFile(filepath.Join("testdata", "typical.yaml")); err == nil {
		f.Add(data)
	}
	f.Add([]byte(evalRules))
	f.Add([]byte(head + "rules:\n  - name: a\n    when: |\n      containsAnyWord(text, [\"x\"]) and\n        header(\"a\") == \"b\"\n"))
	f.Add([]byte("version: 1\nrules: [\n"))
	f.Add([]byte("\x00\xff"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := LoadBytes("fuzz.yaml", data)
		if err != nil {
			var list fileerr.List
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error is not a non-empty fileerr.List: %T %v", err, err)
			}
			for _, e := range list {
				if e.Line < 1 || e.Col < 1 || e.File != "fuzz.yaml" || strings.ContainsAny(e.Msg, "\r") {
					t.Fatalf("badly positioned error %q", e.Error())
				}
			}
			return
		}
		env := Env{Subject: "Password VPN", Body: "パスワード 0x80070005", Text: "Password VPN パスワード", Size: 5000,
			Headers: map[string]string{"X-A": "b"}, Attachments: []ticket.Attachment{{Name: "a.log", Size: 10}}}
		d := s.EvaluateTrace(NewEvaluator(), &env)
		if d.Action != "forward" && d.Action != "drop" {
			t.Fatalf("action %q", d.Action)
		}
		_ = s.Queues()
	})
}

// FuzzIndex checks that the automaton finds exactly what a plain search
// finds, as substrings and as words.
func FuzzIndex(f *testing.F) {
	f.Add("the vpn password パスワード", "vpn,pass,word,パス,ss w")
	f.Add("aaaa", "a,aa,aaa")
	f.Add("straße STRASSE", "ß,straße,e s")
	f.Add("The VPN Password", "vpn,pass")
	f.Fuzz(func(t *testing.T, raw, list string) {
		text := strings.ToLower(raw)
		words := strings.Split(strings.ToLower(list), ",")
		src := &textSource{needleIdx: map[string]int32{}, parts: []sourcePart{{field: fieldText}}}
		src.addNeedles(words)
		if len(src.needles) == 0 {
			return
		}
		withAC := *src
		withAC.ac = buildAutomaton(src.needles)
		if withAC.ac == nil {
			return
		}
		// The index reads the raw field: ASCII as it is, other text lowered.
		env := &Env{Text: raw}
		var x MatchIndex
		x.reset([]*textSource{&withAC}, env)
		for id, w := range src.needles {
			if got, want := x.has(0, int32(id), false), strings.Contains(text, w); got != want {
				t.Fatalf("%q in %q: automaton %v, plain %v", w, text, got, want)
			}
			if got, want := x.has(0, int32(id), true), containsWord(text, w); got != want {
				t.Fatalf("word %q in %q: automaton %v, plain %v", w, text, got, want)
			}
		}
	})
}
