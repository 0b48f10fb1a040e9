package fsm

import (
	"fmt"
	"testing"
)

// TestFoldPublishAllocs fails if folding a publish allocates more than it
// did when this test was written: one allocation, the Deliveries slice the
// caller keeps (issue 14: before the route scratch and the session key, one
// subscriber cost 3 and ten 29). It counts allocations, not time, so it is
// stable on a loaded machine.
func TestFoldPublishAllocs(t *testing.T) {
	for _, c := range []struct {
		subscribers int
		max         float64
	}{{1, 1}, {10, 1}} {
		t.Run(fmt.Sprintf("subscribers=%d", c.subscribers), func(t *testing.T) {
			s := New()
			for i := range c.subscribers {
				id := fmt.Sprintf("c%d", i)
				applyAll(t, s, connectEntry(id, 0, Connect{ProtocolVersion: 5, Node: "n1"}),
					Entry{Kind: KindSubscribe, ClientID: id, Subscriptions: []Subscription{
						{Filter: "t/+", Options: SubOptions{QoS: 0}}}})
			}
			e := publishEntry("p", "t/x", 1, 0)
			got := testing.AllocsPerRun(1000, func() {
				if fx := s.Apply(s.NextOffset(), &e); len(fx.Deliveries) != c.subscribers {
					t.Fatalf("%d deliveries, want %d", len(fx.Deliveries), c.subscribers)
				}
			})
			t.Logf("%.1f allocs per fold", got)
			if got > c.max {
				t.Errorf("folding a publish to %d subscribers: %.1f allocs, want at most %.0f", c.subscribers, got, c.max)
			}
		})
	}
}
