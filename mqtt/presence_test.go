package mqtt_test

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratamq/strata/mqtt"
	"github.com/stratamq/strata/mqtt/packet"
	"github.com/stratamq/strata/presence"
)

// presenceMsg reads the next PUBLISH, which must be a presence message on
// topic, and decodes it.
func presenceMsg(t *testing.T, rc *rawClient, topic string) presence.Event {
	t.Helper()
	p, got := rc.recvPublish(10 * time.Second)
	if got != topic || p.QoS != 0 || p.Retain {
		t.Fatalf("PUBLISH %q QoS %d retain %v, want %q QoS 0", got, p.QoS, p.Retain, topic)
	}
	if rc.version == packet.Version5 && (p.Properties.ContentType != "application/json" || p.Properties.PayloadFormat != 1) {
		t.Fatalf("content type %q, payload format %d", p.Properties.ContentType, p.Properties.PayloadFormat)
	}
	var ev presence.Event
	if err := json.Unmarshal(p.Payload, &ev); err != nil {
		t.Fatalf("presence payload %q: %v", p.Payload, err)
	}
	if ev.Event == presence.EventSnapshot && (ev.Subscribers == nil || ev.Connected == nil || ev.Count == nil) {
		t.Fatalf("snapshot without its lists (empty ones are []): %s", p.Payload)
	}
	return ev
}

// subscribeCodes sends one SUBSCRIBE and returns its SUBACK's codes.
func subscribeCodes(t *testing.T, rc *rawClient, subs ...packet.Subscription) []packet.ReasonCode {
	t.Helper()
	s := &packet.Subscribe{PacketID: rc.packetID(), Subscriptions: subs}
	rc.mustSend(s)
	ack := await[*packet.Suback](t, rc, 10*time.Second)
	if ack.PacketID != s.PacketID {
		t.Fatalf("SUBACK for %d, want %d", ack.PacketID, s.PacketID)
	}
	return ack.ReasonCodes
}

func unsubscribeCodes(t *testing.T, rc *rawClient, filters ...string) []packet.ReasonCode {
	t.Helper()
	u := &packet.Unsubscribe{PacketID: rc.packetID(), Filters: filters}
	rc.mustSend(u)
	ack := await[*packet.Unsuback](t, rc, 10*time.Second)
	if ack.PacketID != u.PacketID {
		t.Fatalf("UNSUBACK for %d, want %d", ack.PacketID, u.PacketID)
	}
	return ack.ReasonCodes
}

// TestPresenceSubscription: $presence/<filter> sends the snapshot (the
// subscriptions overlapping the filter, the clients online among them),
// then join, leave, online and offline events with increasing offsets,
// until UNSUBSCRIBE. It is granted QoS 0 whatever was asked.
func TestPresenceSubscription(t *testing.T) {
	tb := startBroker(t, nil)
	a, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "a", Properties: packet.Properties{SessionExpirySeconds: 3600}})
	a.subscribe(0, packet.Subscription{Filter: "chat/room1", QoS: 1}, packet.Subscription{Filter: "other/x"})

	w, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "w", CleanStart: true})
	w.mustSend(&packet.Subscribe{PacketID: w.packetID(), Subscriptions: []packet.Subscription{{Filter: "$presence/chat/+", QoS: 2}},
		Properties: packet.Properties{SubscriptionIDs: []uint32{7}}})
	if ack := await[*packet.Suback](t, w, 10*time.Second); ack.ReasonCodes[0] != packet.CodeSuccess {
		t.Fatalf("SUBACK %v, want granted QoS 0", ack.ReasonCodes)
	}
	const topic = "$presence/chat/%2B"
	// Its messages carry the SUBSCRIBE's subscription identifier [MQTT-3.3.4-3].
	if p, _ := w.recvPublish(10 * time.Second); !slices.Equal(p.Properties.SubscriptionIDs, []uint32{7}) {
		t.Fatalf("presence snapshot with subscription identifiers %v, want [7]", p.Properties.SubscriptionIDs)
	} else {
		w.pending = append([]packet.Packet{p}, w.pending...) // read again below
	}
	snap := presenceMsg(t, w, topic)
	if snap.Event != presence.EventSnapshot || snap.Filter != "chat/+" || snap.Count == nil || *snap.Count != 1 ||
		len(snap.Subscribers) != 1 || !slices.Equal(snap.Connected, []string{"a"}) {
		t.Fatalf("snapshot %+v", snap)
	}
	if m := snap.Subscribers[0]; m.ClientID != "a" || m.Node != "n1" || !m.Online || m.Subscription.Filter != "chat/room1" || m.Subscription.QoS != 1 {
		t.Fatalf("snapshot member %+v", m)
	}
	last := snap.Offset
	next := func(kind, client string) presence.Event {
		t.Helper()
		ev := presenceMsg(t, w, topic)
		if ev.Event != kind || ev.ClientID != client || ev.Filter != "chat/+" || ev.Offset < last || ev.Offset <= snap.Offset || ev.Time == "" {
			t.Fatalf("got %+v, want %s of %s after offset %d", ev, kind, client, last)
		}
		last = ev.Offset
		return ev
	}

	b, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "b", CleanStart: true})
	b.subscribe(0, packet.Subscription{Filter: "chat/#", QoS: 1}, packet.Subscription{Filter: "news/#"})
	if ev := next(presence.EventJoin, "b"); ev.Node != "n1" || ev.Subscription == nil || ev.Subscription.Filter != "chat/#" || ev.Subscription.QoS != 1 {
		t.Fatalf("join %+v", ev)
	}
	unsubscribeCodes(t, b, "chat/#")
	if ev := next(presence.EventLeave, "b"); ev.Unsubscribed != "chat/#" {
		t.Fatalf("leave %+v", ev)
	}
	b.disconnect(nil) // holds nothing overlapping now: no event

	a.disconnect(nil) // the session stays (expiry 3600)
	if ev := next(presence.EventOffline, "a"); ev.Node != "n1" {
		t.Fatalf("offline %+v", ev)
	}
	rawConnect(t, tb.addr, &packet.Connect{ClientID: "a", Properties: packet.Properties{SessionExpirySeconds: 3600}})
	next(presence.EventOnline, "a")
	// A clean start drops the session's subscriptions: they leave (the
	// old connection is taken over).
	a, _ = rawConnect(t, tb.addr, &packet.Connect{ClientID: "a", CleanStart: true})
	if ev := next(presence.EventLeave, "a"); ev.Unsubscribed != "chat/room1" {
		t.Fatalf("leave %+v", ev)
	}
	// A session ending with its connection: offline, then its leaves.
	a.subscribe(0, packet.Subscription{Filter: "chat/room2"})
	next(presence.EventJoin, "a")
	a.disconnect(nil)
	next(presence.EventOffline, "a")
	if ev := next(presence.EventLeave, "a"); ev.Unsubscribed != "chat/room2" {
		t.Fatalf("leave %+v", ev)
	}

	if codes := unsubscribeCodes(t, w, "$presence/chat/+"); codes[0] != packet.CodeSuccess {
		t.Fatalf("UNSUBACK %v", codes)
	}
	c, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "c", CleanStart: true})
	c.subscribe(0, packet.Subscription{Filter: "chat/room3"})
	w.noPublish(300 * time.Millisecond)
	if codes := unsubscribeCodes(t, w, "$presence/chat/+"); codes[0] != packet.CodeNoSubscriptionExisted {
		t.Fatalf("second UNSUBACK %v, want 0x11", codes)
	}
}

// TestPresenceFilters: what a SUBSCRIBE to $presence/ refuses: no filter,
// an invalid one, a shared or replayed presence subscription; more than 32
// on one connection is 0x97. A client cannot publish (nor put a will) on
// $presence/ topics.
func TestPresenceFilters(t *testing.T) {
	tb := startBroker(t, nil)
	rc, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "p", CleanStart: true})
	bad := []string{"$presence", "$presence/", "$presence/a/#/b", "$presence/$share/g/x", "$share/g/$presence/x", "$replay/0/$presence/x"}
	var subs []packet.Subscription
	for _, f := range bad {
		subs = append(subs, packet.Subscription{Filter: f})
	}
	for i, code := range subscribeCodes(t, rc, subs...) {
		if code != packet.CodeTopicFilterInvalid {
			t.Errorf("%q: %v, want 0x8F", bad[i], code)
		}
	}
	subs = subs[:0]
	for i := range 33 {
		subs = append(subs, packet.Subscription{Filter: fmt.Sprintf("$presence/f/%d", i)})
	}
	codes := subscribeCodes(t, rc, subs...)
	for i, code := range codes {
		want := packet.CodeSuccess
		if i == 32 {
			want = packet.CodeQuotaExceeded
		}
		if code != want {
			t.Errorf("filter %d: %v, want %v", i, code, want)
		}
	}
	seen := map[string]bool{}
	for range 32 {
		p, topic := rc.recvPublish(10 * time.Second)
		var ev presence.Event
		if err := json.Unmarshal(p.Payload, &ev); err != nil || ev.Event != presence.EventSnapshot || topic != presence.TopicPrefix+ev.Filter {
			t.Fatalf("%q %q: %v", topic, p.Payload, err)
		}
		seen[ev.Filter] = true
	}
	if len(seen) != 32 {
		t.Fatalf("%d snapshots, want 32", len(seen))
	}
	if got := rc.publish(&packet.Publish{Topic: "$presence/f/0", QoS: 1, Payload: []byte("x")}); got != packet.CodeNotAuthorized {
		t.Fatalf("PUBLISH to $presence/: %v, want 0x87", got)
	}
	wc := dialRaw(t, tb.addr, packet.Version5)
	ack := wc.connect(&packet.Connect{ClientID: "will", CleanStart: true, Will: &packet.Will{Topic: "$presence/x", Payload: []byte("x")}})
	if ack.ReasonCode != packet.CodeNotAuthorized {
		t.Fatalf("CONNACK with a $presence/ will: %v, want 0x87", ack.ReasonCode)
	}
}

// TestPresenceACL: a presence subscription needs the subscribe or the
// replay right on its filter (as GET /v1/presence): refused with 0x87 in
// 5.0 and 0x80 in 3.1.1 [MQTT-3.9.3-2] otherwise.
func TestPresenceACL(t *testing.T) {
	tb, _, _ := startACLBroker(t, testACL)
	rc, _ := rawConnect(t, tb.addr, login("alice", "al", true))
	codes := subscribeCodes(t, rc, packet.Subscription{Filter: "$presence/a/b/+"}, packet.Subscription{Filter: "$presence/#"},
		packet.Subscription{Filter: "$presence/a/secret/x"}, packet.Subscription{Filter: "$presence/r/x"})
	// a/+ would be refused: it overlaps a/secret/#, which alice may not read.
	want := []packet.ReasonCode{packet.CodeSuccess, packet.CodeNotAuthorized, packet.CodeNotAuthorized, packet.CodeSuccess}
	if !slices.Equal(codes, want) {
		t.Fatalf("SUBACK %v, want %v", codes, want)
	}
	presenceMsg(t, rc, "$presence/a/b/%2B")
	presenceMsg(t, rc, "$presence/r/x")

	v3 := dialRaw(t, tb.addr, packet.Version311)
	cp := login("alice", "al3", true)
	if ack := v3.connect(cp); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
	if codes := subscribeCodes(t, v3, packet.Subscription{Filter: "$presence/#"}, packet.Subscription{Filter: "$presence/a/b/#"}); !slices.Equal(codes, []packet.ReasonCode{0x80, 0}) {
		t.Fatalf("3.1.1 SUBACK %v, want [0x80 0]", codes)
	}
	if ev := presenceMsg(t, v3, "$presence/a/b/%23"); ev.Event != presence.EventSnapshot || ev.Filter != "a/b/#" {
		t.Fatalf("3.1.1 snapshot %+v", ev)
	}
}

// presenceFold is a consumer's presence state: the members by (client,
// subscription filter), folded from a snapshot and the events after it.
type presenceFold struct {
	members map[[2]string]presence.Member
	last    uint64 // the offset of the last message
	snapOff uint64 // the last snapshot's
	snaps   int
}

func (f *presenceFold) apply(ev presence.Event) error {
	if ev.Offset < f.last || ev.Event != presence.EventSnapshot && (f.snaps == 0 || ev.Offset <= f.snapOff) {
		return fmt.Errorf("offset %d after %d (snapshot at %d): %+v", ev.Offset, f.last, f.snapOff, ev)
	}
	switch ev.Event {
	case presence.EventSnapshot:
		f.snaps++
		f.snapOff = ev.Offset
		f.members = membersOf(ev.Subscribers)
	case presence.EventJoin:
		f.members[[2]string{ev.ClientID, ev.Subscription.Filter}] = presence.Member{ClientID: ev.ClientID,
			Node: ev.Node, Online: ev.Node != "", Subscription: *ev.Subscription}
	case presence.EventLeave:
		k := [2]string{ev.ClientID, ev.Unsubscribed}
		if _, ok := f.members[k]; !ok {
			return fmt.Errorf("leave of %v, not a member (offset %d)", k, ev.Offset)
		}
		delete(f.members, k)
	case presence.EventOnline, presence.EventOffline:
		n := 0
		for k, m := range f.members {
			if k[0] == ev.ClientID {
				m.Online, m.Node = ev.Event == presence.EventOnline, ev.Node
				if !m.Online {
					m.Node = ""
				}
				f.members[k] = m
				n++
			}
		}
		if n == 0 {
			return fmt.Errorf("%s of %s, who holds nothing here (offset %d)", ev.Event, ev.ClientID, ev.Offset)
		}
	default:
		return fmt.Errorf("event %+v", ev)
	}
	f.last = ev.Offset
	return nil
}

func membersOf(ms []presence.Member) map[[2]string]presence.Member {
	out := map[[2]string]presence.Member{}
	for _, m := range ms {
		out[[2]string{m.ClientID, m.Subscription.Filter}] = m
	}
	return out
}

// foldingWatcher reads a presence subscription on its own goroutine into
// a fold (its rawClient is that goroutine's only).
type foldingWatcher struct {
	mu   sync.Mutex
	fold presenceFold
	err  error
}

func watchFolding(t *testing.T, addr, id, filter string) *foldingWatcher {
	t.Helper()
	w, _ := rawConnect(t, addr, &packet.Connect{ClientID: id, CleanStart: true})
	if codes := subscribeCodes(t, w, packet.Subscription{Filter: presence.TopicPrefix + filter}); codes[0] != 0 {
		t.Fatalf("SUBACK %v", codes)
	}
	fw := &foldingWatcher{}
	go func() {
		for {
			p, err := w.next(time.Minute)
			if err == nil {
				pub, ok := p.(*packet.Publish)
				var ev presence.Event
				switch {
				case !ok:
					err = fmt.Errorf("got %T", p)
				case pub.Topic != presence.TopicName(filter):
					err = fmt.Errorf("topic %q", pub.Topic)
				default:
					if err = json.Unmarshal(pub.Payload, &ev); err == nil {
						fw.mu.Lock()
						err = fw.fold.apply(ev)
						fw.mu.Unlock()
					}
				}
			}
			if err != nil {
				fw.mu.Lock()
				fw.err = cmp.Or(fw.err, err)
				fw.mu.Unlock()
				return
			}
		}
	}()
	return fw
}

// TestPresenceNoGap: watchers subscribing at different moments while
// clients come, go, subscribe and unsubscribe fold their snapshot and the
// events after it into exactly the state the views hold once the churn
// stops: no event lost, none applied twice across the snapshot's seam.
func TestPresenceNoGap(t *testing.T) {
	tb := startBroker(t, nil)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var ops atomic.Int64
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("g%d-%d", g, i%5)
				rc, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: id, CleanStart: i%3 == 0,
					Properties: packet.Properties{SessionExpirySeconds: uint32(i % 2 * 600)}})
				rc.subscribe(0, packet.Subscription{Filter: fmt.Sprintf("room/%d", i%4)}, packet.Subscription{Filter: "room/+/x"},
					packet.Subscription{Filter: "elsewhere/" + id})
				if i%2 == 0 {
					unsubscribeCodes(t, rc, fmt.Sprintf("room/%d", i%4))
				}
				rc.disconnect(nil)
				ops.Add(1)
			}
		}()
	}
	filters := []string{"room/#", "room/+", "+/1", "room/2/x"}
	var ws []*foldingWatcher
	for i, f := range filters {
		at := ops.Load() + 20
		waitFor(t, 20*time.Second, "churn under way", func() bool { return ops.Load() >= at })
		ws = append(ws, watchFolding(t, tb.addr, fmt.Sprintf("watcher%d", i), f))
	}
	waitFor(t, 20*time.Second, "churn after the last watcher", func() bool { return ops.Load() >= int64(20*(len(filters)+1)) })
	close(stop)
	wg.Wait()
	// A disconnect is proposed as its connection ends: wait for the views
	// to settle (no churn client online), then for each fold to match them.
	waitFor(t, 10*time.Second, "churn clients offline", func() bool {
		for _, m := range presence.Of(tb.views.View(), "#").Subscribers {
			if m.Online && m.ClientID[0] == 'g' {
				return false
			}
		}
		return true
	})
	v := tb.views.View()
	for i, w := range ws {
		want := membersOf(presence.Of(v, filters[i]).Subscribers)
		waitFor(t, 10*time.Second, "fold of "+filters[i]+" matches the views", func() bool {
			w.mu.Lock()
			defer w.mu.Unlock()
			if w.err != nil {
				t.Fatalf("%s: %v", filters[i], w.err)
			}
			return maps.Equal(w.fold.members, want)
		})
		w.mu.Lock()
		t.Logf("%s: %d members, %d snapshot(s), last offset %d, log %d", filters[i], len(want), w.fold.snaps, w.fold.last, v.NextOffset())
		if w.fold.snaps != 1 {
			t.Errorf("%s: %d snapshots: the queue bound was not reached, no resync expected", filters[i], w.fold.snaps)
		}
		w.mu.Unlock()
	}
}

// TestPresenceResync: one entry making more events than the queue bound
// (4 here: Options.QueueLength) replaces them with a fresh snapshot.
func TestPresenceResync(t *testing.T) {
	tb := startBroker(t, func(o *mqtt.Options) { o.QueueLength = 4 })
	w, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "w", CleanStart: true})
	subscribeCodes(t, w, packet.Subscription{Filter: "$presence/room/#"})
	if ev := presenceMsg(t, w, "$presence/room/%23"); ev.Event != presence.EventSnapshot || len(ev.Subscribers) != 0 {
		t.Fatalf("%+v", ev)
	}
	big, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "big", CleanStart: true})
	var subs []packet.Subscription
	for i := range 8 {
		subs = append(subs, packet.Subscription{Filter: fmt.Sprintf("room/%d", i)})
	}
	big.subscribe(0, subs...)
	ev := presenceMsg(t, w, "$presence/room/%23")
	if ev.Event != presence.EventSnapshot || len(ev.Subscribers) != 8 || tb.broker.Stats().PresenceResyncs.Load() != 1 {
		t.Fatalf("%+v, %d resyncs; want a snapshot of 8", ev, tb.broker.Stats().PresenceResyncs.Load())
	}
	big.subscribe(0, packet.Subscription{Filter: "room/x"})
	if ev := presenceMsg(t, w, "$presence/room/%23"); ev.Event != presence.EventJoin {
		t.Fatalf("%+v", ev)
	}
}

// TestPresencePaho: a standard client's library routes presence messages
// to the handler of its $presence/ subscription (the topic name matches
// the filter: wildcard levels are written %2B and %23).
func TestPresencePaho(t *testing.T) {
	tb := startBroker(t, nil)
	member := pahoClient(t, tb.url(), "member", true, nil)
	wait(t, member.Subscribe("chat/room1", 1, nil))
	w := pahoClient(t, tb.url(), "watcher", true, nil)
	in := newInbox()
	wait(t, w.Subscribe("$presence/chat/#", 0, in.handler))
	msgs := in.waitN(t, 1, 10*time.Second)
	var ev presence.Event
	if err := json.Unmarshal(msgs[0].Payload(), &ev); err != nil || ev.Event != presence.EventSnapshot || msgs[0].Topic() != "$presence/chat/%23" ||
		len(ev.Subscribers) != 1 || ev.Subscribers[0].ClientID != "member" {
		t.Fatalf("%q %s: %v", msgs[0].Topic(), msgs[0].Payload(), err)
	}
	wait(t, member.Subscribe("chat/room2", 1, nil))
	msgs = in.waitN(t, 2, 10*time.Second)
	if err := json.Unmarshal(msgs[1].Payload(), &ev); err != nil || ev.Event != presence.EventJoin || ev.Subscription.Filter != "chat/room2" {
		t.Fatalf("%s: %v", msgs[1].Payload(), err)
	}
}

// TestClusterPresence: presence follows the cluster's log, not one node's
// connections: watchers on two nodes see a client connected to the other
// node join, go offline and come back online on a third, with the same
// events at the same offsets, each naming the node of the connection.
func TestClusterPresence(t *testing.T) {
	tc := startCluster(t, 3, nil)
	var ws []*rawClient
	for i := range 2 {
		w, _ := rawConnect(t, tc.nodes[i].addr, &packet.Connect{ClientID: fmt.Sprintf("w%d", i), CleanStart: true})
		subscribeCodes(t, w, packet.Subscription{Filter: "$presence/room/+"})
		if ev := presenceMsg(t, w, "$presence/room/%2B"); ev.Event != presence.EventSnapshot || len(ev.Subscribers) != 0 {
			t.Fatalf("snapshot on n%d: %+v", i+1, ev)
		}
		ws = append(ws, w)
	}
	c, _ := rawConnect(t, tc.nodes[0].addr, &packet.Connect{ClientID: "roamer", Properties: packet.Properties{SessionExpirySeconds: 600}})
	c.subscribe(0, packet.Subscription{Filter: "room/1", QoS: 1})
	c.disconnect(nil)
	rawConnect(t, tc.nodes[2].addr, &packet.Connect{ClientID: "roamer", Properties: packet.Properties{SessionExpirySeconds: 600}})
	want := []string{"join roamer n1", "offline roamer n1", "online roamer n3"}
	var seen [2][]presence.Event
	for i, w := range ws {
		for _, wantEv := range want {
			ev := presenceMsg(t, w, "$presence/room/%2B")
			if got := ev.Event + " " + ev.ClientID + " " + ev.Node; got != wantEv {
				t.Fatalf("watcher on n%d: %q, want %q", i+1, got, wantEv)
			}
			seen[i] = append(seen[i], ev)
		}
	}
	for k := range want {
		if seen[0][k].Offset != seen[1][k].Offset || seen[0][k].Time != seen[1][k].Time {
			t.Fatalf("event %d differs between nodes: %+v / %+v", k, seen[0][k], seen[1][k])
		}
	}
}

// TestPresenceACLReload: an ACL reloaded without the right stops a presence
// subscription's messages (rights are asked at each message, as for
// deliveries); reloaded with it again, they resume with a fresh snapshot,
// which has what happened meanwhile.
func TestPresenceACLReload(t *testing.T) {
	tb, pol, path := startACLBroker(t, "user alice\ntopic read room/#\nuser bob\ntopic readwrite #\n")
	alice, _ := rawConnect(t, tb.addr, login("alice", "alice", true))
	subscribeCodes(t, alice, packet.Subscription{Filter: "$presence/room/+"})
	presenceMsg(t, alice, "$presence/room/%2B")
	bob, _ := rawConnect(t, tb.addr, login("bob", "bob", true))
	bob.subscribe(0, packet.Subscription{Filter: "room/1"})
	if ev := presenceMsg(t, alice, "$presence/room/%2B"); ev.Event != presence.EventJoin || ev.ClientID != "bob" {
		t.Fatalf("%+v", ev)
	}
	reload := func(acl string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(acl), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := pol.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	reload("user alice\ntopic read other/#\nuser bob\ntopic readwrite #\n")
	bob.subscribe(0, packet.Subscription{Filter: "room/2"})
	alice.noPublish(300 * time.Millisecond)
	reload("user alice\ntopic read room/#\nuser bob\ntopic readwrite #\n")
	bob.subscribe(0, packet.Subscription{Filter: "room/3"})
	if ev := presenceMsg(t, alice, "$presence/room/%2B"); ev.Event != presence.EventSnapshot || len(ev.Subscribers) != 3 {
		t.Fatalf("after the right came back: %+v, want a snapshot of bob's room/1, room/2 and room/3", ev)
	}
	bob.subscribe(0, packet.Subscription{Filter: "room/4"})
	if ev := presenceMsg(t, alice, "$presence/room/%2B"); ev.Event != presence.EventJoin || ev.Subscription.Filter != "room/4" {
		t.Fatalf("then events: %+v", ev)
	}
}
