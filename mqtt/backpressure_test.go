package mqtt_test

import (
	"bytes"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stratamq/strata/mqtt"
	"github.com/stratamq/strata/mqtt/packet"
)

// TestSlowSubscriber: a QoS 1 subscriber that does not acknowledge neither
// slows the publisher nor a fast subscriber; past its queue bound it reads
// from the log, and once it acknowledges it gets every message once, in
// order. A QoS 0 subscriber that stops reading loses messages past the
// bound, and they are counted.
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

	// QoS 0 to a client that stops reading: the socket fills, then the queue,
	// then messages are dropped and counted; the publisher is never held up.
	nc, err := net.Dial("tcp", tb.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.(*net.TCPConn).SetReadBuffer(4096)
	var out []byte
	out, _ = packet.Encode(out, &packet.Connect{ProtocolVersion: packet.Version5, ClientID: "stalled", CleanStart: true}, packet.Version5)
	out, _ = packet.Encode(out, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "q0/#"}}}, packet.Version5)
	if _, err := nc.Write(out); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "stalled subscriber registered", func() bool {
		return tb.views.View().SubscriberCount("q0/#") == 1
	})
	big := bytes.Repeat([]byte("z"), 64<<10)
	before := tb.broker.Stats().DroppedQoS0.Load()
	for i := 0; i < 300; i++ {
		pub.publish(&packet.Publish{Topic: "q0/x", QoS: 1, Payload: big}) // QoS 1 publish: wait for each commit
	}
	waitFor(t, 10*time.Second, "QoS 0 drops counted", func() bool { return tb.broker.Stats().DroppedQoS0.Load() > before })
}
