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
// topics than QueueLength gets every one exactly once, in the order they
// were retained, at
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
	// Sent in the order they were retained (offset), not the topics' order.
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

// TestRetainedNotResentByCatchUp: a connection lagging on QoS 1 (window of
// one held, queue of two overflowed) subscribes to retained messages whose
// offsets lie above everything it sent live; the catch-up that follows
// must not send them a second time (for QoS 2 that would break exactly
// once): every retained message arrives once, every live one once.
func TestRetainedNotResentByCatchUp(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(o *mqtt.Options) { o.QueueLength, o.MaxInflight = 2, 1 })
	sub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "lag", CleanStart: true})
	sub.subscribe(0, packet.Subscription{Filter: "live/#", QoS: 1})
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	for i := range 6 {
		pub.publish(&packet.Publish{Topic: "live/x", QoS: 1, Payload: []byte(fmt.Sprint("l", i))})
	}
	for i := range 10 { // offsets above every live one
		pub.publish(&packet.Publish{Topic: fmt.Sprintf("r/%d", i), QoS: 1, Retain: true, Payload: []byte("r")})
	}
	first, err := sub.next(5 * time.Second) // the window's one message, held unacknowledged
	p, ok := first.(*packet.Publish)
	if err != nil || !ok {
		t.Fatalf("first delivery: %T %v", first, err)
	}
	sub.subscribe(0, packet.Subscription{Filter: "r/#", QoS: 1})
	sub.mustSend(&packet.Puback{PacketID: p.PacketID})
	seen := map[string]int{string(p.Payload): 1}
	for n := 1; n < 16; n++ {
		p, topic := sub.recvPublish(5 * time.Second)
		key := string(p.Payload)
		if topic != "live/x" {
			key = topic
		}
		seen[key]++
	}
	sub.noPublish(300 * time.Millisecond)
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s delivered %d times", k, n)
		}
	}
	if len(seen) != 16 {
		t.Fatalf("got %d distinct messages, want 6 live and 10 retained: %v", len(seen), seen)
	}
}
