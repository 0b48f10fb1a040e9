package mqtt_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/stratamq/strata/mqtt"
	"github.com/stratamq/strata/mqtt/packet"
)

// TestSlowSubscriber: a QoS 1 subscriber that does not acknowledge neither
// slows the publisher nor a fast subscriber; past its queue bound it reads
// from the log, and once it acknowledges it gets every message once, in
// order. A QoS 0 subscriber that stops reading falls behind its bound too
// and catches up from the log: it loses nothing (catchup.go).
func TestSlowSubscriber(t *testing.T) {
	tb := startBroker(t, func(o *mqtt.Options) {
		o.QueueLength = 20
		o.MaxInflight = 5
	})
	slow, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "slow", CleanStart: true})
	slow.subscribe(0, packet.Subscription{Filter: "bp/#", QoS: 1})
	fast, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "fast", CleanStart: true})
	fast.subscribe(0, packet.Subscription{Filter: "bp/#", QoS: 1})
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	const n = 300
	for i := 0; i < n; i++ {
		if code := pub.publish(&packet.Publish{Topic: "bp/x", QoS: 1, Payload: []byte(fmt.Sprint(i))}); code != 0 {
			t.Fatalf("publish %d: %v", i, code)
		}
	}
	for i := 0; i < n; i++ { // the fast one got everything while slow held 5
		p, _ := fast.recvPublish(10 * time.Second)
		if string(p.Payload) != fmt.Sprint(i) {
			t.Fatalf("fast subscriber: %q at %d", p.Payload, i)
		}
	}
	for i := 0; i < n; i++ {
		p, _ := slow.recvPublish(10 * time.Second)
		if string(p.Payload) != fmt.Sprint(i) {
			t.Fatalf("slow subscriber: %q at %d", p.Payload, i)
		}
	}
	slow.noPublish(200 * time.Millisecond)

	// QoS 0 to a client that stops reading: the socket fills, then the
	// queue; the publisher is never held up, and once the client reads again
	// it gets every message, in order, read back from the log: none dropped.
	nc := stalledClient(t, tb, "stalled", packet.Subscription{Filter: "q0/#"})
	big := bytes.Repeat([]byte("z"), 64<<10)
	st := tb.broker.Stats()
	dropped, lags := st.DroppedQoS0.Load(), st.CatchUps.Load()
	const n0 = 300
	for i := 0; i < n0; i++ {
		copy(big, fmt.Sprintf("%08d", i))
		pub.publish(&packet.Publish{Topic: "q0/x", QoS: 1, Payload: big}) // QoS 1 publish: wait for each commit
	}
	if st.CatchUps.Load() == lags {
		t.Fatal("the stalled subscriber never fell behind its queue")
	}
	rc := startReading(t, nc)
	for i := 0; i < n0; i++ {
		if p, _ := rc.recvPublish(10 * time.Second); numberOf(t, p) != i {
			t.Fatalf("stalled subscriber: message %d at %d", numberOf(t, p), i)
		}
	}
	rc.noPublish(200 * time.Millisecond)
	if d := st.DroppedQoS0.Load() - dropped; d != 0 {
		t.Fatalf("%d QoS 0 messages dropped", d)
	}
}
