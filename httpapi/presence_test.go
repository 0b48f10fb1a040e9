package httpapi

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
)

func connectEntry(id, node string) fsm.Entry {
	return fsm.Entry{Kind: fsm.KindSessionConnect, ClientID: id,
		Connect: fsm.Connect{ExpirySeconds: 3600, ProtocolVersion: 5, Node: node}}
}

func subscribeEntry(id string, qos byte, filters ...string) fsm.Entry {
	e := fsm.Entry{Kind: fsm.KindSubscribe, ClientID: id}
	for _, f := range filters {
		e.Subscriptions = append(e.Subscriptions, fsm.Subscription{Filter: f, Options: fsm.SubOptions{QoS: qos}})
	}
	return e
}

// presenceKeys renders p's subscribers as "client filter online node".
func presenceKeys(p Presence) []string {
	var out []string
	for _, m := range p.Subscribers {
		out = append(out, fmt.Sprintf("%s %s %v %s", m.ClientID, m.Subscription.Filter, m.Online, m.Node))
	}
	return out
}

// TestPresence: on a real one-node cluster, /v1/presence lists exactly
// the subscriptions overlapping the filter, online or not, and the online
// clients among them once each.
func TestPresence(t *testing.T) {
	n, _, h := adminServer(t)
	proposeEntries(t, n,
		connectEntry("a", "api/1"), subscribeEntry("a", 1, "chat/room1", "chat/+"),
		connectEntry("b", "n2/7"), subscribeEntry("b", 0, "chat/+"),
	)
	since := proposeEntries(t, n, connectEntry("c", "api/2"), subscribeEntry("c", 2, "chat/room1"))[0]
	proposeEntries(t, n,
		fsm.Entry{Kind: fsm.KindSessionDisconnect, ClientID: "c", Disconnect: fsm.Disconnect{Since: log.Offset(since)}},
		connectEntry("d", "api/3"), subscribeEntry("d", 1, "news/#", "chat/room2"),
		connectEntry("e", "api/4"), subscribeEntry("e", 1, "$share/g/chat/#", "#"),
		connectEntry("f", "api/5"),
	)
	for _, c := range []struct {
		filter string
		want   []string
		online []string
	}{
		{"chat/room1", []string{"a chat/+ true api", "a chat/room1 true api", "b chat/+ true n2",
			"c chat/room1 false ", "e # true api", "e $share/g/chat/# true api"}, []string{"a", "b", "e"}},
		{"chat/%2B", []string{"a chat/+ true api", "a chat/room1 true api", "b chat/+ true n2",
			"c chat/room1 false ", "d chat/room2 true api", "e # true api", "e $share/g/chat/# true api"},
			[]string{"a", "b", "d", "e"}},
		{"news/today", []string{"d news/# true api", "e # true api"}, []string{"d", "e"}},
		{"%24SYS/x", nil, []string{}},
	} {
		var p Presence
		if code := getList(t, h, "/v1/presence?filter="+c.filter, &p); code != 200 {
			t.Fatalf("presence %s: %d", c.filter, code)
		}
		if got := presenceKeys(p); !slices.Equal(got, c.want) || p.Count != len(c.want) || !slices.Equal(p.Connected, c.online) {
			t.Errorf("presence %s: %q count %d connected %q, want %q connected %q", c.filter, got, p.Count, p.Connected, c.want, c.online)
		}
	}
	var p Presence
	getList(t, h, "/v1/presence?filter=chat/room1", &p)
	if s := p.Subscribers[4].Subscription; s.QoS != 1 || s.Filter != "#" {
		t.Errorf("e's options: %+v", s)
	}
}

func TestPresenceBadInput(t *testing.T) {
	_, _, h := adminServer(t)
	for _, u := range []string{"/v1/presence", "/v1/presence?filter=a/%23/b", "/v1/presence?filter=$share/g/a"} {
		code, out := do(t, h, "GET", u, "")
		if code != 400 || !strings.Contains(fmt.Sprint(out["error"]), "filter") {
			t.Errorf("GET %s: %d %v, want 400 naming the filter", u, code, out)
		}
	}
}

// TestPresenceRights: carol, with the replay right on c/ only, sees
// presence under c/ and gets 403 elsewhere.
func TestPresenceRights(t *testing.T) {
	_, srv, _ := authServer(t, Options{RequireAuth: true})
	for _, c := range []struct {
		path string
		code int
	}{
		{"/v1/presence?filter=c/%23", 200}, {"/v1/presence?filter=c/x", 200},
		{"/v1/presence?filter=d/x", 403}, {"/v1/presence?filter=%23", 403},
	} {
		if code, _, body := send(t, srv.URL, call{method: "GET", token: "carol-token", path: c.path}); code != c.code {
			t.Errorf("carol GET %s: %d %s, want %d", c.path, code, body, c.code)
		}
	}
	if code, _, body := send(t, srv.URL, call{method: "GET", user: "alice", password: alicePassword, path: "/v1/presence?filter=%23"}); code != 200 {
		t.Errorf("alice GET presence #: %d %s", code, body)
	}
}
