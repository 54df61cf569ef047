package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTestMailConfined: a rules file's test mail must be a regular file
// inside the rules directory's tree and within MaxTestMailBytes.
func TestTestMailConfined(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "rules")
	must(t, os.MkdirAll(filepath.Join(dir, "mail"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "mail", "ok.eml"), []byte("Subject: ok\n\nbody\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "secret.conf"), []byte("Subject: s\n\npassword=hunter2\n"), 0o600))
	must(t, os.Symlink(filepath.Join(root, "secret.conf"), filepath.Join(dir, "mail", "link.eml")))
	big, err := os.Create(filepath.Join(dir, "mail", "big.eml"))
	must(t, err)
	must(t, big.Truncate(MaxTestMailBytes+1))
	must(t, big.Close())
	atBound, err := os.Create(filepath.Join(dir, "mail", "at-bound.eml"))
	must(t, err)
	must(t, atBound.Truncate(MaxTestMailBytes))
	must(t, atBound.Close())

	tests := []struct{ mail, want string }{
		{"mail/ok.eml", ""},
		{"/dev/zero", "/dev/zero is outside"},
		{"../secret.conf", "secret.conf is outside"},
		{filepath.Join(root, "secret.conf"), "secret.conf is outside"},
		{"mail/link.eml", "link.eml is outside"},
		{"mail/big.eml", "big.eml is larger than 25 MiB"},
		{"mail/at-bound.eml", ""},
		{"mail", "mail is not a regular file"},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, "rules.yaml")
		src := "version: 1\ndefaults: {tier: L1, priority: P3, queue: helpdesk}\nrules:\n  - {name: a, when: 'true'}\ntests:\n  - name: t\n    mail: " + tt.mail + "\n    expect: {tier: L1}\n"
		must(t, os.WriteFile(path, []byte(src), 0o644))
		_, err := Load(path)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.mail, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "rules.yaml:7:11: mail: ")):
			t.Errorf("%s: error %v, want one at rules.yaml:7:11 containing %q", tt.mail, err, tt.want)
		}
	}
	// /dev/zero is refused as not regular even where no tree applies.
	if _, err := testMailPath(dir, "/dev/zero", true); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("/dev/zero from a test file: %v", err)
	}
	// Replaced by something else after loading: the read checks again.
	if _, err := ReadTestMail("/dev/zero"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("ReadTestMail(/dev/zero): %v", err)
	}
	if raw, err := ReadTestMail(filepath.Join(dir, "mail", "ok.eml")); err != nil || string(raw) != "Subject: ok\n\nbody\n" {
		t.Errorf("ReadTestMail(ok.eml) = %q, %v", raw, err)
	}
}

// TestFieldFailureDoesNotEchoMail: a failing fields expectation names the
// extracted value by a few characters and its length, never in full.
func TestFieldFailureDoesNotEchoMail(t *testing.T) {
	s := mustLoad(t, "version: 1\ndefaults: {tier: L1, priority: P3, queue: helpdesk}\nrules:\n  - name: all\n    when: 'true'\n    extract: {secret: '(?s)(.*)'}\n")
	secret := "password=hunter2 and the rest of /etc/secret.conf"
	res := s.RunTests([]Test{{Name: "t", Expect: Expect{Fields: map[string]string{"secret": "x"}}}}, func(Test) (*Env, error) {
		return &Env{Body: secret, Text: secret}, nil
	})
	want := "fields.secret: got password…(49 bytes), want x"
	if len(res) != 1 || len(res[0].Failures) != 1 || res[0].Failures[0] != want {
		t.Fatalf("failures %q, want [%q]", res[0].Failures, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
