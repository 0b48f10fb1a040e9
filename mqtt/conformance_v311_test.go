package mqtt_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stratamq/strata/mqtt/packet"
)

// Conformance tests for MQTT 3.1.1 normative statements that no other test
// cites; docs/conformance.md lists each tag with the test that covers it.
// The tags here are 3.1.1's numbering (section 2.3.1, 3.2.2, ...), which
// differs from 5.0's for the same rule.

// dial311 connects a 3.1.1 raw client, which must be accepted.
func dial311(t *testing.T, addr string, cp *packet.Connect) (*rawClient, *packet.Connack) {
	t.Helper()
	rc := dialRaw(t, addr, packet.Version311)
	ack := rc.connect(cp)
	if ack.ReasonCode != packet.CodeSuccess {
		t.Fatalf("CONNACK %v for %q", ack.ReasonCode, cp.ClientID)
	}
	return rc, ack
}

// TestConformance311ClientID covers the zero-length client identifier
// rules and Session Present.
func TestConformance311ClientID(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)

	// A zero-byte ClientId with Clean Session 0 is refused with return
	// code 0x02 and the connection closed [MQTT-3.1.3-8].
	rc := dialRaw(t, tb.addr, packet.Version311)
	if ack := rc.connect(&packet.Connect{ClientID: ""}); ack.ReasonCode != packet.CodeClientIdentifierNotValid || ack.SessionPresent {
		t.Fatalf("CONNACK %+v, want identifier rejected without session present [MQTT-3.2.2-4]", ack)
	}
	rc.waitClose(5 * time.Second) // [MQTT-3.2.2-5]

	// With Clean Session 1 the server assigns one [MQTT-3.1.3-6].
	anon, ack := dial311(t, tb.addr, &packet.Connect{ClientID: "", CleanStart: true})
	if ack.SessionPresent {
		t.Fatal("session present for a clean session [MQTT-3.2.2-1]")
	}
	anon.mustSend(&packet.Pingreq{})
	expect[*packet.Pingresp](t, anon, 5*time.Second) // [MQTT-3.12.4-1]

	// Session Present: 0 for a new persistent session [MQTT-3.2.2-3], 1
	// when it is resumed [MQTT-3.2.2-2].
	p, ack := dial311(t, tb.addr, &packet.Connect{ClientID: "persist311"})
	if ack.SessionPresent {
		t.Fatal("session present on first connect [MQTT-3.2.2-3]")
	}
	p.subscribe(0, packet.Subscription{Filter: "keep/#", QoS: 1})
	p.disconnect(nil)
	_, ack = dial311(t, tb.addr, &packet.Connect{ClientID: "persist311"})
	if !ack.SessionPresent {
		t.Fatal("no session present on resume [MQTT-3.2.2-2]")
	}
}

// TestConformance311SecondConnect: a second CONNECT is a protocol violation
// and the server closes the connection [MQTT-3.1.0-2].
func TestConformance311SecondConnect(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	rc, _ := dial311(t, tb.addr, &packet.Connect{ClientID: "twice", CleanStart: true})
	rc.mustSend(&packet.Connect{ClientID: "twice", CleanStart: true, ProtocolVersion: packet.Version311})
	if d := rc.waitClose(5 * time.Second); d != nil {
		t.Fatalf("3.1.1 client got DISCONNECT %v", d.ReasonCode)
	}
}

// TestConformance311Acks: SUBACK and UNSUBACK carry the request's packet
// identifier and one return code per filter, in order.
func TestConformance311Acks(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	rc, _ := dial311(t, tb.addr, &packet.Connect{ClientID: "acks311", CleanStart: true})

	// [MQTT-3.8.4-1] [MQTT-3.8.4-2] [MQTT-2.3.1-7] [MQTT-3.8.4-4]
	// [MQTT-3.8.4-5] [MQTT-3.8.4-6] [MQTT-3.9.3-1] [MQTT-3.9.3-2]: an invalid
	// filter fails alone (0x80), the others are granted in order.
	rc.mustSend(&packet.Subscribe{PacketID: 0x1234, Subscriptions: []packet.Subscription{
		{Filter: "a/+", QoS: 2}, {Filter: "a/#/b", QoS: 1}, {Filter: "c", QoS: 0}}})
	sa := expect[*packet.Suback](t, rc, 5*time.Second)
	want := []packet.ReasonCode{packet.CodeGrantedQoS2, packet.CodeUnspecifiedError, packet.CodeSuccess}
	if sa.PacketID != 0x1234 || !slices.Equal(sa.ReasonCodes, want) {
		t.Fatalf("SUBACK %+v, want id 0x1234 codes %v", sa, want)
	}

	// UNSUBACK even when nothing was subscribed [MQTT-3.10.4-4]
	// [MQTT-3.10.4-5], one for several filters [MQTT-3.10.4-6].
	rc.mustSend(&packet.Unsubscribe{PacketID: 0x4321, Filters: []string{"never/subscribed", "a/+"}})
	if ua := expect[*packet.Unsuback](t, rc, 5*time.Second); ua.PacketID != 0x4321 {
		t.Fatalf("UNSUBACK for %#x, want 0x4321", ua.PacketID)
	}
	rc.mustSend(&packet.Pingreq{})
	expect[*packet.Pingresp](t, rc, 5*time.Second) // no second UNSUBACK came first
}

// TestConformance311Unsubscribe: after UNSUBACK no new message matching the
// filter is delivered [MQTT-3.10.4-1] [MQTT-3.10.4-2].
func TestConformance311Unsubscribe(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	sub, _ := dial311(t, tb.addr, &packet.Connect{ClientID: "unsub311", CleanStart: true})
	pub, _ := dial311(t, tb.addr, &packet.Connect{ClientID: "unsubpub311", CleanStart: true})
	sub.subscribe(0, packet.Subscription{Filter: "u/+", QoS: 1}, packet.Subscription{Filter: "v", QoS: 1})
	sub.mustSend(&packet.Unsubscribe{PacketID: 9, Filters: []string{"u/+"}})
	expect[*packet.Unsuback](t, sub, 5*time.Second)
	pub.publish(&packet.Publish{Topic: "u/1", QoS: 1, Payload: []byte("gone")})
	pub.publish(&packet.Publish{Topic: "v", QoS: 1, Payload: []byte("kept")})
	if p, topic := sub.recvPublish(5 * time.Second); topic != "v" || string(p.Payload) != "kept" {
		t.Fatalf("got %q %q, want only v", topic, p.Payload)
	}
	sub.noPublish(200 * time.Millisecond)
}

// TestConformance311Retain covers the RETAIN flag rules of section 3.3.1.
func TestConformance311Retain(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	pub, _ := dial311(t, tb.addr, &packet.Connect{ClientID: "retpub311", CleanStart: true})
	live, _ := dial311(t, tb.addr, &packet.Connect{ClientID: "retlive311", CleanStart: true})
	live.subscribe(0, packet.Subscription{Filter: "ret/#", QoS: 1})

	// Stored and forwarded to the established subscription with RETAIN 0
	// [MQTT-3.3.1-5] [MQTT-3.3.1-9].
	pub.publish(&packet.Publish{Topic: "ret/a", QoS: 1, Retain: true, Payload: []byte("r1")})
	if p, _ := live.recvPublish(5 * time.Second); p.Retain {
		t.Fatal("RETAIN 1 on a live delivery [MQTT-3.3.1-9]")
	}
	// A non-retained publish neither replaces nor removes it [MQTT-3.3.1-12].
	pub.publish(&packet.Publish{Topic: "ret/a", QoS: 1, Payload: []byte("plain")})
	live.recvPublish(5 * time.Second)
	late, _ := dial311(t, tb.addr, &packet.Connect{ClientID: "retlate311", CleanStart: true})
	late.subscribe(0, packet.Subscription{Filter: "ret/#", QoS: 1})
	p, _ := late.recvPublish(5 * time.Second)
	if !p.Retain || string(p.Payload) != "r1" {
		t.Fatalf("new subscriber got %q retain=%v, want r1 with RETAIN 1 [MQTT-3.3.1-6] [MQTT-3.3.1-8]", p.Payload, p.Retain)
	}

	// A zero-byte retained message clears it and is not stored itself
	// [MQTT-3.3.1-10] [MQTT-3.3.1-11].
	pub.publish(&packet.Publish{Topic: "ret/a", QoS: 1, Retain: true})
	live.recvPublish(5 * time.Second)
	waitFor(t, 5*time.Second, "retained message cleared", func() bool {
		c := dialRaw(t, tb.addr, packet.Version311)
		defer c.close()
		c.connect(&packet.Connect{ClientID: "retprobe311", CleanStart: true})
		c.mustSend(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "ret/#", QoS: 1}}})
		for {
			q, err := c.next(300 * time.Millisecond)
			if err != nil {
				return true // nothing retained arrived
			}
			if pp, ok := q.(*packet.Publish); ok && pp.Retain {
				return false
			}
		}
	})
}

// TestConformance311QoS2Receiver: the server as QoS 2 receiver answers
// PUBREC and PUBCOMP with the PUBLISH's packet identifier, and a resent
// PUBLISH before PUBREL is not delivered twice [MQTT-4.3.3-2]
// [MQTT-2.3.1-6] [MQTT-3.3.4-1].
func TestConformance311QoS2Receiver(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	sub, _ := dial311(t, tb.addr, &packet.Connect{ClientID: "q2sub311", CleanStart: true})
	sub.subscribe(0, packet.Subscription{Filter: "q2", QoS: 2})
	pub, _ := dial311(t, tb.addr, &packet.Connect{ClientID: "q2pub311", CleanStart: true})

	// DUP 1 on the first copy, as a client resending after a reconnect
	// would: the delivery's DUP reflects only its own retransmission
	// [MQTT-3.3.1-3].
	pp := &packet.Publish{Topic: "q2", QoS: 2, PacketID: 77, Dup: true, Payload: []byte("once")}
	pub.mustSend(pp)
	if r := expect[*packet.Pubrec](t, pub, 5*time.Second); r.PacketID != 77 {
		t.Fatalf("PUBREC for %d", r.PacketID)
	}
	pub.mustSend(pp)
	if r := expect[*packet.Pubrec](t, pub, 5*time.Second); r.PacketID != 77 {
		t.Fatalf("second PUBREC for %d", r.PacketID)
	}
	pub.mustSend(&packet.Pubrel{PacketID: 77})
	if c := expect[*packet.Pubcomp](t, pub, 5*time.Second); c.PacketID != 77 {
		t.Fatalf("PUBCOMP for %d", c.PacketID)
	}
	if p, _ := sub.recvPublish(5 * time.Second); string(p.Payload) != "once" || p.Dup {
		t.Fatalf("got %q dup=%v, want once with DUP 0", p.Payload, p.Dup)
	}
	sub.noPublish(300 * time.Millisecond)

	// After PUBCOMP the identifier is free: the same id is a new message
	// [MQTT-4.3.3-2].
	if code := pub.publish(&packet.Publish{Topic: "q2", QoS: 2, PacketID: 77, Payload: []byte("again")}); code != 0 {
		t.Fatalf("PUBREC %v", code)
	}
	if p, _ := sub.recvPublish(5 * time.Second); string(p.Payload) != "again" {
		t.Fatalf("got %q, want again", p.Payload)
	}
}

// TestConformance311QoS1Receiver: after PUBACK, a PUBLISH with the same
// packet identifier is a new message, whatever its DUP flag
// [MQTT-4.3.2-2]; PUBACK carries the PUBLISH's identifier [MQTT-2.3.1-6].
func TestConformance311QoS1Receiver(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	sub, _ := dial311(t, tb.addr, &packet.Connect{ClientID: "q1sub311", CleanStart: true})
	sub.subscribe(0, packet.Subscription{Filter: "q1", QoS: 1})
	pub, _ := dial311(t, tb.addr, &packet.Connect{ClientID: "q1pub311", CleanStart: true})
	for _, payload := range []string{"first", "second"} {
		pub.publish(&packet.Publish{Topic: "q1", QoS: 1, PacketID: 5, Dup: payload == "second", Payload: []byte(payload)})
		if p, _ := sub.recvPublish(5 * time.Second); string(p.Payload) != payload {
			t.Fatalf("got %q, want %q", p.Payload, payload)
		}
	}
}

// TestConformance311RetainedOutlivesSession: a retained message stays when
// the session that published it ends [MQTT-3.1.2.7] (the 3.1.1 spec's own
// spelling of this tag).
func TestConformance311RetainedOutlivesSession(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	pub, _ := dial311(t, tb.addr, &packet.Connect{ClientID: "retgone311", CleanStart: true})
	pub.publish(&packet.Publish{Topic: "stay", QoS: 1, Retain: true, Payload: []byte("here")})
	pub.mustSend(&packet.Disconnect{})
	pub.waitClose(5 * time.Second)
	sub, _ := dial311(t, tb.addr, &packet.Connect{ClientID: "retlater311", CleanStart: true})
	sub.subscribe(0, packet.Subscription{Filter: "stay", QoS: 1})
	if p, _ := sub.recvPublish(5 * time.Second); string(p.Payload) != "here" || !p.Retain {
		t.Fatalf("got %q retain=%v", p.Payload, p.Retain)
	}
}
