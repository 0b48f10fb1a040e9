package mqtt_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/mqtt/packet"
	"github.com/stratamq/strata/presence"
)

// seedSessions folds n offline sessions that never expire, with one
// subscription each ("room/<i%1000>/+"), into tb's fake cluster (offline:
// housekeeping would end connected ones, whose node is not the broker's).
func seedSessions(b *testing.B, tb *testBroker, n int) {
	b.Helper()
	var recs []log.Record
	flush := func() {
		if len(recs) > 0 {
			if _, err := tb.fake.Propose(context.Background(), recs...).Wait(); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	next := tb.fake.View().NextOffset()
	for i := range n {
		id := fmt.Sprintf("c%d", i)
		for _, e := range []fsm.Entry{
			{Kind: fsm.KindSessionConnect, ClientID: id, Connect: fsm.Connect{ProtocolVersion: 5, Node: "n1/seed-1", ExpirySeconds: fsm.NeverExpire}},
			{Kind: fsm.KindSubscribe, ClientID: id, Subscriptions: []fsm.Subscription{{Filter: fmt.Sprintf("room/%d/+", i%1000), Options: fsm.SubOptions{QoS: 1}}}},
			{Kind: fsm.KindSessionDisconnect, ClientID: id, Disconnect: fsm.Disconnect{Reason: fsm.ReasonNormal, Since: next}},
		} {
			rec, err := e.Record()
			if err != nil {
				b.Fatal(err)
			}
			recs = append(recs, rec)
		}
		next += 3
		if len(recs) >= 1000 {
			flush()
		}
	}
	flush()
}

// BenchmarkPresenceSnapshot100k: an MQTT client subscribes to
// $presence/room/7/alice over 100,000 subscriptions (100 overlap) and
// reads the snapshot: SUBSCRIBE to snapshot received, per op, over
// loopback TCP (the walk of every subscription is most of it).
func BenchmarkPresenceSnapshot100k(b *testing.B) {
	tb := startBroker(b, nil)
	seedSessions(b, tb, 100_000)
	nc := benchConnect(b, tb.addr, "watcher")
	r := bufio.NewReaderSize(nc, 64<<10)
	sub, err := packet.Encode(nil, &packet.Subscribe{PacketID: 1,
		Subscriptions: []packet.Subscription{{Filter: "$presence/room/7/alice"}}}, packet.Version311)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := nc.Write(sub); err != nil {
			b.Fatal(err)
		}
		for {
			p, err := packet.Read(r, packet.Version311, 0)
			if err != nil {
				b.Fatal(err)
			}
			if pub, ok := p.(*packet.Publish); ok {
				var ev presence.Event
				if err := json.Unmarshal(pub.Payload, &ev); err != nil || ev.Event != presence.EventSnapshot || *ev.Count != 100 {
					b.Fatalf("%s: %v", pub.Payload, err)
				}
				break
			}
		}
	}
}
