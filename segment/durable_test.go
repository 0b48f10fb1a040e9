package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"strings"
	"testing"
)

// crashAt runs op on fsys, simulating a power loss just before the k-th
// mutating file operation (counted from 1): the returned clone is the state
// the crash leaves, and every operation from the k-th on fails. It returns
// nil if op performed fewer than k operations.
func crashAt(fsys *MemFS, k int, rng *rand.Rand, op func()) *MemFS {
	var crashed *MemFS
	n := 0
	fsys.SetHook(func(Op) error {
		n++
		if n == k {
			crashed = fsys.CrashClone(rng)
		}
		if n >= k {
			return errInjected
		}
		return nil
	})
	defer fsys.SetHook(nil)
	op()
	return crashed
}

// countOps returns how many mutating operations op performs.
func countOps(fsys *MemFS, op func()) int {
	n := 0
	fsys.SetHook(func(Op) error { n++; return nil })
	defer fsys.SetHook(nil)
	op()
	return n
}

// TestCreateCrashAtEveryStep crashes before each file operation of Create:
// the segment's final name is either absent or holds a whole header that
// OpenWriter accepts without cutting anything.
func TestCreateCrashAtEveryStep(t *testing.T) {
	path := "/d/" + FileName(7)
	create := func(fsys *MemFS) func() {
		return func() {
			if w, err := Create(fsys, "/d", 7, smallOptions(CodecS2)); err == nil {
				w.Close()
			}
		}
	}
	counted := newDirFS()
	steps := countOps(counted, create(counted))
	if steps < 5 { // create, write, sync, rename, syncdir at least
		t.Fatalf("Create made %d file operations", steps)
	}
	for k := 1; k <= steps+1; k++ {
		for seed := uint64(1); seed <= 8; seed++ {
			fsys := newDirFS()
			crashed := crashAt(fsys, k, rand.New(rand.NewPCG(seed, uint64(k))), create(fsys))
			if crashed == nil {
				crashed = fsys.CrashClone(rand.New(rand.NewPCG(seed, 0)))
			}
			b, ok := crashed.FileBytes(path)
			if !ok {
				continue
			}
			if len(b) != fileHeaderSize {
				t.Fatalf("step %d seed %d: %s visible with %d bytes, want the %d-byte header", k, seed, path, len(b), fileHeaderSize)
			}
			w, err := OpenWriter(crashed, path, smallOptions(CodecS2))
			if err != nil || w.Cut() != 0 || w.NextOffset() != 7 {
				t.Fatalf("step %d seed %d: reopen: %v (cut %d)", k, seed, err, w.Cut())
			}
		}
	}
}

// TestCreateFailAtEveryStep fails each file operation of Create in turn:
// Create reports the error, and the final name is absent or complete.
func TestCreateFailAtEveryStep(t *testing.T) {
	path := "/d/" + FileName(7)
	counted := newDirFS()
	steps := countOps(counted, func() { Create(counted, "/d", 7, smallOptions(CodecNone)) })
	if steps < 5 {
		t.Fatalf("Create made %d file operations", steps)
	}
	for k := 1; k <= steps; k++ {
		fsys := newDirFS()
		n := 0
		fsys.SetHook(func(Op) error {
			if n++; n == k {
				return errInjected
			}
			return nil
		})
		if _, err := Create(fsys, "/d", 7, smallOptions(CodecNone)); !errors.Is(err, errInjected) {
			t.Fatalf("step %d: Create: %v, want the injected error", k, err)
		}
		fsys.SetHook(nil)
		if b, ok := fsys.FileBytes(path); ok && len(b) != fileHeaderSize {
			t.Fatalf("step %d: %s visible with %d bytes", k, path, len(b))
		}
	}
}

func newDirFS() *MemFS {
	fsys := NewMemFS()
	fsys.MkdirAll("/d")
	return fsys
}

// TestSealCrashAtEveryStep crashes before each file operation of Seal (sync,
// index write, rename, directory sync): the segment opens with every synced
// record, with its index or a rebuilt one.
func TestSealCrashAtEveryStep(t *testing.T) {
	setup := func(seed uint64) (*MemFS, *Writer, model) {
		fsys := newDirFS()
		w, err := Create(fsys, "/d", 0, smallOptions(CodecZstd))
		if err != nil {
			t.Fatal(err)
		}
		m := fill(t, w, rand.New(rand.NewPCG(seed, 11)), 6)
		if err := w.Sync(); err != nil {
			t.Fatal(err)
		}
		return fsys, w, m
	}
	fsys, w, _ := setup(1)
	steps := countOps(fsys, func() { w.Seal() })
	if steps < 5 { // sync, index create, write, sync, rename, syncdir
		t.Fatalf("Seal made %d file operations", steps)
	}
	for k := 1; k <= steps+1; k++ {
		fsys, w, m := setup(uint64(k))
		crashed := crashAt(fsys, k, rand.New(rand.NewPCG(uint64(k), 12)), func() { w.Seal() })
		if crashed == nil {
			crashed = fsys
		}
		r, err := Open(crashed, w.Path(), smallOptions(CodecZstd))
		if err != nil {
			t.Fatalf("step %d: open after a crash in Seal: %v", k, err)
		}
		checkReader(t, r, m, uint64(k))
		if idx, ok := crashed.FileBytes(IndexName(w.Path())); ok {
			if _, _, err := loadIndex(idx, r.Size(), 0, layoutOrdered); err != nil {
				t.Fatalf("step %d: index visible but unusable: %v", k, err)
			}
		}
	}
}

// TestOpenWriterShortHeader: an active segment shorter than its header is a
// torn tail when it holds zeros or a prefix of the expected header (the
// header is rewritten durably), and corruption otherwise.
func TestOpenWriterShortHeader(t *testing.T) {
	want := fileHeader{layout: layoutOrdered, base: 5}.encode()
	garbage := append(append([]byte(nil), want[:12]...), 0xff)
	cases := []struct {
		name    string
		content []byte
		torn    bool
	}{
		{"empty", nil, true},
		{"zeros", make([]byte, 17), true},
		{"header prefix", want[:20], true},
		{"header but one byte", want[:fileHeaderSize-1], true},
		{"garbage", garbage, false},
		{"other base prefix", fileHeader{layout: layoutOrdered, base: 6}.encode()[:20], false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fsys := newDirFS()
			path := "/d/" + FileName(5)
			fsys.SetFileBytes(path, c.content)
			w, err := OpenWriter(fsys, path, smallOptions(CodecS2))
			if !c.torn {
				after, _ := fsys.FileBytes(path)
				if !errors.Is(err, ErrCorrupt) || !bytes.Equal(after, c.content) {
					t.Fatalf("OpenWriter: %v, file now %x; want ErrCorrupt and the file untouched", err, after)
				}
				return
			}
			if err != nil {
				t.Fatalf("OpenWriter: %v", err)
			}
			if w.Cut() != int64(len(c.content)) || w.NextOffset() != 5 {
				t.Fatalf("cut %d, next %d", w.Cut(), w.NextOffset())
			}
			m := fill(t, w, rand.New(rand.NewPCG(1, 1)), 3)
			w.Close()
			crashed := fsys.CrashClone(rand.New(rand.NewPCG(2, 2)))
			w2, err := OpenWriter(crashed, path, smallOptions(CodecS2))
			if err != nil || w2.Cut() != 0 {
				t.Fatalf("reopen after a crash: %v, cut %d", err, w2.Cut())
			}
			checkReader(t, w2.Reader(), m, 1)
		})
	}
}

// TestFormatVersion1Refused: a version-1 file (intact, CRC right) is refused
// everywhere with ErrFormatVersion naming it older, not as corruption.
func TestFormatVersion1Refused(t *testing.T) {
	fsys, path, _ := sealedSegment(t, 1, false)
	b, _ := fsys.FileBytes(path)
	binary.LittleEndian.PutUint16(b[8:], 1)
	binary.LittleEndian.PutUint32(b[28:], crc32.Checksum(b[:28], castagnoli))
	fsys.SetFileBytes(path, b)
	_, errOpen := Open(fsys, path, smallOptions(CodecZstd))
	_, errWriter := OpenWriter(fsys, path, smallOptions(CodecZstd))
	_, errVerify := Verify(fsys, path, smallOptions(CodecZstd))
	for _, err := range []error{errOpen, errWriter, errVerify} {
		if !errors.Is(err, ErrFormatVersion) || errors.Is(err, ErrCorrupt) ||
			!strings.Contains(err.Error(), "version 1 is older") {
			t.Fatalf("got %v, want ErrFormatVersion saying version 1 is older", err)
		}
	}
}
