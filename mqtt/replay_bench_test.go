package mqtt_test

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
)

// BenchmarkReplay1M: one paho (3.1.1) client replays 1M 64-byte QoS 1
// messages with $replay/0/r/#, acknowledging each; msgs/s is the replay's
// delivery rate end to end (broker and client share the machine).
func BenchmarkReplay1M(b *testing.B) {
	const n = 1 << 20
	tb := startRealBroker(b, nil)
	benchFill(b, tb, n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var got atomic.Int64
		done := make(chan struct{})
		c := pahoClient(b, tb.url(), fmt.Sprintf("replayer-%d", i), true, func(o *paho.ClientOptions) {
			o.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
				if got.Add(1) == n {
					close(done)
				}
			})
		})
		start := time.Now()
		c.Subscribe("$replay/0/r/#", 1, nil)
		select {
		case <-done:
		case <-time.After(5 * time.Minute):
			b.Fatalf("replayed %d of %d", got.Load(), n)
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "msgs/s")
		c.Disconnect(100)
	}
}

// benchFill proposes n publishes in batches, straight to the node.
func benchFill(b *testing.B, tb *testBroker, n int) {
	payload := bytes.Repeat([]byte("x"), 64)
	recs := make([]log.Record, 0, 4096)
	for i := 0; i < n; i++ {
		e := fsm.Entry{Kind: fsm.KindPublish, ClientID: "dev", PacketID: 1, Publish: fsm.Publish{Message: fsm.Message{
			Topic: fmt.Sprintf("r/%d", i%16), Payload: payload, QoS: 1}}}
		rec, err := e.Record()
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, rec)
		if len(recs) == cap(recs) || i == n-1 {
			if _, err := tb.node.ProposeBatch(context.Background(), recs); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
}
