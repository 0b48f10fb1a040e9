package mqtt_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stratamq/strata/mqtt"
	"github.com/stratamq/strata/mqtt/packet"
)

// TestLimits: a socket that never sends CONNECT is closed after the
// connect timeout; connections past the maximum get CONNACK 0x97 (5.0) /
// 0x03 (3.1.1); a topic longer than the limit gets DISCONNECT 0x90; the
// outbound window holds at most MaxInflight unacknowledged messages.
func TestLimits(t *testing.T) {
	tb := startBroker(t, func(o *mqtt.Options) {
		o.ConnectTimeout = 300 * time.Millisecond
		o.MaxConnections = 2
		o.MaxTopicLength = 16
		o.MaxInflight = 3
	})
	silent := dialRaw(t, tb.addr, packet.Version5)
	start := time.Now()
	silent.waitClose(5 * time.Second)
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Fatalf("silent socket closed after %v, before the connect timeout", el)
	}
	// The client sees the close before the broker forgets the connection.
	waitFor(t, 5*time.Second, "the silent connection forgotten", func() bool { return tb.broker.Stats().Connections.Load() == 0 })

	a, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "a", CleanStart: true})
	b, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "b", CleanStart: true})
	over := dialRaw(t, tb.addr, packet.Version5)
	if ack := over.connect(&packet.Connect{ClientID: "c", CleanStart: true}); ack.ReasonCode != packet.CodeQuotaExceeded {
		t.Fatalf("third connection: %v", ack.ReasonCode)
	}
	over311 := dialRaw(t, tb.addr, packet.Version311)
	if ack := over311.connect(&packet.Connect{ClientID: "d", CleanStart: true}); ack.ReasonCode != packet.CodeServerUnavailable {
		t.Fatalf("third 3.1.1 connection: %v", ack.ReasonCode)
	}

	// Window: b subscribes and does not acknowledge; only 3 arrive.
	b.subscribe(0, packet.Subscription{Filter: "w/#", QoS: 1})
	for i := 0; i < 6; i++ {
		a.publish(&packet.Publish{Topic: "w/x", QoS: 1, Payload: []byte{byte(i)}})
	}
	var ids []uint16
	for i := 0; i < 3; i++ {
		p := expect[*packet.Publish](t, b, 10*time.Second)
		if p.Payload[0] != byte(i) {
			t.Fatalf("publish %d carries %d", i, p.Payload[0])
		}
		ids = append(ids, p.PacketID)
	}
	if p, err := b.next(300 * time.Millisecond); err == nil {
		t.Fatalf("a fourth message in flight: %T %+v", p, p)
	}
	b.mustSend(&packet.Puback{PacketID: ids[0]}) // one slot frees: the fourth comes
	if p := expect[*packet.Publish](t, b, 10*time.Second); p.Payload[0] != 3 {
		t.Fatalf("after one ack got %d", p.Payload[0])
	}

	a.mustSend(&packet.Publish{Topic: strings.Repeat("t", 17)})
	if d := a.waitClose(5 * time.Second); d == nil || d.ReasonCode != packet.CodeTopicNameInvalid {
		t.Fatalf("long topic: %+v", d)
	}
}
