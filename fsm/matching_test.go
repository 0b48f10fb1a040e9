package fsm

import (
	"slices"
	"testing"

	"github.com/stratamq/strata/log"
)

// TestMatching: Matching is the routing's match of one client's non-shared
// subscriptions (QoS 0 matches reported too, overlaps merged, no-local
// honoured, shared ones left out, skipped filters ignored), and
// InflightRange lists the cursor's offsets of one range.
func TestMatching(t *testing.T) {
	s := New()
	applyAll(t, s, connectEntry("c", 0, Connect{ProtocolVersion: 5}),
		Entry{Kind: KindSubscribe, ClientID: "c", Subscriptions: []Subscription{
			{Filter: "a/#", Options: SubOptions{ID: 7}},
			{Filter: "a/b", Options: SubOptions{QoS: 1, ID: 3, OffsetProperty: true}},
			{Filter: "$share/g/s/#", Options: SubOptions{QoS: 1}},
			{Filter: "n/#", Options: SubOptions{NoLocal: true}},
		}})
	v := s.View()
	cases := []struct {
		from, topic string
		qos         byte
		skip        string
		ok          bool
		want        Delivery
	}{
		{"p", "a/b", 1, "", true, Delivery{QoS: 1, SubscriptionIDs: []uint32{3, 7}, OffsetProperty: true}},
		{"p", "a/x", 1, "", true, Delivery{QoS: 0, SubscriptionIDs: []uint32{7}}},
		{"p", "a/b", 1, "a/b", true, Delivery{QoS: 0, SubscriptionIDs: []uint32{7}}},
		{"p", "a/x", 0, "a/#", false, Delivery{}},
		{"p", "s/x", 1, "", false, Delivery{}},
		{"c", "n/x", 0, "", false, Delivery{}},
		{"p", "n/x", 0, "", true, Delivery{}},
		{"p", "z", 0, "", false, Delivery{}},
	}
	for _, tc := range cases {
		e := publishEntry(tc.from, tc.topic, 1, tc.qos)
		skip := func(f string) bool { return f == tc.skip }
		d, ok := v.Matching("c", 9, &e, skip)
		if ok != tc.ok || d.QoS != tc.want.QoS || !slices.Equal(d.SubscriptionIDs, tc.want.SubscriptionIDs) ||
			d.OffsetProperty != tc.want.OffsetProperty || (ok && d.Offset != 9) {
			t.Errorf("%s from %s (skip %q): %+v %v, want %+v %v", tc.topic, tc.from, tc.skip, d, ok, tc.want, tc.ok)
		}
	}
	for range 5 {
		applyAll(t, s, publishEntry("p", "a/b", 1, 1)) // offsets 2..6, in flight
	}
	var got []log.Offset
	for _, in := range s.View().InflightRange("c", 3, 5) {
		got = append(got, in.Offset)
	}
	if !slices.Equal(got, []log.Offset{3, 4}) {
		t.Fatalf("InflightRange [3, 5): %v", got)
	}
}
