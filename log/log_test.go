package log

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stratamq/strata/segment"
	"github.com/stratamq/strata/topic"
)

const t0 = int64(1_763_800_000_000_000_000)

// testOptions make small segments so that tests cross many of them.
func testOptions(fs segment.FS, c segment.Codec) Options {
	o := DefaultOptions()
	o.FS = fs
	o.Segment.Codec = c
	o.Segment.IndexIntervalBytes = 512
	o.Segment.ClusterGroupBytes = 4 << 10
	o.Segment.ClusterFrameBytes = 512
	o.SegmentBytes = 8 << 10
	o.SegmentAge = 0
	return o
}

// gen produces records over a few hundred topics (some '$' topics, some
// empty keys for non-publish entries) with mostly rising times.
type gen struct {
	r *rand.Rand
	t int64
}

// topic draws from about 4000 names: s/S/d/D/M (some with an empty last
// level), $SYS names that wildcards at the first level must not match, and
// the empty key of non-publish records.
func (g *gen) topic() string {
	switch g.r.IntN(20) {
	case 0:
		return fmt.Sprintf("$SYS/broker/%d/%s", g.r.IntN(4), []string{"load", "clients", ""}[g.r.IntN(3)])
	case 1:
		return ""
	}
	return fmt.Sprintf("s/%d/d/%d/%s", g.r.IntN(40), g.r.IntN(25), []string{"t", "h", "b", ""}[g.r.IntN(4)])
}

// filter makes a valid filter from a random topic: levels become '+' and a
// tail becomes '#' at random, so filters range from one topic to all.
func (g *gen) filter() string {
	if g.r.IntN(8) == 0 {
		return filters[g.r.IntN(len(filters))]
	}
	name := g.topic()
	for name == "" {
		name = g.topic()
	}
	levels := strings.Split(name, "/")
	if g.r.IntN(3) == 0 {
		levels = append(levels[:g.r.IntN(len(levels))], "#")
	}
	for i := range levels {
		if levels[i] != "#" && g.r.IntN(3) == 0 {
			levels[i] = "+"
		}
	}
	return strings.Join(levels, "/")
}

func (g *gen) batch(n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		g.t += int64(g.r.IntN(2_000_000)) - 200_000
		recs[i] = Record{Time: g.t, Kind: 1, Key: []byte(g.topic()), Value: fmt.Appendf(nil, `{"v":%d}`, g.r.IntN(1e6))}
	}
	return recs
}

func appendAll(t *testing.T, l *Log, g *gen, batches int, tag *uint64) []Record {
	t.Helper()
	var all []Record
	for i := 0; i < batches; i++ {
		b := g.batch(1 + g.r.IntN(30))
		*tag++
		want := l.NextOffset()
		first, err := l.Append(b, *tag)
		if err != nil {
			t.Fatal(err)
		}
		if first != want {
			t.Fatalf("Append gave first offset %d, want %d", first, want)
		}
		all = append(all, b...)
	}
	return all
}

func collect(t *testing.T, it *Iterator) []Record {
	t.Helper()
	defer it.Close()
	var out []Record
	for it.Next() {
		r := it.Record()
		r.Key, r.Value = bytes.Clone(r.Key), bytes.Clone(r.Value)
		out = append(out, r)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func equalRecords(t *testing.T, what string, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d records, want %d", what, len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Offset != w.Offset || g.Time != w.Time || g.Kind != w.Kind || !bytes.Equal(g.Key, w.Key) || !bytes.Equal(g.Value, w.Value) {
			t.Fatalf("%s: record %d = %+v, want %+v", what, i, g, w)
		}
	}
}

var filters = []string{"#", "s/+/d/+/t", "s/3/#", "s/+/d/7/+", "+/+/+/+/", "$SYS/#", "s/1/d/2/h", "+/#", "s/9/#"}

// brute filters a full model the slow way.
func brute(all []Record, filter string, from, to Offset) []Record {
	var out []Record
	for _, r := range all {
		if r.Offset >= from && r.Offset < to && len(r.Key) > 0 && topic.Match(filter, string(r.Key)) {
			out = append(out, r)
		}
	}
	return out
}

// TestReadMatchesBruteForce: filtered range reads, by offset and by time, on
// ordered and clustered segments, before and after reopening, equal a
// brute-force filter of the model.
func TestReadMatchesBruteForce(t *testing.T) {
	for _, c := range []segment.Codec{segment.CodecNone, segment.CodecS2, segment.CodecZstd} {
		t.Run(c.String(), func(t *testing.T) {
			for seed := uint64(1); seed <= 3; seed++ {
				readProperty(t, c, seed)
			}
		})
	}
}

func readProperty(t *testing.T, c segment.Codec, seed uint64) {
	dir := t.TempDir()
	o := testOptions(segment.OSFS(), c)
	l, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	g := &gen{r: rand.New(rand.NewPCG(seed, 1)), t: t0}
	var tag uint64
	all := appendAll(t, l, g, 200, &tag)
	if len(l.Segments()) < 5 {
		t.Fatalf("only %d segments; the test wants many", len(l.Segments()))
	}
	r := rand.New(rand.NewPCG(seed, 2))
	fg := &gen{r: rand.New(rand.NewPCG(seed, 3))}
	check := func(stage string) {
		for i := 0; i < 40; i++ {
			f := fg.filter()
			from, to := Offset(r.IntN(len(all)+1)), Offset(r.IntN(len(all)+1))
			it, err := l.Read(f, AtOffset(from), AtOffset(to))
			if err != nil {
				t.Fatal(err)
			}
			equalRecords(t, fmt.Sprintf("seed %d %s: Read(%q, %d, %d)", seed, stage, f, from, to), collect(t, it), brute(all, f, from, to))
			t1, t2 := all[r.IntN(len(all))].Time, all[r.IntN(len(all))].Time
			it, err = l.Read(f, AtTime(time.Unix(0, t1)), AtTime(time.Unix(0, t2)))
			if err != nil {
				t.Fatal(err)
			}
			start, end := firstAtOrAfter(all, t1), firstAtOrAfter(all, t2)
			equalRecords(t, fmt.Sprintf("seed %d %s: Read(%q, time %d, time %d)", seed, stage, f, t1, t2), collect(t, it), brute(all, f, start, end))
			it, err = l.Read(f, AtTime(time.Unix(0, t1)), Unbounded())
			if err != nil {
				t.Fatal(err)
			}
			equalRecords(t, fmt.Sprintf("seed %d %s: Read(%q, time %d, unbounded)", seed, stage, f, t1), collect(t, it), brute(all, f, start, Offset(len(all))))
		}
		equalRecords(t, stage+": Iter", collect(t, l.Iter(0)), all)
	}
	check("ordered")
	waitClustered(t, l)
	check("clustered")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l, err = Open(dir, o); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.LastTag() != tag || l.NextOffset() != Offset(len(all)) {
		t.Fatalf("reopened: LastTag %d NextOffset %d, want %d %d", l.LastTag(), l.NextOffset(), tag, len(all))
	}
	check("reopened")
	all = append(all, appendAll(t, l, g, 20, &tag)...)
	check("appended after reopen")
}

func firstAtOrAfter(all []Record, tm int64) Offset {
	for _, r := range all {
		if r.Time >= tm {
			return r.Offset
		}
	}
	return Offset(len(all))
}

// waitClustered polls until every sealed segment is clustered.
func waitClustered(t *testing.T, l *Log) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		pending := 0
		for _, s := range l.Segments() {
			if s.Sealed && !s.Clustered {
				pending++
			}
		}
		if pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d segments still not clustered", pending)
		}
		l.kick()
		time.Sleep(5 * time.Millisecond) // poll interval under a deadline
	}
}

func TestSeek(t *testing.T) {
	l, err := Open(t.TempDir(), testOptions(segment.OSFS(), segment.CodecS2))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	g := &gen{r: rand.New(rand.NewPCG(9, 9)), t: t0}
	var tag uint64
	all := appendAll(t, l, g, 100, &tag)
	for _, r := range all[:50] {
		want := firstAtOrAfter(all, r.Time)
		if got, err := l.Seek(time.Unix(0, r.Time)); err != nil || got != want {
			t.Fatalf("Seek(%d) = %d, %v; want %d", r.Time, got, err, want)
		}
	}
	if got, _ := l.Seek(time.Unix(0, g.t+1e12)); got != l.NextOffset() {
		t.Fatalf("Seek past the end = %d, want %d", got, l.NextOffset())
	}
}

func TestRollByAge(t *testing.T) {
	o := testOptions(segment.NewMemFS(), segment.CodecNone)
	o.SegmentBytes = 1 << 30
	o.SegmentAge = time.Minute
	l, err := Open("/log", o)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := 0; i < 10; i++ {
		rec := Record{Time: t0 + int64(i)*int64(30*time.Second), Key: []byte("a"), Value: []byte("v")}
		if _, err := l.Append([]Record{rec}, uint64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	// A segment spans less than a minute of record time: records 0-1, 2-3, ...
	segs := l.Segments()
	if len(segs) != 5 {
		t.Fatalf("%d segments, want 5: %+v", len(segs), segs)
	}
	for i, s := range segs {
		if s.Base != Offset(2*i) {
			t.Fatalf("segment %d starts at %d, want %d", i, s.Base, 2*i)
		}
	}
}

func TestRetention(t *testing.T) {
	for _, by := range []string{"bytes", "age"} {
		t.Run(by, func(t *testing.T) {
			o := testOptions(segment.NewMemFS(), segment.CodecNone)
			if by == "bytes" {
				o.RetentionBytes = 64 << 10
			} else {
				o.RetentionAge = time.Second
			}
			l, err := Open("/log", o)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			g := &gen{r: rand.New(rand.NewPCG(4, 4)), t: t0}
			var tag uint64
			// About 450 records over 0.4 s of record time: several segments,
			// still under both retention bounds.
			all := appendAll(t, l, g, 30, &tag)
			if l.FirstOffset() != 0 || len(l.Segments()) < 2 {
				t.Fatalf("setup: first offset %d, %d segments", l.FirstOffset(), len(l.Segments()))
			}
			held := l.Iter(0) // opened before retention deletes anything
			heldWant := all
			all = append(all, appendAll(t, l, g, 470, &tag)...)
			deadline := time.Now().Add(10 * time.Second)
			for l.FirstOffset() == 0 {
				if time.Now().After(deadline) {
					t.Fatal("retention never deleted a segment")
				}
				l.kick()
				time.Sleep(5 * time.Millisecond)
			}
			first := l.FirstOffset()
			var size int64
			for _, s := range l.Segments() {
				size += s.Size
			}
			if by == "bytes" && size > o.RetentionBytes+o.SegmentBytes*2 {
				t.Fatalf("log is %d bytes, retention bound %d", size, o.RetentionBytes)
			}
			equalRecords(t, "after retention", collect(t, l.Iter(0)), all[first:])
			// The held iterator still reads the deleted segments, to the end
			// of the log as it was when the iterator was made.
			equalRecords(t, "held iterator", collect(t, held), heldWant)
		})
	}
}

// TestStickyWriteError: after a failed write the log refuses appends, and
// what was synced before is intact after reopening.
func TestStickyWriteError(t *testing.T) {
	for _, fault := range []segment.Fault{{WriteErr: syscall.ENOSPC}, {WriteErr: syscall.EIO, WriteAfter: 10}, {SyncErr: syscall.EIO}} {
		fs := segment.NewMemFS()
		o := testOptions(fs, segment.CodecS2)
		l, err := Open("/log", o)
		if err != nil {
			t.Fatal(err)
		}
		g := &gen{r: rand.New(rand.NewPCG(5, 5)), t: t0}
		var tag uint64
		all := appendAll(t, l, g, 50, &tag)
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		fs.SetFault("", &fault)
		_, err = l.Append(g.batch(5), 99)
		if err == nil {
			err = l.Sync()
		}
		if !errors.Is(err, ErrFailed) {
			t.Fatalf("fault %+v: got %v, want ErrFailed", fault, err)
		}
		fs.SetFault("", nil)
		if _, err := l.Append(g.batch(1), 100); !errors.Is(err, ErrFailed) {
			t.Fatalf("append after failure: %v", err)
		}
		l.Close()
		crashed := fs.CrashClone(rand.New(rand.NewPCG(1, 1)))
		l2, err := Open("/log", testOptions(crashed, segment.CodecS2))
		if err != nil {
			t.Fatal(err)
		}
		got := collect(t, l2.Iter(0))
		equalRecords(t, "after fault", got[:len(all)], all)
		l2.Close()
	}
}

// TestCrash: a power loss at a random point loses no synced record and
// leaves offsets contiguous.
func TestCrash(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		fs := segment.NewMemFS()
		o := testOptions(fs, segment.CodecZstd)
		l, err := Open("/log", o)
		if err != nil {
			t.Fatal(err)
		}
		g := &gen{r: rand.New(rand.NewPCG(seed, 6)), t: t0}
		var tag uint64
		var all []Record
		synced := 0
		for i := 0; i < 60; i++ {
			all = append(all, appendAll(t, l, g, 1, &tag)...)
			if g.r.IntN(4) == 0 {
				if err := l.Sync(); err != nil {
					t.Fatal(err)
				}
				synced = len(all)
			}
		}
		crashed := fs.CrashClone(rand.New(rand.NewPCG(seed, 7)))
		l.Close()
		l2, err := Open("/log", testOptions(crashed, segment.CodecZstd))
		if err != nil {
			t.Fatalf("seed %d: open after crash: %v", seed, err)
		}
		got := collect(t, l2.Iter(0))
		if len(got) < synced {
			t.Fatalf("seed %d: %d records survive, %d were synced", seed, len(got), synced)
		}
		equalRecords(t, fmt.Sprintf("seed %d after crash", seed), got, all[:len(got)])
		if _, err := l2.Append(g.batch(2), tag+1); err != nil {
			t.Fatalf("seed %d: append after crash: %v", seed, err)
		}
		l2.Close()
	}
}

// filledMemLog opens a log on a fresh MemFS with clustering off and appends
// batches random batches drawn from seed.
func filledMemLog(t *testing.T, c segment.Codec, seed uint64, batches int) (*segment.MemFS, Options, *Log, []Record, uint64) {
	t.Helper()
	fs := segment.NewMemFS()
	o := testOptions(fs, c)
	o.Cluster = false
	l, err := Open("/log", o)
	if err != nil {
		t.Fatal(err)
	}
	g := &gen{r: rand.New(rand.NewPCG(seed, seed)), t: t0}
	var tag uint64
	all := appendAll(t, l, g, batches, &tag)
	return fs, o, l, all, tag
}

// TestCorruptSealedSegment: a flipped bit in a sealed segment is reported as
// ErrCorrupt by reads, never returned as data.
func TestCorruptSealedSegment(t *testing.T) {
	fs, o, l, all, _ := filledMemLog(t, segment.CodecS2, 8, 100)
	victim := l.Segments()[1].Path
	l.Close()
	b, _ := fs.FileBytes(victim)
	b[len(b)/2] ^= 0x10
	fs.SetFileBytes(victim, b)
	l, err := Open("/log", o)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	it := l.Iter(0)
	n := 0
	for it.Next() {
		r := it.Record()
		if !bytes.Equal(r.Value, all[r.Offset].Value) {
			t.Fatalf("wrong data at offset %d", r.Offset)
		}
		n++
	}
	if !errors.Is(it.Err(), segment.ErrCorrupt) || !strings.Contains(it.Err().Error(), victim) {
		t.Fatalf("after %d records: err %v, want ErrCorrupt naming %s", n, it.Err(), victim)
	}
	it.Close()
}

func TestReadRejectsBadFilters(t *testing.T) {
	l, err := Open(t.TempDir(), testOptions(segment.OSFS(), segment.CodecNone))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, f := range []string{"", "a/#/b", "a+", "$share/g/a"} {
		if _, err := l.Read(f, Unbounded(), Unbounded()); !errors.Is(err, topic.ErrInvalid) {
			t.Fatalf("Read(%q): %v, want topic.ErrInvalid", f, err)
		}
	}
}
