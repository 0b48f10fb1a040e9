package mqtt_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stratamq/strata/mqtt/packet"
)

// TestReplayLastSpellings: last-N and last:N mean the same in the topic
// form and in the replay-from property alike.
func TestReplayLastSpellings(t *testing.T) {
	tb := startBroker(t, nil)
	pub := pahoClient(t, tb.url(), "pub", true, nil)
	for i := 0; i < 6; i++ {
		wait(t, pub.Publish(fmt.Sprintf("g/%d", i%2), 1, false, fmt.Sprint(i)))
	}
	in := newInbox()
	sub := pahoClient(t, tb.url(), "colon", true, defaultHandler(in))
	wait(t, sub.Subscribe("$replay/last:2/g/+", 1, nil))
	in.waitN(t, 2, 10*time.Second)
	if got := in.payloads(); !slices.Equal(got, []string{"4", "5"}) {
		t.Fatalf("$replay/last:2: %v", got)
	}
	rc, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "dash", CleanStart: true})
	s := &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "g/0", QoS: 1}}}
	s.Properties.UserProperties = []packet.UserProperty{{Key: "replay-from", Value: "last-2"}}
	rc.mustSend(s)
	if ack := await[*packet.Suback](t, rc, 10*time.Second); ack.ReasonCodes[0] != packet.CodeGrantedQoS1 {
		t.Fatalf("suback %v", ack.ReasonCodes)
	}
	var got []string
	for range 2 {
		p, _ := rc.recvPublish(10 * time.Second)
		got = append(got, string(p.Payload))
	}
	if !slices.Equal(got, []string{"2", "4"}) {
		t.Fatalf("replay-from last-2: %v", got)
	}
}
