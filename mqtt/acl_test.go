package mqtt_test

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/stratamq/strata/auth"
	"github.com/stratamq/strata/mqtt"
	"github.com/stratamq/strata/mqtt/packet"
)

// users is a password file in memory.
type users map[string]string

func (u users) Authenticate(user string, pass []byte) bool {
	p, ok := u[user]
	return ok && p == string(pass)
}

const testACL = `topic read public/#
user alice
topic readwrite a/#
topic deny a/secret/#
topic read,replay r/#
topic read live/#
topic write w/#
user bob
topic readwrite,replay #
`

// startACLBroker starts a broker with alice, bob and the ACL acl (a file,
// so that tests can reload it); anonymous clients are allowed.
func startACLBroker(t *testing.T, acl string) (*testBroker, *auth.Policy, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "acl.conf")
	if err := os.WriteFile(path, []byte(acl), 0o600); err != nil {
		t.Fatal(err)
	}
	pol, err := auth.LoadPolicy(path)
	if err != nil {
		t.Fatal(err)
	}
	tb := startBroker(t, func(o *mqtt.Options) {
		o.Auth = users{"alice": "pa", "bob": "pb"}
		o.Authorizer = pol
		o.AllowAnonymous = true
	})
	return tb, pol, path
}

func login(user, id string, clean bool) *packet.Connect {
	return &packet.Connect{ClientID: id, CleanStart: clean, HasUsername: true, Username: user,
		HasPassword: true, Password: []byte(map[string]string{"alice": "pa", "bob": "pb"}[user])}
}

// subackCodes sends one SUBSCRIBE and returns the SUBACK's codes.
func subackCodes(t *testing.T, rc *rawClient, s *packet.Subscribe) []packet.ReasonCode {
	t.Helper()
	s.PacketID = rc.packetID()
	rc.mustSend(s)
	ack := await[*packet.Suback](t, rc, 10*time.Second)
	if ack.PacketID != s.PacketID {
		t.Fatalf("SUBACK for %d, want %d", ack.PacketID, s.PacketID)
	}
	return ack.ReasonCodes
}

func subs(filters ...string) *packet.Subscribe {
	s := &packet.Subscribe{}
	for _, f := range filters {
		s.Subscriptions = append(s.Subscriptions, packet.Subscription{Filter: f, QoS: 1})
	}
	return s
}

// TestACLSubscribe: a filter the ACL does not grant in full gets 0x87 in
// 5.0 and 0x80 in 3.1.1 [MQTT-3.9.3-2], the others of the same SUBSCRIBE
// are granted; a replay ($replay/, replay-from) needs the replay right too;
// a shared subscription is checked by its filter.
func TestACLSubscribe(t *testing.T) {
	t.Parallel()
	tb, _, _ := startACLBroker(t, testACL)
	rc, _ := rawConnect(t, tb.addr, login("alice", "alice", true))
	const no = packet.CodeNotAuthorized
	got := subackCodes(t, rc, subs("a/x/+", "a/#", "other", "$share/g/a/x", "$share/g/a/secret/x",
		"r/#", "$replay/0/r/#", "$replay/0/live/#", "live/#", "#", "$SYS/#"))
	want := []packet.ReasonCode{1, no, no, 1, no, 1, 1, no, 1, no, no}
	if !bytes.Equal(codesBytes(got), codesBytes(want)) {
		t.Fatalf("SUBACK codes %v, want %v", got, want)
	}
	s := subs("live/x", "r/x")
	s.Properties.UserProperties = []packet.UserProperty{{Key: "replay-from", Value: "0"}}
	if got := subackCodes(t, rc, s); got[0] != no || got[1] != 1 {
		t.Fatalf("replay-from: SUBACK %v, want [0x87 1] (live/ grants read, not replay)", got)
	}
	// Only granted filters became subscriptions.
	have := map[string]bool{}
	for _, s := range tb.views.View().Subscriptions("alice") {
		have[s.Filter] = true
	}
	if len(have) != 5 || !have["a/x/+"] || have["a/#"] || !have["r/#"] || !have["live/#"] || !have["$share/g/a/x"] {
		t.Fatalf("subscriptions %v", have)
	}

	old := dialRaw(t, tb.addr, packet.Version311)
	if ack := old.connect(login("alice", "alice311", true)); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
	if got := subackCodes(t, old, subs("a/#", "a/b")); got[0] != 0x80 || got[1] != 1 {
		t.Fatalf("3.1.1 SUBACK %v, want [0x80 1]", got)
	}
}

func codesBytes(cs []packet.ReasonCode) []byte {
	b := make([]byte, len(cs))
	for i, c := range cs {
		b[i] = byte(c)
	}
	return b
}

// TestACLPublish: a PUBLISH the ACL does not grant gets PUBACK/PUBREC 0x87
// in 5.0; in 3.1.1 it is acknowledged as usual (3.1.1 cannot refuse one;
// mosquitto does the same) and a QoS 2 flow completes with PUBCOMP; it is
// never proposed, so no subscriber gets it, and the connection stays up.
func TestACLPublish(t *testing.T) {
	t.Parallel()
	tb, _, _ := startACLBroker(t, testACL)
	bob, _ := rawConnect(t, tb.addr, login("bob", "bob", true))
	bob.subscribe(0, packet.Subscription{Filter: "#", QoS: 2})
	alice, _ := rawConnect(t, tb.addr, login("alice", "alice", true))
	for _, qos := range []byte{1, 2} {
		if code := alice.publish(&packet.Publish{Topic: "public/x", QoS: qos, Payload: []byte("denied")}); code != packet.CodeNotAuthorized {
			t.Fatalf("QoS %d denied publish: code %v, want 0x87", qos, code)
		}
	}
	alice.publish(&packet.Publish{Topic: "r/x", QoS: 0, Payload: []byte("denied")}) // read only
	if code := alice.publish(&packet.Publish{Topic: "w/x", QoS: 1, Payload: []byte("v5 ok")}); code != 0 {
		t.Fatalf("granted publish: code %v", code)
	}
	old := dialRaw(t, tb.addr, packet.Version311)
	if ack := old.connect(login("alice", "alice311", true)); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
	for _, qos := range []byte{0, 1, 2} {
		if code := old.publish(&packet.Publish{Topic: "public/x", QoS: qos, Payload: []byte("denied")}); code != 0 {
			t.Fatalf("3.1.1 QoS %d: code %v, want a plain acknowledgement", qos, code)
		}
	}
	old.publish(&packet.Publish{Topic: "a/y", QoS: 1, Payload: []byte("3.1.1 ok")})
	for _, want := range []string{"v5 ok", "3.1.1 ok"} {
		if p, topic := bob.recvPublish(10 * time.Second); string(p.Payload) != want {
			t.Fatalf("bob got %s %q, want %q: a denied publish went through", topic, p.Payload, want)
		}
	}
	// The refused QoS 1/2 publishes were released: no receive quota leaks.
	for range 3 {
		alice.publish(&packet.Publish{Topic: "public/x", QoS: 2, Payload: []byte("denied")})
	}
	alice.mustSend(&packet.Pingreq{})
	await[*packet.Pingresp](t, alice, 5*time.Second)
}

// TestACLWill: a will on a topic the ACL does not grant refuses the
// CONNECT: CONNACK 0x87 (5.0), return code 5 (3.1.1).
func TestACLWill(t *testing.T) {
	t.Parallel()
	tb, _, _ := startACLBroker(t, testACL)
	cp := login("alice", "willer", true)
	cp.Will = &packet.Will{Topic: "public/will", Payload: []byte("x")}
	rc := dialRaw(t, tb.addr, packet.Version5)
	if ack := rc.connect(cp); ack.ReasonCode != packet.CodeNotAuthorized {
		t.Fatalf("CONNACK %v, want 0x87", ack.ReasonCode)
	}
	cp = login("alice", "willer", true)
	cp.Will = &packet.Will{Topic: "public/will", Payload: []byte("x")}
	if ack := connack311(t, tb.addr, cp); !bytes.Equal(ack, []byte{0x20, 0x02, 0x00, 0x05}) {
		t.Fatalf("3.1.1 CONNACK % x, want return code 5", ack)
	}
	cp = login("alice", "willer", true)
	cp.Will = &packet.Will{Topic: "w/will", Payload: []byte("x")}
	rawConnect(t, tb.addr, cp)
}

// TestACLReload: a reload applies to connections open before it (what
// SIGHUP does): a subscription granted then delivers only what the new
// ACL lets the client read, QoS 1 deliveries it holds back are completed
// in the session's cursor, and nothing stalls.
func TestACLReload(t *testing.T) {
	t.Parallel()
	tb, pol, path := startACLBroker(t, "user alice\ntopic read a/#\nuser bob\ntopic readwrite #\n")
	alice, _ := rawConnect(t, tb.addr, login("alice", "alice", true))
	alice.subscribe(0, packet.Subscription{Filter: "a/#", QoS: 1})
	bob, _ := rawConnect(t, tb.addr, login("bob", "bob", true))
	bob.publish(&packet.Publish{Topic: "a/secret/1", QoS: 1, Payload: []byte("before")})
	if p, _ := alice.recvPublish(10 * time.Second); string(p.Payload) != "before" {
		t.Fatalf("got %q", p.Payload)
	}
	if err := os.WriteFile(path, []byte("user alice\ntopic read a/#\ntopic deny a/secret/#\nuser bob\ntopic readwrite #\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := pol.Reload(); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		bob.publish(&packet.Publish{Topic: "a/secret/1", QoS: 1, Payload: []byte("after")})
		if i%10 == 0 {
			bob.publish(&packet.Publish{Topic: "a/open", QoS: 1, Payload: []byte("open")})
		}
	}
	for range 5 {
		if p, topic := alice.recvPublish(10 * time.Second); topic != "a/open" {
			t.Fatalf("after the reload alice got %s %q", topic, p.Payload)
		}
	}
	waitFor(t, 10*time.Second, "alice's cursor to complete the messages held back", func() bool {
		return len(tb.views.View().Inflight("alice")) == 0
	})
	// A reload that does not parse keeps the ACL in force.
	os.WriteFile(path, []byte("user alice\ntopic reed #\n"), 0o600)
	if err := pol.Reload(); err == nil {
		t.Fatal("a bad ACL reloaded")
	}
	bob.publish(&packet.Publish{Topic: "a/secret/2", QoS: 1, Payload: []byte("still denied")})
	bob.publish(&packet.Publish{Topic: "a/open", QoS: 1, Payload: []byte("mark")})
	if p, topic := alice.recvPublish(10 * time.Second); topic != "a/open" {
		t.Fatalf("after a failed reload alice got %s %q", topic, p.Payload)
	}
}

// TestACLSessionOfAnother: a client that resumes a session another
// identity made (the same client id) gets, of its subscriptions' offline
// messages, only those its own ACL lets it read; the others are completed
// in the cursor.
func TestACLSessionOfAnother(t *testing.T) {
	t.Parallel()
	tb, _, _ := startACLBroker(t, testACL)
	persistent := func(cp *packet.Connect) *packet.Connect {
		cp.Properties.SessionExpirySeconds = 600
		return cp
	}
	bob, _ := rawConnect(t, tb.addr, persistent(login("bob", "shared", false)))
	bob.subscribe(0, packet.Subscription{Filter: "#", QoS: 1})
	bob.disconnect(nil)
	pub, _ := rawConnect(t, tb.addr, login("bob", "pub", true))
	for _, tp := range []string{"a/secret/x", "a/1", "z", "a/2"} {
		pub.publish(&packet.Publish{Topic: tp, QoS: 1, Payload: []byte(tp)})
	}
	alice, ack := rawConnect(t, tb.addr, persistent(login("alice", "shared", false)))
	if !ack.SessionPresent {
		t.Fatal("no session present")
	}
	for _, want := range []string{"a/1", "a/2"} {
		if _, topic := alice.recvPublish(10 * time.Second); topic != want {
			t.Fatalf("resumed: got %s, want %s", topic, want)
		}
	}
	pub.publish(&packet.Publish{Topic: "z", QoS: 1, Payload: []byte("live denied")})
	pub.publish(&packet.Publish{Topic: "a/3", QoS: 1, Payload: []byte("live")})
	if _, topic := alice.recvPublish(10 * time.Second); topic != "a/3" {
		t.Fatalf("live: got %s, want a/3", topic)
	}
	waitFor(t, 10*time.Second, "the cursor to complete what was held back", func() bool {
		return len(tb.views.View().Inflight("shared")) == 0
	})
}

// TestACLAnonymous: with a password file, clients without credentials are
// refused on loopback listeners too (as in mosquitto 2), unless
// AllowAnonymous; admitted, they get the ACL's lines before the first user.
func TestACLAnonymous(t *testing.T) {
	t.Parallel()
	strict := startBroker(t, func(o *mqtt.Options) { o.Auth = users{"alice": "pa"} })
	rc := dialRaw(t, strict.addr, packet.Version5)
	if ack := rc.connect(&packet.Connect{ClientID: "anon", CleanStart: true}); ack.ReasonCode != packet.CodeNotAuthorized {
		t.Fatalf("anonymous on loopback with a password file: CONNACK %v, want 0x87", ack.ReasonCode)
	}
	tb, _, _ := startACLBroker(t, testACL)
	// A user name without a password file proves nothing: such a client
	// would be anonymous; here there is a file, so it must be right.
	anon, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "anon", CleanStart: true})
	if got := subackCodes(t, anon, subs("public/#", "a/1")); got[0] != 1 || got[1] != packet.CodeNotAuthorized {
		t.Fatalf("anonymous SUBACK %v, want [1 0x87]", got)
	}
	if code := anon.publish(&packet.Publish{Topic: "public/x", QoS: 1}); code != packet.CodeNotAuthorized {
		t.Fatalf("anonymous publish: %v, want 0x87 (read only)", code)
	}
}

// TestACLPaho: the same with paho (3.1.1): 0x80 in the SUBACK, a denied
// QoS 1 publish acknowledged and not delivered.
func TestACLPaho(t *testing.T) {
	t.Parallel()
	tb, _, _ := startACLBroker(t, testACL)
	in := newInbox()
	bob := pahoClient(t, tb.url(), "bob", true, func(o *paho.ClientOptions) { o.SetUsername("bob").SetPassword("pb") })
	wait(t, bob.Subscribe("#", 1, in.handler))
	alice := pahoClient(t, tb.url(), "alice", true, func(o *paho.ClientOptions) { o.SetUsername("alice").SetPassword("pa") })
	tok := alice.SubscribeMultiple(map[string]byte{"a/#": 1, "a/b/+": 1}, nil)
	wait(t, tok)
	if r := tok.(*paho.SubscribeToken).Result(); r["a/#"] != 0x80 || r["a/b/+"] != 1 {
		t.Fatalf("SUBACK %v, want a/# 0x80 and a/b/+ 1", r)
	}
	wait(t, alice.Publish("public/x", 1, false, "denied"))
	wait(t, alice.Publish("a/ok", 1, false, "ok"))
	if got := in.waitN(t, 1, 10*time.Second); string(got[0].Payload()) != "ok" {
		t.Fatalf("bob got %q first, want ok", got[0].Payload())
	}
}

// readGate is an Authorizer whose filters are all granted and whose topic
// checks deny what the test lists: it reaches the delivery checks that a
// consistent ACL only meets after a reload.
type readGate struct {
	mu     sync.Mutex
	read   map[string]bool // topics denied Subscribe
	replay map[string]bool // topics denied Replay
}

func (g *readGate) For(auth.Identity) auth.Checker      { return g }
func (g *readGate) AllowFilter(auth.Right, string) bool { return true }
func (g *readGate) Allow(r auth.Right, topic string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch r {
	case auth.Subscribe:
		return !g.read[topic]
	case auth.Replay:
		return !g.replay[topic]
	}
	return true
}

func (g *readGate) deny(right auth.Right, topic string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if right == auth.Replay {
		g.replay[topic] = true
	} else {
		g.read[topic] = true
	}
}

// TestACLDeliveryPaths: a message whose topic the client may not read is
// never sent, on any path (retained on subscribe, live, offline, in-flight
// resend, replay); QoS 1 ones are completed in the cursor.
func TestACLDeliveryPaths(t *testing.T) {
	t.Parallel()
	g := &readGate{read: map[string]bool{"t/no": true}, replay: map[string]bool{"t/old": true}}
	tb := startBroker(t, func(o *mqtt.Options) { o.Authorizer = g })
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	pub.publish(&packet.Publish{Topic: "t/no", QoS: 1, Retain: true, Payload: []byte("r")})
	pub.publish(&packet.Publish{Topic: "t/ok", QoS: 1, Retain: true, Payload: []byte("r")})
	pub.publish(&packet.Publish{Topic: "t/old", QoS: 1, Payload: []byte("live only")})

	sub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "sub", CleanStart: false, Properties: packet.Properties{SessionExpirySeconds: 600}})
	sub.subscribe(0, packet.Subscription{Filter: "t/+", QoS: 1})
	if p, topic := sub.recvPublish(10 * time.Second); topic != "t/ok" || !p.Retain {
		t.Fatalf("retained: got %s, want t/ok only", topic)
	}
	pub.publish(&packet.Publish{Topic: "t/no", QoS: 1, Payload: []byte("live")})
	pub.publish(&packet.Publish{Topic: "t/old", QoS: 1, Payload: []byte("live")})
	if _, topic := sub.recvPublish(10 * time.Second); topic != "t/old" {
		t.Fatalf("live: got %s, want t/old (Subscribe granted there)", topic)
	}
	sub.disconnect(nil)
	// Its held PUBACK is proposed with the disconnect, after the socket closed.
	waitFor(t, 10*time.Second, "the session offline", func() bool {
		s, ok := tb.views.View().Session("sub")
		return ok && !s.Connected
	})
	pub.publish(&packet.Publish{Topic: "t/no", QoS: 1, Payload: []byte("offline")})
	pub.publish(&packet.Publish{Topic: "t/ok", QoS: 1, Payload: []byte("offline")})
	pub.publish(&packet.Publish{Topic: "t/later", QoS: 1, Payload: []byte("in flight")})

	// Offline: t/no is skipped. t/later is received but not acknowledged.
	sub = dialRaw(t, tb.addr, packet.Version5)
	sub.connect(&packet.Connect{ClientID: "sub", Properties: packet.Properties{SessionExpirySeconds: 600}})
	if _, topic := sub.recvPublish(10 * time.Second); topic != "t/ok" {
		t.Fatalf("offline: got %s, want t/ok", topic)
	}
	p := expect[*packet.Publish](t, sub, 10*time.Second)
	if p.Topic != "t/later" {
		t.Fatalf("got %s %q dup=%v, want t/later", p.Topic, p.Payload, p.Dup)
	}
	sub.close()
	g.deny(auth.Subscribe, "t/later")
	waitFor(t, 10*time.Second, "the session to be offline", func() bool {
		s, ok := tb.views.View().Session("sub")
		return ok && !s.Connected
	})
	// In flight: t/later is not resent, and is completed.
	sub = dialRaw(t, tb.addr, packet.Version5)
	sub.connect(&packet.Connect{ClientID: "sub", Properties: packet.Properties{SessionExpirySeconds: 600}})
	pub.publish(&packet.Publish{Topic: "t/ok", QoS: 1, Payload: []byte("mark")})
	if p, topic := sub.recvPublish(10 * time.Second); topic != "t/ok" || string(p.Payload) != "mark" {
		t.Fatalf("after resume: got %s %q, want the mark", topic, p.Payload)
	}
	waitFor(t, 10*time.Second, "the cursor to complete what was held back", func() bool {
		return len(tb.views.View().Inflight("sub")) == 0
	})

	// Replay: t/old needs Replay, which is denied; t/ok is replayed.
	rp, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "replayer", CleanStart: true})
	rp.subscribe(0, packet.Subscription{Filter: "$replay/0/t/+", QoS: 0})
	seen := map[string]int{}
	// Replay needs Replay only: t/no (3) and t/later (1) are replayed,
	// with t/ok (3); t/old (2) is not. The retained t/ok comes too (t/no's
	// needs Subscribe).
	for range 8 {
		_, topic := rp.recvPublish(10 * time.Second)
		seen[topic]++
	}
	if seen["t/old"] != 0 || seen["t/no"] != 3 || seen["t/ok"] != 4 || seen["t/later"] != 1 {
		t.Fatalf("replayed %v", seen)
	}
	pub.publish(&packet.Publish{Topic: "t/old", QoS: 0, Payload: []byte("live")})
	if _, topic := rp.recvPublish(10 * time.Second); topic != "t/old" {
		t.Fatalf("live after the replay: got %s, want t/old", topic)
	}
}
