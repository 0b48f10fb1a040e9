package log

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/stratamq/strata/segment"
)

// The roll crash matrix. A deterministic workload (appends that roll the
// active segment every few batches, syncs now and then) runs on a MemFS whose
// hook counts every mutating file operation. For each step k it runs again
// and either crashes before operation k (power loss: unsynced bytes and
// directory changes may be dropped; the process is dead, so operation k and
// all later ones fail) or fails operation k alone with an I/O error. Then
// the log is reopened and must hold every record synced before the crash or
// failure, byte for byte, with dense offsets and nothing twice, and accept
// appends.
//
// `go test` runs every step of the first roll for a few seeds; STRATA_CRASH=full
// (make crash) runs every step of the whole workload for many seeds.

var errCrashInjected = errors.New("injected by the crash matrix")

const crashBatches = 30

func crashOptions(fs segment.FS, seed uint64) Options {
	codecs := []segment.Codec{segment.CodecNone, segment.CodecS2, segment.CodecZstd}
	o := testOptions(fs, codecs[seed%3])
	o.SegmentBytes = 2 << 10
	o.Cluster = false // maintenance does no file work: the step count is deterministic
	return o
}

// crashWorkload is what one run appended and synced.
type crashWorkload struct {
	all    []Record // every record offered to Append, offsets set densely
	synced int      // records covered by the last successful Sync
	rolls  [][2]int // operation ranges (first, last] of the Appends that rolled
}

// runCrashWorkload opens a log on fs, installs hook (counting operations
// from 1 after Open) and appends until the workload ends or an error stops
// it. It returns the workload and the log, still open.
func runCrashWorkload(t *testing.T, fs *segment.MemFS, seed uint64, hook func(n int, op segment.Op) error) (*crashWorkload, *Log) {
	t.Helper()
	l, err := Open("/log", crashOptions(fs, seed))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	fs.SetHook(func(op segment.Op) error { n++; return hook(n, op) })
	g := &gen{r: rand.New(rand.NewPCG(seed, 41)), t: t0}
	wl := &crashWorkload{}
	for i := 0; i < crashBatches; i++ {
		b := g.batch(1 + g.r.IntN(8))
		for j := range b {
			b[j].Offset = Offset(len(wl.all) + j)
		}
		wl.all = append(wl.all, b...)
		before, segs := n, len(l.Segments())
		if _, err := l.Append(b, uint64(i+1)); err != nil {
			return wl, l
		}
		if len(l.Segments()) > segs {
			wl.rolls = append(wl.rolls, [2]int{before, n})
		}
		if g.r.IntN(3) == 0 {
			if err := l.Sync(); err != nil {
				return wl, l
			}
			wl.synced = len(wl.all)
		}
	}
	return wl, l
}

// crashSteps returns the operation steps the matrix covers for seed.
func crashSteps(t *testing.T, seed uint64, full bool) []int {
	fs := segment.NewMemFS()
	var ops []segment.Op
	wl, l := runCrashWorkload(t, fs, seed, func(_ int, op segment.Op) error {
		ops = append(ops, op)
		return nil
	})
	l.Close()
	if len(wl.rolls) < 2 {
		t.Fatalf("seed %d: the workload rolled %d times; it must roll", seed, len(wl.rolls))
	}
	var steps []int
	if full {
		for k := 1; k <= wl.rolls[len(wl.rolls)-1][1]+1; k++ {
			steps = append(steps, k)
		}
		return steps
	}
	for k := wl.rolls[0][0] + 1; k <= wl.rolls[0][1]; k++ {
		steps = append(steps, k)
		t.Logf("seed %d step %d: %v", seed, k, ops[k-1])
	}
	return steps
}

func TestCrashMatrixRoll(t *testing.T) {
	full := os.Getenv("STRATA_CRASH") == "full"
	seeds := uint64(3)
	if full {
		seeds = 60
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		for _, k := range crashSteps(t, seed, full) {
			crashAtStep(t, seed, k)
			failAtStep(t, seed, k)
		}
	}
}

// crashAtStep loses power just before operation k.
func crashAtStep(t *testing.T, seed uint64, k int) {
	fs := segment.NewMemFS()
	rng := rand.New(rand.NewPCG(seed, uint64(k)))
	var crashed *segment.MemFS
	wl, l := runCrashWorkload(t, fs, seed, func(n int, _ segment.Op) error {
		if n == k {
			crashed = fs.CrashClone(rng)
		}
		if n >= k {
			return errCrashInjected
		}
		return nil
	})
	l.Close()
	if crashed == nil {
		crashed = fs.CrashClone(rng)
	}
	checkRecovered(t, crashed, seed, wl, fmt.Sprintf("seed %d crash before step %d", seed, k))
}

// failAtStep fails operation k with an I/O error; the process then closes
// the log and restarts, once without and once after a power loss.
func failAtStep(t *testing.T, seed uint64, k int) {
	fs := segment.NewMemFS()
	wl, l := runCrashWorkload(t, fs, seed, func(n int, _ segment.Op) error {
		if n == k {
			return errCrashInjected
		}
		return nil
	})
	l.Close()
	fs.SetHook(nil)
	crashed := fs.CrashClone(rand.New(rand.NewPCG(seed, uint64(k))))
	checkRecovered(t, fs, seed, wl, fmt.Sprintf("seed %d I/O error at step %d", seed, k))
	checkRecovered(t, crashed, seed, wl, fmt.Sprintf("seed %d I/O error at step %d, then power loss", seed, k))
}

// checkRecovered reopens the log on fs: it must open, hold a prefix of what
// was appended that covers every synced record, leave no temporary file, and
// accept and keep a new batch.
func checkRecovered(t *testing.T, fs *segment.MemFS, seed uint64, wl *crashWorkload, what string) {
	t.Helper()
	got := reopenAndRead(t, fs, seed, what)
	if len(got) < wl.synced || len(got) > len(wl.all) {
		t.Fatalf("%s: %d records after recovery; %d were synced, %d appended", what, len(got), wl.synced, len(wl.all))
	}
	equalRecords(t, what, got, wl.all[:len(got)])
	l, err := Open("/log", crashOptions(fs, seed))
	if err != nil {
		t.Fatalf("%s: second open: %v", what, err)
	}
	more := []Record{{Time: t0, Kind: 1, Key: []byte("after/recovery"), Value: []byte(what), Offset: Offset(len(got))}}
	if _, err := l.Append(more, 1000); err != nil {
		t.Fatalf("%s: append after recovery: %v", what, err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("%s: close after recovery: %v", what, err)
	}
	equalRecords(t, what+", appended after recovery", reopenAndRead(t, fs, seed, what), append(got, more...))
}

// reopenAndRead opens the log, checks no *.tmp is left, and reads it all.
func reopenAndRead(t *testing.T, fs *segment.MemFS, seed uint64, what string) []Record {
	t.Helper()
	l, err := Open("/log", crashOptions(fs, seed))
	if err != nil {
		t.Fatalf("%s: open: %v", what, err)
	}
	defer l.Close()
	entries, err := fs.ReadDir("/log")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), segment.TempSuffix) {
			t.Fatalf("%s: %s left after open", what, e.Name())
		}
	}
	out := collect(t, l.Iter(0))
	if l.NextOffset() != Offset(len(out)) {
		t.Fatalf("%s: NextOffset %d after reading %d records", what, l.NextOffset(), len(out))
	}
	return out
}

// TestCrashEmptyTrailingSegment: a trailing segment left empty or shorter
// than its header (by an older build that created it under its final name,
// or by a filesystem that lost the header) does not keep the log from
// opening: it is recovered as a torn tail and appended to.
func TestCrashEmptyTrailingSegment(t *testing.T) {
	for _, torn := range [][]byte{nil, make([]byte, 20)} {
		fs, o, l, all, tag := filledMemLog(t, segment.CodecS2, 3, 40)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		next := Offset(len(all))
		fs.SetFileBytes("/log/"+segment.FileName(next), torn)
		l2, err := Open("/log", o)
		if err != nil {
			t.Fatalf("%d-byte trailing segment: open: %v", len(torn), err)
		}
		more := []Record{{Time: t0, Kind: 1, Key: []byte("a"), Value: []byte("b"), Offset: next}}
		if first, err := l2.Append(more, tag+1); err != nil || first != next {
			t.Fatalf("append after recovery: first %d, %v; want %d", first, err, next)
		}
		if segs := l2.Segments(); segs[len(segs)-1].Base != next {
			t.Fatalf("the recovered segment is not the active one: %+v", segs[len(segs)-1])
		}
		l2.Close()
		equalRecords(t, "after recovery", reopenAndRead(t, fs, 0, "reopen"), append(all, more...))
	}
}
