package log

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stratamq/strata/segment"
	"github.com/stratamq/strata/topic"
)

// TestCloseWithOpenIterator: iterators opened before Close finish reading
// every segment, the active one included.
func TestCloseWithOpenIterator(t *testing.T) {
	for _, name := range []string{"osfs", "memfs"} {
		t.Run(name, func(t *testing.T) {
			fs, dir := segment.OSFS(), t.TempDir()
			if name == "memfs" {
				fs, dir = segment.NewMemFS(), "/log"
			}
			o := testOptions(fs, segment.CodecS2)
			o.SegmentBytes = 1 << 30 // one active segment
			l, err := Open(dir, o)
			if err != nil {
				t.Fatal(err)
			}
			g := &gen{r: rand.New(rand.NewPCG(11, 11)), t: t0}
			var tag uint64
			all := appendAll(t, l, g, 50, &tag)
			it := l.Iter(0)
			if !it.Next() {
				t.Fatalf("empty iterator: %v", it.Err())
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			rest := collect(t, it)
			equalRecords(t, "after Close", rest, all[1:])
		})
	}
}

// stamp makes a record whose key, value and time follow from its offset, so
// concurrent readers can check what they get without sharing a model.
func stamp(off Offset) Record {
	return Record{Time: t0 + int64(off)*1e6, Kind: 1,
		Key:   fmt.Appendf(nil, "k/%d/%d", off%7, off%13),
		Value: fmt.Appendf(nil, "v%d", off)}
}

func checkStamped(r Record) error {
	want := stamp(r.Offset)
	if r.Time != want.Time || !bytes.Equal(r.Key, want.Key) || !bytes.Equal(r.Value, want.Value) {
		return fmt.Errorf("record %d = %q %q %d, want %q %q %d", r.Offset, r.Key, r.Value, r.Time, want.Key, want.Value, want.Time)
	}
	return nil
}

// TestConcurrentReaders: iterators, filtered reads, seeks and accessors run
// while one goroutine appends, segments roll, get clustered and are deleted
// by retention. Readers see dense, correct records; run it with -race.
func TestConcurrentReaders(t *testing.T) {
	o := testOptions(segment.OSFS(), segment.CodecS2)
	o.RetentionBytes = 48 << 10
	l, err := Open(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	stop := make(chan struct{})
	errs := make(chan error, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- readLoop(l, uint64(i), stop)
		}()
	}
	batches := 3000
	if testing.Short() {
		batches = 600
	}
	for i := range batches {
		next := l.NextOffset()
		batch := make([]Record, 1+i%9)
		for j := range batch {
			batch[j] = stamp(next + Offset(j))
		}
		if _, err := l.Append(batch, uint64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for l.FirstOffset() == 0 && time.Now().Before(deadline) { // readers keep running
		l.kick()
		time.Sleep(5 * time.Millisecond) // poll interval under a deadline
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if l.FirstOffset() == 0 {
		t.Fatal("retention never ran: the test did not exercise deletion")
	}
}

// readLoop reads the log in every way until stop, checking each result.
func readLoop(l *Log, seed uint64, stop <-chan struct{}) error {
	r := rand.New(rand.NewPCG(seed, 77))
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		var err error
		switch r.IntN(4) {
		case 0:
			err = checkIter(l, r)
		case 1:
			err = checkRead(l, r)
		case 2:
			err = checkSeek(l, r)
		default:
			err = checkSegments(l)
		}
		if err != nil {
			return fmt.Errorf("reader seed %d: %w", seed, err)
		}
	}
}

func checkIter(l *Log, r *rand.Rand) error {
	next := l.NextOffset()
	from := Offset(r.Int64N(int64(next) + 1))
	it := l.Iter(from)
	defer it.Close()
	want := from
	for it.Next() {
		rec := it.Record()
		if rec.Offset != want && !(want == from && rec.Offset > from) { // from may have been deleted
			return fmt.Errorf("Iter(%d): offset %d after %d", from, rec.Offset, want-1)
		}
		if err := checkStamped(rec); err != nil {
			return err
		}
		want = rec.Offset + 1
	}
	if it.Err() != nil {
		return it.Err()
	}
	if want < next && want != from {
		return fmt.Errorf("Iter(%d) stopped at %d, log had %d", from, want, next)
	}
	return nil
}

func checkRead(l *Log, r *rand.Rand) error {
	f := fmt.Sprintf("k/%d/+", r.IntN(7))
	next := l.NextOffset()
	from := Offset(r.Int64N(int64(next) + 1))
	it, err := l.Read(f, AtOffset(from), Unbounded())
	if err != nil {
		return err
	}
	defer it.Close()
	last := Offset(0)
	for it.Next() {
		rec := it.Record()
		if rec.Offset < from || (last > 0 && rec.Offset <= last) || !topic.Match(f, string(rec.Key)) {
			return fmt.Errorf("Read(%q, %d): unexpected record %d %q after %d", f, from, rec.Offset, rec.Key, last)
		}
		if err := checkStamped(rec); err != nil {
			return err
		}
		last = rec.Offset
	}
	return it.Err()
}

func checkSeek(l *Log, r *rand.Rand) error {
	next := l.NextOffset()
	x := Offset(r.Int64N(int64(next) + 1))
	got, err := l.Seek(time.Unix(0, stamp(x).Time))
	if err != nil {
		return err
	}
	if x >= l.FirstOffset() && got != x {
		return fmt.Errorf("Seek(time of %d) = %d", x, got)
	}
	return nil
}

func checkSegments(l *Log) error {
	segs := l.Segments()
	for i := 1; i < len(segs); i++ {
		if segs[i].Base != segs[i-1].NextOffset {
			return fmt.Errorf("segment %d starts at %d, previous ends at %d", i, segs[i].Base, segs[i-1].NextOffset)
		}
	}
	if segs[len(segs)-1].Sealed {
		return fmt.Errorf("the last segment is sealed: %+v", segs[len(segs)-1])
	}
	if next := l.NextOffset(); next > 0 && l.LastTag() == 0 { // NextOffset first: appends race
		return fmt.Errorf("next offset %d but no last tag", next)
	}
	return nil
}

// TestOpenDetectsGap: a missing middle segment is corruption, not a silent
// hole in the offsets.
func TestOpenDetectsGap(t *testing.T) {
	fs, o, l, _, _ := filledMemLog(t, segment.CodecNone, 12, 60)
	segs := l.Segments()
	if len(segs) < 3 {
		t.Fatalf("%d segments, want at least 3", len(segs))
	}
	l.Close()
	if err := fs.Remove(segs[1].Path); err != nil {
		t.Fatal(err)
	}
	if _, err := Open("/log", o); !errors.Is(err, segment.ErrCorrupt) {
		t.Fatalf("open with a gap: %v, want ErrCorrupt", err)
	}
}

// TestOpenRemovesTempFiles: a clustering rewrite interrupted by a crash
// leaves a .tmp file that Open deletes; the segment stays readable.
func TestOpenRemovesTempFiles(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(segment.OSFS(), segment.CodecZstd)
	o.Cluster = false
	l, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	g := &gen{r: rand.New(rand.NewPCG(13, 13)), t: t0}
	var tag uint64
	all := appendAll(t, l, g, 60, &tag)
	tmp := l.Segments()[0].Path + ".tmp"
	l.Close()
	if err := os.WriteFile(tmp, []byte("half a rewrite"), 0o644); err != nil {
		t.Fatal(err)
	}
	if l, err = Open(dir, o); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temp file survived Open: %v", err)
	}
	equalRecords(t, "after reopen", collect(t, l.Iter(0)), all)
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Options)
		ok   bool
	}{
		{"default", func(*Options) {}, true},
		{"nil fs", func(o *Options) { o.FS = nil }, false},
		{"zero segment bytes", func(o *Options) { o.SegmentBytes = 0 }, false},
		{"negative age", func(o *Options) { o.SegmentAge = -time.Second }, false},
		{"negative retention age", func(o *Options) { o.RetentionAge = -1 }, false},
		{"negative retention bytes", func(o *Options) { o.RetentionBytes = -1 }, false},
		{"bad segment options", func(o *Options) { o.Segment.IndexIntervalBytes = 0 }, false},
		{"age roll off", func(o *Options) { o.SegmentAge = 0 }, true},
	} {
		o := DefaultOptions()
		tc.edit(&o)
		err := o.Validate()
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("%s: Validate() = %v", tc.name, err)
		}
		if !tc.ok {
			if _, err := Open(t.TempDir(), o); !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: Open = %v, want ErrInvalid", tc.name, err)
			}
		}
	}
}

func TestAppendEmptyBatch(t *testing.T) {
	l, err := Open("/log", testOptions(segment.NewMemFS(), segment.CodecNone))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Append(nil, 1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Append(nil) = %v, want ErrInvalid", err)
	}
	if _, err := l.Append([]Record{stamp(0)}, 2); err != nil {
		t.Fatalf("an empty batch must not fail the log: %v", err)
	}
}

// TestRollBySizeIsDeterministic: logs fed the same batches roll at the same
// offsets whatever their filesystem, and every sealed segment reached
// SegmentBytes before the batch that rolled it.
func TestRollBySizeIsDeterministic(t *testing.T) {
	for _, c := range []segment.Codec{segment.CodecNone, segment.CodecS2, segment.CodecZstd} {
		var layouts [2][]Offset
		for i, fs := range []segment.FS{segment.OSFS(), segment.NewMemFS()} {
			dir := "/log"
			if i == 0 {
				dir = t.TempDir()
			}
			o := testOptions(fs, c)
			o.Cluster = i == 0 // clustering must not change where rolls happen
			l, err := Open(dir, o)
			if err != nil {
				t.Fatal(err)
			}
			g := &gen{r: rand.New(rand.NewPCG(14, 14)), t: t0}
			var tag uint64
			appendAll(t, l, g, 150, &tag)
			for _, s := range l.Segments() {
				layouts[i] = append(layouts[i], s.Base)
				if s.Sealed && !s.Clustered && s.Size < o.SegmentBytes {
					t.Fatalf("%s: sealed segment %d is %d bytes, under SegmentBytes %d", c, s.Base, s.Size, o.SegmentBytes)
				}
			}
			l.Close()
		}
		if len(layouts[0]) < 4 || !slices.Equal(layouts[0], layouts[1]) {
			t.Fatalf("%s: segment bases differ: %v vs %v", c, layouts[0], layouts[1])
		}
	}
}

// TestRetentionAgeUsesRecordTime: age retention compares segments with the
// newest record, not the wall clock, so records from long ago are kept while
// they are recent relative to each other.
func TestRetentionAgeUsesRecordTime(t *testing.T) {
	o := testOptions(segment.NewMemFS(), segment.CodecNone)
	o.SegmentBytes = 1 << 30
	o.SegmentAge = time.Minute
	o.RetentionAge = 3 * time.Minute
	l, err := Open("/log", o)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	old := int64(1_000_000_000_000_000_000) // 2001: far older than RetentionAge before now
	for i := range 10 {
		rec := Record{Time: old + int64(i)*int64(time.Minute), Key: []byte("a"), Value: []byte("v")}
		if _, err := l.Append([]Record{rec}, uint64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	// One record per segment, minutes 0..9; newest is minute 9, so segments
	// whose record is more than 3 minutes older (minutes 0..5) go.
	deadline := time.Now().Add(10 * time.Second)
	for l.FirstOffset() != 6 {
		if l.FirstOffset() > 6 || time.Now().After(deadline) {
			t.Fatalf("FirstOffset %d, want 6: %+v", l.FirstOffset(), l.Segments())
		}
		l.kick()
		time.Sleep(5 * time.Millisecond) // poll interval under a deadline
	}
}

// TestRetentionKeepsLastTag: a crash right after a roll leaves an empty
// active segment; retention must not delete the segment holding the last
// frame, or LastTag would fall back to 0 and replication would re-apply
// entries the log already holds.
func TestRetentionKeepsLastTag(t *testing.T) {
	fs, o, l, _, tag := filledMemLog(t, segment.CodecS2, 15, 60)
	next := l.NextOffset()
	l.Close()
	// What a crash between the roll and the first append leaves behind.
	w, err := segment.Create(fs, "/log", next, o.Segment)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	o.RetentionBytes = 1
	if l, err = Open("/log", o); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	deadline := time.Now().Add(10 * time.Second)
	for len(l.Segments()) > 2 {
		if time.Now().After(deadline) {
			t.Fatalf("retention did not run: %d segments", len(l.Segments()))
		}
		l.kick()
		time.Sleep(5 * time.Millisecond) // poll interval under a deadline
	}
	if l.LastTag() != tag || l.NextOffset() != next {
		t.Fatalf("after retention: LastTag %d NextOffset %d, want %d %d", l.LastTag(), l.NextOffset(), tag, next)
	}
	more := (&gen{r: rand.New(rand.NewPCG(16, 16)), t: t0 + 1e12}).batch(3)
	if _, err := l.Append(more, tag+1); err != nil {
		t.Fatal(err)
	}
	if l.LastTag() != tag+1 {
		t.Fatalf("LastTag %d after append, want %d", l.LastTag(), tag+1)
	}
}

// TestIterNeverSkipsASegment sets up the moment an iterator can meet while
// retention runs: it acquired segment 0, then retention deleted segments 0
// and 1. The iterator must start after the deleted prefix, not return
// segment 0 followed by a jump over segment 1.
func TestIterNeverSkipsASegment(t *testing.T) {
	o := testOptions(segment.NewMemFS(), segment.CodecNone)
	o.Cluster = false
	l, err := Open("/log", o)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	g := &gen{r: rand.New(rand.NewPCG(16, 16)), t: t0}
	var tag uint64
	all := appendAll(t, l, g, 80, &tag)
	segs := l.segments()
	if len(segs) < 4 {
		t.Fatalf("%d segments, want at least 4", len(segs))
	}
	segs[1].h.Load().release() // deleted by retention; segment 0 not yet
	got := collect(t, l.Iter(0))
	equalRecords(t, "Iter(0) past a deleted segment", got, all[segs[2].base:])
	segs[1].h.Load().refs.Store(1) // restore the log's reference for Close
}
