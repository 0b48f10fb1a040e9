// Package durable writes small files so that a crash leaves either the old
// contents or the new ones, never a mix, and the change survives power
// loss: a temporary file in the same directory is written, fsynced and
// renamed over the target, then the directory is fsynced. For the node's
// identity and peers files and the password file; the segment log has its
// own, over its fault-injecting file system (segment/durable.go).
package durable

import (
	"errors"
	"os"
	"path/filepath"
)

// WriteFile replaces path with data, created with mode perm (the
// temporary file has it from the start, so the data is never readable by
// more users than perm allows). On error the temporary file is removed and
// path is as it was.
func WriteFile(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(perm); err != nil {
		return err
	}
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir fsyncs a directory, making the creations, renames and removals
// in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
