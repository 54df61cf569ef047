// Package boundedfile owns reading the files an admin names — triage.yaml,
// rules and rule-test files, holiday calendars, templates, key, token and
// secret files, mail samples — with a size bound. It refuses what is not a
// regular file before opening it (opening a FIFO blocks; /dev/zero never
// ends) and reads one byte past the bound at most, so a huge file or one
// replaced since it was listed is refused rather than read whole. It knows
// nothing of what the files mean.
package boundedfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Errors Read refuses a file with; callers test them with errors.Is and
// say what the file was for.
var (
	ErrTooLarge   = errors.New("file too large")
	ErrNotRegular = errors.New("not a regular file")
)

// Read returns the content of the regular file at path, of at most max
// bytes. Symbolic links are followed; the checks hold for what is opened.
// Its errors name the path, as the os package's do (*fs.PathError).
func Read(path string, max int64) ([]byte, error) {
	if st, err := os.Stat(path); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: path, Err: ErrNotRegular} // before opening: opening a FIFO blocks
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	if st, err := f.Stat(); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: path, Err: ErrNotRegular} // replaced between the two looks
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w (over %d bytes)", ErrTooLarge, max)}
	}
	return data, nil
}
