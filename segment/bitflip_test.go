package segment

import (
	"errors"
	"math/rand/v2"
	"testing"
)

// TestBitFlipSealed flips one bit anywhere in a sealed segment's .seg: every
// read either returns the right record or ErrCorrupt, and a full scan always
// reports the damage (every byte is under a checksum).
func TestBitFlipSealed(t *testing.T) {
	for _, clustered := range []bool{false, true} {
		for seed := uint64(1); seed <= 60; seed++ {
			fsys, path, m := sealedSegment(t, seed, clustered)
			b, _ := fsys.FileBytes(path)
			r := rand.New(rand.NewPCG(seed, 4))
			pos := r.IntN(len(b))
			b[pos] ^= 1 << r.IntN(8)
			fsys.SetFileBytes(path, b)
			rd, err := Open(fsys, path, smallOptions(CodecZstd))
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("seed %d: open: %v, want ErrCorrupt", seed, err)
				}
				continue
			}
			if err := scanAgainst(rd, m); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("seed %d clustered=%t: flip at byte %d of %d: scan err %v, want ErrCorrupt", seed, clustered, pos, len(b), err)
			}
		}
	}
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
