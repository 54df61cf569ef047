package rules

import (
	"strings"
	"testing"
)

func benchSource(n int) *textSource {
	src := &textSource{needleIdx: map[string]int32{}, parts: []sourcePart{{field: fieldBody}}}
	words := make([]string, n)
	for i := range words {
		words[i] = benchWords[i%len(benchWords)] + strings.Repeat("x", i/len(benchWords))
	}
	src.addNeedles(words)
	return src
}

func BenchmarkScanAutomaton(b *testing.B) {
	for _, n := range []int{8, 24, 64} {
		b.Run(strings.Repeat("n", 0)+itoa(n), func(b *testing.B) {
			src := benchSource(n)
			src.ac = buildAutomaton(src.needles)
			env := benchEnv()
			env.BodyLower = strings.ToLower(env.Body)
			var x MatchIndex
			for b.Loop() {
				x.reset([]*textSource{src}, env)
				x.scan(0)
			}
		})
	}
}

func BenchmarkScanEachNeedle(b *testing.B) {
	for _, n := range []int{8, 24, 64} {
		b.Run(itoa(n), func(b *testing.B) {
			src := benchSource(n)
			env := benchEnv()
			env.BodyLower = strings.ToLower(env.Body)
			var x MatchIndex
			for b.Loop() {
				x.reset([]*textSource{src}, env)
				for id := range src.needles {
					x.has(0, int32(id), false)
				}
			}
		})
	}
}

func itoa(n int) string {
	return strings.TrimLeft(string([]byte{byte('0' + n/10%10), byte('0' + n%10)}), "0")
}
