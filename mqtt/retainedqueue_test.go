package mqtt_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stratamq/strata/mqtt"
	"github.com/stratamq/strata/mqtt/packet"
)

// TestRetainedPastQueueLength: a subscribe matching many more retained
// topics than QueueLength gets every one exactly once, in topic order, at
// QoS 0 as at QoS 1 (issue 14: they stopped at the queue bound), then the
// live messages published after the subscribe.
func TestRetainedPastQueueLength(t *testing.T) {
	const n = 5000
	tb := startBroker(t, func(o *mqtt.Options) { o.QueueLength = 64 })
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	topics := make([]string, n)
	for i := range topics {
		topics[i] = fmt.Sprintf("ret/%d/%d", i%50, i)
		pub.publish(&packet.Publish{Topic: topics[i], Retain: true, QoS: 1, Payload: []byte(topics[i])})
	}
	slices.Sort(topics) // the order retained messages are sent in
	for _, qos := range []byte{0, 1} {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			sub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: fmt.Sprint("sub", qos), CleanStart: true})
			defer sub.close()
			sub.subscribe(0, packet.Subscription{Filter: "ret/#", QoS: qos})
			live := fmt.Sprintf("ret/live/%d", qos)
			pub.publish(&packet.Publish{Topic: live, QoS: 1, Payload: []byte(live)})
			for i, want := range append(slices.Clone(topics), live) {
				p, topic := sub.recvPublish(10 * time.Second)
				if topic != want || string(p.Payload) != want {
					t.Fatalf("message %d: %q (%q), want %q", i, topic, p.Payload, want)
				}
				if retained := i < n; p.Retain != retained || p.QoS != qos {
					t.Fatalf("message %d %q: retain %v QoS %d", i, topic, p.Retain, p.QoS)
				}
			}
			sub.noPublish(200 * time.Millisecond)
		})
	}
}
