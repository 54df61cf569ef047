package oauth

import (
	"encoding/base64"
	"testing"
)

func TestJWTExpiry(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name  string
		token string
		want  int64
		ok    bool
	}{
		{"jwt", enc(`{"alg":"RS256"}`) + "." + enc(`{"exp":1795000000,"aud":"https://outlook.office.com"}`) + ".sig", 1795000000, true},
		{"float exp", enc(`{}`) + "." + enc(`{"exp":1795000000.0}`) + ".s", 1795000000, true},
		{"opaque google token", "ya29.a0AfH6SMBxyz", 0, false},
		{"no exp", enc(`{}`) + "." + enc(`{"sub":"x"}`) + ".s", 0, false},
		{"garbage payload", "a.!!!.c", 0, false},
		{"empty", "", 0, false},
		{"exp far past any date", enc(`{}`) + "." + enc(`{"exp":1e300}`) + ".s", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := JWTExpiry(tt.token)
			if ok != tt.ok || (ok && got.Unix() != tt.want) {
				t.Errorf("JWTExpiry = %v, %v; want %v, %v", got.Unix(), ok, tt.want, tt.ok)
			}
		})
	}
}

// FuzzJWTExpiry: access tokens come from the token endpoint, outside.
func FuzzJWTExpiry(f *testing.F) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	f.Add(enc(`{}`) + "." + enc(`{"exp":1795000000}`) + ".s")
	f.Add("ya29.opaque")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, tok string) {
		if exp, ok := JWTExpiry(tok); ok && exp.Unix() <= 0 {
			t.Errorf("JWTExpiry(%q) = %v", tok, exp)
		}
	})
}
