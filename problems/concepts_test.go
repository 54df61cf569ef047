package problems

import (
	"slices"
	"strings"
	"testing"
)

// TestLexicon: the embedded lexicon parses and is the size of a help
// desk's vocabulary, and its forms match in token order, the longest
// first, accents and case folded, across scripts.
func TestLexicon(t *testing.T) {
	l, err := parseLexicon(conceptsYAML)
	if err != nil {
		t.Fatal(err)
	}
	concepts := map[string]bool{}
	for _, ps := range l.byFirst {
		for _, p := range ps {
			concepts[p.concept] = true
		}
	}
	if len(concepts) < 60 || len(concepts) > 120 || l.forms < 1000 {
		t.Errorf("%d concepts, %d forms; want 60 to 120 concepts and at least 1,000 forms", len(concepts), l.forms)
	}
	tests := []struct {
		text string
		mode conceptMode
		want []string
	}{
		{"Outlook fragt ständig nach Passwort", conceptReplace, []string{"outlook", "#prompt", "#repeat", "nach", "#password"}},
		{"demande le MOT DE PASSE en boucle", conceptReplace, []string{"#prompt", "le", "#password", "#repeat"}},
		{"pide la contraseña todo el rato", conceptReplace, []string{"#prompt", "la", "#password", "#repeat"}},
		{"pide la contrasena", conceptReplace, []string{"#prompt", "la", "#password"}},
		{"비밀번호를 재설정", conceptReplace, []string{"#password", "호를", "#reset"}},
		{"パスワードの期限", conceptReplace, []string{"#password", "トの", "の期", "期限"}}, // folding drops the voicing mark: ド is ト
		{"密码错误", conceptReplace, []string{"#password", "码错", "#error"}},
		{"Zugriff verweigert", conceptReplace, []string{"#denied"}},
		{"kein Zugriff", conceptReplace, []string{"kein", "#access"}},
		{"station d'accueil", conceptReplace, []string{"#dock"}},
		{"message d'accueil", conceptReplace, []string{"#message", "accueil"}},
		{"la red no funciona", conceptReplace, []string{"#network", "#not_working"}},
		{"red light", conceptReplace, []string{"red", "light"}},
		{"mise à jour", conceptReplace, []string{"#update"}},
		{"mot de", conceptReplace, []string{"mot", "de"}},
		{"mot de passe", conceptAdd, []string{"mot", "de", "passe", "#password"}},
		{"mot de passe", noConcepts, []string{"mot", "de", "passe"}},
	}
	for _, tt := range tests {
		got := l.apply(Tokens(fold(nil, tt.text)), tt.mode)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%q (mode %d): %q, want %q", tt.text, tt.mode, got, tt.want)
		}
	}
	if got := conceptWord("#not_working") + "," + conceptWord("prn-3og-01"); got != "not working,prn-3og-01" {
		t.Errorf("conceptWord: %q", got)
	}
}

func TestParseLexiconErrors(t *testing.T) {
	tests := []struct {
		yaml, err string
	}{
		{"password: [password", "concept lexicon: yaml"},
		{"password: ['']", `form "" has 0 words`},
		{"password: ['- .']", `form "- ." has 0 words`},
		{"floor: [階]", `form "階" has a word of one character`},
		{"password: [aa bb cc dd ee ff gg hh ii jj kk]", "has 11 words"},
		{"password: [kennwort]\nsecret: [Kennwort]", "is also a form of"},
		{"'': [kennwort]", "has no name"},
	}
	for _, tt := range tests {
		_, err := parseLexicon([]byte(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%q: error %v, want %q", tt.yaml, err, tt.err)
		}
	}
	// Forms equal once folded are one form of one concept.
	l, err := parseLexicon([]byte("microphone: [micrófono, microfono]"))
	if err != nil || l.forms != 1 {
		t.Errorf("accent variants: %v, %d forms; want 1", err, l.forms)
	}
}
