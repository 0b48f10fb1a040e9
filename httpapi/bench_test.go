package httpapi

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/replication"
)

// logOnly serves GET /v1/messages from a log built directly (no Raft): the
// history path is what is measured. Other Node methods are not called.
type logOnly struct {
	Node
	l *log.Log
}

func (n logOnly) Log() *log.Log { return n.l }

func (n logOnly) Reader() *replication.Reader { return replication.LogReader(n.l) }

// historyLog writes n publishes of 64-byte payloads over 4000 topics
// site/S/dev/D/metric (one site is 1% of them), clustered like a node's
// sealed segments.
func historyLog(b *testing.B, n int) *log.Log {
	o := log.DefaultOptions()
	o.SegmentBytes = 8 << 20
	l, err := log.Open(b.TempDir(), o)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 3))
	batch := make([]log.Record, 1024)
	tm := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC).UnixNano()
	payload := bytes.Repeat([]byte("x"), 64)
	for done := 0; done < n; done += len(batch) {
		for i := range batch {
			tm += 1000
			site, dev, m := r.IntN(100), r.IntN(10), r.IntN(4)
			e := fsm.Entry{Kind: fsm.KindPublish, Time: tm, ClientID: "dev", Publish: fsm.Publish{Message: fsm.Message{
				Topic: fmt.Sprintf("site/%d/dev/%d/%s", site, dev, []string{"temp", "hum", "bat", "rssi"}[m]), Payload: payload, QoS: 1}}}
			e.PacketID = 1
			rec, err := e.Record()
			if err != nil {
				b.Fatal(err)
			}
			rec.Time = tm
			batch[i] = rec
		}
		if _, err := l.Append(batch, uint64(done+1)); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		done := true
		for _, s := range l.Segments() {
			if s.Sealed && !s.Clustered {
				done = false
			}
		}
		if done {
			break
		}
		time.Sleep(50 * time.Millisecond) // poll under a deadline
	}
	return l
}

// BenchmarkHistoryHTTP: GET /v1/messages over 1M 64-byte messages as
// NDJSON, the full range and a 1%-selective filter. records/s counts
// returned records; range-records/s counts the range scanned.
func BenchmarkHistoryHTTP(b *testing.B) {
	const n = 1 << 20
	l := historyLog(b, n)
	defer l.Close()
	srv := httptest.NewServer(Handler(logOnly{l: l}, DefaultOptions()))
	defer srv.Close()
	for _, c := range []struct{ name, filter string }{{"full", "%23"}, {"site-1pct", "site/7/%23"}} {
		b.Run(c.name, func(b *testing.B) {
			var recs, bytesRead int64
			for i := 0; i < b.N; i++ {
				resp, err := http.Get(srv.URL + "/v1/messages?filter=" + c.filter)
				if err != nil {
					b.Fatal(err)
				}
				cw := &lineCounter{}
				if _, err := io.Copy(cw, resp.Body); err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
				recs += cw.lines
				bytesRead += cw.n
			}
			sec := b.Elapsed().Seconds()
			b.ReportMetric(float64(recs)/sec, "records/s")
			b.ReportMetric(float64(int64(n)*int64(b.N))/sec, "range-records/s")
			b.ReportMetric(float64(bytesRead)/float64(recs), "bytes/record")
		})
	}
}

type lineCounter struct{ lines, n int64 }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.lines += int64(bytes.Count(p, []byte{'\n'}))
	c.n += int64(len(p))
	return len(p), nil
}
