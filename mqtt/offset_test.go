package mqtt_test

import (
	"slices"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"

	"github.com/stratamq/strata/mqtt"
	"github.com/stratamq/strata/mqtt/packet"
)

// The offset user property is opt-in: a delivery carries it only when a
// matching subscription asked for it (SUBSCRIBE user property offset=true),
// for replay subscriptions unless they said offset=false, or everywhere
// with Options.OffsetProperty. Otherwise the publisher's user properties
// arrive unaltered and in order [MQTT-3.3.2-17], [MQTT-3.3.2-18].

// sentProps are user properties with a repeated name, whose order matters.
var sentProps = []packet.UserProperty{{Key: "a", Value: "1"}, {Key: "b", Value: ""}, {Key: "a", Value: "3"}}

var askOffset = []packet.UserProperty{{Key: "offset", Value: "true"}}

// subscribeWith sends a SUBSCRIBE with user properties and returns its SUBACK.
func subscribeWith(rc *rawClient, user []packet.UserProperty, subs ...packet.Subscription) *packet.Suback {
	rc.t.Helper()
	s := &packet.Subscribe{PacketID: rc.packetID(), Subscriptions: subs}
	s.Properties.UserProperties = user
	rc.mustSend(s)
	ack := await[*packet.Suback](rc.t, rc, 10*time.Second)
	if ack.PacketID != s.PacketID || len(ack.ReasonCodes) != len(subs) {
		rc.t.Fatalf("SUBACK %+v for %+v", ack, s)
	}
	return ack
}

// subscribeOK is subscribeWith, checking every filter was granted.
func subscribeOK(rc *rawClient, user []packet.UserProperty, subs ...packet.Subscription) {
	rc.t.Helper()
	for i, c := range subscribeWith(rc, user, subs...).ReasonCodes {
		if c != packet.ReasonCode(subs[i].QoS) {
			rc.t.Fatalf("SUBACK code %v for %q", c, subs[i].Filter)
		}
	}
}

// publishProps publishes payload on topic at QoS 1 with sentProps.
func publishProps(pub *rawClient, topic, payload string, retain bool) {
	pub.t.Helper()
	p := &packet.Publish{Topic: topic, QoS: 1, Retain: retain, Payload: []byte(payload)}
	p.Properties.UserProperties = slices.Clone(sentProps)
	if code := pub.publish(p); code.IsError() {
		pub.t.Fatalf("PUBACK %v", code)
	}
}

// expectUnaltered receives one PUBLISH and checks it carries exactly the
// publisher's user properties, in order [MQTT-3.3.2-17/18].
func expectUnaltered(t *testing.T, rc *rawClient, payload string) *packet.Publish {
	t.Helper()
	p, topic := rc.recvPublish(5 * time.Second)
	if string(p.Payload) != payload {
		t.Fatalf("got %s %q, want %q", topic, p.Payload, payload)
	}
	if !slices.Equal(p.Properties.UserProperties, sentProps) {
		t.Fatalf("%q: user properties %v, want exactly %v [MQTT-3.3.2-17/18]", payload, p.Properties.UserProperties, sentProps)
	}
	return p
}

// expectOffset receives one PUBLISH and checks the publisher's user
// properties come first, unaltered, followed by offset; it returns the offset.
func expectOffset(t *testing.T, rc *rawClient, payload string) uint64 {
	t.Helper()
	p, topic := rc.recvPublish(5 * time.Second)
	if string(p.Payload) != payload {
		t.Fatalf("got %s %q, want %q", topic, p.Payload, payload)
	}
	up := p.Properties.UserProperties
	if len(up) != len(sentProps)+1 || !slices.Equal(up[:len(sentProps)], sentProps) {
		t.Fatalf("%q: user properties %v, want %v then offset", payload, up, sentProps)
	}
	return offsetOf(t, up)
}

// TestOffsetOptInLive: a live delivery carries offset only when one of the
// client's matching subscriptions asked for it; otherwise the user
// properties are the publisher's, unaltered and in order.
func TestOffsetOptInLive(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	plain, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "plain", CleanStart: true})
	plain.subscribe(0, packet.Subscription{Filter: "live/#", QoS: 1})
	asker, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "asker", CleanStart: true})
	subscribeOK(asker, askOffset, packet.Subscription{Filter: "live/#", QoS: 1})
	// Overlapping: one subscription asks, the other does not; one delivery.
	both, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "both", CleanStart: true})
	both.subscribe(0, packet.Subscription{Filter: "live/+", QoS: 1})
	subscribeOK(both, askOffset, packet.Subscription{Filter: "live/x", QoS: 1})
	// offset=false is the default, said explicitly.
	declined, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "declined", CleanStart: true})
	subscribeOK(declined, []packet.UserProperty{{Key: "offset", Value: "false"}}, packet.Subscription{Filter: "live/#", QoS: 1})

	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	publishProps(pub, "live/x", "m1", false)
	expectUnaltered(t, plain, "m1")
	expectUnaltered(t, declined, "m1")
	off := expectOffset(t, asker, "m1")
	if got := expectOffset(t, both, "m1"); got != off {
		t.Fatalf("offset %d, another subscriber got %d", got, off)
	}
	both.noPublish(200 * time.Millisecond) // once, however many matched

	// No user properties at all: none are added.
	pub.publish(&packet.Publish{Topic: "live/y", QoS: 1, Payload: []byte("bare")})
	if p, _ := plain.recvPublish(5 * time.Second); len(p.Properties.UserProperties) != 0 {
		t.Fatalf("bare message arrived with user properties %v", p.Properties.UserProperties)
	}
	// live/y matches only both's subscription that did not ask.
	if p, _ := both.recvPublish(5 * time.Second); len(p.Properties.UserProperties) != 0 {
		t.Fatalf("live/y matched no asking subscription, got %v", p.Properties.UserProperties)
	}
}

// TestOffsetOptInRetained: a retained message sent on subscribe follows the
// new subscription's choice.
func TestOffsetOptInRetained(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	publishProps(pub, "ret/a", "kept", true)
	plain, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "plain", CleanStart: true})
	plain.subscribe(0, packet.Subscription{Filter: "ret/#", QoS: 1})
	if p := expectUnaltered(t, plain, "kept"); !p.Retain {
		t.Fatal("retained message sent on subscribe without RETAIN")
	}
	asker, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "asker", CleanStart: true})
	subscribeOK(asker, askOffset, packet.Subscription{Filter: "ret/#", QoS: 1})
	expectOffset(t, asker, "kept")
}

// TestOffsetOptInOffline: messages owed to an offline session and in-flight
// resends follow the stored subscription's choice.
func TestOffsetOptInOffline(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	for _, c := range []struct {
		id   string
		user []packet.UserProperty
	}{{"off-plain", nil}, {"off-asker", askOffset}} {
		sub, _ := rawConnect(t, tb.addr, connectV5(c.id, true, 300))
		subscribeOK(sub, c.user, packet.Subscription{Filter: "off/" + c.id, QoS: 1})
		// In flight: received and never acknowledged before the socket ends.
		publishProps(pub, "off/"+c.id, "inflight", false)
		p := await[*packet.Publish](t, sub, 5*time.Second)
		sub.close()
		waitFor(t, 5*time.Second, c.id+" offline", func() bool {
			s, ok := tb.views.View().Session(c.id)
			return ok && !s.Connected
		})
		publishProps(pub, "off/"+c.id, "owed", false)

		sub, _ = rawConnect(t, tb.addr, connectV5(c.id, false, 300))
		if c.user == nil {
			if r := expectUnaltered(t, sub, "inflight"); !r.Dup || r.PacketID != p.PacketID {
				t.Fatalf("resend dup=%v id %d, want a DUP resend of %d", r.Dup, r.PacketID, p.PacketID)
			}
			expectUnaltered(t, sub, "owed")
			continue
		}
		first := offsetOf(t, p.Properties.UserProperties)
		if got := expectOffset(t, sub, "inflight"); got != first {
			t.Fatalf("resend offset %d, first sent with %d", got, first)
		}
		if got := expectOffset(t, sub, "owed"); got <= first {
			t.Fatalf("owed message offset %d after %d", got, first)
		}
	}
}

// TestOffsetOptInReplay: replay subscriptions carry offset by default, for
// the replayed past and the live messages after it; offset=false declines
// it for both.
func TestOffsetOptInReplay(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	publishProps(pub, "rp/a", "past", false)

	topicForm, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "topic-form", CleanStart: true})
	subscribeOK(topicForm, nil, packet.Subscription{Filter: "$replay/0/rp/#", QoS: 1})
	propForm, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "prop-form", CleanStart: true})
	subscribeOK(propForm, []packet.UserProperty{{Key: "replay-from", Value: "0"}}, packet.Subscription{Filter: "rp/#", QoS: 1})
	declined, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "declined", CleanStart: true})
	subscribeOK(declined, []packet.UserProperty{{Key: "replay-from", Value: "0"}, {Key: "offset", Value: "false"}},
		packet.Subscription{Filter: "rp/#", QoS: 1})

	off := expectOffset(t, topicForm, "past")
	if got := expectOffset(t, propForm, "past"); got != off {
		t.Fatalf("replayed offset %d and %d", got, off)
	}
	expectUnaltered(t, declined, "past")

	publishProps(pub, "rp/a", "now", false)
	expectOffset(t, topicForm, "now")
	expectOffset(t, propForm, "now")
	expectUnaltered(t, declined, "now")
}

// TestOffsetPropertyBrokerWide: Options.OffsetProperty (--offset-property)
// adds offset to every MQTT 5 delivery; 3.1.1 deliveries have no properties.
func TestOffsetPropertyBrokerWide(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(o *mqtt.Options) { o.OffsetProperty = true })
	plain, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "plain", CleanStart: true})
	plain.subscribe(0, packet.Subscription{Filter: "all/#", QoS: 1})
	declined, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "declined", CleanStart: true})
	subscribeOK(declined, []packet.UserProperty{{Key: "offset", Value: "false"}}, packet.Subscription{Filter: "all/#", QoS: 1})
	old := dialRaw(t, tb.addr, packet.Version311)
	old.connect(&packet.Connect{ClientID: "old", CleanStart: true})
	old.subscribe(0, packet.Subscription{Filter: "all/#", QoS: 1})

	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	publishProps(pub, "all/x", "m", false)
	off := expectOffset(t, plain, "m")
	if got := expectOffset(t, declined, "m"); got != off {
		t.Fatalf("offsets %d and %d", got, off)
	}
	if p, _ := old.recvPublish(5 * time.Second); string(p.Payload) != "m" {
		t.Fatalf("3.1.1 subscriber got %q", p.Payload)
	}
}

// TestOffsetOptionInvalid: an offset SUBSCRIBE property other than true or
// false refuses every filter of the packet with 0x83 and a reason string,
// as a bad replay-from does; nothing is subscribed.
func TestOffsetOptionInvalid(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	rc, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "bad", CleanStart: true})
	ack := subscribeWith(rc, []packet.UserProperty{{Key: "offset", Value: "yes"}},
		packet.Subscription{Filter: "a/#", QoS: 1}, packet.Subscription{Filter: "b", QoS: 0})
	if !slices.Equal(ack.ReasonCodes, []packet.ReasonCode{packet.CodeImplementationSpecificError, packet.CodeImplementationSpecificError}) ||
		ack.Properties.ReasonString != `offset: "yes" is neither true nor false` {
		t.Fatalf("SUBACK %v %q", ack.ReasonCodes, ack.Properties.ReasonString)
	}
	if subs := tb.views.View().Subscriptions("bad"); len(subs) != 0 {
		t.Fatalf("subscribed %v", subs)
	}
}

// TestOffsetOptInSurvivesRestart: the choice is part of the subscription in
// the log and in snapshots: after a snapshot and a restart of a real node,
// the resumed session's subscriptions still ask (or not).
func TestOffsetOptInSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tb := startBrokerIn(t, dir, nil)
	asker, _ := rawConnect(t, tb.addr, connectV5("asker", true, 300))
	subscribeOK(asker, askOffset, packet.Subscription{Filter: "rs/#", QoS: 1})
	plain, _ := rawConnect(t, tb.addr, connectV5("plain", true, 300))
	plain.subscribe(0, packet.Subscription{Filter: "rs/#", QoS: 1})
	asker.disconnect(nil)
	plain.disconnect(nil)
	tb.waitOffline(t, "asker")
	tb.waitOffline(t, "plain")
	if err := tb.node.Snapshot(); err != nil {
		t.Fatal(err)
	}
	tb.stop()

	tb = startBrokerIn(t, dir, nil)
	asker, _ = rawConnect(t, tb.addr, connectV5("asker", false, 300))
	plain, _ = rawConnect(t, tb.addr, connectV5("plain", false, 300))
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	publishProps(pub, "rs/x", "after", false)
	expectOffset(t, asker, "after")
	expectUnaltered(t, plain, "after")
}

// pahoSentProps are sentProps as paho.golang user properties.
var pahoSentProps = paho5.UserProperties{{Key: "a", Value: "1"}, {Key: "b", Value: ""}, {Key: "a", Value: "3"}}

// pahoSubscriber connects a paho.golang client (session expiry 300 s) and
// subscribes to filter with user properties user.
func pahoSubscriber(t *testing.T, addr, id string, clean bool, user paho5.UserProperties, filter string) (*paho5.Client, *v5Inbox) {
	t.Helper()
	in := newV5Inbox()
	expiry := uint32(300)
	c, _ := v5Client(t, addr, &paho5.Connect{ClientID: id, CleanStart: clean, KeepAlive: 30,
		Properties: &paho5.ConnectProperties{SessionExpiryInterval: &expiry}}, in)
	if filter == "" {
		return c, in
	}
	sa, err := c.Subscribe(ctx10(t), &paho5.Subscribe{Properties: &paho5.SubscribeProperties{User: user},
		Subscriptions: []paho5.SubscribeOptions{{Topic: filter, QoS: 1}}})
	if err != nil || len(sa.Reasons) != 1 || sa.Reasons[0] != 1 {
		t.Fatalf("subscribe %s: %v %+v", filter, err, sa)
	}
	return c, in
}

// checkPahoProps checks that a message paho.golang received carries the
// publisher's user properties unaltered and in order [MQTT-3.3.2-17/18],
// followed by offset only when withOffset.
func checkPahoProps(t *testing.T, what string, m *paho5.Publish, payload string, withOffset bool) {
	t.Helper()
	if string(m.Payload) != payload || m.Properties == nil {
		t.Fatalf("%s: got %q %+v, want %q", what, m.Payload, m.Properties, payload)
	}
	got := m.Properties.User
	if !withOffset {
		if !slices.Equal(got, pahoSentProps) {
			t.Fatalf("%s: user properties %v, want exactly %v [MQTT-3.3.2-17/18]", what, got, pahoSentProps)
		}
		return
	}
	if len(got) != len(pahoSentProps)+1 || !slices.Equal(got[:len(pahoSentProps)], pahoSentProps) || got[len(got)-1].Key != "offset" {
		t.Fatalf("%s: user properties %v, want %v then offset", what, got, pahoSentProps)
	}
}

// TestV5OffsetOptInPaho: the opt-in offset property with paho.golang, live,
// retained, offline, replay and broker-wide.
func TestV5OffsetOptInPaho(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	ask := paho5.UserProperties{{Key: "offset", Value: "true"}}
	pub, _ := v5Client(t, tb.addr, &paho5.Connect{ClientID: "pub", CleanStart: true, KeepAlive: 30}, nil)
	publish := func(topic, payload string, retain bool) {
		t.Helper()
		if _, err := pub.Publish(ctx10(t), &paho5.Publish{Topic: topic, QoS: 1, Retain: retain, Payload: []byte(payload),
			Properties: &paho5.PublishProperties{User: slices.Clone(pahoSentProps)}}); err != nil {
			t.Fatal(err)
		}
	}
	publish("pp/ret", "retained", true)

	// Retained on subscribe, then live.
	_, plainIn := pahoSubscriber(t, tb.addr, "plain", true, nil, "pp/#")
	_, askIn := pahoSubscriber(t, tb.addr, "asker", true, ask, "pp/#")
	checkPahoProps(t, "retained", plainIn.waitN(t, 1, 5*time.Second)[0], "retained", false)
	checkPahoProps(t, "retained, asked", askIn.waitN(t, 1, 5*time.Second)[0], "retained", true)
	publish("pp/live", "live", false)
	checkPahoProps(t, "live", plainIn.waitN(t, 2, 5*time.Second)[1], "live", false)
	checkPahoProps(t, "live, asked", askIn.waitN(t, 2, 5*time.Second)[1], "live", true)

	// Offline: the sessions outlive their connections and get what they missed.
	offPlain, _ := pahoSubscriber(t, tb.addr, "off-plain", true, nil, "po/#")
	offAsk, _ := pahoSubscriber(t, tb.addr, "off-asker", true, ask, "po/#")
	offPlain.Disconnect(&paho5.Disconnect{})
	offAsk.Disconnect(&paho5.Disconnect{})
	tb.waitOffline(t, "off-plain")
	tb.waitOffline(t, "off-asker")
	publish("po/x", "owed", false)
	_, offPlainIn := pahoSubscriber(t, tb.addr, "off-plain", false, nil, "")
	_, offAskIn := pahoSubscriber(t, tb.addr, "off-asker", false, nil, "")
	checkPahoProps(t, "offline", offPlainIn.waitN(t, 1, 5*time.Second)[0], "owed", false)
	checkPahoProps(t, "offline, asked", offAskIn.waitN(t, 1, 5*time.Second)[0], "owed", true)

	// Replay: offset by default, unless declined.
	_, replayIn := pahoSubscriber(t, tb.addr, "replay", true, nil, "$replay/0/pp/live")
	_, declinedIn := pahoSubscriber(t, tb.addr, "declined", true,
		paho5.UserProperties{{Key: "replay-from", Value: "0"}, {Key: "offset", Value: "false"}}, "pp/live")
	checkPahoProps(t, "replay", replayIn.waitN(t, 1, 5*time.Second)[0], "live", true)
	checkPahoProps(t, "replay, declined", declinedIn.waitN(t, 1, 5*time.Second)[0], "live", false)

	// Broker-wide: everyone gets it.
	wide := startBroker(t, func(o *mqtt.Options) { o.OffsetProperty = true })
	_, wideIn := pahoSubscriber(t, wide.addr, "plain", true, nil, "pw/#")
	pub, _ = v5Client(t, wide.addr, &paho5.Connect{ClientID: "pub", CleanStart: true, KeepAlive: 30}, nil)
	publish("pw/x", "wide", false)
	checkPahoProps(t, "broker-wide", wideIn.waitN(t, 1, 5*time.Second)[0], "wide", true)
}

// TestOffsetOptInFailover: the choice is in the replicated Subscribe entry,
// so after the leader dies the sessions resumed on another node keep it.
func TestOffsetOptInFailover(t *testing.T) {
	tc := startCluster(t, 3, nil)
	asker, _ := rawConnect(t, tc.nodes[0].addr, connectV5("asker", true, 300))
	subscribeOK(asker, askOffset, packet.Subscription{Filter: "fo/#", QoS: 1})
	plain, _ := rawConnect(t, tc.nodes[0].addr, connectV5("plain", true, 300))
	plain.subscribe(0, packet.Subscription{Filter: "fo/#", QoS: 1})
	asker.disconnect(nil)
	plain.disconnect(nil)
	tc.nodes[0].waitOffline(t, "asker") // the disconnects committed
	tc.nodes[0].waitOffline(t, "plain")
	tc.kill(0) // the leader
	for _, i := range []int{1, 2} {
		waitFor(t, 20*time.Second, "a new leader", func() bool {
			l := tc.nodes[i].node.LeaderHTTP()
			return l != "" && l != "n1"
		})
	}
	asker, _ = rawConnect(t, tc.nodes[1].addr, connectV5("asker", false, 300))
	plain, _ = rawConnect(t, tc.nodes[2].addr, connectV5("plain", false, 300))
	pub, _ := rawConnect(t, tc.nodes[2].addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	publishProps(pub, "fo/x", "after", false)
	expectOffset(t, asker, "after")
	expectUnaltered(t, plain, "after")
}
