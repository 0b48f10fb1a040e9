package segment

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// FS is the filesystem seam: OSFS is the real one; MemFS simulates crashes
// and injects faults. Implementations are safe for concurrent use.
type FS interface {
	Create(name string) (File, error)     // create or truncate, read-write
	OpenFile(name string) (File, error)   // existing file, read-write
	Open(name string) (File, error)       // existing file, read-only
	Remove(name string) error             // an open File stays readable (POSIX unlink)
	Rename(oldname, newname string) error // atomic replace
	ReadDir(dir string) ([]fs.DirEntry, error)
	MkdirAll(dir string) error
	SyncDir(dir string) error // makes creates, renames and removes in dir durable
}

// File is one open file. Writes append at the end.
type File interface {
	io.ReaderAt
	io.Writer
	io.Closer
	Sync() error
	Truncate(size int64) error
	Size() (int64, error)
}

type osFS struct{}

// OSFS returns the operating system's filesystem.
func OSFS() FS { return osFS{} }

func (osFS) Create(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600) // messages: the service user's only
	return wrapOS(f, err)
}

func (osFS) OpenFile(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Open(name string) (File, error)          { return wrapOS(os.Open(name)) }
func (osFS) Remove(name string) error                { return os.Remove(name) }
func (osFS) Rename(o, n string) error                { return os.Rename(o, n) }
func (osFS) ReadDir(d string) ([]fs.DirEntry, error) { return os.ReadDir(d) }
func (osFS) MkdirAll(d string) error                 { return os.MkdirAll(d, 0o700) }

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(filepath.Clean(dir))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func wrapOS(f *os.File, err error) (File, error) {
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

type osFile struct{ *os.File }

func (f osFile) Size() (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// Truncate cuts the file and moves the write position to its new end.
func (f osFile) Truncate(size int64) error {
	if err := f.File.Truncate(size); err != nil {
		return err
	}
	_, err := f.Seek(size, io.SeekStart)
	return err
}
