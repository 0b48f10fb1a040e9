package segment

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// telemetry generates deterministic JSON telemetry: 100 sites x 10 devices x
// 4 metrics = 4000 topics, interleaved at random, times rising by ~1 ms.
type telemetry struct {
	r   *rand.Rand
	t   int64
	seq int
}

func newTelemetry(seed uint64) *telemetry {
	return &telemetry{r: rand.New(rand.NewPCG(seed, 0)), t: 1_763_800_000_000_000_000}
}

var metrics = []string{"temp", "hum", "bat", "rssi"}

func (g *telemetry) next() Record {
	site, dev, m := g.r.IntN(100), g.r.IntN(10), g.r.IntN(4)
	g.t += int64(500_000 + g.r.IntN(1_000_000))
	g.seq++
	topic := fmt.Sprintf("site/%d/dev/%d/%s", site, dev, metrics[m])
	val := fmt.Sprintf(`{"device":"d-%04d-%02d","ts":%d,"%s":%.2f,"bat":%.2f,"seq":%d}`,
		site, dev, g.t/1e6, metrics[m], 20+g.r.Float64()*10, 3.5+g.r.Float64()*0.5, g.seq)
	return Record{Time: g.t, Kind: 1, Key: []byte(topic), Value: []byte(val)}
}

// siteFilter matches one site's 40 topics: about 1% of the records.
func siteFilter(key []byte) bool { return strings.HasPrefix(string(key), "site/7/") }

func BenchmarkAppend(b *testing.B) {
	for _, c := range codecs {
		for _, size := range []int{64, 1024} {
			for _, batch := range []int{1, 64, 1024} {
				b.Run(fmt.Sprintf("%s/value=%d/batch=%d", c, size, batch), func(b *testing.B) {
					benchAppend(b, c, size, batch)
				})
			}
		}
	}
}

func benchAppend(b *testing.B, c Codec, size, batch int) {
	o := DefaultOptions()
	o.Codec = c
	w, err := Create(OSFS(), b.TempDir(), 0, o)
	if err != nil {
		b.Fatal(err)
	}
	g := newTelemetry(1)
	recs := make([]Record, batch)
	for i := range recs {
		recs[i] = g.next()
		recs[i].Value = []byte(strings.Repeat(string(recs[i].Value), 1+size/len(recs[i].Value))[:size])
	}
	b.SetBytes(int64(batch * size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := w.Append(recs, uint64(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
	b.StopTimer()
	w.Close()
}

// telemetrySegment writes n telemetry records in batches of 256 and seals
// the segment, clustered or not.
func telemetrySegment(b *testing.B, c Codec, n int, clustered bool) *Reader {
	o := DefaultOptions()
	o.Codec = c
	dir := b.TempDir()
	w, err := Create(OSFS(), dir, 0, o)
	if err != nil {
		b.Fatal(err)
	}
	g := newTelemetry(2)
	batch := make([]Record, 256)
	for done := 0; done < n; done += len(batch) {
		for i := range batch {
			batch[i] = g.next()
		}
		if _, err := w.Append(batch, uint64(done)); err != nil {
			b.Fatal(err)
		}
	}
	r, err := w.Seal()
	if err != nil {
		b.Fatal(err)
	}
	if clustered {
		r.Close()
		if r, err = Cluster(OSFS(), w.Path(), o); err != nil {
			b.Fatal(err)
		}
	}
	return r
}

const benchRecords = 200_000

func BenchmarkScan(b *testing.B) {
	for _, c := range codecs {
		for _, layout := range []string{"ordered", "clustered"} {
			b.Run(c.String()+"/"+layout, func(b *testing.B) {
				r := telemetrySegment(b, c, benchRecords, layout == "clustered")
				defer r.Close()
				b.ReportAllocs()
				b.ResetTimer()
				n := 0
				for i := 0; i < b.N; i++ {
					n += countIter(b, r.Iter(0))
				}
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}

func BenchmarkScanFiltered(b *testing.B) {
	for _, c := range codecs {
		for _, layout := range []string{"ordered", "clustered"} {
			b.Run(c.String()+"/"+layout, func(b *testing.B) {
				r := telemetrySegment(b, c, benchRecords, layout == "clustered")
				defer r.Close()
				b.ReportAllocs()
				b.ResetTimer()
				matched := 0
				for i := 0; i < b.N; i++ {
					matched += countIter(b, r.Filter(0, r.NextOffset(), siteFilter))
				}
				b.ReportMetric(float64(b.N*int(r.NextOffset()))/b.Elapsed().Seconds(), "range_records/s")
				b.ReportMetric(float64(matched)/float64(b.N*int(r.NextOffset())), "selectivity")
			})
		}
	}
}

func countIter(b *testing.B, it *Iterator) int {
	n := 0
	for it.Next() {
		n++
	}
	if err := it.Err(); err != nil {
		b.Fatal(err)
	}
	it.Close()
	return n
}

// BenchmarkSize reports the bytes on disk per telemetry record, against the
// raw key+value bytes, per codec and layout.
func BenchmarkSize(b *testing.B) {
	for _, c := range codecs {
		for _, layout := range []string{"ordered", "clustered"} {
			b.Run(c.String()+"/"+layout, func(b *testing.B) {
				raw := 0
				g := newTelemetry(2)
				for i := 0; i < benchRecords; i++ {
					rec := g.next()
					raw += len(rec.Key) + len(rec.Value)
				}
				for i := 0; i < b.N; i++ {
					r := telemetrySegment(b, c, benchRecords, layout == "clustered")
					b.ReportMetric(float64(r.Size())/benchRecords, "bytes/record")
					b.ReportMetric(float64(raw)/benchRecords, "raw_bytes/record")
					r.Close()
				}
			})
		}
	}
}
