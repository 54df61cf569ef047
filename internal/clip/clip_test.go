package clip

import "testing"

func TestUTF8(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"hello", 10, "hello"}, {"hello", 3, "hel"}, {"hello", -1, ""},
		{"日本語", 4, "日"}, {"日本語", 6, "日本"}, {"日本語", 2, ""}, {"\xff\xfe", 1, "\xff"},
	}
	for _, tt := range tests {
		if got := UTF8(tt.in, tt.n); got != tt.want {
			t.Errorf("UTF8(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestHint(t *testing.T) {
	if got := Hint("password=hunter2 and more", 8); got != "password…(25 bytes)" {
		t.Errorf("Hint = %q", got)
	}
	if got := Hint("short", 8); got != "short" {
		t.Errorf("Hint = %q", got)
	}
}

func TestBuffer(t *testing.T) {
	b := &Buffer{Max: 5}
	for _, p := range []string{"abc", "defg", "hij"} {
		if n, err := b.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	if b.String() != "abcde" || b.Written() != 10 {
		t.Errorf("kept %q, written %d; want abcde, 10", b.String(), b.Written())
	}
	var none Buffer
	none.Write([]byte("secret"))
	if none.String() != "" || none.Written() != 6 {
		t.Errorf("Max 0: kept %q, written %d", none.String(), none.Written())
	}
}
