package segment

import (
	"errors"
	"math/rand/v2"
	"testing"
)

// TestCrashRecovery runs random appends and syncs on a MemFS, simulates a
// power loss at a random point, and reopens: every synced record must be
// there, unchanged, and whatever else survives must be a correct prefix.
func TestCrashRecovery(t *testing.T) {
	seeds := 300
	if testing.Short() {
		seeds = 60
	}
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		crashOnce(t, seed)
	}
}

func crashOnce(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 2))
	c := codecs[seed%3]
	fsys := NewMemFS()
	fsys.MkdirAll("/d")
	path := "/d/" + FileName(100)
	w, err := Create(fsys, "/d", 100, smallOptions(c))
	if err != nil {
		t.Fatal(err)
	}
	var m model
	syncedRecs := 0
	tm := int64(0)
	for i, n := 0, r.IntN(30); i < n; i++ {
		batch := randomBatch(r, 1+r.IntN(20), 30, &tm)
		if _, err := w.Append(batch, uint64(i+1)); err != nil {
			t.Fatal(err)
		}
		m = append(m, batch...)
		if r.IntN(3) == 0 {
			if err := w.Sync(); err != nil {
				t.Fatal(err)
			}
			syncedRecs = len(m)
		}
	}
	crashed := fsys.CrashClone(r)
	w2, err := OpenWriter(crashed, path, smallOptions(c))
	if err != nil {
		t.Fatalf("seed %d: reopen after crash: %v", seed, err)
	}
	got := int(w2.NextOffset() - 100)
	if got < syncedRecs || got > len(m) {
		t.Fatalf("seed %d: %d records after crash; synced %d, written %d", seed, got, syncedRecs, len(m))
	}
	checkReader(t, w2.Reader(), m[:got], seed)
	// The recovered segment accepts appends and survives a clean reopen.
	more := randomBatch(r, 3, 30, &tm)
	if _, err := w2.Append(more, 1000); err != nil {
		t.Fatalf("seed %d: append after recovery: %v", seed, err)
	}
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	w3, err := OpenWriter(crashed, path, smallOptions(c))
	if err != nil || w3.Cut() != 0 {
		t.Fatalf("seed %d: clean reopen: cut %d, %v", seed, w3.Cut(), err)
	}
	checkReader(t, w3.Reader(), append(m[:got:got], more...), seed)
}

// TestCrashDuringCluster crashes at random points of a Cluster rewrite: the
// segment must open with every record, in one layout or the other.
func TestCrashDuringCluster(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		r := rand.New(rand.NewPCG(seed, 3))
		fsys := NewMemFS()
		fsys.MkdirAll("/d")
		path := "/d/" + FileName(0)
		w, err := Create(fsys, "/d", 0, smallOptions(CodecZstd))
		if err != nil {
			t.Fatal(err)
		}
		m := fill(t, w, r, 30)
		sealed, err := w.Seal()
		if err != nil {
			t.Fatal(err)
		}
		sealed.Close()
		// Fail the rewrite after a random number of bytes, then crash.
		fsys.SetFault(path+".tmp", &Fault{WriteErr: errInjected, WriteAfter: int64(r.IntN(20000))})
		if cr, err := Cluster(fsys, path, smallOptions(CodecZstd)); err == nil {
			cr.Close()
		}
		crashed := fsys.CrashClone(r)
		got, err := Open(crashed, path, smallOptions(CodecZstd))
		if err != nil {
			t.Fatalf("seed %d: open after a crash during Cluster: %v", seed, err)
		}
		checkReader(t, got, m, seed)
	}
}

var errInjected = errors.New("injected fault")
