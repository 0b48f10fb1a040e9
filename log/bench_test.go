package log

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stratamq/strata/segment"
)

// telemetryBatch fills batch with JSON readings from 4000 topics
// (site/S/dev/D/metric), interleaved at random; one site is 1% of them.
func telemetryBatch(r *rand.Rand, batch []Record, t *int64) {
	for i := range batch {
		site, dev, m := r.IntN(100), r.IntN(10), r.IntN(4)
		*t += 1_000_000
		batch[i] = Record{Time: *t, Kind: 1,
			Key:   fmt.Appendf(nil, "site/%d/dev/%d/%s", site, dev, []string{"temp", "hum", "bat", "rssi"}[m]),
			Value: fmt.Appendf(nil, `{"d":"d-%04d-%02d","ts":%d,"v":%.2f}`, site, dev, *t/1e6, 20+r.Float64()*10)}
	}
}

func BenchmarkAppend(b *testing.B) {
	for _, c := range []segment.Codec{segment.CodecNone, segment.CodecS2, segment.CodecZstd} {
		for _, n := range []int{1, 64, 1024} {
			b.Run(fmt.Sprintf("%s/batch=%d", c, n), func(b *testing.B) {
				o := DefaultOptions()
				o.Segment.Codec = c
				l, err := Open(b.TempDir(), o)
				if err != nil {
					b.Fatal(err)
				}
				batch := make([]Record, n)
				tm := t0
				telemetryBatch(rand.New(rand.NewPCG(1, 1)), batch, &tm)
				for i := range batch {
					batch[i].Value = batch[i].Value[:min(64, len(batch[i].Value))]
				}
				b.SetBytes(rawBytes(batch))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := l.Append(batch, uint64(i+1)); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
				b.StopTimer()
				l.Close()
			})
		}
	}
}

// benchLog writes n telemetry records over several segments and waits until
// the sealed ones are clustered.
func benchLog(b *testing.B, n int) *Log {
	o := DefaultOptions()
	o.SegmentBytes = 4 << 20
	l, err := Open(b.TempDir(), o)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(2, 2))
	batch := make([]Record, 512)
	tm := t0
	for done := 0; done < n; done += len(batch) {
		telemetryBatch(r, batch, &tm)
		if _, err := l.Append(batch, uint64(done+1)); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for !allClustered(l) && time.Now().Before(deadline) {
		l.kick()
		time.Sleep(10 * time.Millisecond)
	}
	return l
}

// rawBytes is the key and value bytes of recs, what SetBytes reports.
func rawBytes(recs []Record) int64 {
	var n int64
	for _, r := range recs {
		n += int64(len(r.Key) + len(r.Value))
	}
	return n
}

// logRawBytes is the key and value bytes of every record in l.
func logRawBytes(b *testing.B, l *Log) int64 {
	it := l.Iter(0)
	defer it.Close()
	var n int64
	for it.Next() {
		n += int64(len(it.Record().Key) + len(it.Record().Value))
	}
	if it.Err() != nil {
		b.Fatal(it.Err())
	}
	return n
}

func allClustered(l *Log) bool {
	for _, s := range l.Segments() {
		if s.Sealed && !s.Clustered {
			return false
		}
	}
	return true
}

func BenchmarkScan(b *testing.B) {
	l := benchLog(b, 1_000_000)
	defer l.Close()
	b.SetBytes(logRawBytes(b, l))
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		it := l.Iter(0)
		for it.Next() {
			n++
		}
		if it.Err() != nil {
			b.Fatal(it.Err())
		}
		it.Close()
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(len(l.Segments())), "segments")
}

func BenchmarkScanFiltered(b *testing.B) {
	l := benchLog(b, 1_000_000)
	defer l.Close()
	b.SetBytes(logRawBytes(b, l)) // the range's bytes, like range_records/s
	b.ReportAllocs()
	b.ResetTimer()
	matched := 0
	for i := 0; i < b.N; i++ {
		it, err := l.Read("site/7/#", Unbounded(), Unbounded())
		if err != nil {
			b.Fatal(err)
		}
		for it.Next() {
			matched++
		}
		if it.Err() != nil {
			b.Fatal(it.Err())
		}
		it.Close()
	}
	rangeRecords := float64(b.N) * float64(l.NextOffset())
	b.ReportMetric(rangeRecords/b.Elapsed().Seconds(), "range_records/s")
	b.ReportMetric(float64(matched)/rangeRecords, "selectivity")
}
