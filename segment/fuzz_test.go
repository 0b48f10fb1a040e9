package segment

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// FuzzFrameDecode feeds arbitrary bytes to the frame decoder: it must never
// panic, and a frame that verifies and decodes must re-encode to the same bytes.
func FuzzFrameDecode(f *testing.F) {
	for _, c := range codecs {
		for _, clustered := range []bool{false, true} {
			tm := int64(5)
			recs := randomBatch(rand.New(rand.NewPCG(1, uint64(c))), 4, 3, &tm)
			for i := range recs {
				recs[i].Offset = Offset(10 + 2*i)
				if !clustered {
					recs[i].Offset = Offset(10 + i)
				}
			}
			f.Add(encodeTestFrame(recs, c, clustered))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fsys := NewMemFS()
		fsys.SetFileBytes("/x", b)
		file, _ := fsys.Open("/x")
		r := &Reader{path: "/x", f: file, o: smallOptions(CodecZstd)}
		if err := r.o.fill(); err != nil {
			t.Fatal(err)
		}
		recs, h, err := r.decodeFrame(0, &frameBuf{}, nil)
		if err != nil {
			return
		}
		again := encodeTestFrame(recs, h.codec(), h.clustered())
		if h.codec() == CodecNone && !bytes.Equal(again[frameHeaderSz:], b[frameHeaderSz:h.frameSize()]) {
			t.Fatalf("re-encoded body differs")
		}
		back, _, err := r2(again).decodeFrame(0, &frameBuf{}, nil)
		if err != nil || len(back) != len(recs) {
			t.Fatalf("re-encoded frame does not decode: %v", err)
		}
		for i := range back {
			if !sameRecord(back[i], recs[i]) {
				t.Fatalf("record %d differs after re-encoding", i)
			}
		}
	})
}

func r2(b []byte) *Reader {
	fsys := NewMemFS()
	fsys.SetFileBytes("/y", b)
	file, _ := fsys.Open("/y")
	o := smallOptions(CodecZstd)
	o.fill()
	return &Reader{path: "/y", f: file, o: o}
}

func encodeTestFrame(recs []Record, c Codec, clustered bool) []byte {
	o := smallOptions(c)
	o.fill()
	h := frameHeader{flags: uint8(c)}
	if clustered {
		h.flags |= flagClustered
	}
	_, frame, err := buildFrame(nil, nil, recs, &h, &o)
	if err != nil {
		panic(err)
	}
	return frame
}

// FuzzOpenSegment opens arbitrary bytes as a sealed segment (with and without
// an index) and as an active one: no panic, and every read ends cleanly.
func FuzzOpenSegment(f *testing.F) {
	fsys, path, _ := sealedSegment(&testing.T{}, 1, false)
	seg, _ := fsys.FileBytes(path)
	idx, _ := fsys.FileBytes(IndexName(path))
	f.Add(seg, idx)
	fsys, path, _ = sealedSegment(&testing.T{}, 2, true)
	seg, _ = fsys.FileBytes(path)
	idx, _ = fsys.FileBytes(IndexName(path))
	f.Add(seg, idx)
	f.Add(seg[:len(seg)/2], []byte{})
	f.Fuzz(func(t *testing.T, seg, idx []byte) {
		fsys := NewMemFS()
		fsys.MkdirAll("/d")
		path := "/d/" + FileName(0)
		fsys.SetFileBytes(path, seg)
		if len(idx) > 0 {
			fsys.SetFileBytes(IndexName(path), idx)
		}
		info, verr := Verify(fsys, path, smallOptions(CodecZstd))
		r, err := Open(fsys, path, smallOptions(CodecZstd))
		if verr == nil {
			agreeWithVerify(t, r, err, info)
		}
		if err == nil {
			r.Checksum()
			exercise(r)
		}
		fsys.SetFileBytes(path, seg)
		if w, err := OpenWriter(fsys, path, smallOptions(CodecZstd)); err == nil {
			exercise(w.Reader())
		}
	})
}

// agreeWithVerify: a segment Verify accepts opens, with the same extent and
// checksum, and reads in full without error.
func agreeWithVerify(t *testing.T, r *Reader, err error, info Info) {
	if err != nil {
		t.Fatalf("Verify accepted what Open refuses: %v", err)
	}
	sum, err := r.Checksum()
	if err != nil || sum != info.Checksum || r.NextOffset() != info.NextOffset || r.Clustered() != info.Clustered {
		t.Fatalf("Open and Verify disagree: checksum %08x (%v) vs %08x, next %d vs %d", sum, err, info.Checksum, r.NextOffset(), info.NextOffset)
	}
	it := r.Iter(r.Base())
	defer it.Close()
	n := 0
	for ; it.Next(); n++ {
	}
	if it.Err() != nil || Offset(n) != info.NextOffset-info.Base {
		t.Fatalf("verified segment reads %d records, err %v; Verify saw %d", n, it.Err(), info.NextOffset-info.Base)
	}
}

func exercise(r *Reader) {
	it := r.Iter(r.Base())
	for n := 0; it.Next() && n < 100000; n++ {
	}
	it.Close()
	it = r.Filter(r.Base(), r.NextOffset(), func(k []byte) bool { return len(k)%2 == 0 })
	for n := 0; it.Next() && n < 100000; n++ {
	}
	it.Close()
	r.SeekTime(0)
	r.ReadAt(r.Base())
	r.Close()
}
