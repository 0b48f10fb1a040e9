package segment

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// twoNodes writes the same batches to two segments, syncing at different
// moments (as two replicas do), and seals both.
func twoNodes(t *testing.T, c Codec, seed uint64) (*MemFS, *MemFS, string) {
	t.Helper()
	var fss [2]*MemFS
	var path string
	for node := range fss {
		fss[node] = newDirFS()
		w, err := Create(fss[node], "/d", 40, smallOptions(c))
		if err != nil {
			t.Fatal(err)
		}
		data := rand.New(rand.NewPCG(seed, 31))
		syncs := rand.New(rand.NewPCG(seed, uint64(32+node)))
		tm := int64(1_700_000_000_000_000_000)
		for i := 0; i < 12; i++ {
			if _, err := w.Append(randomBatch(data, 1+data.IntN(30), 20, &tm), uint64(i+1)); err != nil {
				t.Fatal(err)
			}
			if syncs.IntN(2) == 0 {
				if err := w.Sync(); err != nil {
					t.Fatal(err)
				}
			}
		}
		r, err := w.Seal()
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
		path = w.Path()
	}
	return fss[0], fss[1], path
}

// TestChecksumIgnoresSyncPoints: two replicas' copies differ in their sync
// points but have equal checksums, from Reader.Checksum and from Verify, in
// the ordered layout and, byte-identical, after Cluster.
func TestChecksumIgnoresSyncPoints(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.String(), func(t *testing.T) {
			a, b, path := twoNodes(t, c, uint64(c)+1)
			ba, _ := a.FileBytes(path)
			bb, _ := b.FileBytes(path)
			if bytes.Equal(ba, bb) {
				t.Fatal("the two copies should differ in their sync points")
			}
			sum := agreeOnChecksum(t, a, b, path, c)
			for _, fsys := range []*MemFS{a, b} {
				r, err := Cluster(fsys, path, smallOptions(c))
				if err != nil {
					t.Fatal(err)
				}
				r.Close()
			}
			ba, _ = a.FileBytes(path)
			bb, _ = b.FileBytes(path)
			if !bytes.Equal(ba, bb) {
				t.Fatal("clustered copies differ")
			}
			if agreeOnChecksum(t, a, b, path, c) == sum {
				t.Fatal("the clustered layout has the ordered layout's checksum")
			}
		})
	}
}

func agreeOnChecksum(t *testing.T, a, b *MemFS, path string, c Codec) uint32 {
	t.Helper()
	var sums []uint32
	for _, fsys := range []*MemFS{a, b} {
		info, err := Verify(fsys, path, smallOptions(c))
		if err != nil {
			t.Fatal(err)
		}
		r, err := Open(fsys, path, smallOptions(c))
		if err != nil {
			t.Fatal(err)
		}
		sum, err := r.Checksum()
		again, err2 := r.Checksum()
		if err != nil || err2 != nil || sum != info.Checksum || again != sum {
			t.Fatalf("Checksum %08x, %08x (%v, %v), Verify %08x", sum, again, err, err2, info.Checksum)
		}
		r.Close()
		sums = append(sums, sum)
	}
	if sums[0] != sums[1] {
		t.Fatalf("replicas' checksums differ: %08x, %08x", sums[0], sums[1])
	}
	return sums[0]
}

// TestChecksumTracksContent: a different record gives a different checksum,
// and an active segment's checksum follows its appends.
func TestChecksumTracksContent(t *testing.T) {
	fsys := newDirFS()
	w, err := Create(fsys, "/d", 0, smallOptions(CodecNone))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint32]bool{}
	for i := 0; i < 5; i++ {
		rec := []Record{{Time: 1, Key: []byte("a"), Value: []byte{byte(i)}}}
		if _, err := w.Append(rec, 0); err != nil {
			t.Fatal(err)
		}
		sum, err := w.Reader().Checksum()
		if err != nil || seen[sum] {
			t.Fatalf("append %d: checksum %08x repeats or fails: %v", i, sum, err)
		}
		seen[sum] = true
		w.Sync()
		if info, err := Verify(fsys, w.Path(), smallOptions(CodecNone)); err != nil || info.Checksum != sum {
			t.Fatalf("append %d: Verify %08x, %v; Checksum %08x", i, info.Checksum, err, sum)
		}
	}
}

// TestVerifyInfo: Verify reports what the segment holds, in both layouts.
func TestVerifyInfo(t *testing.T) {
	for _, clustered := range []bool{false, true} {
		fsys, path, m := sealedSegment(t, 9, clustered)
		fsys.Remove(IndexName(path)) // Verify needs no index
		info, err := Verify(fsys, path, smallOptions(CodecZstd))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := fsys.FileBytes(path)
		want := Info{Base: 0, NextOffset: Offset(len(m)), LastTag: 12, Size: int64(len(b)), Clustered: clustered}
		want.Checksum = info.Checksum
		if info != want {
			t.Fatalf("clustered=%t: Verify %+v, want %+v", clustered, info, want)
		}
	}
}

// TestVerifyFindsEveryFlip flips each tested bit of a sealed segment (both
// layouts): Verify reports a CorruptionError at or before the flip, except
// for an unnoticed flip inside an ordered frame's sync point.
func TestVerifyFindsEveryFlip(t *testing.T) {
	for _, clustered := range []bool{false, true} {
		fsys, path, _ := sealedSegment(t, 4, clustered)
		orig, _ := fsys.FileBytes(path)
		step := max(1, len(orig)/400)
		for pos := 0; pos < len(orig); pos += step {
			b := append([]byte(nil), orig...)
			b[pos] ^= 1 << (pos % 8)
			fsys.SetFileBytes(path, b)
			_, err := Verify(fsys, path, smallOptions(CodecZstd))
			var ce *CorruptionError
			if err == nil && inSyncPoint(orig, pos) {
				continue
			}
			if !errors.As(err, &ce) || ce.Pos > int64(pos) {
				t.Fatalf("clustered=%t flip at %d: %v, want a CorruptionError at or before it", clustered, pos, err)
			}
		}
		fsys.SetFileBytes(path, orig[:len(orig)-3])
		if _, err := Verify(fsys, path, smallOptions(CodecZstd)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("clustered=%t truncated: %v, want ErrCorrupt", clustered, err)
		}
	}
}
