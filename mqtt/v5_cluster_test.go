package mqtt_test

import (
	"testing"
	"time"

	"github.com/stratamq/strata/mqtt/packet"
)

// TestV5FollowerReadYourWrites: on a follower, a forwarded proposal's
// offset comes back from the leader before the follower applied it. The
// broker must still answer from a state that includes it: a session left on
// the leader is present when resumed on a follower, and an UNSUBSCRIBE sent
// right after its SUBACK (or a second one after its UNSUBACK) sees the
// subscription as it is.
func TestV5FollowerReadYourWrites(t *testing.T) {
	t.Parallel()
	tc := startCluster(t, 3, nil)
	leader := tc.nodes[0]
	for i := range 6 {
		f := tc.nodes[1+i%2]
		rc, _ := rawConnect(t, leader.addr, connectV5("roam", i == 0, 60))
		rc.subscribe(0, packet.Subscription{Filter: "x/#", QoS: 1})
		rc.disconnect(nil)
		leader.waitOffline(t, "roam")

		rc, ack := rawConnect(t, f.addr, connectV5("roam", false, 60))
		if !ack.SessionPresent {
			t.Fatalf("round %d: session not present when resumed on a follower", i)
		}
		rc.subscribe(0, packet.Subscription{Filter: "y/#", QoS: 1})
		rc.mustSend(&packet.Unsubscribe{PacketID: 100, Filters: []string{"y/#"}})
		if ua := await[*packet.Unsuback](t, rc, 5*time.Second); ua.ReasonCodes[0] != packet.CodeSuccess {
			t.Fatalf("round %d: UNSUBSCRIBE right after SUBACK: %v", i, ua.ReasonCodes[0])
		}
		rc.mustSend(&packet.Unsubscribe{PacketID: 101, Filters: []string{"y/#"}})
		if ua := await[*packet.Unsuback](t, rc, 5*time.Second); ua.ReasonCodes[0] != packet.CodeNoSubscriptionExisted {
			t.Fatalf("round %d: second UNSUBSCRIBE: %v", i, ua.ReasonCodes[0])
		}
		rc.disconnect(nil)
		f.waitOffline(t, "roam")
		leader.waitOffline(t, "roam")
	}
}
