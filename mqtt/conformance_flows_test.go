package mqtt_test

import (
	"testing"
	"time"

	"github.com/stratamq/strata/mqtt/packet"
)

// Conformance tests for MQTT 5.0 delivery-flow statements (QoS 2 with
// expiry, negative acknowledgements, unsubscribe mid-flow, aliases across
// connections) that were gaps in docs/conformance.md.

// nextPublish returns the next packet, which must be a PUBLISH, without
// acknowledging it: the test drives the flow itself.
func nextPublish(t *testing.T, rc *rawClient) *packet.Publish {
	t.Helper()
	return expect[*packet.Publish](t, rc, 5*time.Second)
}

// withExpiry returns a PUBLISH with a Message Expiry Interval.
func withExpiry(p *packet.Publish, seconds uint32) *packet.Publish {
	p.Properties.MessageExpirySeconds = seconds
	p.Properties.Present.Add(packet.PropMessageExpiry)
	return p
}

// TestConformanceV5TopicAliasPerConnection: an alias set on one connection
// means nothing on the next [MQTT-3.3.2-7]; using it unset is a Protocol
// Error.
func TestConformanceV5TopicAliasPerConnection(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	first, _ := rawConnect(t, tb.addr, connectV5("alias5", false, 60))
	p := &packet.Publish{Topic: "alias/x", QoS: 1, Payload: []byte("set")}
	p.Properties.TopicAlias = 1
	first.publish(p)
	first.disconnect(nil)
	tb.waitOffline(t, "alias5")

	second, _ := rawConnect(t, tb.addr, connectV5("alias5", false, 60))
	p = &packet.Publish{QoS: 1, PacketID: 1, Payload: []byte("use")}
	p.Properties.TopicAlias = 1
	second.mustSend(p)
	second.expectDisconnect(packet.CodeProtocolError, 5*time.Second)
}

// TestConformanceV5NoSessionExpiryOnServerDisconnect: a DISCONNECT the
// server sends never carries a Session Expiry Interval [MQTT-3.14.2-2].
func TestConformanceV5NoSessionExpiryOnServerDisconnect(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	old, _ := rawConnect(t, tb.addr, connectV5("takenover5", false, 60))
	rawConnect(t, tb.addr, connectV5("takenover5", false, 60))
	d := old.waitClose(5 * time.Second)
	if d == nil || d.ReasonCode != packet.CodeSessionTakenOver {
		t.Fatalf("DISCONNECT %+v, want 0x8E", d)
	}
	if d.Properties.Has(packet.PropSessionExpiry) {
		t.Fatal("server DISCONNECT carries a Session Expiry Interval")
	}
}

// TestConformanceV5UnsubscribeCompletesQoS2: a QoS 2 delivery under way when
// its subscription is removed is completed [MQTT-3.10.4-3].
func TestConformanceV5UnsubscribeCompletesQoS2(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	sub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "uq2sub", CleanStart: true})
	sub.subscribe(0, packet.Subscription{Filter: "uq2", QoS: 2})
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "uq2pub", CleanStart: true})
	pub.publish(&packet.Publish{Topic: "uq2", QoS: 2, Payload: []byte("m")})

	p := nextPublish(t, sub)
	sub.mustSend(&packet.Pubrec{PacketID: p.PacketID})
	sub.mustSend(&packet.Unsubscribe{PacketID: 50, Filters: []string{"uq2"}})
	rel := await[*packet.Pubrel](t, sub, 5*time.Second)
	if rel.PacketID != p.PacketID {
		t.Fatalf("PUBREL for %d, want %d", rel.PacketID, p.PacketID)
	}
	sub.mustSend(&packet.Pubcomp{PacketID: rel.PacketID})
}

// TestConformanceV5QoS2AndExpiry: once a QoS 2 PUBLISH is sent the server
// does not expire it [MQTT-4.3.3-7], and as receiver it finishes a QoS 2
// flow whose message expired meanwhile [MQTT-4.3.3-13].
func TestConformanceV5QoS2AndExpiry(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	sub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "xq2sub", CleanStart: true})
	sub.subscribe(0, packet.Subscription{Filter: "xq2", QoS: 2})
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "xq2pub", CleanStart: true})

	// Receiver side: PUBREC, then the expiry passes, then PUBREL.
	pub.mustSend(withExpiry(&packet.Publish{Topic: "xq2", QoS: 2, PacketID: 3, Payload: []byte("m")}, 1))
	if r := expect[*packet.Pubrec](t, pub, 5*time.Second); r.PacketID != 3 || r.ReasonCode.IsError() {
		t.Fatalf("PUBREC %+v", r)
	}
	p := nextPublish(t, sub) // sender side: sent before the expiry passed
	tb.fake.clock.Advance(5 * time.Second)
	pub.mustSend(&packet.Pubrel{PacketID: 3})
	if c := expect[*packet.Pubcomp](t, pub, 5*time.Second); c.PacketID != 3 || c.ReasonCode != packet.CodeSuccess {
		t.Fatalf("PUBCOMP %+v after expiry, want 0x00 [MQTT-4.3.3-13]", c)
	}
	sub.mustSend(&packet.Pubrec{PacketID: p.PacketID})
	if rel := expect[*packet.Pubrel](t, sub, 5*time.Second); rel.PacketID != p.PacketID {
		t.Fatalf("PUBREL for %d, want %d [MQTT-4.3.3-7]", rel.PacketID, p.PacketID)
	}
	sub.mustSend(&packet.Pubcomp{PacketID: p.PacketID})
}

// TestConformanceV5RefusedIDIsNew: after a PUBREC >= 0x80 the packet
// identifier is free: a new PUBLISH with it is a new message
// [MQTT-4.3.3-9].
func TestConformanceV5RefusedIDIsNew(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	sub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "rid5sub", CleanStart: true})
	sub.subscribe(0, packet.Subscription{Filter: "rid", QoS: 2})
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "rid5pub", CleanStart: true})
	if code := pub.publish(&packet.Publish{Topic: "$SYS/no", QoS: 2, PacketID: 9}); !code.IsError() {
		t.Fatalf("PUBREC %v for a $SYS/ topic, want a refusal", code)
	}
	if code := pub.publish(&packet.Publish{Topic: "rid", QoS: 2, PacketID: 9, Payload: []byte("new")}); code.IsError() {
		t.Fatalf("PUBREC %v for the reused identifier, want success", code)
	}
	if p, _ := sub.recvPublish(5 * time.Second); string(p.Payload) != "new" {
		t.Fatalf("got %q", p.Payload)
	}
}

// TestConformanceV5NegativePubackNotResent: a delivery the client answered
// with PUBACK >= 0x80 is acknowledged: it is not sent again, even when the
// session resumes [MQTT-4.4.0-2].
func TestConformanceV5NegativePubackNotResent(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	sub, _ := rawConnect(t, tb.addr, connectV5("nack5", true, 60))
	sub.subscribe(0, packet.Subscription{Filter: "nack", QoS: 1})
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "nack5pub", CleanStart: true})
	pub.publish(&packet.Publish{Topic: "nack", QoS: 1, Payload: []byte("refused")})
	p := nextPublish(t, sub)
	sub.mustSend(&packet.Puback{PacketID: p.PacketID, ReasonCode: packet.CodeImplementationSpecificError})
	sub.noPublish(300 * time.Millisecond)
	sub.disconnect(nil)
	tb.waitOffline(t, "nack5")

	sub, ack := rawConnect(t, tb.addr, connectV5("nack5", false, 60))
	if !ack.SessionPresent {
		t.Fatal("session not present")
	}
	pub.publish(&packet.Publish{Topic: "nack", QoS: 1, Payload: []byte("next")})
	if p, _ := sub.recvPublish(5 * time.Second); string(p.Payload) != "next" {
		t.Fatalf("after resume got %q first, want next (refused was acknowledged)", p.Payload)
	}
	sub.noPublish(300 * time.Millisecond)
}

// TestConformanceV5SharedNegativeAck: a shared-subscription member that
// answers PUBACK >= 0x80 ends that message: no other member gets it
// [MQTT-4.8.2-6].
func TestConformanceV5SharedNegativeAck(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	var members []*rawClient
	for _, id := range []string{"shn1", "shn2"} {
		m, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: id, CleanStart: true})
		m.subscribe(0, packet.Subscription{Filter: "$share/g/shn", QoS: 1})
		members = append(members, m)
	}
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "shnpub", CleanStart: true})
	pub.publish(&packet.Publish{Topic: "shn", QoS: 1, Payload: []byte("once")})

	got := 0
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		for _, m := range members {
			p, err := m.next(20 * time.Millisecond)
			if err == errTimeout {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if pp, ok := p.(*packet.Publish); ok {
				got++
				m.mustSend(&packet.Puback{PacketID: pp.PacketID, ReasonCode: packet.CodeUnspecifiedError})
			}
		}
	}
	if got != 1 {
		t.Fatalf("the message reached members %d times, want once", got)
	}
}

// TestConformanceV5SharedQoS2Interrupted: a QoS 2 delivery to a shared
// subscription member whose connection breaks is completed to that member
// when it resumes [MQTT-4.8.2-4]; if its session ends instead, no other
// member gets the message [MQTT-4.8.2-5].
func TestConformanceV5SharedQoS2Interrupted(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "sq2pub", CleanStart: true})
	for _, c := range []struct {
		id     string
		expiry uint32
	}{{"sq2keep", 60}, {"sq2gone", 0}} {
		group := "$share/" + c.id + "/sq2/" + c.id
		a, _ := rawConnect(t, tb.addr, connectV5(c.id, true, c.expiry))
		a.subscribe(0, packet.Subscription{Filter: group, QoS: 2})
		pub.publish(&packet.Publish{Topic: "sq2/" + c.id, QoS: 2, Payload: []byte(c.id)})
		first := nextPublish(t, a)
		a.close() // before PUBREC
		tb.waitOffline(t, c.id)

		b, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: c.id + "-other", CleanStart: true})
		b.subscribe(0, packet.Subscription{Filter: group, QoS: 2})
		if c.expiry > 0 {
			a, _ = rawConnect(t, tb.addr, connectV5(c.id, false, c.expiry))
			p := nextPublish(t, a)
			if p.PacketID != first.PacketID || !p.Dup || string(p.Payload) != c.id {
				t.Fatalf("resumed member got %+v, want the same PUBLISH again with DUP", p)
			}
		}
		b.noPublish(300 * time.Millisecond)
	}
}
