package mqtt_test

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stratamq/strata/mqtt"
	"github.com/stratamq/strata/mqtt/packet"
	"github.com/stratamq/strata/replication"
)

// stalledClient connects clientID (MQTT 5) and subscribes to subs without
// reading anything back: the broker's writes fill the socket, then the
// connection's queue. startReading reads what the broker sent since.
func stalledClient(t *testing.T, tb *testBroker, clientID string, subs ...packet.Subscription) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", tb.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	// The receive buffer keeps its default: a tiny one (smaller than the
	// loopback MSS) never reopens its window but by the sender's
	// zero-window probes, which back off to minutes.
	var out []byte
	out, _ = packet.Encode(out, &packet.Connect{ProtocolVersion: packet.Version5, ClientID: clientID, CleanStart: true}, packet.Version5)
	out, _ = packet.Encode(out, &packet.Subscribe{PacketID: 1, Subscriptions: subs}, packet.Version5)
	if _, err := nc.Write(out); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "stalled subscriber registered", func() bool {
		return len(tb.views.View().Subscriptions(clientID)) == len(subs)
	})
	return nc
}

// startReading starts reading a stalled client's socket and takes its
// CONNACK and SUBACK.
func startReading(t *testing.T, nc net.Conn) *rawClient {
	t.Helper()
	rc := &rawClient{t: t, nc: nc, version: packet.Version5, in: make(chan packet.Packet, 4096),
		closed: make(chan struct{}), aliases: map[uint16]string{}, nextID: 1}
	go rc.readLoop()
	expect[*packet.Connack](t, rc, 10*time.Second)
	expect[*packet.Suback](t, rc, 10*time.Second)
	return rc
}

// numbered is a payload of size bytes starting with i.
func numbered(i, size int) []byte {
	p := bytes.Repeat([]byte("."), size)
	copy(p, fmt.Sprintf("%08d", i))
	return p
}

func numberOf(t *testing.T, p *packet.Publish) int {
	t.Helper()
	i, err := strconv.Atoi(string(p.Payload[:8]))
	if err != nil {
		t.Fatalf("payload %q: %v", p.Payload[:8], err)
	}
	return i
}

// TestCatchUpQoS0: a QoS 0 subscriber that stops reading while 20 times its
// QueueLength of messages are published falls behind (a catch-up starts),
// then, reading again, receives every message exactly once and in order,
// while more are published during its catch-up (the seam back to live
// delivery); nothing is dropped.
func TestCatchUpQoS0(t *testing.T) {
	const queue, size = 16, 32 << 10
	tb := startBroker(t, func(o *mqtt.Options) { o.QueueLength = queue })
	nc := stalledClient(t, tb, "slow0", packet.Subscription{Filter: "cu/#"})
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	st := tb.broker.Stats()
	lags, dropped := st.CatchUps.Load(), st.DroppedQoS0.Load()
	const n, more = 20 * queue, 200
	for i := range n {
		pub.publish(&packet.Publish{Topic: "cu/x", QoS: 1, Payload: numbered(i, size)})
	}
	if st.CatchUps.Load() == lags {
		t.Fatal("the stalled subscriber never fell behind its queue: the test proves nothing")
	}
	rc := startReading(t, nc)
	for i := n; i < n+more; i++ { // published while it catches up
		pub.publish(&packet.Publish{Topic: "cu/y", QoS: 1, Payload: numbered(i, 100)})
	}
	for i := range n + more {
		p, _ := rc.recvPublish(10 * time.Second)
		if got := numberOf(t, p); got != i || p.QoS != 0 {
			t.Fatalf("message %d: got %d at QoS %d", i, got, p.QoS)
		}
	}
	rc.noPublish(200 * time.Millisecond)
	if d := st.DroppedQoS0.Load() - dropped; d != 0 {
		t.Fatalf("%d QoS 0 messages dropped", d)
	}
}

// TestCatchUpMixedQoS: QoS 0 and QoS 1 subscriptions of one stalled client
// catch up together: every message once, in publish order, each at its
// subscription's QoS (the QoS 1 ones through the session's in-flight).
func TestCatchUpMixedQoS(t *testing.T) {
	const queue, size = 16, 32 << 10
	tb := startBroker(t, func(o *mqtt.Options) { o.QueueLength, o.MaxInflight = queue, 4 })
	nc := stalledClient(t, tb, "mixed", packet.Subscription{Filter: "mx/a"}, packet.Subscription{Filter: "mx/b", QoS: 1})
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	lags := tb.broker.Stats().CatchUps.Load()
	const n = 20 * queue
	topics := []string{"mx/a", "mx/b"}
	for i := range n {
		pub.publish(&packet.Publish{Topic: topics[i%2], QoS: 1, Payload: numbered(i, size)})
	}
	if tb.broker.Stats().CatchUps.Load() == lags {
		t.Fatal("the stalled subscriber never fell behind its queue: the test proves nothing")
	}
	rc := startReading(t, nc)
	for i := range n {
		p, topic := rc.recvPublish(10 * time.Second)
		if got := numberOf(t, p); got != i || topic != topics[i%2] || p.QoS != byte(i%2) {
			t.Fatalf("message %d: got %d on %s at QoS %d", i, got, topic, p.QoS)
		}
	}
	rc.noPublish(200 * time.Millisecond)
	waitFor(t, 10*time.Second, "the session's in-flight acknowledged", func() bool {
		return len(tb.views.View().Inflight("mixed")) == 0
	})
}

// TestCatchUpRetention: retention removes part of what a stalled QoS 0
// subscriber had not read. It receives the rest in order, with no
// duplicate; the messages it missed are counted as dropped (by retention);
// it then continues live.
func TestCatchUpRetention(t *testing.T) {
	const size = 16 << 10
	tb := startBrokerOpts(t, t.TempDir(), func(o *replication.Options) {
		o.Log.SegmentBytes = 64 << 10
		o.Log.RetentionBytes = 128 << 10
		o.Log.Cluster = false
	}, func(o *mqtt.Options) { o.QueueLength = 16 })
	nc := stalledClient(t, tb, "slowret", packet.Subscription{Filter: "rt/#"})
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	st := tb.broker.Stats()
	lags, dropped, byRetention := st.CatchUps.Load(), st.DroppedQoS0.Load(), st.DroppedRetention.Load()
	n := 0
	publish := func(until func() bool) {
		for ; !until(); n++ {
			if n > 5000 {
				t.Fatal("published 5000 messages and the condition never held")
			}
			pub.publish(&packet.Publish{Topic: "rt/x", QoS: 1, Payload: numbered(n, size)})
		}
	}
	publish(func() bool { return st.CatchUps.Load() > lags })
	behind := tb.node.Log().NextOffset() // the catch-up starts at or before it
	publish(func() bool { return tb.node.Log().FirstOffset() > behind })
	rc := startReading(t, nc)
	last, got := -1, 0
	for last < n-1 {
		p, _ := rc.recvPublish(10 * time.Second)
		i := numberOf(t, p)
		if i <= last {
			t.Fatalf("message %d after %d", i, last)
		}
		last, got = i, got+1
	}
	waitFor(t, 10*time.Second, "drops counted", func() bool { return st.DroppedRetention.Load() > byRetention })
	if d, r := st.DroppedQoS0.Load()-dropped, st.DroppedRetention.Load()-byRetention; int(r) != n-got || d != r {
		t.Fatalf("received %d of %d; counted %d dropped, %d by retention", got, n, d, r)
	}
	pub.publish(&packet.Publish{Topic: "rt/live", QoS: 1, Payload: numbered(n, 10)})
	if p, topic := rc.recvPublish(10 * time.Second); topic != "rt/live" || numberOf(t, p) != n {
		t.Fatalf("live after the catch-up: %s %q", topic, p.Payload)
	}
}

// TestCatchUpShared: a shared-group member that falls behind takes from the
// log only the QoS 1 messages the fold gave it (its in-flight), never one
// another member got; the QoS 0 ones the fold gave it while it lagged
// cannot be told apart from the other member's, so they are dropped and
// counted. Every QoS 1 message reaches exactly one member.
func TestCatchUpShared(t *testing.T) {
	const queue, size = 16, 32 << 10
	tb := startBroker(t, func(o *mqtt.Options) { o.QueueLength = queue })
	share := packet.Subscription{Filter: "$share/g/sh/#", QoS: 1}
	fast, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "fast", CleanStart: true})
	fast.subscribe(0, share)
	nc := stalledClient(t, tb, "stalled", share)
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	st := tb.broker.Stats()
	lags, dropped := st.CatchUps.Load(), st.DroppedQoS0.Load()
	const n = 40 * queue
	qos := func(i int) byte { return byte(min(i%3, 1)) } // not i%2: the group alternates members
	for i := range n {
		pub.publish(&packet.Publish{Topic: "sh/x", QoS: qos(i), Payload: numbered(i, size)})
	}
	if st.CatchUps.Load() == lags {
		t.Fatal("the stalled member never fell behind its queue")
	}
	slow := startReading(t, nc)
	seen := map[int]string{}
	take := func(rc *rawClient, who string) bool {
		p, err := rc.next(300 * time.Millisecond)
		if err != nil {
			return false
		}
		pp, ok := p.(*packet.Publish)
		if !ok {
			t.Fatalf("%s: got %T", who, p)
		}
		if pp.QoS == 1 {
			rc.mustSend(&packet.Puback{PacketID: pp.PacketID})
		}
		i := numberOf(t, pp)
		if by, dup := seen[i]; dup {
			t.Fatalf("message %d to %s and to %s", i, by, who)
		}
		seen[i] = who
		return true
	}
	for take(fast, "fast") { // everything it gets is already sent
	}
	deadline := time.Now().Add(20 * time.Second)
	for take(slow, "stalled") {
		if time.Now().After(deadline) {
			t.Fatal("still receiving after 20 s")
		}
	}
	got0, n0 := 0, 0
	for i := range n {
		_, ok := seen[i]
		switch {
		case qos(i) == 1 && !ok:
			t.Fatalf("QoS 1 message %d reached no member", i)
		case qos(i) == 0:
			n0++
			if ok {
				got0++
			}
		}
	}
	if got0 == n0 {
		t.Fatal("no QoS 0 message was dropped: the stalled member got none while it lagged, the test proves nothing")
	}
	waitFor(t, 10*time.Second, "drops counted", func() bool {
		return int(st.DroppedQoS0.Load()-dropped) == n0-got0
	})
}

// TestCatchUpSubscribeDuringLag: a subscription made while the connection
// lags starts at its SUBSCRIBE, as live delivery would have started it: the
// catch-up sends none of the messages published before it on its filter,
// and all of those after, in order with the rest.
func TestCatchUpSubscribeDuringLag(t *testing.T) {
	const queue, size = 16, 32 << 10
	tb := startBroker(t, func(o *mqtt.Options) { o.QueueLength = queue })
	nc := stalledClient(t, tb, "late", packet.Subscription{Filter: "sd/a"})
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	lags := tb.broker.Stats().CatchUps.Load()
	topics := []string{"sd/a", "sd/b"}
	i := 0
	publish := func(n int) {
		for end := i + n; i < end; i++ {
			pub.publish(&packet.Publish{Topic: topics[i%2], QoS: 1, Payload: numbered(i, size)})
		}
	}
	publish(20 * queue)
	if tb.broker.Stats().CatchUps.Load() == lags {
		t.Fatal("the stalled subscriber never fell behind its queue")
	}
	out, _ := packet.Encode(nil, &packet.Subscribe{PacketID: 2, Subscriptions: []packet.Subscription{{Filter: "sd/b"}}}, packet.Version5)
	if _, err := nc.Write(out); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "second subscription", func() bool { return len(tb.views.View().Subscriptions("late")) == 2 })
	from := i // sd/b from here on
	publish(100)
	rc := startReading(t, nc)
	var want []int
	for k := range i {
		if k%2 == 0 || k >= from {
			want = append(want, k)
		}
	}
	for _, w := range want {
		p, err := rc.next(10 * time.Second)
		for err == nil {
			if _, ack := p.(*packet.Suback); !ack {
				break
			}
			p, err = rc.next(10 * time.Second)
		}
		pp, ok := p.(*packet.Publish)
		if err != nil || !ok {
			t.Fatalf("waiting for message %d: %v %T", w, err, p)
		}
		if got := numberOf(t, pp); got != w {
			t.Fatalf("got message %d, want %d", got, w)
		}
	}
	rc.noPublish(200 * time.Millisecond)
}
