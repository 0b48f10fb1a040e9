package main

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/stratamq/strata/segment"
)

// errReadOnly is what the log tools' filesystem answers to every write.
var errReadOnly = errors.New("strata log: read-only: the log tools never write to a data directory")

// readOnlyFS is the segment filesystem of strata log inspect|dump: reads
// go to the OS, writes fail, so opening a log there cannot create, cut or
// remove a file whatever it finds. A torn tail (after a crash) that the log
// would cut is only noted, as the size the file would be cut to: reads stop
// there, and the node cuts it when it next starts. Safe for concurrent use.
type readOnlyFS struct {
	base segment.FS
	mu   sync.Mutex
	torn map[string]int64 // path -> bytes past the last whole frame
}

func newReadOnlyFS() *readOnlyFS {
	return &readOnlyFS{base: segment.OSFS(), torn: map[string]int64{}}
}

func (r *readOnlyFS) Create(string) (segment.File, error)     { return nil, errReadOnly }
func (r *readOnlyFS) Rename(string, string) error             { return errReadOnly }
func (r *readOnlyFS) SyncDir(string) error                    { return nil } // nothing was changed
func (r *readOnlyFS) Open(name string) (segment.File, error)  { return r.base.Open(name) }
func (r *readOnlyFS) ReadDir(d string) ([]fs.DirEntry, error) { return r.base.ReadDir(d) }

// OpenFile opens for reading what the log opens to append to.
func (r *readOnlyFS) OpenFile(name string) (segment.File, error) {
	f, err := r.base.Open(name)
	if err != nil {
		return nil, err
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &readOnlyFile{File: f, fs: r, path: name, size: size}, nil
}

// Remove leaves a temporary file for the node to clean up (the log skips
// it anyway) and refuses anything else.
func (r *readOnlyFS) Remove(name string) error {
	if strings.HasSuffix(name, ".tmp") {
		return nil
	}
	return errReadOnly
}

// MkdirAll succeeds only for a directory that exists.
func (r *readOnlyFS) MkdirAll(dir string) error {
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return nil
	}
	return errReadOnly
}

// tornBytes reports the torn tails seen, by path.
func (r *readOnlyFS) tornBytes() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.torn)
}

// readOnlyFile is an active segment opened for reading: writes fail, and a
// cut only shrinks the size the log sees.
type readOnlyFile struct {
	segment.File
	fs   *readOnlyFS
	path string
	size int64
}

func (f *readOnlyFile) Write([]byte) (int, error) { return 0, errReadOnly }
func (f *readOnlyFile) Sync() error               { return nil } // nothing was written
func (f *readOnlyFile) Size() (int64, error)      { return f.size, nil }

func (f *readOnlyFile) Truncate(size int64) error {
	if size > f.size {
		return errReadOnly
	}
	f.fs.mu.Lock()
	f.fs.torn[f.path] += f.size - size
	f.fs.mu.Unlock()
	f.size = size
	return nil
}

// lockFileName is the data directory's lock, held by a running node
// (replication/datadir.go: an exclusive flock, dropped by the kernel when
// the process ends, kill -9 included).
const lockFileName = "LOCK"

// lockShared takes a shared lock on dataDir's LOCK file without waiting, so
// that no node runs on the directory while the tool reads it (a node
// starting meanwhile is refused as "in use"). A directory without a LOCK
// file has never been served. The returned func releases the lock.
func lockShared(dataDir string) (func(), error) {
	f, err := os.Open(filepath.Join(dataDir, lockFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return func() {}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dataDir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data directory %s is in use by a running node (%s): stop it first, or read its messages with strata history", dataDir, lockHolder(f))
		}
		return nil, fmt.Errorf("lock %s: %w", dataDir, err)
	}
	return func() { f.Close() }, nil // closing drops the flock
}

// lockHolder names the pid a node wrote into its LOCK file.
func lockHolder(f *os.File) string {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n]))); err == nil && pid > 0 {
		return "pid " + strconv.Itoa(pid)
	}
	return "pid unknown"
}

// checkDataDir refuses a path that is not a Strata data directory: missing,
// not a directory, or without a log/ directory holding segments.
func checkDataDir(dataDir string) error {
	st, err := os.Stat(dataDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("data directory %s does not exist", dataDir)
	case err != nil:
		return err
	case !st.IsDir():
		return fmt.Errorf("%s is not a directory", dataDir)
	}
	entries, err := os.ReadDir(filepath.Join(dataDir, "log"))
	if err == nil {
		for _, e := range entries {
			if _, ok := segment.ParseFileName(e.Name()); ok {
				return nil
			}
		}
	}
	return fmt.Errorf("%s is not a Strata data directory: no segments in %s", dataDir, filepath.Join(dataDir, "log"))
}
