package fsm

import (
	"fmt"
	"testing"

	"github.com/stratamq/strata/log"
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
	rec, err := e.Record()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(rec.Key) + len(rec.Value)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeRecord(rec); err != nil {
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

// BenchmarkRecordPublish64: building the log record of a 64-byte QoS 1
// publish (the replication benchmarks' message). value_B is the encoded
// value's size, record_B adds the key (topic), the bytes a record carries
// besides its kind, time and framing.
func BenchmarkRecordPublish64(b *testing.B) {
	e := publishEntry("pub", "site/1/dev/2/temp", 1_795_000_000_123_456_789, 1)
	e.PacketID = 1234
	e.Publish.Payload = make([]byte, 64)
	var rec log.Record
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if rec, err = e.Record(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(rec.Value)), "value_B")
	b.ReportMetric(float64(len(rec.Key)+len(rec.Value)), "record_B")
}

// BenchmarkPresence100k: a presence query over 100,000 subscriptions (one
// per connected session, on 1,000 rooms "room/<r>/+"), 100 of which
// overlap the filter asked: the walk's cost per query.
func BenchmarkPresence100k(b *testing.B) {
	s := New()
	for i := range 100_000 {
		c := fmt.Sprintf("c%d", i)
		e := connectEntry(c, 0, Connect{ProtocolVersion: 5, Node: "n1"})
		s.Apply(s.NextOffset(), &e)
		e = Entry{Kind: KindSubscribe, ClientID: c, Subscriptions: []Subscription{
			{Filter: fmt.Sprintf("room/%d/+", i%1000), Options: SubOptions{QoS: 1}}}}
		s.Apply(s.NextOffset(), &e)
	}
	v := s.View()
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		v.Presence("room/7/alice", func(Session, Subscription) bool { n++; return true })
		if n != 100 {
			b.Fatalf("%d subscriptions, want 100", n)
		}
	}
}

// BenchmarkSessionChurn: one client connects, subscribes to two filters
// and disconnects (its session ends) over a state of 100,000
// subscriptions: what a session costs the fold (the subscription indexes,
// the presence change).
func BenchmarkSessionChurn(b *testing.B) {
	s := New()
	for i := range 100_000 {
		c := fmt.Sprintf("c%d", i)
		e := connectEntry(c, 0, Connect{ProtocolVersion: 5, Node: "n1", ExpirySeconds: 600})
		s.Apply(s.NextOffset(), &e)
		e = Entry{Kind: KindSubscribe, ClientID: c, Subscriptions: []Subscription{
			{Filter: fmt.Sprintf("room/%d/+", i%1000), Options: SubOptions{QoS: 1}}}}
		s.Apply(s.NextOffset(), &e)
	}
	subs := []Subscription{{Filter: "room/7/+", Options: SubOptions{QoS: 1}}, {Filter: "inbox/churn"}}
	b.ReportAllocs()
	for b.Loop() {
		conn := s.NextOffset()
		e := connectEntry("churn", 0, Connect{ProtocolVersion: 5, Node: "n1"})
		s.Apply(conn, &e)
		e = Entry{Kind: KindSubscribe, ClientID: "churn", Subscriptions: subs}
		s.Apply(s.NextOffset(), &e)
		e = Entry{Kind: KindSessionDisconnect, ClientID: "churn", Disconnect: Disconnect{Since: conn}}
		if fx := s.Apply(s.NextOffset(), &e); fx.Err != nil {
			b.Fatal(fx.Err)
		}
	}
}
