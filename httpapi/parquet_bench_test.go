package httpapi

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/replication"
)

// exportFixture is a real one-voter node holding n 64-byte JSON telemetry
// payloads over 4000 topics site/S/dev/D/metric, proposed in batches.
func exportFixture(b *testing.B, n int) *replication.Node {
	node := newNodeWith(b, replication.NewFSMMachine())
	r := rand.New(rand.NewPCG(3, 3))
	batch := make([]log.Record, 0, 4096)
	for i := range n {
		site, dev, m := r.IntN(100), r.IntN(10), r.IntN(4)
		e := fsm.Entry{Kind: fsm.KindPublish, ClientID: "dev", Publish: fsm.Publish{Message: fsm.Message{
			Topic:   fmt.Sprintf("site/%d/dev/%d/%s", site, dev, []string{"temp", "hum", "bat", "rssi"}[m]),
			Payload: telemetry(int64(i), r)}}}
		rec, err := e.Record()
		if err != nil {
			b.Fatal(err)
		}
		if batch = append(batch, rec); len(batch) == cap(batch) || i == n-1 {
			if _, err := node.ProposeBatch(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	return node
}

// telemetry is the i-th 64-byte JSON reading: a millisecond time, a
// varying value, a quality flag and a sequence number.
func telemetry(i int64, r *rand.Rand) []byte {
	p := fmt.Appendf(nil, `{"ts":%d,"v":%.2f,"q":%d,"seq":%d`, 1764400000000+i*7, 20+r.Float64()*5, r.IntN(3), i)
	for len(p) < 63 {
		p = append(p, ' ')
	}
	return append(p[:63], '}')
}

// BenchmarkExport1M exports the full range of 1Mi 64-byte telemetry
// messages as NDJSON and as Parquet, alternately, three rounds on one
// fixture: records/s, output MB/s, bytes per record (the file size over
// the records), and the most live heap the export added (watchHeap).
func BenchmarkExport1M(b *testing.B) {
	const n = 1 << 20
	srv := httptest.NewServer(Handler(exportFixture(b, n), DefaultOptions()))
	defer srv.Close()
	for i := range 6 {
		format := []string{"ndjson", "parquet"}[i%2]
		b.Run(format, func(b *testing.B) {
			var size int64
			peak := watchHeap()
			for i := 0; i < b.N; i++ {
				resp, err := http.Get(srv.URL + "/v1/messages?filter=%23&format=" + format)
				if err != nil {
					b.Fatal(err)
				}
				m, err := io.Copy(io.Discard, resp.Body)
				if resp.Body.Close(); err != nil || resp.StatusCode != http.StatusOK {
					b.Fatal(resp.Status, err)
				}
				size += m
			}
			sec := b.Elapsed().Seconds()
			b.ReportMetric(float64(n*b.N)/sec, "records/s")
			b.ReportMetric(float64(size)/sec/1e6, "MB/s")
			b.ReportMetric(float64(size)/float64(n*b.N), "bytes/record")
			b.ReportMetric(float64(peak())/(1<<20), "live-heap-added-MiB")
		})
	}
}

// watchHeap samples the live heap (as the last GC marked it) every 10 ms
// until the returned function is called, which returns the largest sample
// over the live heap after a GC when watchHeap was called: what an export
// holds, not its garbage.
func watchHeap() func() uint64 {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	live := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	runtime.GC()
	base := live()
	var peak atomic.Uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			peak.Store(max(peak.Load(), live()))
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(stop)
		<-done
		return peak.Load() - min(peak.Load(), base)
	}
}
