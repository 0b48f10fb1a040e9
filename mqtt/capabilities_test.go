package mqtt_test

import (
	"bytes"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"

	"github.com/stratamq/strata/mqtt"
	"github.com/stratamq/strata/mqtt/packet"
)

// Issue 13 (part c): CONNACK capabilities, overlapping subscriptions,
// Request Problem Information, No matching subscribers, topic length and
// per-filter SUBACK codes. Raw-byte clients over real sockets; paho.golang
// where a real client's reading of the broker matters.

// TestV5ConnackCapabilities: a 5.0 CONNACK states the broker's limits and
// what it supports (section 3.2.2.3); Maximum QoS is absent since every QoS
// is served [MQTT-3.2.2-9]; Server Keep Alive is the keep alive in force
// [MQTT-3.2.2-21]. A 3.1.1 CONNACK has no properties (remaining length 2).
func TestV5ConnackCapabilities(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(o *mqtt.Options) {
		o.ReceiveMaximum, o.TopicAliasMaximum, o.MaxPacketSize, o.MaxKeepAlive = 77, 9, 300000, 120
	})
	_, ack := rawConnect(t, tb.addr, &packet.Connect{ClientID: "caps", CleanStart: true, KeepAliveSeconds: 30})
	pp := &ack.Properties
	for _, c := range []struct {
		id   packet.PropertyID
		got  uint32
		want uint32
	}{
		{packet.PropReceiveMaximum, uint32(pp.ReceiveMaximum), 77},
		{packet.PropTopicAliasMaximum, uint32(pp.TopicAliasMaximum), 9},
		{packet.PropMaximumPacketSize, pp.MaximumPacketSize, 300000},
		{packet.PropServerKeepAlive, uint32(pp.ServerKeepAliveSeconds), 30},
		{packet.PropRetainAvailable, uint32(pp.RetainAvailable), 1},
		{packet.PropWildcardSubAvailable, uint32(pp.WildcardSubAvailable), 1},
		{packet.PropSubIDAvailable, uint32(pp.SubIDAvailable), 1},
		{packet.PropSharedSubAvailable, uint32(pp.SharedSubAvailable), 1},
	} {
		if !pp.Has(c.id) || c.got != c.want {
			t.Errorf("%v: present=%v %d, want %d", c.id, pp.Has(c.id), c.got, c.want)
		}
	}
	if pp.Has(packet.PropMaximumQoS) {
		t.Errorf("Maximum QoS %d sent, though QoS 2 is served", pp.MaximumQoS)
	}
	if _, ack := rawConnect(t, tb.addr, &packet.Connect{ClientID: "caps0", CleanStart: true}); ack.Properties.ServerKeepAliveSeconds != 120 {
		t.Errorf("keep alive 0 under a maximum of 120: Server Keep Alive %d", ack.Properties.ServerKeepAliveSeconds)
	}

	nc, err := net.DialTimeout("tcp", tb.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	b, _ := packet.Encode(nil, &packet.Connect{ClientID: "caps311", CleanStart: true, ProtocolVersion: packet.Version311}, packet.Version311)
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	nc.Write(b)
	buf := make([]byte, 4)
	if _, err := io.ReadFull(nc, buf); err != nil || !bytes.Equal(buf, []byte{0x20, 2, 0, 0}) {
		t.Errorf("3.1.1 CONNACK % x (%v), want 20 02 00 00", buf, err)
	}

	// paho.golang reads the same capabilities.
	_, pack := v5Client(t, tb.addr, &paho5.Connect{ClientID: "caps-paho", CleanStart: true, KeepAlive: 30}, nil)
	cp := pack.Properties
	if cp == nil || cp.ReceiveMaximum == nil || *cp.ReceiveMaximum != 77 || cp.TopicAliasMaximum == nil ||
		*cp.TopicAliasMaximum != 9 || cp.MaximumPacketSize == nil || *cp.MaximumPacketSize != 300000 ||
		cp.ServerKeepAlive == nil || *cp.ServerKeepAlive != 30 || cp.MaximumQoS != nil ||
		!cp.RetainAvailable || !cp.WildcardSubAvailable || !cp.SubIDAvailable || !cp.SharedSubAvailable {
		t.Errorf("paho.golang read CONNACK properties %+v", cp)
	}
}

// TestV5OverlappingSubscriptions: a message matching several subscriptions
// of one session is sent once, at the highest QoS granted, with every
// matching subscription identifier [MQTT-3.3.4-2], [MQTT-3.3.4-3],
// [MQTT-3.3.4-4]: live, resent after a reconnect, read back from an offline
// gap, and retained on a SUBSCRIBE of overlapping filters.
func TestV5OverlappingSubscriptions(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	cp := func() *packet.Connect {
		c := &packet.Connect{ClientID: "ov", CleanStart: false}
		c.Properties.SessionExpirySeconds = 300
		return c
	}
	sub, _ := rawConnect(t, tb.addr, cp())
	sub.subscribe(1, packet.Subscription{Filter: "ov/+", QoS: 1})
	sub.subscribe(2, packet.Subscription{Filter: "ov/#", QoS: 2})
	sub.subscribe(0, packet.Subscription{Filter: "ov/a", QoS: 0})
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "ov-pub", CleanStart: true})
	pub.publish(&packet.Publish{Topic: "ov/a", QoS: 2, Payload: []byte("live")})
	p := expect[*packet.Publish](t, sub, 5*time.Second) // not acknowledged
	wantOverlap(t, "live", p, "live", 2, false, []uint32{1, 2})
	if q, err := sub.next(300 * time.Millisecond); err == nil {
		t.Fatalf("a second copy: %T %+v", q, q)
	}

	sub.close()
	waitFor(t, 5*time.Second, "the session offline", func() bool {
		s, ok := tb.views.View().Session("ov")
		return ok && !s.Connected
	})
	pub.publish(&packet.Publish{Topic: "ov/b", QoS: 1, Payload: []byte("offline")})
	sub, _ = rawConnect(t, tb.addr, cp())
	p = expect[*packet.Publish](t, sub, 5*time.Second)
	wantOverlap(t, "resent", p, "live", 2, true, []uint32{1, 2})
	sub.mustSend(&packet.Pubrec{PacketID: p.PacketID})
	p, _ = sub.recvPublish(5 * time.Second)
	wantOverlap(t, "offline gap", p, "offline", 1, false, []uint32{1, 2})

	pub.publish(&packet.Publish{Topic: "ovr/x", QoS: 2, Retain: true, Payload: []byte("kept")})
	r, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "ov-ret", CleanStart: true})
	r.subscribe(3, packet.Subscription{Filter: "ovr/+", QoS: 1}, packet.Subscription{Filter: "ovr/#", QoS: 2})
	p, _ = r.recvPublish(5 * time.Second)
	wantOverlap(t, "retained", p, "kept", 2, false, []uint32{3})
	if !p.Retain {
		t.Fatal("retained message sent on subscribe without RETAIN")
	}
	r.noPublish(300 * time.Millisecond)
}

func wantOverlap(t *testing.T, what string, p *packet.Publish, payload string, qos byte, dup bool, ids []uint32) {
	t.Helper()
	got := slices.Sorted(slices.Values(p.Properties.SubscriptionIDs))
	if string(p.Payload) != payload || p.QoS != qos || p.Dup != dup || !slices.Equal(got, ids) {
		t.Fatalf("%s: got %q QoS %d dup %v ids %v, want %q QoS %d dup %v ids %v",
			what, p.Payload, p.QoS, p.Dup, got, payload, qos, dup, ids)
	}
}

// TestV5OverlappingReplays: a replay is its own subscription: each replay
// sends its past with its own identifier only (one copy per subscription,
// [MQTT-3.3.4-5]); from its subscribe on, live messages matching both
// filters come once with both identifiers [MQTT-3.3.4-3/4].
func TestV5OverlappingReplays(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "rp-pub", CleanStart: true})
	pub.publish(&packet.Publish{Topic: "rp/a", QoS: 1, Payload: []byte("past")})
	c, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "rp", CleanStart: true})
	c.subscribe(5, packet.Subscription{Filter: "$replay/0/rp/#", QoS: 1})
	p, _ := c.recvPublish(5 * time.Second)
	wantOverlap(t, "first replay", p, "past", 1, false, []uint32{5})
	c.subscribe(6, packet.Subscription{Filter: "$replay/0/rp/+", QoS: 1})
	p, _ = c.recvPublish(5 * time.Second)
	wantOverlap(t, "second replay", p, "past", 1, false, []uint32{6})
	pub.publish(&packet.Publish{Topic: "rp/a", QoS: 1, Payload: []byte("now")})
	p, _ = c.recvPublish(5 * time.Second)
	wantOverlap(t, "live", p, "now", 1, false, []uint32{5, 6})
	c.noPublish(300 * time.Millisecond)
}

// TestV5RequestProblemInfoZero: with Request Problem Information 0 the
// broker sends no Reason String on a SUBACK [MQTT-3.1.2-29]; CONNACK and
// DISCONNECT keep theirs (the statement allows it, and the reason for a
// refusal or a close is what such a client still needs).
func TestV5RequestProblemInfoZero(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	quiet := func(id string) *packet.Connect {
		cp := &packet.Connect{ClientID: id, CleanStart: true}
		cp.Properties.Present.Add(packet.PropRequestProblemInfo) // RequestProblemInfo = 0
		return cp
	}
	bad := &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "$replay/never/x", QoS: 1}, {Filter: "ok/x"}}}
	for _, c := range []struct {
		cp     *packet.Connect
		reason bool
	}{{quiet("rpi0"), false}, {&packet.Connect{ClientID: "rpi1", CleanStart: true}, true}} {
		rc, _ := rawConnect(t, tb.addr, c.cp)
		rc.mustSend(bad)
		ack := expect[*packet.Suback](t, rc, 5*time.Second)
		if ack.ReasonCodes[0] != packet.CodeTopicFilterInvalid || ack.ReasonCodes[1] != 0 {
			t.Fatalf("%s: SUBACK %v", c.cp.ClientID, ack.ReasonCodes)
		}
		if got := ack.Properties.ReasonString != ""; got != c.reason {
			t.Fatalf("%s: SUBACK reason string %q", c.cp.ClientID, ack.Properties.ReasonString)
		}
		rc.mustSend(&packet.Publish{Topic: "x", Properties: packet.Properties{TopicAlias: 999}})
		if d := rc.waitClose(5 * time.Second); d == nil || d.Properties.ReasonString == "" {
			t.Fatalf("%s: DISCONNECT %+v without its reason", c.cp.ClientID, d)
		}
	}
	refused := dialRaw(t, tb.addr, packet.Version5)
	if ack := refused.connect(quiet("$refused")); ack.ReasonCode != packet.CodeClientIdentifierNotValid || ack.Properties.ReasonString == "" {
		t.Fatalf("refused CONNACK %v %q", ack.ReasonCode, ack.Properties.ReasonString)
	}
}

// TestV5NoMatchingSubscribers: a QoS 1/2 publish that matched no
// subscription gets PUBACK/PUBREC 0x10 (a success: the message is in the
// log and a replay finds it); a subscription of an offline session, a
// shared one and any live one count as matches; the publisher's own
// no-local subscription does not. 3.1.1 has no code; the option turns it
// off.
func TestV5NoMatchingSubscribers(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "nm-pub", CleanStart: true})
	off := &packet.Connect{ClientID: "nm-off", CleanStart: true}
	off.Properties.SessionExpirySeconds = 300
	offline, _ := rawConnect(t, tb.addr, off)
	offline.subscribe(0, packet.Subscription{Filter: "nm/off", QoS: 1})
	offline.disconnect(nil)
	shared, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "nm-sh", CleanStart: true})
	shared.subscribe(0, packet.Subscription{Filter: "$share/g/nm/sh", QoS: 1})
	pub.subscribe(0, packet.Subscription{Filter: "nm/self", QoS: 1, NoLocal: true})
	for _, c := range []struct {
		topic string
		qos   byte
		want  packet.ReasonCode
	}{
		{"nm/none", 1, packet.CodeNoMatchingSubscribers},
		{"nm/none", 2, packet.CodeNoMatchingSubscribers},
		{"nm/off", 1, 0},
		{"nm/sh", 2, 0},
		{"nm/self", 1, packet.CodeNoMatchingSubscribers},
	} {
		if got := pub.publish(&packet.Publish{Topic: c.topic, QoS: c.qos, Payload: []byte(c.topic)}); got != c.want {
			t.Fatalf("%s QoS %d: %v, want %v", c.topic, c.qos, got, c.want)
		}
	}
	r, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "nm-replay", CleanStart: true})
	r.subscribe(0, packet.Subscription{Filter: "$replay/0/nm/none", QoS: 1})
	for range 2 {
		if _, topic := r.recvPublish(5 * time.Second); topic != "nm/none" {
			t.Fatalf("replayed %q", topic)
		}
	}

	old := dialRaw(t, tb.addr, packet.Version311)
	if ack := old.connect(&packet.Connect{ClientID: "nm-311", CleanStart: true}); ack.ReasonCode != 0 {
		t.Fatalf("3.1.1 CONNACK %v", ack.ReasonCode)
	}
	if got := old.publish(&packet.Publish{Topic: "nm/none", QoS: 1}); got != 0 {
		t.Fatalf("3.1.1 PUBACK %v", got)
	}
	tb2 := startBroker(t, func(o *mqtt.Options) { o.NoMatchingSubscribers = false })
	quiet, _ := rawConnect(t, tb2.addr, &packet.Connect{ClientID: "nm-q", CleanStart: true})
	if got := quiet.publish(&packet.Publish{Topic: "nm/none", QoS: 1}); got != 0 {
		t.Fatalf("NoMatchingSubscribers off: PUBACK %v", got)
	}
}

// TestTopicLengthDefault: by default topics and filters up to the spec's
// 65,535 bytes (section 1.5.4) are accepted.
func TestTopicLengthDefault(t *testing.T) {
	t.Parallel()
	if got := mqtt.DefaultOptions().MaxTopicLength; got != 65535 {
		t.Fatalf("default MaxTopicLength %d", got)
	}
	tb := startBroker(t, nil)
	long := "l/" + strings.Repeat("x", 65535-2)
	c, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "long", CleanStart: true})
	c.subscribe(0, packet.Subscription{Filter: long, QoS: 1})
	if code := c.publish(&packet.Publish{Topic: long, QoS: 1, Payload: []byte("p")}); code != 0 {
		t.Fatalf("PUBACK %v for a %d-byte topic", code, len(long))
	}
	if _, topic := c.recvPublish(5 * time.Second); topic != long {
		t.Fatalf("delivered a %d-byte topic", len(topic))
	}
}

// TestSubackPerFilter: in one SUBSCRIBE each filter gets its own code from
// the one check (ACL denial 0x87, invalid 0x8F, a replay not granted 0x87,
// a bad starting point 0x8F) while the others are granted and work
// [MQTT-3.8.4-6], [MQTT-3.9.3-1]; 3.1.1 gets 0x80 for each failure
// [MQTT-3.9.3-2].
func TestSubackPerFilter(t *testing.T) {
	t.Parallel()
	tb, _, _ := startACLBroker(t, testACL)
	subs := []packet.Subscription{
		{Filter: "a/x", QoS: 1},
		{Filter: "a/secret/#", QoS: 1},
		{Filter: "a/#/x", QoS: 1},
		{Filter: "$replay/0/live/#", QoS: 1},
		{Filter: "$replay/never/a/#", QoS: 1},
		{Filter: "$share/g/a/secret/x", QoS: 1},
		{Filter: "r/#", QoS: 2},
	}
	v5 := []packet.ReasonCode{1, 0x87, 0x8F, 0x87, 0x8F, 0x87, 2}
	v311 := []packet.ReasonCode{1, 0x80, 0x80, 0x80, 0x80, 0x80, 2}
	for _, c := range []struct {
		version byte
		want    []packet.ReasonCode
	}{{packet.Version5, v5}, {packet.Version311, v311}} {
		rc := dialRaw(t, tb.addr, c.version)
		if ack := rc.connect(login("alice", "alice", true)); ack.ReasonCode != 0 {
			t.Fatalf("CONNACK %v", ack.ReasonCode)
		}
		rc.mustSend(&packet.Subscribe{PacketID: 7, Subscriptions: subs})
		ack := expect[*packet.Suback](t, rc, 5*time.Second)
		if !slices.Equal(ack.ReasonCodes, c.want) {
			t.Fatalf("version %d: SUBACK %v, want %v", c.version, ack.ReasonCodes, c.want)
		}
		rc.publish(&packet.Publish{Topic: "a/x", QoS: 1, Payload: []byte("granted")})
		if p, topic := rc.recvPublish(5 * time.Second); topic != "a/x" || string(p.Payload) != "granted" {
			t.Fatalf("version %d: got %q %q", c.version, topic, p.Payload)
		}
		rc.disconnect(nil)
	}
}

// TestV5NoMatchingSubscribersRealNode: on a real node the fold's mark
// reaches the connection before the publish's future resolves (the
// dispatcher performs effects, then resolves), so PUBACK carries 0x10 for
// a topic nobody subscribes and 0x00 once someone does.
func TestV5NoMatchingSubscribersRealNode(t *testing.T) {
	tb := startRealBroker(t, nil)
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "nm-real", CleanStart: true})
	if got := pub.publish(&packet.Publish{Topic: "nmr/x", QoS: 1}); got != packet.CodeNoMatchingSubscribers {
		t.Fatalf("PUBACK %v, want 0x10", got)
	}
	sub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "nm-real-sub", CleanStart: true})
	sub.subscribe(0, packet.Subscription{Filter: "nmr/#", QoS: 1})
	if got := pub.publish(&packet.Publish{Topic: "nmr/x", QoS: 2}); got != 0 {
		t.Fatalf("PUBREC %v with a subscriber", got)
	}
}
