package segment

import (
	"fmt"
	"path/filepath"
)

// TempSuffix ends the name of every file this package writes before it is
// complete: the file is written and fsynced under path+TempSuffix, renamed to
// its final name and the directory fsynced, so a final name never shows an
// incomplete file. A *.tmp left by a crash is garbage: log.Open removes it.
const TempSuffix = ".tmp"

// writeDurable makes path hold exactly b, durably: b goes to a temporary
// file that is fsynced, renamed over path, and the directory is fsynced. A
// crash leaves the old file (or none) or the new one, never a mix.
func writeDurable(fsys FS, path string, b []byte) error {
	tmp := path + TempSuffix
	if err := writeSynced(fsys, tmp, b); err != nil {
		fsys.Remove(tmp) // best effort: a leftover is removed on open
		return err
	}
	return renameDurable(fsys, tmp, path)
}

// writeSynced creates name with contents b and fsyncs it.
func writeSynced(fsys FS, name string, b []byte) error {
	f, err := fsys.Create(name)
	if err != nil {
		return err
	}
	n, err := f.Write(b)
	if err == nil && n != len(b) {
		err = orShort(nil)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// renameDurable renames tmp to path and fsyncs the directory.
func renameDurable(fsys FS, tmp, path string) error {
	if err := fsys.Rename(tmp, path); err != nil {
		fsys.Remove(tmp)
		return err
	}
	return fsys.SyncDir(filepath.Dir(path))
}

// createDurable makes dir/FileName(base) an ordered segment holding only its
// file header, durably, and opens it for appending.
func createDurable(fsys FS, path string, base Offset) (File, error) {
	hdr := fileHeader{layout: layoutOrdered, base: base}.encode()
	if err := writeDurable(fsys, path, hdr); err != nil {
		return nil, fmt.Errorf("segment: create %s: %w", path, err)
	}
	f, err := fsys.OpenFile(path)
	if err != nil {
		return nil, fmt.Errorf("segment: create %s: %w", path, err)
	}
	return f, nil
}
