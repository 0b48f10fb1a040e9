package mqtt_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/mqtt"
	"github.com/stratamq/strata/mqtt/packet"
)

// session returns the folded state's session of id.
func (tb *testBroker) session(id string) (fsm.Session, bool) {
	return tb.views.View().Session(id)
}

// waitOffline waits until the session of id is not connected (or gone).
func (tb *testBroker) waitOffline(t *testing.T, id string) {
	t.Helper()
	waitFor(t, 10*time.Second, id+" offline", func() bool {
		s, ok := tb.session(id)
		return !ok || !s.Connected
	})
}

func connectV5(id string, clean bool, expiry uint32) *packet.Connect {
	cp := &packet.Connect{ClientID: id, CleanStart: clean, KeepAliveSeconds: 30}
	cp.Properties.SessionExpirySeconds = expiry
	return cp
}

// TestV5SessionExpiry: a session with expiry > 0 outlives its connection
// and gets what was published meanwhile; with expiry 0 it ends with the
// connection; clean start discards it; it is gone once its expiry elapsed.
func TestV5SessionExpiry(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})

	// Expiry 60: the session and its QoS 1 messages wait for the reconnect.
	sub, ack := rawConnect(t, tb.addr, connectV5("keep", true, 60))
	if ack.SessionPresent {
		t.Fatal("session present after clean start")
	}
	sub.subscribe(0, packet.Subscription{Filter: "se/#", QoS: 1})
	sub.disconnect(nil)
	tb.waitOffline(t, "keep")
	for i := range 5 {
		pub.publish(&packet.Publish{Topic: "se/t", QoS: 1, Payload: []byte(fmt.Sprint(i))})
	}
	sub, ack = rawConnect(t, tb.addr, connectV5("keep", false, 60))
	if !ack.SessionPresent {
		t.Fatal("session not present after reconnecting within the expiry")
	}
	for i := range 5 {
		p, _ := sub.recvPublish(5 * time.Second)
		if string(p.Payload) != fmt.Sprint(i) || p.QoS != 1 {
			t.Fatalf("queued message %d: got %q QoS %d", i, p.Payload, p.QoS)
		}
	}
	// Clean start discards it.
	sub.disconnect(nil)
	tb.waitOffline(t, "keep")
	sub, ack = rawConnect(t, tb.addr, connectV5("keep", true, 60))
	if ack.SessionPresent {
		t.Fatal("session present after clean start")
	}
	sub.disconnect(nil)

	// Expiry 0: the session ends with the connection.
	zero, _ := rawConnect(t, tb.addr, connectV5("zero", true, 0))
	zero.subscribe(0, packet.Subscription{Filter: "se/#", QoS: 1})
	zero.disconnect(nil)
	waitFor(t, 5*time.Second, "session with expiry 0 to end", func() bool { _, ok := tb.session("zero"); return !ok })
	_, ack = rawConnect(t, tb.addr, connectV5("zero", false, 0))
	if ack.SessionPresent {
		t.Fatal("session present after expiry 0")
	}

	// A DISCONNECT may lower the expiry: 60 in CONNECT, 0 in DISCONNECT.
	lower, _ := rawConnect(t, tb.addr, connectV5("lower", true, 60))
	d := &packet.Disconnect{}
	d.Properties.SessionExpirySeconds = 0
	d.Properties.Present.Add(packet.PropSessionExpiry)
	lower.disconnect(d)
	waitFor(t, 5*time.Second, "session with expiry set to 0 on DISCONNECT to end", func() bool { _, ok := tb.session("lower"); return !ok })

	// ...but not raise it from 0 [MQTT-3.14.2-2]: a protocol error.
	raise, _ := rawConnect(t, tb.addr, connectV5("raise", true, 0))
	d = &packet.Disconnect{}
	d.Properties.SessionExpirySeconds = 60
	raise.mustSend(d)
	raise.expectDisconnect(packet.CodeProtocolError, 5*time.Second)
	waitFor(t, 5*time.Second, "session with expiry 0 to end", func() bool { _, ok := tb.session("raise"); return !ok })
}

// TestV5SessionExpiryElapses: a session with expiry 1 s ends once a second
// passed on the clock after its connection closed, not before.
func TestV5SessionExpiryElapses(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	sub, _ := rawConnect(t, tb.addr, connectV5("short", true, 1))
	sub.subscribe(0, packet.Subscription{Filter: "se/#", QoS: 1})
	sub.close() // abnormal: the expiry applies as well
	tb.waitOffline(t, "short")
	tb.fake.clock.Advance(999 * time.Millisecond)
	tb.keeper.Round()
	if _, ok := tb.session("short"); !ok {
		t.Fatal("session with expiry 1 s ended before a second passed")
	}
	tb.fake.clock.Advance(time.Millisecond)
	tb.keeper.Round()
	if _, ok := tb.session("short"); ok {
		t.Fatal("session still there once its expiry elapsed")
	}
	if subs := tb.views.View().Subscriptions("short"); len(subs) != 0 {
		t.Fatalf("expired session kept subscriptions %v", subs)
	}
	sub, ack := rawConnect(t, tb.addr, connectV5("short", false, 1))
	if ack.SessionPresent {
		t.Fatal("session present after its expiry")
	}
	sub.disconnect(nil)
}

// TestV5Takeover: a second connection with the same client id closes the
// first with DISCONNECT 0x8E and resumes its session.
func TestV5Takeover(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	first, _ := rawConnect(t, tb.addr, connectV5("dup", true, 60))
	first.subscribe(0, packet.Subscription{Filter: "to/#", QoS: 1})
	second, ack := rawConnect(t, tb.addr, connectV5("dup", false, 60))
	if !ack.SessionPresent {
		t.Fatal("takeover: session not present")
	}
	first.expectDisconnect(packet.CodeSessionTakenOver, 5*time.Second)
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	pub.publish(&packet.Publish{Topic: "to/x", QoS: 1, Payload: []byte("after")})
	if p, _ := second.recvPublish(5 * time.Second); string(p.Payload) != "after" {
		t.Fatalf("got %q", p.Payload)
	}
	// The old connection's end did not end the new one's session.
	s, ok := tb.session("dup")
	if !ok || !s.Connected {
		t.Fatalf("session after takeover: %+v", s)
	}
	second.mustSend(&packet.Pingreq{})
	expect[*packet.Pingresp](t, second, 5*time.Second)
}

// TestV5KeepAlive: a silent client with keep alive 1 s is disconnected
// after 1.5 s with DISCONNECT 0x8D; one that pings stays.
func TestV5KeepAlive(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	cp := &packet.Connect{ClientID: "silent", CleanStart: true, KeepAliveSeconds: 1}
	silent, ack := rawConnect(t, tb.addr, cp)
	start := time.Now()
	if ka := ack.Properties.ServerKeepAliveSeconds; ka != 1 {
		t.Fatalf("Server Keep Alive %d for an allowed keep alive of 1", ka)
	}
	pinger, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pinger", CleanStart: true, KeepAliveSeconds: 1})

	done := make(chan *packet.Disconnect, 1)
	var closedAfter time.Duration
	go func() {
		// waitClose may not fail the test from here: poll next instead.
		var last *packet.Disconnect
		for {
			p, err := silent.next(5 * time.Second)
			if err == errTimeout {
				close(done)
				return
			}
			if err != nil {
				closedAfter = time.Since(start)
				done <- last
				return
			}
			if d, ok := p.(*packet.Disconnect); ok {
				last = d
			}
		}
	}()
	// Meanwhile the pinger keeps its connection for 2.5 s.
	for range 5 {
		pinger.mustSend(&packet.Pingreq{})
		expect[*packet.Pingresp](t, pinger, 2*time.Second)
		time.Sleep(500 * time.Millisecond) // the client's ping period
	}
	d, ok := <-done
	if !ok {
		t.Fatal("silent client not disconnected within 5 s")
	}
	if closedAfter < time.Second || closedAfter > 3500*time.Millisecond {
		t.Fatalf("silent client closed after %v, want about 1.5 s", closedAfter)
	}
	if d == nil || d.ReasonCode != packet.CodeKeepAliveTimeout {
		t.Fatalf("silent client: DISCONNECT %+v, want keep alive timeout", d)
	}
	pinger.mustSend(&packet.Pingreq{})
	expect[*packet.Pingresp](t, pinger, 2*time.Second)
}

// TestV5ServerKeepAlive: a keep alive above MaxKeepAlive (or 0) is lowered
// to it; Server Keep Alive always states the one in force [MQTT-3.2.2-21].
func TestV5ServerKeepAlive(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(o *mqtt.Options) { o.MaxKeepAlive = 5 })
	for _, c := range []struct {
		ask  uint16
		want uint16
	}{{60, 5}, {0, 5}, {5, 5}, {3, 3}} {
		rc, ack := rawConnect(t, tb.addr, &packet.Connect{ClientID: "ka", CleanStart: true, KeepAliveSeconds: c.ask})
		has := ack.Properties.Has(packet.PropServerKeepAlive)
		if !has || ack.Properties.ServerKeepAliveSeconds != c.want {
			t.Fatalf("keep alive %d: Server Keep Alive present=%v %d, want %d", c.ask, has, ack.Properties.ServerKeepAliveSeconds, c.want)
		}
		rc.disconnect(nil)
	}
}

// TestV5AssignedClientID: an MQTT 5 client with an empty id gets one
// assigned; a 3.1.1 client with an empty id and a persistent session is
// refused with 0x02.
func TestV5AssignedClientID(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	ids := map[string]bool{}
	for range 2 {
		rc, ack := rawConnect(t, tb.addr, &packet.Connect{CleanStart: true})
		id := ack.Properties.AssignedClientID
		if id == "" || ids[id] {
			t.Fatalf("assigned client id %q (have %v)", id, ids)
		}
		ids[id] = true
		if s, ok := tb.session(id); !ok || !s.Connected {
			t.Fatalf("no connected session for the assigned id %q", id)
		}
		rc.subscribe(0, packet.Subscription{Filter: "aid/x", QoS: 1})
	}
	if ack := connack311(t, tb.addr, &packet.Connect{CleanStart: false}); ack[3] != 0x02 {
		t.Fatalf("3.1.1, empty id, clean session 0: CONNACK % x, want return code 0x02", ack)
	}
	if ack := connack311(t, tb.addr, &packet.Connect{CleanStart: true}); ack[3] != 0x00 {
		t.Fatalf("3.1.1, empty id, clean session 1: CONNACK % x, want accepted", ack)
	}
	// MQTT 5 with an empty id and clean start 0 is accepted too.
	rc, ack := rawConnect(t, tb.addr, connectV5("", false, 10))
	if ack.Properties.AssignedClientID == "" || ack.SessionPresent {
		t.Fatalf("empty id, clean start 0: %+v", ack)
	}
	rc.disconnect(nil)
}

// willConnect is a CONNECT with a QoS 1 will on topic.
func willConnect(id, topic string, delay, expiry uint32) *packet.Connect {
	cp := connectV5(id, true, expiry)
	cp.Will = &packet.Will{QoS: 1, Topic: topic, Payload: []byte("gone:" + id)}
	cp.Will.Properties.WillDelaySeconds = delay
	cp.Will.Properties.ContentType = "text/plain"
	cp.Will.Properties.UserProperties = []packet.UserProperty{{Key: "k", Value: "v"}}
	return cp
}

// TestV5Will: the will is published when the connection ends abnormally or
// with DISCONNECT 0x04, not on a normal DISCONNECT.
func TestV5Will(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	sub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "watcher", CleanStart: true})
	sub.subscribe(0, packet.Subscription{Filter: "will/#", QoS: 1})
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	expectWill := func(id string) {
		t.Helper()
		p, topic := sub.recvPublish(5 * time.Second)
		if topic != "will/"+id || string(p.Payload) != "gone:"+id || p.QoS != 1 || p.Properties.ContentType != "text/plain" ||
			// The will's user properties, unaltered [MQTT-3.3.2-17/18].
			len(p.Properties.UserProperties) != 1 || p.Properties.UserProperties[0] != (packet.UserProperty{Key: "k", Value: "v"}) {
			t.Fatalf("got %s %q %+v, want the will of %s", topic, p.Payload, p.Properties, id)
		}
	}

	// The socket just closes.
	w1, _ := rawConnect(t, tb.addr, willConnect("w1", "will/w1", 0, 0))
	w1.close()
	expectWill("w1")

	// Normal DISCONNECT: no will (a later message comes first).
	w2, _ := rawConnect(t, tb.addr, willConnect("w2", "will/w2", 0, 0))
	w2.disconnect(nil)
	waitFor(t, 5*time.Second, "w2's session to end", func() bool { _, ok := tb.session("w2"); return !ok })
	pub.publish(&packet.Publish{Topic: "will/marker", QoS: 1, Payload: []byte("mark")})
	if p, topic := sub.recvPublish(5 * time.Second); topic != "will/marker" {
		t.Fatalf("after a normal DISCONNECT: got %s %q", topic, p.Payload)
	}

	// DISCONNECT with will message.
	w3, _ := rawConnect(t, tb.addr, willConnect("w3", "will/w3", 0, 0))
	w3.disconnect(&packet.Disconnect{ReasonCode: packet.CodeDisconnectWithWill})
	expectWill("w3")

	// Keep alive timeout is abnormal too.
	cp := willConnect("w4", "will/w4", 0, 0)
	cp.KeepAliveSeconds = 1
	w4, _ := rawConnect(t, tb.addr, cp)
	expectWill("w4")
	w4.waitClose(5 * time.Second)

	// A will delay longer than the session: the will is due when the
	// session ends, here with the connection (expiry 0).
	w5, _ := rawConnect(t, tb.addr, willConnect("w5", "will/w5", 30, 0))
	w5.close()
	expectWill("w5")

	// Takeover: the old connection's will (delay 0) is published...
	w6, _ := rawConnect(t, tb.addr, willConnect("w6", "will/w6", 0, 60))
	rawConnect(t, tb.addr, connectV5("w6", false, 60))
	w6.expectDisconnect(packet.CodeSessionTakenOver, 5*time.Second)
	expectWill("w6")
	// ...but not when it has a delay and the session continues [MQTT-3.1.3-9].
	w7, _ := rawConnect(t, tb.addr, willConnect("w7", "will/w7", 30, 60))
	rawConnect(t, tb.addr, connectV5("w7", false, 60))
	w7.expectDisconnect(packet.CodeSessionTakenOver, 5*time.Second)
	pub.publish(&packet.Publish{Topic: "will/marker", QoS: 1, Payload: []byte("mark")})
	if p, topic := sub.recvPublish(5 * time.Second); topic != "will/marker" {
		t.Fatalf("after a takeover of a delayed will: got %s %q", topic, p.Payload)
	}
	if _, ok := tb.views.View().PendingWill("w7"); ok {
		t.Fatal("w7's will still pending after the takeover")
	}
	// A takeover with clean start ends the old session: its will is due
	// at once, delay or not.
	w8, _ := rawConnect(t, tb.addr, willConnect("w8", "will/w8", 30, 60))
	rawConnect(t, tb.addr, connectV5("w8", true, 60))
	w8.expectDisconnect(packet.CodeSessionTakenOver, 5*time.Second)
	expectWill("w8")
}

// TestV5WillDelay: with a will delay of 2 s (session expiry 10 s) the will
// is published once 2 s passed on the clock after the connection closed.
func TestV5WillDelay(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	sub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "watcher", CleanStart: true})
	sub.subscribe(0, packet.Subscription{Filter: "will/#", QoS: 1})
	w, _ := rawConnect(t, tb.addr, willConnect("wd", "will/wd", 2, 10))
	w.close()
	tb.waitOffline(t, "wd")
	tb.fake.clock.Advance(1999 * time.Millisecond)
	tb.keeper.Round()
	if _, ok := tb.views.View().PendingWill("wd"); !ok {
		t.Fatal("the will left its pending state before its delay")
	}
	tb.fake.clock.Advance(time.Millisecond)
	tb.keeper.Round()
	p, topic := sub.recvPublish(5 * time.Second)
	if topic != "will/wd" || string(p.Payload) != "gone:wd" {
		t.Fatalf("got %s %q", topic, p.Payload)
	}
	// The session outlives its will.
	if _, ok := tb.session("wd"); !ok {
		t.Fatal("session ended with its will")
	}
}

// TestV5MessageExpiry: a queued message whose expiry elapsed is not sent;
// one that waited carries its remaining expiry.
func TestV5MessageExpiry(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	sub, _ := rawConnect(t, tb.addr, connectV5("mx", true, 60))
	sub.subscribe(0, packet.Subscription{Filter: "mx/#", QoS: 1})
	sub.disconnect(nil)
	tb.waitOffline(t, "mx")
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	withExpiry := func(topic string, exp uint32) *packet.Publish {
		p := &packet.Publish{Topic: topic, QoS: 1, Payload: []byte(topic)}
		p.Properties.MessageExpirySeconds = exp
		p.Properties.Present.Add(packet.PropMessageExpiry)
		return p
	}
	pub.publish(withExpiry("mx/short", 2))
	pub.publish(withExpiry("mx/long", 10))
	retained := func(topic string, exp uint32) *packet.Publish {
		p := withExpiry(topic, exp)
		p.Retain = true
		return p
	}
	pub.publish(retained("mxr/short", 2))
	pub.publish(retained("mxr/long", 60))
	// Live delivery with its expiry: a second subscriber.
	live, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "live", CleanStart: true})
	live.subscribe(0, packet.Subscription{Filter: "mx/#", QoS: 1})
	pub.publish(withExpiry("mx/live", 10))
	if p, _ := live.recvPublish(5 * time.Second); p.Properties.MessageExpirySeconds != 10 {
		t.Fatalf("live delivery with expiry %d, want 10", p.Properties.MessageExpirySeconds)
	}
	tb.fake.clock.Advance(3 * time.Second)
	pub.publish(&packet.Publish{Topic: "mx/none", QoS: 1, Payload: []byte("mx/none")})

	sub, ack := rawConnect(t, tb.addr, connectV5("mx", false, 60))
	if !ack.SessionPresent {
		t.Fatal("session not present")
	}
	p, topic := sub.recvPublish(5 * time.Second)
	if topic != "mx/long" {
		t.Fatalf("first queued message %s, want mx/long (mx/short expired)", topic)
	}
	if !p.Properties.Has(packet.PropMessageExpiry) || p.Properties.MessageExpirySeconds != 7 {
		t.Fatalf("mx/long delivered with expiry %d after 3 s, want 7", p.Properties.MessageExpirySeconds)
	}
	if p, topic = sub.recvPublish(5 * time.Second); topic != "mx/live" || p.Properties.MessageExpirySeconds != 7 {
		t.Fatalf("got %s expiry %d, want mx/live with 7 s left", topic, p.Properties.MessageExpirySeconds)
	}
	if p, topic = sub.recvPublish(5 * time.Second); topic != "mx/none" || p.Properties.Has(packet.PropMessageExpiry) {
		t.Fatalf("got %s expiry %d, want mx/none without expiry", topic, p.Properties.MessageExpirySeconds)
	}

	// Retained messages: the expired one is not sent on subscribe, the
	// other carries what is left of its expiry.
	late, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "late", CleanStart: true})
	late.subscribe(0, packet.Subscription{Filter: "mxr/#", QoS: 1})
	p, topic = late.recvPublish(5 * time.Second)
	if topic != "mxr/long" || !p.Retain || p.Properties.MessageExpirySeconds != 57 {
		t.Fatalf("retained %s retain=%v expiry %d, want mxr/long with 57 s left", topic, p.Retain, p.Properties.MessageExpirySeconds)
	}
	pub.publish(&packet.Publish{Topic: "mxr/mark", QoS: 1, Payload: []byte("mark")})
	if p, topic = late.recvPublish(5 * time.Second); topic != "mxr/mark" {
		t.Fatalf("got %s %q, want the marker (mxr/short expired)", topic, p.Payload)
	}
}
