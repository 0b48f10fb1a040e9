package segment

import (
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"path"
	"sort"
	"strings"
	"sync"
	"time"
)

// MemFS is an in-memory FS for tests. It records which bytes of each file were
// synced and which directory changes were made durable, so that CrashClone can
// produce the state a power loss would leave; SetFault injects I/O errors.
// Safe for concurrent use.
type MemFS struct {
	mu      sync.Mutex
	files   map[string]*memData // the namespace as processes see it
	durable map[string]*memData // the namespace as of the last SyncDir of each dir
	dirs    map[string]bool
	faults  map[string]*Fault
	hook    func(Op) error
}

// OpKind names a mutating file operation, for SetHook.
type OpKind string

const (
	OpCreate   OpKind = "create"
	OpWrite    OpKind = "write"
	OpSync     OpKind = "sync"
	OpTruncate OpKind = "truncate"
	OpRename   OpKind = "rename"
	OpRemove   OpKind = "remove"
	OpSyncDir  OpKind = "syncdir"
)

// Op is one mutating operation about to run: Name is the file (for a rename,
// the old name) or, for OpSyncDir, the directory.
type Op struct {
	Kind OpKind
	Name string
}

func (o Op) String() string { return string(o.Kind) + " " + o.Name }

// SetHook installs fn (nil removes it), called before every create, write,
// sync, truncate, rename, remove and directory sync. If fn returns an error
// the operation fails with it and has no effect. fn runs without MemFS locks
// held, so it may call CrashClone: that is how a test crashes at step k.
func (m *MemFS) SetHook(fn func(Op) error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hook = fn
}

// before runs the hook, if any, for op.
func (m *MemFS) before(kind OpKind, name string) error {
	m.mu.Lock()
	fn := m.hook
	m.mu.Unlock()
	if fn == nil {
		return nil
	}
	return fn(Op{Kind: kind, Name: name})
}

// Fault describes an injected failure for one file name (or "" for every file).
type Fault struct {
	// WriteErr fails writes once WriteAfter more bytes have been written; a
	// write straddling the limit is short: its first part lands.
	WriteErr   error
	WriteAfter int64
	// SyncErr fails Sync (the data stays unsynced).
	SyncErr error
}

type memData struct {
	mu     sync.Mutex
	data   []byte
	synced int
}

// NewMemFS returns an empty in-memory filesystem.
func NewMemFS() *MemFS {
	return &MemFS{
		files:   map[string]*memData{},
		durable: map[string]*memData{},
		dirs:    map[string]bool{"/": true, ".": true},
		faults:  map[string]*Fault{},
	}
}

// SetFault installs (f non-nil) or clears (nil) a fault for name; "" applies
// to every file without a fault of its own.
func (m *MemFS) SetFault(name string, f *Fault) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if f == nil {
		delete(m.faults, path.Clean(name))
		return
	}
	cp := *f
	m.faults[path.Clean(name)] = &cp
}

// admitWrite applies name's write fault: how many of n bytes land, and the
// error to return.
func (m *MemFS) admitWrite(name string, n int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ft := m.faults[name]
	if ft == nil {
		ft = m.faults["."]
	}
	if ft == nil || ft.WriteErr == nil {
		return n, nil
	}
	var err error
	if int64(n) > ft.WriteAfter {
		n, err = int(max(ft.WriteAfter, 0)), ft.WriteErr
	}
	ft.WriteAfter -= int64(n)
	return n, err
}

func (m *MemFS) faultFor(name string) *Fault {
	m.mu.Lock()
	defer m.mu.Unlock()
	if f := m.faults[name]; f != nil {
		return f
	}
	return m.faults["."]
}

// CrashClone returns the filesystem a power loss would leave now: directory
// changes not followed by SyncDir may be lost (all or none, chosen by rng);
// every surviving file keeps its synced bytes plus a random prefix of its
// unsynced bytes, whose last few bytes may be garbled.
func (m *MemFS) CrashClone(rng *rand.Rand) *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	ns := m.files
	if rng.IntN(2) == 0 {
		ns = m.durable
	}
	c := NewMemFS()
	for d := range m.dirs {
		c.dirs[d] = true
	}
	for name, d := range ns {
		nd := d.crashCopy(rng)
		c.files[name], c.durable[name] = nd, nd
	}
	return c
}

func (d *memData) crashCopy(rng *rand.Rand) *memData {
	d.mu.Lock()
	defer d.mu.Unlock()
	keep := d.synced
	if extra := len(d.data) - d.synced; extra > 0 {
		keep += rng.IntN(extra + 1)
	}
	data := append([]byte(nil), d.data[:keep]...)
	if keep > d.synced && rng.IntN(3) == 0 {
		for i := max(d.synced, keep-8); i < keep; i++ {
			data[i] = byte(rng.Uint32())
		}
	}
	return &memData{data: data, synced: len(data)}
}

// FileBytes returns a copy of a file's current contents (for tests).
func (m *MemFS) FileBytes(name string) ([]byte, bool) {
	m.mu.Lock()
	d := m.files[path.Clean(name)]
	m.mu.Unlock()
	if d == nil {
		return nil, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]byte(nil), d.data...), true
}

// SetFileBytes replaces a file's contents, all marked synced (for tests that
// damage files on purpose).
func (m *MemFS) SetFileBytes(name string, b []byte) {
	name = path.Clean(name)
	d := &memData{data: append([]byte(nil), b...), synced: len(b)}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[name], m.durable[name] = d, d
}

func (m *MemFS) Create(name string) (File, error) {
	name = path.Clean(name)
	if err := m.before(OpCreate, name); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirs[path.Dir(name)] {
		return nil, &fs.PathError{Op: "create", Path: name, Err: fs.ErrNotExist}
	}
	d := &memData{}
	m.files[name] = d
	return &memFile{fs: m, name: name, d: d}, nil
}

func (m *MemFS) open(name string, writable bool) (File, error) {
	name = path.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.files[name]
	if d == nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &memFile{fs: m, name: name, d: d, readOnly: !writable}, nil
}

func (m *MemFS) OpenFile(name string) (File, error) { return m.open(name, true) }
func (m *MemFS) Open(name string) (File, error)     { return m.open(name, false) }

func (m *MemFS) Remove(name string) error {
	name = path.Clean(name)
	if err := m.before(OpRemove, name); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.files[name] == nil {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	delete(m.files, name)
	return nil
}

func (m *MemFS) Rename(oldname, newname string) error {
	oldname, newname = path.Clean(oldname), path.Clean(newname)
	if err := m.before(OpRename, oldname); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.files[oldname]
	if d == nil {
		return &fs.PathError{Op: "rename", Path: oldname, Err: fs.ErrNotExist}
	}
	delete(m.files, oldname)
	m.files[newname] = d
	return nil
}

func (m *MemFS) MkdirAll(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for d := path.Clean(dir); !m.dirs[d]; d = path.Dir(d) {
		m.dirs[d] = true
	}
	return nil
}

// SyncDir makes the current entries of dir durable.
func (m *MemFS) SyncDir(dir string) error {
	dir = path.Clean(dir)
	if err := m.before(OpSyncDir, dir); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for name := range m.durable {
		if path.Dir(name) == dir && m.files[name] == nil {
			delete(m.durable, name)
		}
	}
	for name, d := range m.files {
		if path.Dir(name) == dir {
			m.durable[name] = d
		}
	}
	return nil
}

func (m *MemFS) ReadDir(dir string) ([]fs.DirEntry, error) {
	dir = path.Clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirs[dir] {
		return nil, &fs.PathError{Op: "readdir", Path: dir, Err: fs.ErrNotExist}
	}
	var out []fs.DirEntry
	for name, d := range m.files {
		if path.Dir(name) == dir {
			out = append(out, memEntry{name: path.Base(name), size: int64(d.len())})
		}
	}
	for d := range m.dirs {
		if path.Dir(d) == dir && d != dir && !strings.HasSuffix(d, "/.") {
			out = append(out, memEntry{name: path.Base(d), dir: true})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

func (d *memData) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.data)
}

type memFile struct {
	fs       *MemFS
	name     string
	d        *memData
	readOnly bool
	closed   bool
}

var errReadOnly = errors.New("segment: file opened read-only")

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if f.closed {
		return 0, fs.ErrClosed
	}
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	if off >= int64(len(f.d.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.d.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	if f.closed {
		return 0, fs.ErrClosed
	}
	if f.readOnly {
		return 0, errReadOnly
	}
	if err := f.fs.before(OpWrite, f.name); err != nil {
		return 0, err
	}
	n, err := f.fs.admitWrite(f.name, len(p))
	f.d.mu.Lock()
	f.d.data = append(f.d.data, p[:n]...)
	f.d.mu.Unlock()
	return n, err
}

func (f *memFile) Sync() error {
	if f.closed {
		return fs.ErrClosed
	}
	if err := f.fs.before(OpSync, f.name); err != nil {
		return err
	}
	if ft := f.fs.faultFor(f.name); ft != nil && ft.SyncErr != nil {
		return ft.SyncErr
	}
	f.d.mu.Lock()
	f.d.synced = len(f.d.data)
	f.d.mu.Unlock()
	return nil
}

func (f *memFile) Truncate(size int64) error {
	if f.readOnly {
		return errReadOnly
	}
	if err := f.fs.before(OpTruncate, f.name); err != nil {
		return err
	}
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	if size < int64(len(f.d.data)) {
		f.d.data = f.d.data[:size]
		f.d.synced = min(f.d.synced, int(size))
	}
	return nil
}

func (f *memFile) Size() (int64, error) { return int64(f.d.len()), nil }
func (f *memFile) Close() error         { f.closed = true; return nil }

type memEntry struct {
	name string
	size int64
	dir  bool
}

func (e memEntry) Name() string { return e.name }
func (e memEntry) IsDir() bool  { return e.dir }
func (e memEntry) Type() fs.FileMode {
	if e.dir {
		return fs.ModeDir
	}
	return 0
}
func (e memEntry) Info() (fs.FileInfo, error) { return memInfo(e), nil }

type memInfo memEntry

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) Mode() fs.FileMode  { return memEntry(i).Type() }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }
