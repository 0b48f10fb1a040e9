package fsm

import (
	"fmt"
	"testing"
)

// BenchmarkApplyPublish: one publish folded into a State with 1000
// connected sessions, each matched by fanout of them.
func BenchmarkApplyPublish(b *testing.B) {
	for _, fanout := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("fanout=%d", fanout), func(b *testing.B) {
			s := New()
			for i := range 1000 {
				c := fmt.Sprintf("c%d", i)
				e := connectEntry(c, 0, Connect{ProtocolVersion: 5, Node: "n1"})
				s.Apply(s.NextOffset(), &e)
				e = Entry{Kind: KindSubscribe, ClientID: c, Subscriptions: []Subscription{
					{Filter: fmt.Sprintf("t/%d/+", i%(1000/fanout)), Options: SubOptions{QoS: 0}}}}
				s.Apply(s.NextOffset(), &e)
			}
			e := publishEntry("p", "t/0/x", 1, 0)
			e.Publish.Payload = make([]byte, 100)
			b.SetBytes(int64(len(e.Publish.Payload)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if fx := s.Apply(s.NextOffset(), &e); len(fx.Deliveries) != fanout {
					b.Fatalf("%d deliveries", len(fx.Deliveries))
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkDecodeEntry: decoding a 100-byte-payload publish with properties.
func BenchmarkDecodeEntry(b *testing.B) {
	e := entryCases[1].e
	e.Publish.Payload = make([]byte, 100)
	raw, err := e.Encode(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(uint8(KindPublish), raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkViewThenApply: the cost of taking a View before each publish
// (copy-on-write makes the next writes copy B-tree nodes).
func BenchmarkViewThenApply(b *testing.B) {
	s, _ := runRandom(1, 5000)
	e := publishEntry("p", "a/b", 1, 1)
	b.ReportAllocs()
	for b.Loop() {
		_ = s.View()
		s.Apply(s.NextOffset(), &e)
	}
}
