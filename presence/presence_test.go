package presence

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/topic"
)

// folder applies entries to a real fsm.State and renders the events each
// makes for one filter as "event client detail" strings.
type folder struct {
	t   *testing.T
	s   *fsm.State
	off log.Offset
}

func (f *folder) apply(filter string, e fsm.Entry) []string {
	f.t.Helper()
	f.off++
	e.Time = int64(f.off) * 1e9
	fx := f.s.Apply(f.off, &e)
	if fx.Err != nil {
		f.t.Fatalf("%v: %v", e.Kind, fx.Err)
	}
	if fx.Presence == nil {
		return nil
	}
	var out []string
	for _, ev := range Events(filter, f.off, e.Time, fx.Presence) {
		if ev.Offset != uint64(f.off) || ev.Filter != filter || ev.Time == "" {
			f.t.Fatalf("event %+v at offset %d", ev, f.off)
		}
		detail := ev.Node
		switch {
		case ev.Subscription != nil:
			detail = ev.Subscription.Filter + "@" + ev.Node
		case ev.Unsubscribed != "":
			detail = ev.Unsubscribed
		}
		out = append(out, fmt.Sprintf("%s %s %s", ev.Event, ev.ClientID, detail))
	}
	return out
}

func connect(id, node string, clean bool, expiry uint32) fsm.Entry {
	return fsm.Entry{Kind: fsm.KindSessionConnect, ClientID: id,
		Connect: fsm.Connect{Node: node, CleanStart: clean, ExpirySeconds: expiry, ProtocolVersion: 5}}
}

func subscribe(id string, filters ...string) fsm.Entry {
	e := fsm.Entry{Kind: fsm.KindSubscribe, ClientID: id}
	for _, f := range filters {
		e.Subscriptions = append(e.Subscriptions, fsm.Subscription{Filter: f, Options: fsm.SubOptions{QoS: 1}})
	}
	return e
}

// TestEvents: the fsm's PresenceChange of each kind of entry, rendered for
// a filter: joins and leaves of overlapping subscriptions only (shared
// ones by their inner filter), online and offline only for a client
// holding one, offline before the leaves of a session that ends with its
// connection, a clean start's leaves.
func TestEvents(t *testing.T) {
	f := &folder{t: t, s: fsm.New()}
	const flt = "chat/+"
	check := func(got []string, want ...string) {
		t.Helper()
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	check(f.apply(flt, connect("a", "n1/b-1", false, 600)))                        // holds nothing yet
	check(f.apply(flt, subscribe("a", "chat/room1", "news/#", "$share/g/chat/#")), // news/# does not overlap
		"join a chat/room1@n1", "join a $share/g/chat/#@n1")
	check(f.apply(flt, fsm.Entry{Kind: fsm.KindUnsubscribe, ClientID: "a", Filters: []string{"news/#", "chat/room1", "nope"}}),
		"leave a chat/room1")
	connOff := f.off - 2
	check(f.apply(flt, fsm.Entry{Kind: fsm.KindSessionDisconnect, ClientID: "a", Disconnect: fsm.Disconnect{Since: connOff}}),
		"offline a n1")
	check(f.apply(flt, connect("a", "n2/b-7", false, 600)), "online a n2")
	check(f.apply(flt, connect("a", "n1/b-9", false, 600)), "online a n1") // takeover
	takeOff := f.off
	check(f.apply("other/#", fsm.Entry{Kind: fsm.KindSessionDisconnect, ClientID: "a", Disconnect: fsm.Disconnect{Since: takeOff}}))
	// Offline now; expiry drops the session's subscriptions.
	f.off++
	e := fsm.Entry{Kind: fsm.KindSessionExpire, ClientID: "a", Time: int64(f.off)*1e9 + 601e9}
	fx := f.s.Apply(f.off, &e)
	if fx.Err != nil || fx.Presence == nil || strings.Join(fx.Presence.Removed, ",") != "$share/g/chat/#" {
		t.Fatalf("expire: %+v %v", fx.Presence, fx.Err)
	}
	// A session that ends with its connection: offline, then its leaves.
	check(f.apply(flt, connect("b", "n1/b-2", true, 0)))
	check(f.apply(flt, subscribe("b", "chat/x", "#")), "join b chat/x@n1", "join b #@n1")
	check(f.apply(flt, fsm.Entry{Kind: fsm.KindSessionDisconnect, ClientID: "b", Disconnect: fsm.Disconnect{Since: f.off - 1}}),
		"offline b n1", "leave b #", "leave b chat/x")
	// A clean start drops the old session's subscriptions.
	check(f.apply(flt, connect("c", "n1/b-3", false, 600)))
	check(f.apply(flt, subscribe("c", "chat/y")), "join c chat/y@n1")
	check(f.apply(flt, connect("c", "n1/b-4", true, 600)), "leave c chat/y")
	// $-topics: a filter starting with a wildcard does not reach them [MQTT-4.7.2-1].
	check(f.apply("#", subscribe("c", "$SYS/x")))
	check(f.apply("$SYS/#", subscribe("c", "$SYS/y")), "join c $SYS/y@n1")
}

// TestTopicName: the topic presence messages use matches the subscription
// ($presence/ and the filter) and is a valid topic name.
func TestTopicName(t *testing.T) {
	for _, c := range []struct{ filter, want string }{
		{"chat/room1", "$presence/chat/room1"},
		{"chat/+", "$presence/chat/%2B"},
		{"#", "$presence/%23"},
		{"+/x/#", "$presence/%2B/x/%23"},
		{"a/+b/c", "$presence/a/+b/c"}, // not a valid filter; TopicName is only asked valid ones
	} {
		if got := TopicName(c.filter); got != c.want {
			t.Errorf("TopicName(%q) = %q, want %q", c.filter, got, c.want)
		}
	}
}

// FuzzSplitTopic: SplitTopic never panics; a filter it accepts is valid
// and not shared, and the topic its messages use is a valid topic name,
// without wildcards [MQTT-3.3.2-2], that the subscribed filter matches.
func FuzzSplitTopic(f *testing.F) {
	for _, s := range []string{"$presence/chat/+", "$presence/#", "$presence", "$presence/", "$presence/$share/g/x",
		"chat/#", "$presence//", "$presence/a/#/b", "$presence/+/+/#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		inner, ok, err := SplitTopic(s)
		if !ok || err != nil {
			if !ok && strings.HasPrefix(s, TopicPrefix) {
				t.Fatalf("%q not taken as a presence filter", s)
			}
			return
		}
		if topic.ValidateFilter(inner) != nil || s != TopicPrefix+inner {
			t.Fatalf("%q: inner %q", s, inner)
		}
		name := TopicName(inner)
		if err := topic.ValidateName(name); err != nil {
			t.Fatalf("TopicName(%q) = %q: %v", inner, name, err)
		}
		if !topic.Match(s, name) {
			t.Fatalf("%q does not match its messages' topic %q", s, name)
		}
	})
}

// BenchmarkEvents: what one watch costs Apply for one session change (a
// subscribe of two filters, one overlapping): Apply runs it for every
// watch of the node on every subscribe, unsubscribe, connect and
// disconnect (never for a publish).
func BenchmarkEvents(b *testing.B) {
	ch := &fsm.PresenceChange{ClientID: "c1", Node: "n1/b-1", Added: []fsm.Subscription{
		{Filter: "room/7/+", Options: fsm.SubOptions{QoS: 1}}, {Filter: "news/#"}}}
	b.ReportAllocs()
	for b.Loop() {
		if evs := Events("room/7/alice", 42, 1e18, ch); len(evs) != 1 {
			b.Fatal(evs)
		}
	}
}
