// Package durable writes small files so that a crash leaves either the old
// content or the new, never a torn or lost one: write a temporary file in
// the same directory, sync it, rename it over the target, sync the
// directory. auth (password files) and replication (IDENTITY, peers.json)
// use it; segment has its own over its crash-testable FS.
package durable

import (
	"errors"
	"os"
	"path/filepath"
)

// WriteFile replaces path with data, created with perm (whatever the umask).
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

// SyncDir syncs a directory, so that the renames and creations in it
// survive a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
