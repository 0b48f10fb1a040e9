package segment

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
)

// TestBitFlipSealed flips one bit anywhere in a sealed segment's .seg: every
// read either returns the right record or ErrCorrupt, and a full scan always
// reports the damage (every byte is under a checksum), except in an ordered
// frame's sync point: that field is node-local and outside the checksum, so
// a flip there may go unnoticed, but must not change a record.
func TestBitFlipSealed(t *testing.T) {
	for _, clustered := range []bool{false, true} {
		for seed := uint64(1); seed <= 60; seed++ {
			fsys, path, m := sealedSegment(t, seed, clustered)
			b, _ := fsys.FileBytes(path)
			r := rand.New(rand.NewPCG(seed, 4))
			pos := r.IntN(len(b))
			inSync := inSyncPoint(b, pos)
			b[pos] ^= 1 << r.IntN(8)
			fsys.SetFileBytes(path, b)
			rd, err := Open(fsys, path, smallOptions(CodecZstd))
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("seed %d: open: %v, want ErrCorrupt", seed, err)
				}
				continue
			}
			err = scanAgainst(rd, m)
			if inSync && err == nil {
				checkReader(t, rd, m, seed)
				continue
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("seed %d clustered=%t: flip at byte %d of %d: scan err %v, want ErrCorrupt", seed, clustered, pos, len(b), err)
			}
		}
	}
}

// TestBitFlipSyncPoint flips a bit in every ordered frame's sync point in
// turn: the records read back unchanged (or the damage is reported) and the
// segment checksum does not change, since sync points are node-local.
func TestBitFlipSyncPoint(t *testing.T) {
	fsys, path, m := sealedSegment(t, 3, false)
	orig, _ := fsys.FileBytes(path)
	want := readerChecksum(t, fsys, path)
	for i, start := range frameStarts(orig) {
		b := append([]byte(nil), orig...)
		b[start+syncPointAt+i%8] ^= 1 << (i % 7)
		fsys.SetFileBytes(path, b)
		if got := readerChecksum(t, fsys, path); got != want {
			t.Fatalf("frame at %d: checksum %08x after a sync-point flip, want %08x", start, got, want)
		}
		rd, err := Open(fsys, path, smallOptions(CodecZstd))
		if err != nil {
			t.Fatalf("frame at %d: open with an index: %v", start, err)
		}
		if err := scanAgainst(rd, m); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("frame at %d: scan: %v", start, err)
		}
		rd.Close()
	}
}

func readerChecksum(t *testing.T, fsys *MemFS, path string) uint32 {
	t.Helper()
	rd, err := Open(fsys, path, smallOptions(CodecZstd))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	sum, err := rd.Checksum()
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// frameStarts walks an undamaged segment's frame headers.
func frameStarts(b []byte) []int {
	var out []int
	for pos := fileHeaderSize; pos+frameHeaderSz <= len(b); {
		out = append(out, pos)
		pos += frameHeaderSz + int(binary.LittleEndian.Uint32(b[pos+4:]))
	}
	return out
}

// inSyncPoint reports whether byte pos of an ordered segment lies in a frame
// header's sync point.
func inSyncPoint(b []byte, pos int) bool {
	if b[10] != layoutOrdered {
		return false
	}
	for _, start := range frameStarts(b) {
		if pos >= start+syncPointAt && pos < start+frameHeaderSz {
			return true
		}
	}
	return false
}

// TestBitFlipIndex damages the .idx: the segment must still read correctly
// (the index is verified and rebuilt) or report corruption, never wrong data.
func TestBitFlipIndex(t *testing.T) {
	for _, clustered := range []bool{false, true} {
		for seed := uint64(1); seed <= 60; seed++ {
			fsys, path, m := sealedSegment(t, seed, clustered)
			b, _ := fsys.FileBytes(IndexName(path))
			r := rand.New(rand.NewPCG(seed, 5))
			b[r.IntN(len(b))] ^= 1 << r.IntN(8)
			fsys.SetFileBytes(IndexName(path), b)
			rd, err := Open(fsys, path, smallOptions(CodecZstd))
			if err != nil {
				t.Fatalf("seed %d: open with a damaged index: %v", seed, err)
			}
			checkReader(t, rd, m, seed)
		}
	}
}

// TestBitFlipActiveSynced flips a bit in the part of an active segment that
// a later frame records as synced: OpenWriter must refuse with ErrCorrupt and
// leave the file as it was.
func TestBitFlipActiveSynced(t *testing.T) {
	for seed := uint64(1); seed <= 60; seed++ {
		r := rand.New(rand.NewPCG(seed, 6))
		fsys := NewMemFS()
		fsys.MkdirAll("/d")
		path := "/d/" + FileName(0)
		w, _ := Create(fsys, "/d", 0, smallOptions(CodecS2))
		fill(t, w, r, 10)
		if err := w.Sync(); err != nil {
			t.Fatal(err)
		}
		syncedSize := w.Size()
		fill(t, w, r, 2) // these frames record syncedSize
		b, _ := fsys.FileBytes(path)
		pos := fileHeaderSize + r.IntN(int(syncedSize)-fileHeaderSize)
		b[pos] ^= 1 << r.IntN(8)
		fsys.SetFileBytes(path, b)
		if _, err := OpenWriter(fsys, path, smallOptions(CodecS2)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("seed %d: flip at %d (synced to %d): %v, want ErrCorrupt", seed, pos, syncedSize, err)
		}
		after, _ := fsys.FileBytes(path)
		if len(after) != len(b) {
			t.Fatalf("seed %d: file cut from %d to %d bytes", seed, len(b), len(after))
		}
	}
}

func sealedSegment(t *testing.T, seed uint64, clustered bool) (*MemFS, string, model) {
	t.Helper()
	fsys := NewMemFS()
	fsys.MkdirAll("/d")
	w, err := Create(fsys, "/d", 0, smallOptions(CodecZstd))
	if err != nil {
		t.Fatal(err)
	}
	m := fill(t, w, rand.New(rand.NewPCG(seed, 7)), 12)
	r, err := w.Seal()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if clustered {
		if r, err = Cluster(fsys, w.Path(), smallOptions(CodecZstd)); err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
	return fsys, w.Path(), m
}

// scanAgainst iterates everything and fails on any record that differs from
// the model; it returns the iterator's error.
func scanAgainst(r *Reader, m model) error {
	it := r.Iter(r.Base())
	defer it.Close()
	for it.Next() {
		rec := it.Record()
		if int(rec.Offset) >= len(m) || !sameRecord(rec, m[rec.Offset]) {
			panic("wrong data returned from a damaged segment")
		}
	}
	return it.Err()
}
