package rules

import (
	"slices"
	"testing"
)

func TestLintImpliedByEarlierRule(t *testing.T) {
	src := `version: 1
defaults: {tier: L1, priority: P3, queue: helpdesk}
lists:
  security_words: [phishing, ransomware, breach]
rules:
  - name: security
    when: containsAny(text, security_words)
    set: {tier: L3}
    stop: true
  - name: phishing
    when: containsAny(text, ["phishing"])
  - name: vip-breach
    when: containsAny(text, ["breach"]) and from.domain == "example.com"
  - name: subject-only
    when: containsAny(subject, ["phishing"])
  - name: wider
    when: containsAny(text, ["phishing", "spam"])
  - name: all-words
    when: containsAll(body, ["a", "b"])
    stop: true
  - name: all-more
    when: containsAll(body, ["a", "b", "c"])
  - name: all-fewer
    when: containsAll(body, ["a"])
  - group: guarded
    when: containsAny(text, ["breach"])
    rules:
      - name: guarded-any
        when: size > 0
  - group: tier
    first_match: true
    rules:
      - name: network
        when: containsAnyWord(text, ["vpn", "dns", "wifi"])
      - name: vpn-or-dns
        when: containsAnyWord(text, ["vpn"]) or containsAnyWord(text, ["dns"])
      - name: wifi-and-more
        when: containsAnyWord(text, ["wifi"]) and size > 3
      - name: big
        when: size > 10
      - name: big-again
        when: size > 10
      - name: small
        when: size < 10
`
	s := mustLoad(t, src)
	var got []string
	for _, w := range s.Warnings {
		got = append(got, w.Error())
	}
	want := []string{
		`r.yaml:10:5: rule "phishing" can never fire: rule "security" (r.yaml:6) stops whenever this one would match`,
		`r.yaml:12:5: rule "vip-breach" can never fire: rule "security" (r.yaml:6) stops whenever this one would match`,
		`r.yaml:21:5: rule "all-more" can never fire: rule "all-words" (r.yaml:18) stops whenever this one would match`,
		`r.yaml:28:9: rule "guarded-any" can never fire: rule "security" (r.yaml:6) stops whenever this one would match`,
		`r.yaml:35:9: rule "vpn-or-dns" can never fire: rule "network" (r.yaml:33) matches first in this first_match group whenever this one would`,
		`r.yaml:37:9: rule "wifi-and-more" can never fire: rule "network" (r.yaml:33) matches first in this first_match group whenever this one would`,
		`r.yaml:41:9: rule "big-again" can never fire: rule "big" (r.yaml:39) matches first in this first_match group whenever this one would`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", join(got), join(want))
	}
}

func join(l []string) string {
	out := ""
	for _, s := range l {
		out += "  " + s + "\n"
	}
	return out
}
