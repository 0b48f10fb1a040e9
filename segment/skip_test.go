package segment

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
)

// sparseSegment writes 10 frames with a single index entry, so every read
// scans from the first frame. It returns the frame starts and the model.
func sparseSegment(t *testing.T, c Codec) (*MemFS, *Writer, []int, model) {
	t.Helper()
	fsys := newDirFS()
	o := smallOptions(c)
	o.IndexIntervalBytes = 1 << 30
	w, err := Create(fsys, "/d", 0, o)
	if err != nil {
		t.Fatal(err)
	}
	m := fill(t, w, rand.New(rand.NewPCG(uint64(c), 21)), 10)
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	b, _ := fsys.FileBytes(w.Path())
	return fsys, w, frameStarts(b), m
}

// damageInPlace edits a file's bytes under every open handle (SetFileBytes
// would give the name new contents that open handles do not see).
func damageInPlace(fsys *MemFS, name string, edit func(b []byte)) {
	fsys.mu.Lock()
	d := fsys.files[name]
	fsys.mu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	edit(d.data)
}

// frameBase reads the base offset of the frame at start.
func frameBase(b []byte, start int) Offset {
	return Offset(binary.LittleEndian.Uint64(b[start+16:]))
}

// TestReadSkipsDamagedBodyBeforeFrom damages the body of frame 2: a read
// from frame 5 on, which the sparse index starts at frame 0, succeeds and
// returns the right records; a read that covers frame 2 reports ErrCorrupt.
func TestReadSkipsDamagedBodyBeforeFrom(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.String(), func(t *testing.T) {
			fsys, w, starts, m := sparseSegment(t, c)
			b, _ := fsys.FileBytes(w.Path())
			from := frameBase(b, starts[5])
			damageInPlace(fsys, w.Path(), func(b []byte) { b[starts[2]+frameHeaderSz+1] ^= 0x40 })
			sealed, err := w.Seal() // the index is written from memory: no scan
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range []*Reader{w.Reader(), sealed, openOrFail(t, fsys, w.Path(), c)} {
				checkIter(t, r.Iter(from), m, from, ^Offset(0), nil, 1)
				if err := scanAgainst(r, m); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("full scan: %v, want ErrCorrupt", err)
				}
				if _, err := r.ReadAt(frameBase(b, starts[2])); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("ReadAt in the damaged frame: %v, want ErrCorrupt", err)
				}
			}
		})
	}
}

func openOrFail(t *testing.T, fsys FS, path string, c Codec) *Reader {
	t.Helper()
	o := smallOptions(c)
	o.IndexIntervalBytes = 1 << 30
	r, err := Open(fsys, path, o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestReadFailsOnDamagedHeaderBeforeFrom: a skipped frame's header must
// still be sound (parsable, following its predecessor, within the file).
func TestReadFailsOnDamagedHeaderBeforeFrom(t *testing.T) {
	damage := map[string]func(h []byte){
		"length past the end": func(h []byte) { binary.LittleEndian.PutUint32(h[4:], 1<<27) },
		"wrong base":          func(h []byte) { h[16]++ },
		"unknown flags":       func(h []byte) { h[9] |= 0x80 },
		"zero count":          func(h []byte) { binary.LittleEndian.PutUint32(h[12:], 0) },
		"sync point too high": func(h []byte) { binary.LittleEndian.PutUint64(h[56:], 1<<40) },
	}
	for name, hurt := range damage {
		t.Run(name, func(t *testing.T) {
			fsys, w, starts, _ := sparseSegment(t, CodecS2)
			b, _ := fsys.FileBytes(w.Path())
			from := frameBase(b, starts[5])
			damageInPlace(fsys, w.Path(), func(b []byte) { hurt(b[starts[2] : starts[2]+frameHeaderSz]) })
			it := w.Reader().Iter(from)
			for it.Next() {
			}
			var ce *CorruptionError
			if !errors.As(it.Err(), &ce) || ce.Pos != int64(starts[2]) {
				t.Fatalf("read from %d: %v, want a CorruptionError at byte %d", from, it.Err(), starts[2])
			}
		})
	}
}
