package mqtt_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/stratamq/strata/mqtt/packet"
)

// The instant-messaging login pattern of docs/mqtt.md ("Offline sync at
// login"): a persistent session holds the inbox and one group (g1) while the
// client is offline; at login it gets those from the session, then the
// last N of a group it follows without a subscription (g2) by replay, while
// publishers keep going.

const (
	syncInbox  = "user/alice/inbox"
	syncGroup1 = "group/g1/msgs" // in the session while offline
	syncGroup2 = "group/g2/msgs" // followed, not subscribed while offline
	syncLastN  = 3
	syncLive   = 40 // messages per group published during the replay
)

// publishOffline publishes n messages each to the inbox and both groups,
// interleaved, and returns what a session holding the inbox and g1 is owed,
// in publish order.
func publishOffline(t *testing.T, pub paho.Client, n int) []string {
	var owed []string
	for i := 0; i < n; i++ {
		wait(t, pub.Publish(syncInbox, 1, false, fmt.Sprintf("i%d", i)))
		wait(t, pub.Publish(syncGroup1, 1, false, fmt.Sprintf("a%d", i)))
		wait(t, pub.Publish(syncGroup2, 1, false, fmt.Sprintf("b%d", i)))
		owed = append(owed, fmt.Sprintf("i%d", i), fmt.Sprintf("a%d", i))
	}
	return owed
}

// publishDuring publishes a<from..to-1> to g1 and b<from..to-1> to g2 from
// its own goroutine; started is closed after the first few, done at the end.
// Errors go to errs (a test goroutine reports them).
func publishDuring(pub paho.Client, from, to int) (started, done chan struct{}, errs chan error) {
	started, done, errs = make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		defer close(done)
		for i := from; i < to; i++ {
			if i == from+3 {
				close(started)
			}
			for _, m := range [][2]string{{syncGroup1, "a"}, {syncGroup2, "b"}} {
				tok := pub.Publish(m[0], 1, false, m[1]+strconv.Itoa(i))
				if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
					errs <- fmt.Errorf("publish %s%d: %v", m[1], i, tok.Error())
					return
				}
			}
		}
	}()
	return started, done, errs
}

// syncApp is the client side of the pattern: the application sees a message
// only if its offset is past the last one it saw on that topic.
type syncApp struct {
	last    map[string]uint64
	got     map[string][]string
	skipped map[string]int
}

func newSyncApp() *syncApp {
	return &syncApp{last: map[string]uint64{}, got: map[string][]string{}, skipped: map[string]int{}}
}

// deliver applies the rule "skip offsets ≤ the last offset seen per topic".
func (a *syncApp) deliver(t *testing.T, topic string, p *packet.Publish) {
	t.Helper()
	off := offsetOf(t, p.Properties.UserProperties)
	if last, ok := a.last[topic]; ok && off <= last {
		a.skipped[topic]++
		return
	}
	a.last[topic] = off
	a.got[topic] = append(a.got[topic], string(p.Payload))
}

// lastIs reports whether the last payload delivered on topic is want.
func lastIs(got []string, want string) bool {
	return len(got) > 0 && got[len(got)-1] == want
}

// numbersFrom checks that got is prefix<k>, prefix<k+1>, ... up to
// prefix<end-1> with no gap and no duplicate, and returns k.
func numbersFrom(t *testing.T, what string, got []string, prefix string, end int) int {
	t.Helper()
	if len(got) == 0 {
		t.Fatalf("%s: nothing delivered", what)
	}
	k, err := strconv.Atoi(strings.TrimPrefix(got[0], prefix))
	if err != nil {
		t.Fatalf("%s: first payload %q", what, got[0])
	}
	want := seq(prefix, end)[k:]
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %v, want %s%d..%s%d once each, in order", what, got, prefix, k, prefix, end-1)
	}
	return k
}

// TestOfflineSyncV5: an MQTT 5 client with a session expiry logs in again:
// its session resumes with the offline inbox and g1 messages exactly once,
// in order; a replay-from last-N on both groups, with publishers busy,
// continues live with no gap; the replayed g1 past it already had is
// dropped by the offset rule, so the application sees every message once;
// the next login gets both groups from the session.
func TestOfflineSyncV5(t *testing.T) {
	t.Run("fake", func(t *testing.T) { offlineSyncV5(t, startBroker(t, nil)) })
	t.Run("raft", func(t *testing.T) { offlineSyncV5(t, startRealBroker(t, nil)) })
}

func offlineSyncV5(t *testing.T, tb *testBroker) {
	pub := pahoClient(t, tb.url(), "pub", true, nil)
	alice, ack := rawConnect(t, tb.addr, connectV5("alice", true, 3600))
	if ack.SessionPresent {
		t.Fatal("session present on a clean start")
	}
	subscribeOK(alice, askOffset, packet.Subscription{Filter: syncInbox, QoS: 1}, packet.Subscription{Filter: syncGroup1, QoS: 1})
	alice.disconnect(nil)
	tb.waitOffline(t, "alice")
	const offline = 6
	owed := publishOffline(t, pub, offline)

	// Login: the client subscribes at once, without waiting for its
	// backlog, while the publishers go on.
	alice, ack = rawConnect(t, tb.addr, connectV5("alice", false, 3600))
	if !ack.SessionPresent {
		t.Fatal("session not present at login")
	}
	end := offline + syncLive
	started, done, errs := publishDuring(pub, offline, end)
	<-started
	s := &packet.Subscribe{PacketID: 100, Subscriptions: []packet.Subscription{{Filter: syncGroup1, QoS: 1}, {Filter: syncGroup2, QoS: 1}}}
	s.Properties.UserProperties = []packet.UserProperty{{Key: "replay-from", Value: "last-" + strconv.Itoa(syncLastN)}}
	alice.mustSend(s)
	if ack := await[*packet.Suback](t, alice, 10*time.Second); !slices.Equal(ack.ReasonCodes, []packet.ReasonCode{packet.CodeGrantedQoS1, packet.CodeGrantedQoS1}) {
		t.Fatalf("SUBACK %v", ack.ReasonCodes)
	}
	app := newSyncApp()
	expectOwed(t, alice, owed, func(topic string, p *packet.Publish) { app.deliver(t, topic, p) })
	receiveUntil(t, alice, end, errs, func(topic string, p *packet.Publish) map[string][]string {
		app.deliver(t, topic, p)
		return app.got
	})
	<-done
	alice.noPublish(200 * time.Millisecond)
	checkV5App(t, app, offline, end)
	secondLoginV5(t, tb, pub, alice, app, end)
}

// secondLoginV5: both groups are in the session now, still with offsets
// (the replay's default is stored with the subscription), so the next login
// gets what they got meanwhile from the session and the rule skips nothing.
func secondLoginV5(t *testing.T, tb *testBroker, pub paho.Client, alice *rawClient, app *syncApp, end int) {
	t.Helper()
	alice.disconnect(nil)
	tb.waitOffline(t, "alice")
	owed := []string{"a" + strconv.Itoa(end), "b" + strconv.Itoa(end)}
	wait(t, pub.Publish(syncGroup1, 1, false, owed[0]))
	wait(t, pub.Publish(syncGroup2, 1, false, owed[1]))
	alice, ack := rawConnect(t, tb.addr, connectV5("alice", false, 3600))
	if !ack.SessionPresent {
		t.Fatal("session not present at the second login")
	}
	expectOwed(t, alice, owed, func(topic string, p *packet.Publish) { app.deliver(t, topic, p) })
	alice.noPublish(200 * time.Millisecond)
	if !lastIs(app.got[syncGroup1], owed[0]) || !lastIs(app.got[syncGroup2], owed[1]) || app.skipped[syncGroup2] != 0 {
		t.Fatalf("second login: g1 ends %v, g2 ends %v, %v skipped", app.got[syncGroup1][end-1:], app.got[syncGroup2][len(app.got[syncGroup2])-1:], app.skipped)
	}
}

// expectOwed checks that the first messages after the login are the
// session's backlog, in publish order, and hands them to deliver.
func expectOwed(t *testing.T, rc *rawClient, owed []string, deliver func(string, *packet.Publish)) {
	t.Helper()
	var order []string
	for range owed {
		p, topic := rc.recvPublish(10 * time.Second)
		deliver(topic, p)
		order = append(order, string(p.Payload))
	}
	if !slices.Equal(order, owed) {
		t.Fatalf("after the login: %v, want the session's backlog %v first", order, owed)
	}
}

// checkV5App checks what the application of offlineSyncV5 saw: everything
// once, in order; on g1 exactly the replayed past was skipped.
func checkV5App(t *testing.T, app *syncApp, offline, end int) {
	t.Helper()
	if !slices.Equal(app.got[syncInbox], seq("i", offline)) || app.skipped[syncInbox] != 0 {
		t.Fatalf("inbox %v, %d skipped", app.got[syncInbox], app.skipped[syncInbox])
	}
	numbersFrom(t, "g1 (session, then replay and live)", app.got[syncGroup1], "a", end)
	if len(app.got[syncGroup1]) != end || app.skipped[syncGroup1] != syncLastN {
		t.Fatalf("g1: %d delivered, %d skipped; want all %d, and the %d replayed ones it had skipped", len(app.got[syncGroup1]), app.skipped[syncGroup1], end, syncLastN)
	}
	k := numbersFrom(t, "g2 (replay, then live)", app.got[syncGroup2], "b", end)
	if k < offline-syncLastN || app.skipped[syncGroup2] != 0 {
		t.Fatalf("g2 starts at b%d with %d skipped; want the last %d before the SUBSCRIBE (b%d or later), none skipped", k, app.skipped[syncGroup2], syncLastN, offline-syncLastN)
	}
	t.Logf("replay of g2: b%d..b%d (the last %d before the SUBSCRIBE), the rest live; %d replayed g1 messages skipped", k, k+syncLastN-1, syncLastN, app.skipped[syncGroup1])
}

// receiveUntil receives until both groups' last message (a<end-1>,
// b<end-1>) reached the application; deliver hands one message to it and
// returns what it has seen per topic.
func receiveUntil(t *testing.T, rc *rawClient, end int, errs chan error, deliver func(string, *packet.Publish) map[string][]string) {
	t.Helper()
	got := map[string][]string{}
	for !lastIs(got[syncGroup1], "a"+strconv.Itoa(end-1)) || !lastIs(got[syncGroup2], "b"+strconv.Itoa(end-1)) {
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
		p, topic := rc.recvPublish(10 * time.Second)
		got = deliver(topic, p)
	}
}

// TestOfflineSync311: the same login with MQTT 3.1.1 (clean session 0).
// 3.1.1 deliveries carry no offsets, so the client replays only the group
// its session does not hold ($replay/last-N/...): the inbox and g1 come
// from the session exactly once, g2 from the replay then live, with no gap
// and no duplicate on the wire; at the next login g2 is in the session.
func TestOfflineSync311(t *testing.T) {
	tb := startRealBroker(t, nil)
	pub := pahoClient(t, tb.url(), "pub", true, nil)
	login := func() (*rawClient, bool) {
		rc, ack := dial311(t, tb.addr, &packet.Connect{ClientID: "bob", KeepAliveSeconds: 30})
		return rc, ack.SessionPresent
	}
	bob, present := login()
	if present {
		t.Fatal("session present at the first login")
	}
	bob.subscribe(0, packet.Subscription{Filter: syncInbox, QoS: 1}, packet.Subscription{Filter: syncGroup1, QoS: 1})
	bob.disconnect(nil)
	tb.waitOffline(t, "bob")
	const offline = 6
	owed := publishOffline(t, pub, offline)

	bob, present = login()
	if !present {
		t.Fatal("session not present at login")
	}
	end := offline + syncLive
	started, done, errs := publishDuring(pub, offline, end)
	<-started
	bob.subscribe(0, packet.Subscription{Filter: "$replay/last-" + strconv.Itoa(syncLastN) + "/" + syncGroup2, QoS: 1})
	got := map[string][]string{}
	deliver := func(topic string, p *packet.Publish) map[string][]string {
		got[topic] = append(got[topic], string(p.Payload))
		return got
	}
	expectOwed(t, bob, owed, func(topic string, p *packet.Publish) { deliver(topic, p) })
	receiveUntil(t, bob, end, errs, deliver)
	<-done
	bob.noPublish(200 * time.Millisecond)
	if !slices.Equal(got[syncInbox], seq("i", offline)) || !slices.Equal(got[syncGroup1], seq("a", end)) {
		t.Fatalf("inbox %v, g1 %v", got[syncInbox], got[syncGroup1])
	}
	if k := numbersFrom(t, "g2 (replay, then live)", got[syncGroup2], "b", end); k < offline-syncLastN {
		t.Fatalf("g2 starts at b%d, want the last %d before the SUBSCRIBE (b%d or later)", k, syncLastN, offline-syncLastN)
	}
	// The replay's subscription stays in the session, as its inner filter:
	// at the next login g2 comes from the session, only what was missed.
	bob.disconnect(nil)
	tb.waitOffline(t, "bob")
	wait(t, pub.Publish(syncGroup2, 1, false, "b"+strconv.Itoa(end)))
	bob, present = login()
	if !present {
		t.Fatal("session not present at the second login")
	}
	if p, topic := bob.recvPublish(10 * time.Second); topic != syncGroup2 || string(p.Payload) != "b"+strconv.Itoa(end) {
		t.Fatalf("second login: %s %q, want only what g2 got meanwhile", topic, p.Payload)
	}
	bob.noPublish(200 * time.Millisecond)
}
