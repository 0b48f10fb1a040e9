package fsm

import (
	"slices"
	"testing"
)

// TestUnmatched: a publish that matched no subscription of any session is
// marked Unmatched; an offline session's subscription and a shared one
// count as matches, the publisher's own no-local one does not.
func TestUnmatched(t *testing.T) {
	s := New()
	now := int64(1_700_000_000) * secondNanos
	sub := func(client, filter string, nl bool) Entry {
		return Entry{Kind: KindSubscribe, Time: now, ClientID: client,
			Subscriptions: []Subscription{{Filter: filter, Options: SubOptions{QoS: 1, NoLocal: nl}}}}
	}
	applyAll(t, s,
		connectEntry("off", now, Connect{ExpirySeconds: 300, ProtocolVersion: 5, Node: "n/1"}),
		sub("off", "u/off", false),
		Entry{Kind: KindSessionDisconnect, Time: now, ClientID: "off", Disconnect: Disconnect{Since: 0}},
		connectEntry("sh", now, Connect{ProtocolVersion: 5, Node: "n/2"}),
		sub("sh", "$share/g/u/sh", false),
		connectEntry("pub", now, Connect{ProtocolVersion: 5, Node: "n/3"}),
		sub("pub", "u/self", true),
	)
	for topic, want := range map[string]bool{"u/none": true, "u/off": false, "u/sh": false, "u/self": true} {
		fx := applyAll(t, s, publishEntry("pub", topic, now, 1))[0]
		if fx.Err != nil || fx.Unmatched != want {
			t.Errorf("%s: Unmatched %v (%v), want %v", topic, fx.Unmatched, fx.Err, want)
		}
	}
}

// TestRetainedOverlap: one SUBSCRIBE whose filters overlap on a retained
// message sends it once, at the highest QoS granted, recorded in flight at
// that QoS [MQTT-3.3.4-2/3/4].
func TestRetainedOverlap(t *testing.T) {
	s := New()
	now := int64(1_700_000_000) * secondNanos
	ret := publishEntry("pub", "r/x", now, 2)
	ret.Publish.Retain = true
	applyAll(t, s,
		connectEntry("pub", now, Connect{ProtocolVersion: 5, Node: "n/1"}), ret,
		connectEntry("c", now, Connect{ProtocolVersion: 5, Node: "n/2"}))
	fx := applyAll(t, s, Entry{Kind: KindSubscribe, Time: now, ClientID: "c", Subscriptions: []Subscription{
		{Filter: "r/+", Options: SubOptions{QoS: 1, ID: 4}},
		{Filter: "r/#", Options: SubOptions{QoS: 2, ID: 4}},
		{Filter: "r/x", Options: SubOptions{QoS: 0, ID: 4}},
	}})[0]
	if len(fx.Deliveries) != 1 {
		t.Fatalf("%d deliveries of one retained message: %+v", len(fx.Deliveries), fx.Deliveries)
	}
	if d := fx.Deliveries[0]; d.QoS != 2 || !d.Retain || !slices.Equal(d.SubscriptionIDs, []uint32{4}) {
		t.Fatalf("delivery %+v", d)
	}
	if in := s.View().Inflight("c"); len(in) != 1 || in[0].QoS != 2 {
		t.Fatalf("in flight %+v", in)
	}
}
