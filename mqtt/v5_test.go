package mqtt_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"

	"github.com/stratamq/strata/mqtt"
	"github.com/stratamq/strata/mqtt/packet"
)

// v5Inbox collects the messages a paho.golang client receives.
type v5Inbox struct {
	mu   sync.Mutex
	msgs []*paho5.Publish
	ch   chan struct{}
}

func newV5Inbox() *v5Inbox { return &v5Inbox{ch: make(chan struct{}, 1)} }

func (in *v5Inbox) handle(pr paho5.PublishReceived) (bool, error) {
	in.mu.Lock()
	in.msgs = append(in.msgs, pr.Packet)
	in.mu.Unlock()
	select {
	case in.ch <- struct{}{}:
	default:
	}
	return true, nil
}

// waitN waits until at least n messages arrived and returns them.
func (in *v5Inbox) waitN(t *testing.T, n int, within time.Duration) []*paho5.Publish {
	t.Helper()
	deadline := time.After(within)
	for {
		in.mu.Lock()
		got := slices.Clone(in.msgs)
		in.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-in.ch:
		case <-deadline:
			t.Fatalf("got %d messages, want %d", len(got), n)
		}
	}
}

// v5Client connects a paho.golang (MQTT 5.0) client over a plain TCP
// connection; received messages go to in (if not nil).
func v5Client(t *testing.T, addr string, cp *paho5.Connect, in *v5Inbox) (*paho5.Client, *paho5.Connack) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cfg := paho5.ClientConfig{ClientID: cp.ClientID, Conn: nc, PacketTimeout: 10 * time.Second}
	if in != nil {
		cfg.OnPublishReceived = []func(paho5.PublishReceived) (bool, error){in.handle}
	}
	c := paho5.NewClient(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := c.Connect(ctx, cp)
	if err != nil {
		nc.Close()
		t.Fatalf("connect %q: %v", cp.ClientID, err)
	}
	t.Cleanup(func() {
		c.Disconnect(&paho5.Disconnect{})
		nc.Close()
	})
	return c, ack
}

func ctx10(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// offsetOf returns a delivered message's "offset" user property (the last
// user property) as a number.
func offsetOf(t *testing.T, user []packet.UserProperty) uint64 {
	t.Helper()
	if len(user) == 0 || user[len(user)-1].Key != "offset" {
		t.Fatalf("no trailing offset user property in %v", user)
	}
	off, err := strconv.ParseUint(user[len(user)-1].Value, 10, 64)
	if err != nil {
		t.Fatalf("offset %q: %v", user[len(user)-1].Value, err)
	}
	return off
}

// TestV5QoS: paho.golang publishes at QoS 0, 1 and 2 to subscribers at QoS
// 0, 1 and 2; each gets every message once, in order, at min(pub, sub).
func TestV5QoS(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	inboxes := make([]*v5Inbox, 3)
	for q := range inboxes {
		inboxes[q] = newV5Inbox()
		sub, _ := v5Client(t, tb.addr, &paho5.Connect{ClientID: fmt.Sprintf("sub%d", q), CleanStart: true, KeepAlive: 30}, inboxes[q])
		if _, err := sub.Subscribe(ctx10(t), &paho5.Subscribe{Subscriptions: []paho5.SubscribeOptions{{Topic: "q5/+", QoS: byte(q)}}}); err != nil {
			t.Fatal(err)
		}
	}
	pub, _ := v5Client(t, tb.addr, &paho5.Connect{ClientID: "pub", CleanStart: true, KeepAlive: 30}, nil)
	var want []string
	for pq := range 3 {
		for i := range 10 {
			p := fmt.Sprintf("p%d-%d", pq, i)
			want = append(want, p)
			r, err := pub.Publish(ctx10(t), &paho5.Publish{Topic: "q5/x", QoS: byte(pq), Payload: []byte(p)})
			if err != nil {
				t.Fatalf("publish QoS %d: %v", pq, err)
			}
			if pq > 0 && (r == nil || r.ReasonCode != 0) {
				t.Fatalf("publish QoS %d: response %+v", pq, r)
			}
		}
	}
	for sq, in := range inboxes {
		got := in.waitN(t, len(want), 10*time.Second)
		var payloads []string
		for i, m := range got {
			payloads = append(payloads, string(m.Payload))
			pq := byte(i / 10)
			if m.QoS != min(pq, byte(sq)) {
				t.Errorf("sub QoS %d, pub QoS %d: delivered at QoS %d", sq, pq, m.QoS)
			}
		}
		if !slices.Equal(payloads, want) {
			t.Fatalf("sub QoS %d: got %v", sq, payloads)
		}
	}
}

// TestV5QoS2Duplicate: a QoS 2 PUBLISH sent again before PUBREL (DUP) is
// acknowledged again but delivered once.
func TestV5QoS2Duplicate(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	sub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "sub", CleanStart: true})
	sub.subscribe(0, packet.Subscription{Filter: "dup/#", QoS: 2})
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	p := &packet.Publish{Topic: "dup/t", QoS: 2, PacketID: 9, Payload: []byte("once")}
	pub.mustSend(p)
	if rec := expect[*packet.Pubrec](t, pub, 5*time.Second); rec.PacketID != 9 || rec.ReasonCode != 0 {
		t.Fatalf("PUBREC %+v", rec)
	}
	p.Dup = true
	pub.mustSend(p)
	if rec := expect[*packet.Pubrec](t, pub, 5*time.Second); rec.PacketID != 9 || rec.ReasonCode != 0 {
		t.Fatalf("second PUBREC %+v", rec)
	}
	pub.mustSend(&packet.Pubrel{PacketID: 9})
	if comp := expect[*packet.Pubcomp](t, pub, 5*time.Second); comp.PacketID != 9 || comp.ReasonCode != 0 {
		t.Fatalf("PUBCOMP %+v", comp)
	}
	// A PUBREL for an id no longer held: PUBCOMP 0x92.
	pub.mustSend(&packet.Pubrel{PacketID: 9})
	if comp := expect[*packet.Pubcomp](t, pub, 5*time.Second); comp.ReasonCode != packet.CodePacketIdentifierNotFound {
		t.Fatalf("PUBCOMP %+v", comp)
	}
	pub.publish(&packet.Publish{Topic: "dup/t", QoS: 2, Payload: []byte("next")})
	for _, want := range []string{"once", "next"} {
		m, _ := sub.recvPublish(5 * time.Second)
		if string(m.Payload) != want || m.QoS != 2 {
			t.Fatalf("got %q QoS %d, want %q", m.Payload, m.QoS, want)
		}
	}
}

// TestV5ReceiveMaximum: the broker's Receive Maximum is announced and
// enforced: a QoS 2 publish holds its quota until PUBREL, so with Receive
// Maximum 1 a second QoS 2 publish before PUBREL is a DISCONNECT 0x93; a
// burst of QoS 1 publishes past the quota is one too.
func TestV5ReceiveMaximum(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(o *mqtt.Options) { o.ReceiveMaximum = 1 })

	ok, ack := rawConnect(t, tb.addr, &packet.Connect{ClientID: "rm-ok", CleanStart: true})
	if ack.Properties.ReceiveMaximum != 1 {
		t.Fatalf("CONNACK Receive Maximum %d, want 1", ack.Properties.ReceiveMaximum)
	}
	// Within the quota: each flow completes before the next starts.
	for i := range 3 {
		if code := ok.publish(&packet.Publish{Topic: "rm/t", QoS: 2, Payload: []byte{byte(i)}}); code.IsError() {
			t.Fatalf("PUBREC %v", code)
		}
	}

	rc, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "rm-bad", CleanStart: true})
	rc.mustSend(&packet.Publish{Topic: "rm/t", QoS: 2, PacketID: 1, Payload: []byte("a")})
	if rec := expect[*packet.Pubrec](t, rc, 10*time.Second); rec.PacketID != 1 || rec.ReasonCode.IsError() {
		t.Fatalf("PUBREC %+v", rec)
	}
	rc.mustSend(&packet.Publish{Topic: "rm/t", QoS: 2, PacketID: 2, Payload: []byte("b")})
	rc.expectDisconnect(packet.CodeReceiveMaximumExceeded, 10*time.Second)

	tb4 := startBroker(t, func(o *mqtt.Options) { o.ReceiveMaximum = 4 })
	burst, _ := rawConnect(t, tb4.addr, &packet.Connect{ClientID: "rm-burst", CleanStart: true})
	var ps []packet.Packet
	for i := range 50 {
		ps = append(ps, &packet.Publish{Topic: "rm/t", QoS: 1, PacketID: uint16(i + 1), Payload: []byte("x")})
	}
	burst.mustSend(ps...) // one write: far quicker than 5 commits
	burst.expectDisconnect(packet.CodeReceiveMaximumExceeded, 10*time.Second)
}

// TestV5RetainHandling: retain handling 0 sends the retained message on
// every subscribe, 1 only when the subscription is new, 2 never; retained
// messages sent on subscribe carry RETAIN.
func TestV5RetainHandling(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	pub.publish(&packet.Publish{Topic: "ret/a", QoS: 1, Retain: true, Payload: []byte("kept")})
	sub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "sub", CleanStart: true})

	expectRetained := func(what string) {
		t.Helper()
		p, topic := sub.recvPublish(5 * time.Second)
		if topic != "ret/a" || string(p.Payload) != "kept" || !p.Retain {
			t.Fatalf("%s: got %q %q retain=%v, want the retained message", what, topic, p.Payload, p.Retain)
		}
	}
	// A live publish after the SUBACK: the next delivery must be it, so no
	// retained message was sent for the subscribe (deliveries keep offset order).
	n := 0
	expectLive := func(what string) {
		t.Helper()
		n++
		live := fmt.Sprintf("live%d", n)
		pub.publish(&packet.Publish{Topic: "ret/a", QoS: 1, Payload: []byte(live)})
		p, _ := sub.recvPublish(5 * time.Second)
		if string(p.Payload) != live || p.Retain {
			t.Fatalf("%s: got %q retain=%v, want %q (no retained message)", what, p.Payload, p.Retain, live)
		}
	}

	sub.subscribe(0, packet.Subscription{Filter: "ret/a", QoS: 1, RetainHandling: 0})
	expectRetained("handling 0, new")
	sub.subscribe(0, packet.Subscription{Filter: "ret/a", QoS: 1, RetainHandling: 0})
	expectRetained("handling 0, existing")
	expectLive("after handling 0")

	sub.subscribe(0, packet.Subscription{Filter: "ret/+", QoS: 1, RetainHandling: 1})
	expectRetained("handling 1, new")
	sub.subscribe(0, packet.Subscription{Filter: "ret/+", QoS: 1, RetainHandling: 1})
	expectLive("handling 1, existing")

	sub.subscribe(0, packet.Subscription{Filter: "ret/#", QoS: 1, RetainHandling: 2})
	expectLive("handling 2, new")
	sub.subscribe(0, packet.Subscription{Filter: "ret/#", QoS: 1, RetainHandling: 2})
	expectLive("handling 2, existing")
}

// TestV5RetainAsPublished: live deliveries keep the RETAIN flag only
// through a retain-as-published subscription.
func TestV5RetainAsPublished(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	sub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "sub", CleanStart: true})
	sub.subscribe(0, packet.Subscription{Filter: "rap/no", QoS: 1},
		packet.Subscription{Filter: "rap/yes", QoS: 1, RetainAsPublished: true})
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	for _, c := range []struct {
		topic  string
		retain bool
		want   bool
	}{
		{"rap/no", true, false},
		{"rap/yes", true, true},
		{"rap/yes", false, false},
		{"rap/no", false, false},
	} {
		pub.publish(&packet.Publish{Topic: c.topic, QoS: 1, Retain: c.retain, Payload: []byte("x")})
		p, topic := sub.recvPublish(5 * time.Second)
		if topic != c.topic || p.Retain != c.want {
			t.Fatalf("publish %s retain=%v: got %s retain=%v, want retain=%v", c.topic, c.retain, topic, p.Retain, c.want)
		}
	}
}

// TestV5NoLocal: a no-local subscriber does not get its own messages;
// another subscriber does.
func TestV5NoLocal(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	a, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "a", CleanStart: true})
	a.subscribe(0, packet.Subscription{Filter: "nl/t", QoS: 1, NoLocal: true})
	b, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "b", CleanStart: true})
	b.subscribe(0, packet.Subscription{Filter: "nl/t", QoS: 1})
	c, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "c", CleanStart: true})

	if code := a.publish(&packet.Publish{Topic: "nl/t", QoS: 1, Payload: []byte("from-a")}); code != 0 {
		t.Fatalf("PUBACK %v", code)
	}
	if p, _ := b.recvPublish(5 * time.Second); string(p.Payload) != "from-a" {
		t.Fatalf("b got %q", p.Payload)
	}
	c.publish(&packet.Publish{Topic: "nl/t", QoS: 1, Payload: []byte("from-c")})
	if p, _ := a.recvPublish(5 * time.Second); string(p.Payload) != "from-c" {
		t.Fatalf("a got %q, want from-c (its own message must not come back)", p.Payload)
	}
}

// TestV5SubscriptionIdentifiers: a delivery carries the identifiers of every
// matching subscription, and none of subscriptions made without one.
func TestV5SubscriptionIdentifiers(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	sub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "sub", CleanStart: true})
	sub.subscribe(1, packet.Subscription{Filter: "sid/+", QoS: 1})
	sub.subscribe(2, packet.Subscription{Filter: "sid/#", QoS: 0})
	sub.subscribe(0, packet.Subscription{Filter: "sid/x", QoS: 1})
	sub.subscribe(268435455, packet.Subscription{Filter: "+/x", QoS: 1})
	sub.subscribe(7, packet.Subscription{Filter: "other/#", QoS: 1})
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	for _, c := range []struct {
		topic string
		ids   []uint32
		qos   byte
	}{
		{"sid/x", []uint32{1, 2, 268435455}, 1},
		{"sid/y", []uint32{1, 2}, 1},
		{"sid/a/b", []uint32{2}, 0},
		{"other/x", []uint32{7, 268435455}, 1},
	} {
		pub.publish(&packet.Publish{Topic: c.topic, QoS: 1, Payload: []byte(c.topic)})
		p, topic := sub.recvPublish(5 * time.Second)
		ids := slices.Sorted(slices.Values(p.Properties.SubscriptionIDs))
		if topic != c.topic || !slices.Equal(ids, c.ids) {
			t.Fatalf("%s: got %s with ids %v, want %v", c.topic, topic, ids, c.ids)
		}
		if p.QoS != c.qos {
			t.Fatalf("%s: QoS %d, want the highest granted, %d", c.topic, p.QoS, c.qos)
		}
	}
	// A retained message sent on subscribe carries that subscription's id.
	pub.publish(&packet.Publish{Topic: "ret/sid", QoS: 1, Retain: true, Payload: []byte("r")})
	sub.subscribe(9, packet.Subscription{Filter: "ret/+", QoS: 1})
	p, topic := sub.recvPublish(5 * time.Second)
	if topic != "ret/sid" || !p.Retain || !slices.Equal(p.Properties.SubscriptionIDs, []uint32{9}) {
		t.Fatalf("retained %s retain=%v ids %v, want ids [9]", topic, p.Retain, p.Properties.SubscriptionIDs)
	}
}

// TestV5ClientReceiveMaximum: the broker sends a client no more
// unacknowledged QoS 1 messages than the client's Receive Maximum.
func TestV5ClientReceiveMaximum(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	cp := &packet.Connect{ClientID: "slow", CleanStart: true}
	cp.Properties.ReceiveMaximum = 2
	sub, _ := rawConnect(t, tb.addr, cp)
	sub.subscribe(0, packet.Subscription{Filter: "crm/#", QoS: 1})
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	for i := range 5 {
		pub.publish(&packet.Publish{Topic: "crm/t", QoS: 1, Payload: []byte(strconv.Itoa(i))})
	}
	var held []*packet.Publish
	for range 2 {
		held = append(held, expect[*packet.Publish](t, sub, 5*time.Second))
	}
	if p, err := sub.next(300 * time.Millisecond); err != errTimeout {
		t.Fatalf("a third unacknowledged message with Receive Maximum 2: %v %v", p, err)
	}
	for i := 2; i < 5; i++ {
		sub.mustSend(&packet.Puback{PacketID: held[0].PacketID})
		held = held[1:]
		p := expect[*packet.Publish](t, sub, 5*time.Second)
		if string(p.Payload) != strconv.Itoa(i) {
			t.Fatalf("got %q, want %d", p.Payload, i)
		}
		held = append(held, p)
	}
}

// TestV5SharedSubscription: each message to a shared group reaches exactly
// one member; all are delivered once in total. No Local on a shared
// subscription is a protocol error.
func TestV5SharedSubscription(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	members := make([]*rawClient, 3)
	for i := range members {
		members[i], _ = rawConnect(t, tb.addr, &packet.Connect{ClientID: fmt.Sprintf("m%d", i), CleanStart: true})
		members[i].subscribe(0, packet.Subscription{Filter: "$share/g/sh/t", QoS: 1},
			packet.Subscription{Filter: "sh/end", QoS: 1})
	}
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	const n = 30
	for i := range n {
		pub.publish(&packet.Publish{Topic: "sh/t", QoS: 1, Payload: []byte(strconv.Itoa(i))})
	}
	// Every member gets sh/end after all of its shares (offset order).
	pub.publish(&packet.Publish{Topic: "sh/end", QoS: 1, Payload: []byte("end")})
	seen := map[string]int{}
	for i, m := range members {
		got := 0
		for {
			p, topic := m.recvPublish(5 * time.Second)
			if topic == "sh/end" {
				break
			}
			seen[string(p.Payload)]++
			got++
		}
		if got == 0 {
			t.Errorf("member %d got no message", i)
		}
		t.Logf("member %d got %d", i, got)
	}
	if len(seen) != n {
		t.Fatalf("%d distinct messages delivered, want %d", len(seen), n)
	}
	for p, k := range seen {
		if k != 1 {
			t.Fatalf("message %s delivered %d times", p, k)
		}
	}

	nl, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "nl", CleanStart: true})
	// Our encoder refuses to write it: set the No Local bit (bit 2 of the
	// options byte, the last one) by hand.
	b, err := packet.Encode(nil, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "$share/g/sh/t", QoS: 1}}}, packet.Version5)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] |= 0x04
	if err := nl.sendBytes(b); err != nil {
		t.Fatal(err)
	}
	nl.expectDisconnect(packet.CodeProtocolError, 10*time.Second)
}

// TestV5TopicAliasInbound: a client sets a topic alias with a topic, then
// publishes with the alias alone; an alias above the broker's Topic Alias
// Maximum is a DISCONNECT 0x94.
func TestV5TopicAliasInbound(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(o *mqtt.Options) { o.TopicAliasMaximum = 4 })
	sub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "sub", CleanStart: true})
	sub.subscribe(0, packet.Subscription{Filter: "al/#", QoS: 1})
	pub, ack := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	if ack.Properties.TopicAliasMaximum != 4 {
		t.Fatalf("CONNACK Topic Alias Maximum %d, want 4", ack.Properties.TopicAliasMaximum)
	}
	withAlias := func(topic string, alias uint16, payload string) *packet.Publish {
		p := &packet.Publish{Topic: topic, QoS: 1, Payload: []byte(payload)}
		p.Properties.TopicAlias = alias
		return p
	}
	pub.publish(withAlias("al/one", 3, "1"))
	pub.publish(withAlias("", 3, "2"))
	pub.publish(withAlias("al/two", 4, "3"))
	pub.publish(withAlias("al/three", 3, "4")) // an alias may be reassigned
	pub.publish(withAlias("", 3, "5"))
	pub.publish(withAlias("", 4, "6"))
	for _, w := range []string{"al/one 1", "al/one 2", "al/two 3", "al/three 4", "al/three 5", "al/two 6"} {
		p, topic := sub.recvPublish(5 * time.Second)
		if got := topic + " " + string(p.Payload); got != w {
			t.Fatalf("got %q, want %q", got, w)
		}
		if p.Properties.Has(packet.PropTopicAlias) {
			t.Fatalf("alias sent to a client that allows none")
		}
	}
	big := withAlias("al/x", 5, "too big")
	big.PacketID = 100
	pub.mustSend(big)
	pub.expectDisconnect(packet.CodeTopicAliasInvalid, 10*time.Second)

	unset, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "unset", CleanStart: true})
	never := withAlias("", 2, "never set")
	never.PacketID = 1
	unset.mustSend(never)
	unset.expectDisconnect(packet.CodeProtocolError, 10*time.Second)
}

// TestV5TopicAliasOutbound: to a client with Topic Alias Maximum 5 the
// broker sends a topic once with an alias, then the alias alone.
func TestV5TopicAliasOutbound(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	cp := &packet.Connect{ClientID: "sub", CleanStart: true}
	cp.Properties.TopicAliasMaximum = 5
	sub, _ := rawConnect(t, tb.addr, cp)
	sub.subscribe(0, packet.Subscription{Filter: "ba/#", QoS: 1})
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	topics := []string{"ba/x", "ba/x", "ba/y", "ba/x", "ba/y", "ba/1", "ba/2", "ba/3", "ba/4", "ba/4", "ba/1"}
	for i, tp := range topics {
		pub.publish(&packet.Publish{Topic: tp, QoS: 1, Payload: []byte(strconv.Itoa(i))})
	}
	aliased := map[string]uint16{}
	used := map[uint16]string{}
	for i, tp := range topics {
		p, topic := sub.recvPublish(5 * time.Second)
		if topic != tp || string(p.Payload) != strconv.Itoa(i) {
			t.Fatalf("message %d: got %s %q, want %s", i, topic, p.Payload, tp)
		}
		a := p.Properties.TopicAlias
		switch have, ok := aliased[tp]; {
		case ok: // a repeat: the alias alone
			if p.Topic != "" || a != have {
				t.Fatalf("message %d: repeat on %s sent as topic %q alias %d, want alias %d alone", i, tp, p.Topic, a, have)
			}
		case len(used) < 5: // a new topic while aliases are left: topic and a new alias
			if a == 0 || a > 5 || used[a] != "" || p.Topic != tp {
				t.Fatalf("message %d: first on %s sent as topic %q alias %d", i, tp, p.Topic, a)
			}
			used[a], aliased[tp] = tp, a
		default: // aliases used up: the topic in full
			if p.Topic != tp || a != 0 {
				t.Fatalf("message %d: got topic %q alias %d, want the topic alone", i, p.Topic, a)
			}
		}
	}
	if len(used) != 5 {
		t.Fatalf("%d aliases used, want 5", len(used))
	}
}

// TestV5MaximumPacketSize: a PUBLISH larger than the broker's Maximum
// Packet Size is a DISCONNECT 0x95; a message larger than the client's
// Maximum Packet Size is not sent to it, the next small one is.
func TestV5MaximumPacketSize(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(o *mqtt.Options) { o.MaxPacketSize = 1024 })
	cp := &packet.Connect{ClientID: "small", CleanStart: true}
	cp.Properties.MaximumPacketSize = 200
	sub, ack := rawConnect(t, tb.addr, cp)
	if ack.Properties.MaximumPacketSize != 1024 {
		t.Fatalf("CONNACK Maximum Packet Size %d, want 1024", ack.Properties.MaximumPacketSize)
	}
	sub.subscribe(0, packet.Subscription{Filter: "mps/#", QoS: 1})
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	pub.publish(&packet.Publish{Topic: "mps/big", QoS: 1, Payload: bytes.Repeat([]byte("b"), 500)})
	pub.publish(&packet.Publish{Topic: "mps/big", QoS: 0, Payload: bytes.Repeat([]byte("b"), 500)})
	pub.publish(&packet.Publish{Topic: "mps/small", QoS: 1, Payload: []byte("small")})
	p, topic := sub.recvPublish(5 * time.Second)
	if topic != "mps/small" || string(p.Payload) != "small" {
		t.Fatalf("got %s (%d bytes), want the small message", topic, len(p.Payload))
	}
	if n, _ := packet.Size(p, packet.Version5); n > 200 {
		t.Fatalf("sent a %d-byte packet to a client allowing 200", n)
	}

	pub.mustSend(&packet.Publish{Topic: "mps/big", QoS: 0, Payload: bytes.Repeat([]byte("x"), 2000)})
	pub.expectDisconnect(packet.CodePacketTooLarge, 10*time.Second)

	// The dropped QoS 1 message is done with: nothing stays in flight.
	waitFor(t, 5*time.Second, "no message in flight", func() bool { return len(tb.views.View().Inflight("small")) == 0 })
}

// TestV5MaximumPacketSizeReasonString: the broker drops the Reason String
// of a packet it sends rather than exceed the client's Maximum Packet Size
// [MQTT-3.14.2-3].
func TestV5MaximumPacketSizeReasonString(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(o *mqtt.Options) { o.ReceiveMaximum = 1 })
	cp := &packet.Connect{ClientID: "tiny", CleanStart: true}
	cp.Properties.MaximumPacketSize = 32
	rc, _ := rawConnect(t, tb.addr, cp)
	rc.mustSend(&packet.Publish{Topic: "t", QoS: 2, PacketID: 1})
	expect[*packet.Pubrec](t, rc, 5*time.Second)
	rc.mustSend(&packet.Publish{Topic: "t", QoS: 2, PacketID: 2})
	dp := rc.waitClose(5 * time.Second)
	if dp == nil || dp.ReasonCode != packet.CodeReceiveMaximumExceeded {
		t.Fatalf("DISCONNECT %+v, want receive maximum exceeded", dp)
	}
	if n, _ := packet.Size(dp, packet.Version5); n > 32 {
		t.Fatalf("a %d-byte DISCONNECT (reason string %q) to a client allowing 32", n, dp.Properties.ReasonString)
	}
}

// TestV5PropertiesPassThrough: payload format, content type, response
// topic, correlation data and user properties reach subscribers unchanged,
// followed by an "offset" user property that increases (both subscriptions
// ask for it: SUBSCRIBE user property offset=true); a request/response
// round trip works with paho.golang.
func TestV5PropertiesPassThrough(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	reqIn, respIn := newV5Inbox(), newV5Inbox()
	askOffset := &paho5.SubscribeProperties{User: paho5.UserProperties{{Key: "offset", Value: "true"}}}
	responder, _ := v5Client(t, tb.addr, &paho5.Connect{ClientID: "responder", CleanStart: true, KeepAlive: 30}, reqIn)
	if _, err := responder.Subscribe(ctx10(t), &paho5.Subscribe{Properties: askOffset,
		Subscriptions: []paho5.SubscribeOptions{{Topic: "svc/req", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	requester, _ := v5Client(t, tb.addr, &paho5.Connect{ClientID: "requester", CleanStart: true, KeepAlive: 30}, respIn)
	if _, err := requester.Subscribe(ctx10(t), &paho5.Subscribe{Properties: askOffset,
		Subscriptions: []paho5.SubscribeOptions{{Topic: "svc/resp/requester", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	format := byte(1)
	var lastOff uint64
	for i := range 3 {
		props := &paho5.PublishProperties{
			PayloadFormat:   &format,
			ContentType:     "application/json",
			ResponseTopic:   "svc/resp/requester",
			CorrelationData: []byte{0, byte(i), 0xff},
			User:            paho5.UserProperties{{Key: "a", Value: "1"}, {Key: "b", Value: ""}, {Key: "a", Value: "3"}},
		}
		body := fmt.Sprintf(`{"n":%d}`, i)
		if _, err := requester.Publish(ctx10(t), &paho5.Publish{Topic: "svc/req", QoS: 1, Payload: []byte(body), Properties: props}); err != nil {
			t.Fatal(err)
		}
		req := reqIn.waitN(t, i+1, 5*time.Second)[i]
		rp := req.Properties
		if string(req.Payload) != body || rp == nil || rp.PayloadFormat == nil || *rp.PayloadFormat != 1 ||
			rp.ContentType != "application/json" || rp.ResponseTopic != "svc/resp/requester" ||
			!bytes.Equal(rp.CorrelationData, props.CorrelationData) || rp.MessageExpiry != nil {
			t.Fatalf("request %d arrived as %v", i, req)
		}
		user := rp.User.ToPacketProperties()
		var up []packet.UserProperty
		for _, u := range user {
			up = append(up, packet.UserProperty{Key: u.Key, Value: u.Value})
		}
		if len(up) != 4 || up[0] != (packet.UserProperty{Key: "a", Value: "1"}) || up[1] != (packet.UserProperty{Key: "b", Value: ""}) ||
			up[2] != (packet.UserProperty{Key: "a", Value: "3"}) {
			t.Fatalf("request %d user properties %v", i, up)
		}
		off := offsetOf(t, up)
		if off <= lastOff {
			t.Fatalf("offset %d after %d", off, lastOff)
		}
		lastOff = off

		// The responder answers on the response topic with the correlation data.
		if _, err := responder.Publish(ctx10(t), &paho5.Publish{Topic: rp.ResponseTopic, QoS: 1, Payload: []byte("ok"),
			Properties: &paho5.PublishProperties{CorrelationData: rp.CorrelationData}}); err != nil {
			t.Fatal(err)
		}
		resp := respIn.waitN(t, i+1, 5*time.Second)[i]
		if string(resp.Payload) != "ok" || resp.Properties == nil || !bytes.Equal(resp.Properties.CorrelationData, props.CorrelationData) {
			t.Fatalf("response %d arrived as %v", i, resp)
		}
		if resp.Properties.PayloadFormat != nil || resp.Properties.ContentType != "" {
			t.Fatalf("response %d has properties it was not published with: %v", i, resp)
		}
		if got := resp.Properties.User.Get("offset"); got == "" || len(resp.Properties.User) != 1 {
			t.Fatalf("response %d user properties %v", i, resp.Properties.User)
		} else if o, _ := strconv.ParseUint(got, 10, 64); o <= lastOff {
			t.Fatalf("response offset %d after %d", o, lastOff)
		} else {
			lastOff = o
		}
	}
}

// TestV5SysTopics: "#" does not match $SYS/ topics, "$SYS/#" does, and
// clients cannot publish to $SYS/.
func TestV5SysTopics(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(o *mqtt.Options) { o.SysInterval = 200 * time.Millisecond })
	all, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "all", CleanStart: true})
	all.subscribe(0, packet.Subscription{Filter: "#", QoS: 1}, packet.Subscription{Filter: "+/broker/#", QoS: 1})
	sys, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "sys", CleanStart: true})
	sys.subscribe(0, packet.Subscription{Filter: "$SYS/#", QoS: 0})
	// Two rounds of statistics, so some were published after the "#"
	// subscription.
	for range 2 {
		p, topic := sys.recvPublish(5 * time.Second)
		if !strings.HasPrefix(topic, "$SYS/broker/") {
			t.Fatalf("$SYS/# subscriber got %s %q", topic, p.Payload)
		}
	}
	evil, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "evil", CleanStart: true})
	evil.subscribe(0, packet.Subscription{Filter: "$SYS/evil", QoS: 1})
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	if code := pub.publish(&packet.Publish{Topic: "$SYS/evil", QoS: 1, Payload: []byte("1")}); code != packet.CodeNotAuthorized {
		t.Fatalf("QoS 1 publish to $SYS/: PUBACK %v, want not authorized", code)
	}
	if code := pub.publish(&packet.Publish{Topic: "$SYS/evil", QoS: 2, Payload: []byte("2")}); code != packet.CodeNotAuthorized {
		t.Fatalf("QoS 2 publish to $SYS/: PUBREC %v, want not authorized", code)
	}
	pub.publish(&packet.Publish{Topic: "$SYS/evil", QoS: 0, Payload: []byte("0")})
	pub.publish(&packet.Publish{Topic: "sysmark", QoS: 1, Payload: []byte("mark")})
	if p, topic := all.recvPublish(5 * time.Second); topic != "sysmark" {
		t.Fatalf("# subscriber got %s %q before the marker", topic, p.Payload)
	}
	// The $SYS/evil subscriber: nothing was published there (checked with a
	// later message on a topic it subscribes to next).
	evil.subscribe(0, packet.Subscription{Filter: "evilmark", QoS: 1})
	pub.publish(&packet.Publish{Topic: "evilmark", QoS: 1, Payload: []byte("mark")})
	if p, topic := evil.recvPublish(5 * time.Second); topic != "evilmark" {
		t.Fatalf("$SYS/evil subscriber got %s %q", topic, p.Payload)
	}
	// Both publishers are still connected after being refused.
	pub.mustSend(&packet.Pingreq{})
	expect[*packet.Pingresp](t, pub, 5*time.Second)
}

// testAuth accepts one user.
type testAuth struct{ user, pass string }

func (a testAuth) Authenticate(user string, pass []byte) bool {
	return user == a.user && string(pass) == a.pass
}

// TestV5BadCredentials: wrong credentials are refused with 0x86 (5.0) / 0x04
// (3.1.1); no credentials on a listener that does not admit anonymous
// clients with 0x87 / 0x05.
func TestV5BadCredentials(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(o *mqtt.Options) { o.Auth = testAuth{"alice", "secret"} })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go tb.broker.ServeConn(nc, mqtt.Listener{Name: "tcp", Anonymous: false})
		}
	}()
	closed := ln.Addr().String()
	for _, c := range []struct {
		name     string
		addr     string
		version  byte
		user     string
		pass     string
		hasUser  bool
		want     packet.ReasonCode
		want311  byte
		accepted bool
	}{
		{"good, closed listener", closed, 5, "alice", "secret", true, 0, 0, true},
		{"good, closed listener, 3.1.1", closed, 4, "alice", "secret", true, 0, 0, true},
		{"wrong password", closed, 5, "alice", "nope", true, packet.CodeBadUsernameOrPassword, 0, false},
		{"wrong password, 3.1.1", closed, 4, "alice", "nope", true, 0, 0x04, false},
		{"unknown user, open listener", tb.addr, 5, "bob", "secret", true, packet.CodeBadUsernameOrPassword, 0, false},
		{"unknown user, open listener, 3.1.1", tb.addr, 4, "bob", "secret", true, 0, 0x04, false},
		{"anonymous, closed listener", closed, 5, "", "", false, packet.CodeNotAuthorized, 0, false},
		{"anonymous, closed listener, 3.1.1", closed, 4, "", "", false, 0, 0x05, false},
		// A password file turns anonymous clients off on loopback too (mosquitto 2).
		{"anonymous, loopback listener", tb.addr, 5, "", "", false, packet.CodeNotAuthorized, 0, false},
		{"anonymous, loopback listener, 3.1.1", tb.addr, 4, "", "", false, 0, 0x05, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cp := &packet.Connect{ProtocolVersion: c.version, ClientID: "cred", CleanStart: true,
				HasUsername: c.hasUser, Username: c.user, HasPassword: c.pass != "", Password: []byte(c.pass)}
			if c.version == 4 {
				ack := connack311(t, c.addr, cp)
				want := []byte{0x20, 0x02, 0x00, c.want311}
				if !bytes.Equal(ack, want) {
					t.Fatalf("CONNACK % x, want % x", ack, want)
				}
				return
			}
			rc := dialRaw(t, c.addr, packet.Version5)
			ack := rc.connect(cp)
			if ack.ReasonCode != c.want {
				t.Fatalf("CONNACK %v (%q), want %v", ack.ReasonCode, ack.Properties.ReasonString, c.want)
			}
			if c.accepted {
				rc.disconnect(nil)
				return
			}
			if ack.SessionPresent {
				t.Fatal("refused CONNACK with session present")
			}
			if d := rc.waitClose(5 * time.Second); d != nil {
				t.Fatalf("DISCONNECT %v after a refusing CONNACK", d.ReasonCode)
			}
		})
	}
}

// connack311 sends a 3.1.1 CONNECT and returns the CONNACK's raw bytes;
// a refused connection must then be closed.
func connack311(t *testing.T, addr string, cp *packet.Connect) []byte {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	cp.ProtocolVersion = packet.Version311
	b, err := packet.Encode(nil, cp, packet.Version311)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(b); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	ack := make([]byte, 4)
	if _, err := io.ReadFull(nc, ack); err != nil {
		t.Fatalf("reading CONNACK: %v", err)
	}
	if ack[3] != 0 {
		// Refused: the broker closes the connection [MQTT-3.2.2-5].
		var one [1]byte
		if n, err := nc.Read(one[:]); err == nil {
			t.Fatalf("more bytes after a refusing CONNACK: %d", n)
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("connection not closed after a refusing CONNACK")
		}
	}
	return ack
}

// TestV5Malformed: garbage is answered by closing the connection (with
// DISCONNECT 0x81 for an MQTT 5 client), a second CONNECT by DISCONNECT
// 0x82; the broker keeps serving other clients.
func TestV5Malformed(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	healthy, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "healthy", CleanStart: true})
	healthy.subscribe(0, packet.Subscription{Filter: "mal/#", QoS: 1})

	// Before CONNECT: no version is known, the connection is just closed.
	for i, garbage := range [][]byte{
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		{0x30, 0x02, 0x00, 0x00}, // PUBLISH before CONNECT
		{0x10, 0xff, 0xff, 0xff, 0xff, 0x7f},
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
	} {
		rc := dialRaw(t, tb.addr, packet.Version5)
		if err := rc.sendBytes(garbage); err != nil {
			t.Fatal(err)
		}
		if d := rc.waitClose(5 * time.Second); d != nil {
			t.Fatalf("garbage %d: DISCONNECT %v before CONNECT", i, d.ReasonCode)
		}
	}

	// After an MQTT 5 CONNECT: DISCONNECT 0x81.
	for i, garbage := range [][]byte{
		{0x00, 0x00},                              // reserved packet type 0
		{0x62, 0x02, 0x00, 0x01},                  // PUBREL with correct flags...
		{0x60, 0x02, 0x00, 0x01},                  // ...and with flags 0 [MQTT-3.6.1-1]
		{0x30, 0xff, 0xff, 0xff, 0xff, 0x01},      // remaining length of 5 bytes
		{0x36, 0x05, 0x00, 0x01, 'a', 0x00, 0x01}, // QoS 3
		{0x82, 0x03, 0x00, 0x01, 0x00},            // SUBSCRIBE without filters
	} {
		rc, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: fmt.Sprintf("bad%d", i), CleanStart: true})
		if err := rc.sendBytes(garbage); err != nil {
			t.Fatal(err)
		}
		if i == 1 { // valid: PUBCOMP 0x92 for an unknown id, then the bad one
			if c := expect[*packet.Pubcomp](t, rc, 5*time.Second); c.ReasonCode != packet.CodePacketIdentifierNotFound {
				t.Fatalf("PUBCOMP %v", c.ReasonCode)
			}
			continue
		}
		dp := rc.waitClose(5 * time.Second)
		if dp == nil || dp.ReasonCode != packet.CodeMalformedPacket && dp.ReasonCode != packet.CodeProtocolError {
			t.Fatalf("garbage % x: DISCONNECT %+v, want malformed packet", garbage, dp)
		}
		if i != 4 && i != 5 && dp.ReasonCode != packet.CodeMalformedPacket {
			t.Fatalf("garbage % x: DISCONNECT %v, want malformed packet", garbage, dp.ReasonCode)
		}
	}

	// After a 3.1.1 CONNECT: closed without a DISCONNECT.
	rc := dialRaw(t, tb.addr, packet.Version311)
	if ack := rc.connect(&packet.Connect{ClientID: "bad311", CleanStart: true}); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
	rc.sendBytes([]byte{0xf0, 0x00}) // AUTH does not exist in 3.1.1
	if d := rc.waitClose(5 * time.Second); d != nil {
		t.Fatalf("3.1.1 client got DISCONNECT %v", d.ReasonCode)
	}

	// Invalid topic filters are refused in SUBACK (the connection stays);
	// a wildcard in a topic name is a DISCONNECT 0x90 or malformed packet.
	filters, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "filters", CleanStart: true})
	filters.mustSend(&packet.Subscribe{PacketID: 3, Subscriptions: []packet.Subscription{
		{Filter: "a/#/b", QoS: 1}, {Filter: "ok/+", QoS: 1}, {Filter: "a+/b", QoS: 0}}})
	sa := expect[*packet.Suback](t, filters, 5*time.Second)
	if !slices.Equal(sa.ReasonCodes, []packet.ReasonCode{packet.CodeTopicFilterInvalid, packet.CodeGrantedQoS1, packet.CodeTopicFilterInvalid}) {
		t.Fatalf("SUBACK %v", sa.ReasonCodes)
	}
	wild, err := packet.Encode(nil, &packet.Publish{Topic: "a/b", Payload: []byte("x")}, packet.Version5)
	if err != nil {
		t.Fatal(err)
	}
	wild[bytes.Index(wild, []byte("a/b"))+1] = '+' // the encoder refuses wildcards
	filters.sendBytes(wild)
	if dp := filters.waitClose(5 * time.Second); dp == nil || dp.ReasonCode != packet.CodeTopicNameInvalid && dp.ReasonCode != packet.CodeMalformedPacket {
		t.Fatalf("wildcard in a topic name: DISCONNECT %+v", dp)
	}

	// A second CONNECT.
	twice, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "twice", CleanStart: true})
	twice.mustSend(&packet.Connect{ProtocolVersion: packet.Version5, ClientID: "twice", CleanStart: true})
	twice.expectDisconnect(packet.CodeProtocolError, 5*time.Second)

	// The broker still serves the others.
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	pub.publish(&packet.Publish{Topic: "mal/ok", QoS: 1, Payload: []byte("still here")})
	if p, _ := healthy.recvPublish(5 * time.Second); string(p.Payload) != "still here" {
		t.Fatalf("got %q", p.Payload)
	}
}
