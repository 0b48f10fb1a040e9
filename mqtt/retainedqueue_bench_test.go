package mqtt_test

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
)

// BenchmarkRetainedOnSubscribe100k: 100,000 retained topics
// (ret/<i%1000>/<i>, 64-byte QoS 1 messages) on one durable node, then a
// paho (3.1.1) client subscribes to ret/# at QoS 0 or 1 and receives every
// one (issue 14: it stopped at 65,537). s is the time from SUBSCRIBE to the
// last message; maxrss-MiB the test process's peak (broker and client).
// It fails, saying how many arrived, when none comes for 5 s.
func BenchmarkRetainedOnSubscribe100k(b *testing.B) {
	const n = 100_000
	tb := startRealBroker(b, nil)
	fillRetained(b, tb, n)
	for _, qos := range []byte{0, 1} {
		b.Run(fmt.Sprintf("qos%d", qos), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchRetainedSubscribe(b, tb, n, qos, fmt.Sprintf("ret-%d-%d", qos, i))
			}
		})
	}
}

func benchRetainedSubscribe(b *testing.B, tb *testBroker, n int, qos byte, id string) {
	var got atomic.Int64
	c := pahoClient(b, tb.url(), id, true, func(o *paho.ClientOptions) {
		o.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { got.Add(1) })
	})
	defer c.Disconnect(100)
	start := time.Now()
	c.Subscribe("ret/#", qos, nil)
	last, lastAt := int64(0), time.Now()
	for got.Load() < int64(n) {
		if g := got.Load(); g != last {
			last, lastAt = g, time.Now()
		} else if time.Since(lastAt) > 5*time.Second {
			b.Fatalf("received %d of %d retained messages, none for 5 s", g, n)
		}
		time.Sleep(time.Millisecond) // polling the counter; the deadline is above
	}
	b.ReportMetric(time.Since(start).Seconds(), "s")
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	b.ReportMetric(float64(ru.Maxrss)/1024, "maxrss-MiB")
}

// fillRetained proposes n retained publishes in batches, straight to the
// node.
func fillRetained(b *testing.B, tb *testBroker, n int) {
	payload := bytes.Repeat([]byte("x"), 64)
	recs := make([]log.Record, 0, 4096)
	for i := 0; i < n; i++ {
		e := fsm.Entry{Kind: fsm.KindPublish, ClientID: "dev", Publish: fsm.Publish{Message: fsm.Message{
			Topic: fmt.Sprintf("ret/%d/%d", i%1000, i), Payload: payload, QoS: 1, Retain: true}}}
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
