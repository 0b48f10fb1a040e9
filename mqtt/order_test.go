package mqtt_test

import (
	"testing"
	"time"

	"github.com/stratamq/strata/mqtt/packet"
)

// TestSubscribeSentFirstUsuallyWins: client B sends SUBSCRIBE, then client
// A (already subscribed, so its SUBACK round trip is done) publishes at once,
// without waiting for B's SUBACK, as request/response clients and Eclipse
// paho's interoperability suite do. MQTT orders nothing across connections,
// but a publish that woke its reader yields once (publish.go), so B's
// SUBSCRIBE, which arrived first, is usually logged first and B gets the
// message. Before, the Go runtime resumed A's reader first: B missed the
// message 19 times in 20. Statistical, so the bar is low: more than half
// missed fails.
func TestSubscribeSentFirstUsuallyWins(t *testing.T) {
	tb := startBroker(t, nil)
	const rounds = 20
	missed := 0
	for range rounds {
		a, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "a", CleanStart: true})
		b, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "b", CleanStart: true})
		a.subscribe(0, packet.Subscription{Filter: "order/t", QoS: 1, NoLocal: true})
		b.mustSend(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "order/t", QoS: 1}}})
		a.mustSend(&packet.Publish{Topic: "order/t", QoS: 1, PacketID: 9, Payload: []byte("request")})
		got := false
		deadline := time.Now().Add(time.Second)
		for !got {
			p, err := b.next(time.Until(deadline))
			if err != nil {
				break // errTimeout: not delivered
			}
			_, got = p.(*packet.Publish)
		}
		if !got {
			missed++
		}
		a.close()
		b.close()
	}
	t.Logf("B missed the message %d times in %d", missed, rounds)
	if missed > rounds/2 {
		t.Fatalf("B missed the message %d times in %d: the publish is logged before the SUBSCRIBE sent first", missed, rounds)
	}
}
