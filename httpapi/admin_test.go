package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/replication"
)

// adminServer is a real one-node cluster whose API reads its machine.
func adminServer(t *testing.T) (*replication.Node, *replication.FSMMachine, http.Handler) {
	t.Helper()
	m := replication.NewFSMMachine()
	n := newNodeWith(t, m)
	o := DefaultOptions()
	o.Views, o.Identity = m, Identity{ID: "api"}
	return n, m, Handler(n, o)
}

func proposeEntries(t *testing.T, n *replication.Node, es ...fsm.Entry) []uint64 {
	t.Helper()
	var offs []uint64
	for _, e := range es {
		rec, err := e.Record()
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		off, err := commit(ctx, n.Propose(ctx, rec))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		offs = append(offs, uint64(off))
	}
	return offs
}

func getList(t *testing.T, h http.Handler, u string, v any) int {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", u, nil))
	if rec.Code == http.StatusOK {
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			t.Fatalf("GET %s: %v in %s", u, err, rec.Body)
		}
	}
	return rec.Code
}

// walkRetained reads every page of /v1/retained for filter and returns the
// items in the order served.
func walkRetained(t *testing.T, h http.Handler, filter string, limit int, payload string) []RetainedInfo {
	t.Helper()
	var all []RetainedInfo
	for next := ""; ; {
		u := fmt.Sprintf("/v1/retained?filter=%s&limit=%d&payload=%s", url.QueryEscape(filter), limit, payload)
		if next != "" {
			u += "&after=" + next
		}
		var l RetainedList
		if code := getList(t, h, u, &l); code != 200 || len(l.Retained) > limit {
			t.Fatalf("GET %s: %d, %d items", u, code, len(l.Retained))
		}
		all = append(all, l.Retained...)
		if next = l.Next; next == "" {
			return all
		}
	}
}

// TestRetainedList: retained messages published over the API are listed
// in topic order, every one exactly once across pages of any size, only
// those matching the filter, with their offset, size and payload as asked.
func TestRetainedList(t *testing.T) {
	_, _, h := adminServer(t)
	topics := []string{"a/1", "a/2", "a/3/x", "a/4", "b/1", "a/5"}
	offs := map[string]float64{}
	for _, tp := range topics {
		code, out := do(t, h, "POST", "/v1/publish?retain=true&qos=1&topic="+tp, "payload "+tp)
		if code != 200 {
			t.Fatalf("publish %s: %d %v", tp, code, out)
		}
		offs[tp] = out["offset"].(float64)
	}
	want := []string{"a/1", "a/2", "a/3/x", "a/4", "a/5"}
	for _, limit := range []int{1, 2, 5, 100} {
		var got []string
		for _, r := range walkRetained(t, h, "a/#", limit, "") {
			got = append(got, r.Topic)
			if r.Offset != uint64(offs[r.Topic]) || r.QoS != 1 || r.PayloadSize != len("payload "+r.Topic) || r.Time == "" || r.Payload != "" {
				t.Errorf("%+v: want offset %v, qos 1, size %d, a time and no payload", r, offs[r.Topic], len("payload "+r.Topic))
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("pages of %d: %v, want %v", limit, got, want)
		}
	}
	if got := walkRetained(t, h, "+/1", 1, "text"); len(got) != 2 || got[0].Payload != "payload a/1" || got[1].Topic != "b/1" {
		t.Fatalf("+/1 with text payloads: %+v", got)
	}
	if got := walkRetained(t, h, "b/1", 10, "hex"); len(got) != 1 || got[0].Payload != "7061796c6f616420622f31" || got[0].PayloadEncoding != "hex" {
		t.Fatalf("b/1 in hex: %+v", got)
	}
}

// TestSessionsAdmin: sessions made by connect entries are listed with
// their subscriptions and cursor; a kick leaves a persistent session
// offline, a delete removes an online one and an offline one.
func TestSessionsAdmin(t *testing.T) {
	n, m, h := adminServer(t)
	var es []fsm.Entry
	for _, id := range []string{"s1", "s2", "s3"} {
		es = append(es, fsm.Entry{Kind: fsm.KindSessionConnect, ClientID: id,
			Connect: fsm.Connect{CleanStart: true, ExpirySeconds: 3600, ProtocolVersion: 5, Node: "api/x-" + id}})
	}
	es = append(es, fsm.Entry{Kind: fsm.KindSubscribe, ClientID: "s2",
		Subscriptions: []fsm.Subscription{{Filter: "t/#", Options: fsm.SubOptions{QoS: 1, NoLocal: true}}}})
	proposeEntries(t, n, es...)
	var l SessionList
	if code := getList(t, h, "/v1/sessions?limit=2", &l); code != 200 || len(l.Sessions) != 2 || l.Next == "" {
		t.Fatalf("first page: %d %+v", code, l)
	}
	if s := l.Sessions[1]; s.ClientID != "s2" || !s.Online || s.Node != "api" || len(s.Subscriptions) != 1 ||
		s.Subscriptions[0] != (SubscriptionInfo{Filter: "t/#", QoS: 1, NoLocal: true}) || *s.ExpirySeconds != 3600 {
		t.Fatalf("s2: %+v", s)
	}
	if code, out := do(t, h, "DELETE", "/v1/clients/s2", ""); code != 200 || out["node"] != "api" {
		t.Fatalf("kick s2: %d %v", code, out)
	}
	se, ok := m.View().Session("s2")
	if !ok || se.Connected || len(m.View().Subscriptions("s2")) != 1 {
		t.Fatalf("after the kick: %+v %v, want s2 offline with its subscription", se, ok)
	}
	if code := getList(t, h, "/v1/sessions?after="+l.Next, &l); code != 200 || len(l.Sessions) != 1 || l.Sessions[0].ClientID != "s3" {
		t.Fatalf("second page: %d %+v", code, l)
	}
	for _, id := range []string{"s2", "s3"} { // offline, online
		if code, out := do(t, h, "DELETE", "/v1/sessions/"+id, ""); code != 200 {
			t.Fatalf("delete %s: %d %v", id, code, out)
		}
		if _, ok := m.View().Session(id); ok {
			t.Fatalf("%s still has a session after its delete", id)
		}
	}
	if code, _ := do(t, h, "DELETE", "/v1/sessions/s3", ""); code != 404 {
		t.Fatalf("deleting a deleted session: %d, want 404", code)
	}
	if _, ok := m.View().Session("s1"); !ok || m.View().SessionCount() != 1 {
		t.Fatalf("s1 should be the one session left")
	}
}

func TestAdminBadInput(t *testing.T) {
	_, _, h := adminServer(t)
	for _, u := range []string{
		"/v1/clients?limit=0", "/v1/clients?limit=1001", "/v1/sessions?limit=x", "/v1/sessions?after=***",
		"/v1/retained?filter=a/%23/b", "/v1/retained?filter=$share/g/a", "/v1/retained?payload=utf16",
	} {
		code, out := do(t, h, "GET", u, "")
		if code != 400 || !strings.Contains(fmt.Sprint(out["error"]), strings.SplitN(strings.SplitN(u, "?", 2)[1], "=", 2)[0]) {
			t.Errorf("GET %s: %d %v, want 400 naming the parameter", u, code, out)
		}
	}
	if code, out := do(t, h, "DELETE", "/v1/clients/ghost", ""); code != 404 {
		t.Errorf("kick ghost: %d %v", code, out)
	}
	noViews := Handler(newNode(t), DefaultOptions())
	if code, _ := do(t, noViews, "GET", "/v1/sessions", ""); code != 503 {
		t.Errorf("sessions without views: %d, want 503", code)
	}
}

// TestAdminReadRights: carol, confined to c/, lists no clients or
// sessions (403) and reads retained messages under c/ only.
func TestAdminReadRights(t *testing.T) {
	_, srv, _ := authServer(t, Options{RequireAuth: true})
	carol := call{method: "GET", token: "carol-token"}
	for _, c := range []struct {
		path string
		code int
	}{
		{"/v1/clients", 403}, {"/v1/sessions", 403}, {"/v1/retained", 403},
		{"/v1/retained?filter=c/%23", 200}, {"/v1/retained?filter=d/%23", 403},
		{"/v1/stats", 200}, {"/ui/", 200},
	} {
		carol.path = c.path
		if code, _, body := send(t, srv.URL, carol); code != c.code {
			t.Errorf("carol GET %s: %d %s, want %d", c.path, code, body, c.code)
		}
	}
}

// TestRetainedListReadError: a retained message whose frame is damaged is
// an error (500, logged), never listed as "missing" (which says retention
// deleted it).
func TestRetainedListReadError(t *testing.T) {
	m := replication.NewFSMMachine()
	n := newNodeWith(t, m)
	logged := &syncBuffer{}
	o := DefaultOptions()
	o.Views, o.Identity, o.Logger = m, Identity{ID: "api"}, zerolog.New(logged)
	h := Handler(n, o)
	code, out := do(t, h, "POST", "/v1/publish?retain=true&qos=1&topic=d/1", "kept")
	if code != 200 {
		t.Fatalf("publish: %d %v", code, out)
	}
	damageFrame(t, n.Log(), log.Offset(out["offset"].(float64)))
	code, out = do(t, h, "GET", "/v1/retained?filter=d/%23", "")
	if code != http.StatusInternalServerError || out["error"] == nil {
		t.Fatalf("retained over a damaged frame: %d %v, want 500 with an error", code, out)
	}
	if !strings.Contains(logged.String(), `"level":"error"`) {
		t.Fatalf("not logged at error level: %s", logged.String())
	}
}
