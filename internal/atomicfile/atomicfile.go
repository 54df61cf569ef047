// Package atomicfile owns replacing a file so that a crash leaves either
// the old content or the new, never part of one: the rules file the web
// console saves, the OAuth refresh token. It knows nothing of what the
// files hold.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write replaces name with data. The data goes to a hidden temporary file
// in name's directory (".<name>.*.tmp": a rules directory's loader skips
// it), is synced, gets perm and is renamed over name; then the directory
// is synced, so the rename itself survives a crash.
func Write(name string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(name)
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() { _ = os.Remove(tmp) }() // nothing left to remove after the rename
	if err := writeSynced(f, data, perm); err != nil {
		return fmt.Errorf("%s: %w", tmp, err)
	}
	if err := os.Rename(tmp, name); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer func() { _ = d.Close() }()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// writeSynced writes data to f, sets perm, syncs and closes it.
func writeSynced(f *os.File, data []byte, perm os.FileMode) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
