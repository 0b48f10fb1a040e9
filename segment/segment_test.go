package segment

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"syscall"
	"testing"
)

var codecs = []Codec{CodecNone, CodecS2, CodecZstd}

// model is the list of records a test expects, by offset.
type model []Record

func randomBatch(r *rand.Rand, n, keys int, t *int64) []Record {
	recs := make([]Record, n)
	for i := range recs {
		*t += int64(r.IntN(1000)) - 100 // mostly rising, sometimes back
		v := make([]byte, r.IntN(200))
		for j := range v {
			v[j] = byte('a' + r.IntN(4))
		}
		recs[i] = Record{Time: *t, Kind: uint8(r.IntN(3)), Key: fmt.Appendf(nil, "k/%d", r.IntN(keys)), Value: v}
	}
	return recs
}

func smallOptions(c Codec) Options {
	o := DefaultOptions()
	o.Codec = c
	o.IndexIntervalBytes = 512
	o.ClusterGroupBytes = 8 << 10
	o.ClusterFrameBytes = 700
	return o
}

// fill appends nBatches random batches and returns the model.
func fill(t *testing.T, w *Writer, r *rand.Rand, nBatches int) model {
	t.Helper()
	var m model
	tm := int64(1_700_000_000_000_000_000)
	for i := 0; i < nBatches; i++ {
		batch := randomBatch(r, 1+r.IntN(40), 30, &tm)
		want := w.NextOffset()
		first, err := w.Append(batch, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		if first != want || w.NextOffset() != want+Offset(len(batch)) {
			t.Fatalf("batch %d: first offset %d, want %d", i, first, want)
		}
		m = append(m, batch...)
	}
	return m
}

func sameRecord(a, b Record) bool {
	return a.Offset == b.Offset && a.Time == b.Time && a.Kind == b.Kind &&
		bytes.Equal(a.Key, b.Key) && bytes.Equal(a.Value, b.Value)
}

// checkReader compares every read path of r with the model.
func checkReader(t *testing.T, r *Reader, m model, seed uint64) {
	t.Helper()
	base := r.Base()
	if r.NextOffset() != base+Offset(len(m)) {
		t.Fatalf("seed %d: NextOffset %d, want %d", seed, r.NextOffset(), base+Offset(len(m)))
	}
	rng := rand.New(rand.NewPCG(seed, 99))
	from := base + Offset(rng.IntN(len(m)+1))
	checkIter(t, r.Iter(from), m, from, ^Offset(0), nil, seed)
	to := from + Offset(rng.IntN(len(m)+1))
	key := fmt.Appendf(nil, "k/%d", rng.IntN(30))
	match := func(k []byte) bool { return bytes.Equal(k, key) || bytes.HasSuffix(k, []byte("7")) }
	checkIter(t, r.Filter(from, to, match), m, from, to, match, seed)
	for i := 0; i < 5 && len(m) > 0; i++ {
		off := base + Offset(rng.IntN(len(m)))
		got, err := r.ReadAt(off)
		if err != nil || !sameRecord(got, m[off-base]) {
			t.Fatalf("seed %d: ReadAt(%d) = %+v, %v", seed, off, got, err)
		}
		tm := m[rng.IntN(len(m))].Time + int64(rng.IntN(3)) - 1
		want := base + Offset(len(m))
		for j, rec := range m {
			if rec.Time >= tm {
				want = base + Offset(j)
				break
			}
		}
		if got, err := r.SeekTime(tm); err != nil || got != want {
			t.Fatalf("seed %d: SeekTime(%d) = %d, %v; want %d", seed, tm, got, err, want)
		}
	}
	if _, err := r.ReadAt(base + Offset(len(m))); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("seed %d: ReadAt past the end: %v", seed, err)
	}
}

func checkIter(t *testing.T, it *Iterator, m model, from, to Offset, match func([]byte) bool, seed uint64) {
	t.Helper()
	defer it.Close()
	var want []Record
	for _, rec := range m {
		if rec.Offset >= from && rec.Offset < to && (match == nil || match(rec.Key)) {
			want = append(want, rec)
		}
	}
	n := 0
	for it.Next() {
		if n >= len(want) || !sameRecord(it.Record(), want[n]) {
			t.Fatalf("seed %d: record %d = %+v, want %+v", seed, n, it.Record(), want[min(n, len(want)-1)])
		}
		n++
	}
	if err := it.Err(); err != nil || n != len(want) {
		t.Fatalf("seed %d: iterated %d of %d records, err %v", seed, n, len(want), err)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.String(), func(t *testing.T) {
			for seed := uint64(1); seed <= 6; seed++ {
				roundTrip(t, c, seed)
			}
		})
	}
}

func roundTrip(t *testing.T, c Codec, seed uint64) {
	dir := t.TempDir()
	fsys := OSFS()
	base := Offset(seed * 1000)
	w, err := Create(fsys, dir, base, smallOptions(c))
	if err != nil {
		t.Fatal(err)
	}
	m := fill(t, w, rand.New(rand.NewPCG(seed, 1)), 60)
	checkReader(t, w.Reader(), m, seed) // live reader of the active segment
	r, err := w.Seal()
	if err != nil {
		t.Fatal(err)
	}
	checkReader(t, r, m, seed)
	r.Close()
	path := filepath.Join(dir, FileName(base))
	for _, step := range []string{"reopen", "cluster", "reopen clustered", "rebuild clustered index"} {
		switch step {
		case "cluster":
			r, err = Cluster(fsys, path, smallOptions(c))
		case "rebuild clustered index":
			if err := fsys.Remove(IndexName(path)); err != nil {
				t.Fatal(err)
			}
			fallthrough
		default:
			r, err = Open(fsys, path, smallOptions(c))
		}
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if wantCl := step != "reopen"; r.Clustered() != wantCl {
			t.Fatalf("%s: clustered=%t", step, r.Clustered())
		}
		if r.LastTag() != 60 {
			t.Fatalf("%s: LastTag %d, want 60", step, r.LastTag())
		}
		checkReader(t, r, m, seed)
		r.Close()
	}
}

func TestFileName(t *testing.T) {
	if got := FileName(42); got != "00000000000000000042.seg" {
		t.Fatalf("FileName(42) = %q", got)
	}
	for _, name := range []string{FileName(0), FileName(^Offset(0))} {
		if _, ok := ParseFileName(name); !ok {
			t.Fatalf("ParseFileName(%q) failed", name)
		}
	}
	for _, bad := range []string{"42.seg", "0000000000000000004x.seg", "00000000000000000042.idx"} {
		if _, ok := ParseFileName(bad); ok {
			t.Fatalf("ParseFileName(%q) accepted", bad)
		}
	}
}

func TestReopenWriterAppends(t *testing.T) {
	fsys := NewMemFS()
	fsys.MkdirAll("/d")
	w, err := Create(fsys, "/d", 7, smallOptions(CodecZstd))
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 3))
	m := fill(t, w, r, 10)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w, err = OpenWriter(fsys, "/d/"+FileName(7), smallOptions(CodecZstd))
	if err != nil {
		t.Fatal(err)
	}
	if w.Cut() != 0 || w.NextOffset() != 7+Offset(len(m)) || w.LastTag() != 10 {
		t.Fatalf("reopened: cut %d next %d tag %d", w.Cut(), w.NextOffset(), w.LastTag())
	}
	tm := m[len(m)-1].Time
	more := randomBatch(r, 5, 30, &tm)
	if _, err := w.Append(more, 11); err != nil {
		t.Fatal(err)
	}
	checkReader(t, w.Reader(), append(m, more...), 3)
}

func TestFaults(t *testing.T) {
	cases := []struct {
		name  string
		fault Fault
	}{
		{"short write", Fault{WriteErr: syscall.EIO, WriteAfter: 100}},
		{"EIO", Fault{WriteErr: syscall.EIO}},
		{"ENOSPC", Fault{WriteErr: syscall.ENOSPC}},
		{"sync error", Fault{SyncErr: syscall.EIO}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fsys := NewMemFS()
			fsys.MkdirAll("/d")
			path := "/d/" + FileName(0)
			w, err := Create(fsys, "/d", 0, smallOptions(CodecS2))
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(5, 5))
			m := fill(t, w, r, 5)
			if err := w.Sync(); err != nil {
				t.Fatal(err)
			}
			fsys.SetFault(path, &c.fault)
			tm := int64(0)
			_, werr := w.Append(randomBatch(r, 10, 30, &tm), 6)
			if werr == nil {
				werr = w.Sync()
			}
			if !errors.Is(werr, c.fault.WriteErr) && !errors.Is(werr, c.fault.SyncErr) {
				t.Fatalf("want the injected error, got %v", werr)
			}
			fsys.SetFault(path, nil)
			if _, err := w.Append(randomBatch(r, 1, 30, &tm), 7); err == nil {
				t.Fatal("append after a failure succeeded")
			}
			if err := w.Sync(); err == nil {
				t.Fatal("sync after a failure succeeded")
			}
			crashed := fsys.CrashClone(rand.New(rand.NewPCG(1, 1)))
			w2, err := OpenWriter(crashed, path, smallOptions(CodecS2))
			if err != nil {
				t.Fatalf("reopen after fault: %v", err)
			}
			checkReader(t, w2.Reader(), m, 5)
		})
	}
}

// TestIOErrorIsNotCorruption: a read that fails for a reason other than
// missing bytes (here: the file was closed under the reader) is reported as
// that I/O error, never as ErrCorrupt.
func TestIOErrorIsNotCorruption(t *testing.T) {
	fsys := NewMemFS()
	fsys.MkdirAll("/d")
	w, err := Create(fsys, "/d", 0, smallOptions(CodecS2))
	if err != nil {
		t.Fatal(err)
	}
	fill(t, w, rand.New(rand.NewPCG(11, 11)), 3)
	r := w.Reader()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	it := r.Iter(0)
	defer it.Close()
	for it.Next() {
	}
	if err := it.Err(); err == nil || errors.Is(err, ErrCorrupt) || !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("reading a closed file: %v; want fs.ErrClosed, not ErrCorrupt", err)
	}
}
