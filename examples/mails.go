package examples

import (
	"bytes"
	"fmt"
	"io/fs"
	"sort"
)

// Mail is one sample mail of mail/*.eml.
type Mail struct {
	Name string // path within Files
	Raw  []byte // with CRLF line ends, as an IMAP server stores mail
}

// Mails returns every sample mail, sorted by name.
func Mails() ([]Mail, error) {
	names, err := fs.Glob(Files, "mail/*.eml")
	if err != nil {
		return nil, fmt.Errorf("example mail: %w", err)
	}
	sort.Strings(names)
	out := make([]Mail, 0, len(names))
	for _, n := range names {
		b, err := fs.ReadFile(Files, n)
		if err != nil {
			return nil, fmt.Errorf("example mail: %w", err)
		}
		out = append(out, Mail{Name: n, Raw: ToCRLF(b)})
	}
	return out, nil
}

// ToCRLF ends every line of b with CRLF, whatever it ended with.
func ToCRLF(b []byte) []byte {
	return bytes.ReplaceAll(bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
}
