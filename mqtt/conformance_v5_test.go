package mqtt_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stratamq/strata/mqtt/packet"
)

// Conformance tests for MQTT 5.0 normative statements that no other test
// cites; docs/conformance.md lists each tag with the test that covers it.

// TestConformanceV5Unsuback: one UNSUBACK for several filters, with the
// UNSUBSCRIBE's packet identifier and one reason code per filter in order,
// 0x11 where no subscription existed [MQTT-3.10.4-4] [MQTT-3.10.4-5]
// [MQTT-3.10.4-6] [MQTT-3.11.3-1] [MQTT-3.11.3-2] [MQTT-2.2.1-6].
func TestConformanceV5Unsuback(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	rc, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "unsuback5", CleanStart: true})
	rc.subscribe(0, packet.Subscription{Filter: "x/+", QoS: 1}, packet.Subscription{Filter: "y/#", QoS: 0})
	rc.mustSend(&packet.Unsubscribe{PacketID: 0xbeef, Filters: []string{"y/#", "never", "x/+"}})
	ua := expect[*packet.Unsuback](t, rc, 5*time.Second)
	want := []packet.ReasonCode{packet.CodeSuccess, packet.CodeNoSubscriptionExisted, packet.CodeSuccess}
	if ua.PacketID != 0xbeef || !slices.Equal(ua.ReasonCodes, want) {
		t.Fatalf("UNSUBACK %+v, want id 0xbeef codes %v", ua, want)
	}
	// Unsubscribing is by exact filter, not by matching [MQTT-3.10.4-1]:
	// "x/1" does not remove "x/+" (already gone) nor anything else.
	rc.mustSend(&packet.Unsubscribe{PacketID: 2, Filters: []string{"x/1"}})
	if ua := expect[*packet.Unsuback](t, rc, 5*time.Second); !slices.Equal(ua.ReasonCodes, []packet.ReasonCode{packet.CodeNoSubscriptionExisted}) {
		t.Fatalf("UNSUBACK %v", ua.ReasonCodes)
	}
}

// TestConformanceV5SubscriptionReplaced: a SUBSCRIBE with a filter the
// session already has replaces that subscription: its new options apply and
// a message is still delivered once [MQTT-3.8.4-3], and the retained
// message is sent again with Retain Handling 0 [MQTT-3.8.4-4].
func TestConformanceV5SubscriptionReplaced(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "replpub5", CleanStart: true})
	sub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "replsub5", CleanStart: true})
	pub.publish(&packet.Publish{Topic: "repl/a", QoS: 1, Retain: true, Payload: []byte("kept")})

	sub.subscribe(0, packet.Subscription{Filter: "repl/#", QoS: 0})
	if p, _ := sub.recvPublish(5 * time.Second); !p.Retain {
		t.Fatal("first subscription: no retained message")
	}
	sub.subscribe(0, packet.Subscription{Filter: "repl/#", QoS: 1})
	if p, _ := sub.recvPublish(5 * time.Second); !p.Retain || string(p.Payload) != "kept" {
		t.Fatalf("replaced subscription: got %q retain=%v, want the retained message again", p.Payload, p.Retain)
	}
	pub.publish(&packet.Publish{Topic: "repl/a", QoS: 1, Payload: []byte("live")})
	p, _ := sub.recvPublish(5 * time.Second)
	if string(p.Payload) != "live" || p.QoS != 1 {
		t.Fatalf("got %q at QoS %d, want live at the new QoS 1", p.Payload, p.QoS)
	}
	sub.noPublish(300 * time.Millisecond) // once: the old subscription is gone
}

// TestConformanceV5AuthenticationMethod: Strata supports no enhanced
// authentication method, so a CONNECT naming one gets CONNACK 0x8C and the
// connection is closed [MQTT-4.12.0-1]; without one the server never sends
// AUTH nor an Authentication Method [MQTT-4.12.0-6], and never returns
// Response Information, which it does not offer [MQTT-3.1.2-28].
func TestConformanceV5AuthenticationMethod(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	rc := dialRaw(t, tb.addr, packet.Version5)
	cp := &packet.Connect{ClientID: "scram5", CleanStart: true}
	cp.Properties.AuthMethod = "SCRAM-SHA-256"
	cp.Properties.AuthData = []byte("n,,n=user,r=nonce")
	ack := rc.connect(cp)
	if ack.ReasonCode != packet.CodeBadAuthenticationMethod || ack.SessionPresent {
		t.Fatalf("CONNACK %+v, want 0x8C without session present [MQTT-3.2.2-6]", ack)
	}
	rc.waitClose(5 * time.Second) // [MQTT-3.2.2-7]

	plain := dialRaw(t, tb.addr, packet.Version5)
	cp = &packet.Connect{ClientID: "plain5", CleanStart: true}
	cp.Properties.RequestResponseInfo = 1
	ack = plain.connect(cp)
	if ack.ReasonCode != packet.CodeSuccess {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
	for _, id := range []packet.PropertyID{packet.PropAuthMethod, packet.PropAuthData, packet.PropResponseInfo} {
		if ack.Properties.Has(id) {
			t.Fatalf("CONNACK carries %v", id)
		}
	}
	plain.mustSend(&packet.Pingreq{})
	expect[*packet.Pingresp](t, plain, 5*time.Second) // [MQTT-3.12.4-1], and no AUTH came first
}

// TestConformanceV5WillRemovedOnNormalDisconnect: DISCONNECT 0x00 discards
// the will [MQTT-3.14.4-3] [MQTT-3.1.2-10]; a will with Will Retain 0 is
// published as a non-retained message [MQTT-3.1.2-14] and one with Will
// Retain 1 as a retained message [MQTT-3.1.2-15].
func TestConformanceV5WillRemovedOnNormalDisconnect(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	watch, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "willwatch5", CleanStart: true})
	watch.subscribe(0, packet.Subscription{Filter: "will/#", QoS: 1, RetainAsPublished: true})

	polite, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "polite5", CleanStart: true,
		Will: &packet.Will{Topic: "will/polite", QoS: 1, Payload: []byte("never")}})
	polite.disconnect(nil)

	for _, retain := range []bool{false, true} {
		rude, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "rude5", CleanStart: true,
			Will: &packet.Will{Topic: "will/rude", QoS: 1, Retain: retain, Payload: []byte("gone")}})
		rude.close() // no DISCONNECT: the will is due
		p, topic := watch.recvPublish(5 * time.Second)
		if topic != "will/rude" || p.Retain != retain {
			t.Fatalf("got will %q retain=%v, want will/rude retain=%v", topic, p.Retain, retain)
		}
	}
	watch.noPublish(300 * time.Millisecond) // the polite client's will never came
}

// TestConformanceV5ResponseTopicWildcard: a Response Topic with a wildcard
// [MQTT-3.3.2-14] is the client's Protocol Error: DISCONNECT 0x82 for a
// PUBLISH (nothing is delivered), CONNACK 0x82 for a will.
func TestConformanceV5ResponseTopicWildcard(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	sub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "rtsub5", CleanStart: true})
	sub.subscribe(0, packet.Subscription{Filter: "rt/#", QoS: 1})
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "rtpub5", CleanStart: true})
	p := &packet.Publish{Topic: "rt/req", QoS: 1, PacketID: 1, Payload: []byte("q")}
	p.Properties.ResponseTopic = "rt/+/reply"
	pub.mustSend(p)
	pub.expectDisconnect(packet.CodeProtocolError, 5*time.Second)
	sub.noPublish(200 * time.Millisecond)

	w := &packet.Will{Topic: "rt/will", Payload: []byte("w")}
	w.Properties.ResponseTopic = "rt/#"
	rc := dialRaw(t, tb.addr, packet.Version5)
	if ack := rc.connect(&packet.Connect{ClientID: "rtwill5", CleanStart: true, Will: w}); ack.ReasonCode != packet.CodeProtocolError {
		t.Fatalf("CONNACK %v for a will with a wildcard response topic, want 0x82", ack.ReasonCode)
	}
	rc.waitClose(5 * time.Second)
}

// TestConformanceV5SubackReasonStringFits: a SUBACK's Reason String is left
// out rather than exceed the client's Maximum Packet Size [MQTT-3.9.2-1];
// the SUBACK itself still comes. (One write path does this for every
// acknowledgement and DISCONNECT: TestV5MaximumPacketSizeReasonString.)
func TestConformanceV5SubackReasonStringFits(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	bad := &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "$replay/not-a-start/x", QoS: 1}}}
	for _, limit := range []uint32{0, 16} {
		cp := &packet.Connect{ClientID: "subackfit5", CleanStart: true}
		cp.Properties.MaximumPacketSize = limit
		rc, _ := rawConnect(t, tb.addr, cp)
		rc.mustSend(bad)
		sa := expect[*packet.Suback](t, rc, 5*time.Second)
		if sa.PacketID != 1 || !slices.Equal(sa.ReasonCodes, []packet.ReasonCode{packet.CodeTopicFilterInvalid}) {
			t.Fatalf("SUBACK %+v", sa)
		}
		if hasReason := sa.Properties.ReasonString != ""; hasReason != (limit == 0) {
			t.Fatalf("limit %d: reason string %q", limit, sa.Properties.ReasonString)
		}
		rc.disconnect(nil)
	}
}

// TestConformanceV5ConnackFitsMaximumPacketSize: a refusing CONNACK drops
// its Reason String (and User Properties) rather than exceed the client's
// Maximum Packet Size [MQTT-3.2.2-19] [MQTT-3.2.2-20].
func TestConformanceV5ConnackFitsMaximumPacketSize(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	for _, max := range []uint32{0, 8} {
		rc := dialRaw(t, tb.addr, packet.Version5)
		cp := &packet.Connect{ClientID: "$reserved", CleanStart: true}
		cp.Properties.MaximumPacketSize = max
		ack := rc.connect(cp)
		n, _ := packet.Size(ack, packet.Version5)
		switch {
		case ack.ReasonCode != packet.CodeClientIdentifierNotValid:
			t.Fatalf("max %d: CONNACK %v, want client identifier not valid", max, ack.ReasonCode)
		case max == 0 && ack.Properties.ReasonString == "":
			t.Fatal("no Maximum Packet Size: the refusal lost its reason string")
		case max > 0 && (uint32(n) > max || ack.Properties.ReasonString != ""):
			t.Fatalf("a %d-byte CONNACK (reason %q) to a client allowing %d", n, ack.Properties.ReasonString, max)
		}
	}
}
