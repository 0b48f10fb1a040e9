package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stratamq/strata/httpapi"
	"github.com/stratamq/strata/mqtt/packet"
	"github.com/stratamq/strata/presence"
)

// connectPersistent opens a raw MQTT 5 connection to addr with a session
// that outlives it by an hour. The test sends nothing unasked: a keep
// alive (seconds, 0 for none) ends the connection after 1.5 times it.
func connectPersistent(t *testing.T, addr, clientID string, keepAlive uint16) *mqttSession {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	s := &mqttSession{nc: nc, br: bufio.NewReader(nc)}
	s.send(t, &packet.Connect{ProtocolVersion: packet.Version5, ClientID: clientID, CleanStart: true,
		KeepAliveSeconds: keepAlive, Properties: packet.Properties{SessionExpirySeconds: 3600}})
	if ack, ok := s.read(t).(*packet.Connack); !ok || ack.ReasonCode != 0 {
		t.Fatalf("%s: no successful CONNACK", clientID)
	}
	return s
}

func (s *mqttSession) subscribe(t *testing.T, filter string) {
	t.Helper()
	s.send(t, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: filter, QoS: 1}}})
	if _, ok := s.read(t).(*packet.Suback); !ok {
		t.Fatal("no SUBACK")
	}
}

// walk reads every page of a list route with the given page size and
// returns the items' keys in the order served.
func walk(t *testing.T, base, path string, limit int) []string {
	t.Helper()
	var keys []string
	next := ""
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatalf("%s: more than 100 pages", path)
		}
		u := fmt.Sprintf("http://%s%s?limit=%d", base, path, limit)
		if next != "" {
			u += "&after=" + url.QueryEscape(next)
		}
		var page struct {
			Clients  []httpapi.ClientInfo
			Sessions []httpapi.SessionInfo
			Next     string
		}
		if err := getJSON(u, &page); err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		if len(page.Clients)+len(page.Sessions) > limit {
			t.Fatalf("GET %s: %d items, over the limit", u, len(page.Clients)+len(page.Sessions))
		}
		for _, c := range page.Clients {
			keys = append(keys, c.ClientID)
		}
		for _, s := range page.Sessions {
			keys = append(keys, s.ClientID)
		}
		if next = page.Next; next == "" {
			return keys
		}
	}
}

func sessionOn(t *testing.T, p *proc, id string) (httpapi.SessionInfo, bool) {
	t.Helper()
	var l httpapi.SessionList
	if err := getJSON("http://"+p.http+"/v1/sessions?limit=1000", &l); err != nil {
		t.Fatalf("%s: GET /v1/sessions: %v", p.id, err)
	}
	for _, s := range l.Sessions {
		if s.ClientID == id {
			return s, true
		}
	}
	return httpapi.SessionInfo{}, false
}

// expectDisconnect reads until the server's DISCONNECT and checks its code.
func expectDisconnect(t *testing.T, s *mqttSession, code packet.ReasonCode) {
	t.Helper()
	p := s.read(t)
	d, ok := p.(*packet.Disconnect)
	if !ok || d.ReasonCode != code {
		t.Fatalf("got %#v, want DISCONNECT %v", p, code)
	}
}

// TestAdminClientsSessionsProcess: clients connected to the three nodes
// of a real cluster are listed by every node with the node holding them
// (and their address by that node), paginated lists hold every item once,
// a kick through one node disconnects a client of another with 0x98 and
// leaves its session offline everywhere, and a session deleted through the
// CLI is gone from every node.
func TestAdminClientsSessionsProcess(t *testing.T) {
	bin := buildStrata(t)
	nodes := startCluster(t, bin, "adm")
	clients := map[string]*mqttSession{}
	var ids []string
	for i := range 8 {
		id := fmt.Sprintf("dev-%02d", i)
		clients[id] = connectPersistent(t, nodes[i%3].mqtt, id, 300)
		ids = append(ids, id)
	}
	clients["dev-01"].subscribe(t, "a/#")
	waitFor(t, "every node to list the 8 clients and dev-01's subscription", 20*time.Second, func() bool {
		for _, n := range nodes {
			var l httpapi.ClientList
			if getJSON("http://"+n.http+"/v1/clients", &l) != nil || len(l.Clients) != 8 || l.Clients[1].Subscriptions != 1 {
				return false
			}
		}
		return true
	})
	checkClientList(t, nodes, clients)
	for _, n := range nodes {
		for _, limit := range []int{1, 3, 8} {
			if got := walk(t, n.http, "/v1/clients", limit); !slices.Equal(got, ids) {
				t.Fatalf("%s: clients in pages of %d: %v, want %v", n.id, limit, got, ids)
			}
			if got := walk(t, n.http, "/v1/sessions", limit); !slices.Equal(got, ids) {
				t.Fatalf("%s: sessions in pages of %d: %v, want %v", n.id, limit, got, ids)
			}
		}
	}
	checkPresenceCLI(t, nodes)
	checkKick(t, nodes, clients["dev-01"])
	checkDelete(t, nodes, clients["dev-02"])
}

// checkPresenceCLI: `strata presence a/x` through another node than the
// one holding dev-01 lists its a/# subscription, online, on its node; a
// filter nobody listens on lists nothing; a bad one is refused (400).
func checkPresenceCLI(t *testing.T, nodes []*proc) {
	t.Helper()
	code, out, errOut := strata("presence", "a/x", "--server", nodes[2].http)
	row := regexp.MustCompile(`(?m)^dev-01\s+online\s+` + nodes[1].id + `\s+a/#\(q1\)$`)
	if code != 0 || !row.MatchString(out) || !strings.Contains(out, "1 subscriptions, 1 clients online") {
		t.Fatalf("presence a/x: exit %d:\n%s%s", code, out, errOut)
	}
	code, out, _ = strata("presence", "--json", "--server", nodes[0].http, "b/#")
	var p presence.Snapshot
	if err := json.Unmarshal([]byte(out), &p); code != 0 || err != nil || p.Filter != "b/#" || p.Count != 0 || p.Subscribers == nil {
		t.Fatalf("presence --json b/#: exit %d, %v:\n%s", code, err, out)
	}
	code, _, errOut = strata("presence", "a/#/x", "--server", nodes[0].http)
	if code != 1 || !strings.Contains(errOut, "400") {
		t.Fatalf("presence a/#/x: exit %d, %q; want 1 and 400", code, errOut)
	}
}

// checkClientList: each client is listed with its node by every node; the
// node holding it adds its address and keep alive.
func checkClientList(t *testing.T, nodes []*proc, clients map[string]*mqttSession) {
	t.Helper()
	for _, n := range nodes {
		var l httpapi.ClientList
		if err := getJSON("http://"+n.http+"/v1/clients", &l); err != nil {
			t.Fatal(err)
		}
		for i, c := range l.Clients {
			holder := nodes[i%3]
			if c.Node != holder.id || c.ProtocolVersion != 5 || c.ConnectedAt == "" {
				t.Errorf("%s lists %+v, want node %s, version 5", n.id, c, holder.id)
			}
			local := clients[c.ClientID].nc.LocalAddr().String()
			if n == holder && (c.Remote != local || c.KeepAliveSeconds == nil || *c.KeepAliveSeconds != 300) {
				t.Errorf("%s lists its own client %+v, want remote %s and keep alive 300", n.id, c, local)
			}
			if n != holder && c.Remote != "" {
				t.Errorf("%s lists another node's client with an address: %+v", n.id, c)
			}
			if want := map[bool]int{true: 1}[c.ClientID == "dev-01"]; c.Subscriptions != want {
				t.Errorf("%s: %s has %d subscriptions, want %d", n.id, c.ClientID, c.Subscriptions, want)
			}
		}
	}
}

// checkKick: `strata clients kick` through node 3 disconnects dev-01 (held
// by node 2) with DISCONNECT 0x98; its session, subscription included,
// stays offline on every node.
func checkKick(t *testing.T, nodes []*proc, s *mqttSession) {
	t.Helper()
	if code, out, errOut := strata("clients", "kick", "dev-01", "--server", nodes[2].http); code != 0 {
		t.Fatalf("clients kick: exit %d: %s %s", code, out, errOut)
	}
	expectDisconnect(t, s, packet.CodeAdministrativeAction)
	for _, n := range nodes {
		waitFor(t, n.id+" to see dev-01 offline", 10*time.Second, func() bool {
			se, ok := sessionOn(t, n, "dev-01")
			return ok && !se.Online && len(se.Subscriptions) == 1 && se.Subscriptions[0].Filter == "a/#" && se.Cursor != nil
		})
	}
	code, _, errOut := strata("clients", "kick", "dev-01", "--server", nodes[0].http)
	if code != 1 || !strings.Contains(errOut, "404") || !strings.Contains(errOut, "not connected") {
		t.Fatalf("kicking an offline client: exit %d, %q; want 1 and 404 not connected", code, errOut)
	}
	code, out, _ := strata("clients", "--node", nodes[1].http)
	if code != 0 || strings.Contains(out, "dev-01") || !strings.Contains(out, "dev-00") || !strings.Contains(out, "adm1") {
		t.Fatalf("clients after the kick: exit %d:\n%s", code, out)
	}
}

// checkDelete: deleting the offline dev-01 and the online dev-02 (whose
// client gets 0x98) through the CLI removes both from every node.
func checkDelete(t *testing.T, nodes []*proc, online *mqttSession) {
	t.Helper()
	for _, id := range []string{"dev-01", "dev-02"} {
		if code, out, errOut := strata("sessions", "delete", "--server", nodes[0].http, id); code != 0 {
			t.Fatalf("sessions delete %s: exit %d: %s %s", id, code, out, errOut)
		}
	}
	expectDisconnect(t, online, packet.CodeAdministrativeAction)
	for _, n := range nodes {
		waitFor(t, n.id+" to forget dev-01 and dev-02", 10*time.Second, func() bool {
			_, a := sessionOn(t, n, "dev-01")
			_, b := sessionOn(t, n, "dev-02")
			return !a && !b
		})
	}
	code, out, _ := strata("sessions", "--json", "--server", nodes[2].http)
	var all []httpapi.SessionInfo
	if code != 0 || json.Unmarshal([]byte(out), &all) != nil || len(all) != 6 {
		t.Fatalf("sessions --json after the deletes: exit %d, %d sessions:\n%s", code, len(all), out)
	}
	if code, _, errOut := strata("sessions", "delete", "--server", nodes[0].http); code != 2 || !strings.Contains(errOut, "needs a client id") {
		t.Fatalf("sessions delete without an id: exit %d, %q", code, errOut)
	}
	if code, out, _ := strata("clients", "kick", "--help"); code != 0 || !strings.Contains(out, "strata clients kick CLIENT_ID") {
		t.Fatalf("clients kick --help: exit %d:\n%s", code, out)
	}
	resp, err := http.Get("http://" + nodes[0].http + "/v1/sessions?limit=0")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("limit=0: %s, want 400", resp.Status)
	}
}
