package httpapi

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/stratamq/strata/auth"
	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/replication"
)

// testACL grants each user rights on the topics under a prefix ("" for
// all); unknown users and anonymous callers get nothing.
type testACL map[string]struct {
	rights auth.Right
	prefix string
}

func (a testACL) For(id auth.Identity) auth.Checker { return aclChecker{a[id.User], id} }

type aclChecker struct {
	g struct {
		rights auth.Right
		prefix string
	}
	id auth.Identity
}

func (c aclChecker) Allow(r auth.Right, t string) bool {
	return !c.id.Anonymous && c.g.rights&r != 0 && strings.HasPrefix(t, c.g.prefix)
}
func (c aclChecker) AllowFilter(r auth.Right, f string) bool { return c.Allow(r, f) }

// testTokens accepts one token, for carol.
type testTokens struct{}

func (testTokens) Verify(token string) (auth.Identity, error) {
	if token == "carol-token" {
		return auth.Identity{User: "carol"}, nil
	}
	return auth.Identity{}, errors.New("unknown token")
}

const (
	alicePassword = "alpha-secret-1"
	bobPassword   = "bravo-secret-2"
	// passwdFile holds their hashes at bcrypt's lowest cost, so that the
	// tests (under -race too) spend little on comparisons.
	passwdFile = "alice:$2a$04$RCbAeMpkYmm9BJa5c559kuYdUZdHBnpfGzexeOW6rw1s8ZhlluKWK\n" +
		"bob:$2a$04$Mo7ilKfsyIW1e/xaxYdIOu5qhdmvrC4T0kbiVG.UddLxejTGYEWhK\n"
)

// authServer serves a real node over real HTTP on 127.0.0.1 with
// credentials required: alice holds every right, bob none, carol (a bearer
// token) publish and replay under c/.
func authServer(t *testing.T, o Options) (*replication.Node, *httptest.Server, *syncBuffer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(path, []byte(passwdFile), 0o600); err != nil {
		t.Fatal(err)
	}
	pf, err := auth.LoadPasswordFile(path)
	if err != nil {
		t.Fatal(err)
	}
	logged := &syncBuffer{}
	o.MaxPublishBytes, o.CommitTimeout, o.Logger = 1<<10, 5*time.Second, zerolog.New(logged)
	o.Passwords, o.Tokens = pf, testTokens{}
	o.Authorizer = testACL{"alice": {auth.Publish | auth.Subscribe | auth.Replay | auth.Admin, ""}, "carol": {auth.Publish | auth.Replay, "c/"}}
	machine := replication.NewFSMMachine()
	if o.Views == nil {
		o.Views = machine
	}
	n := newNodeWith(t, machine)
	srv := httptest.NewServer(Handler(n, o))
	t.Cleanup(srv.Close)
	return n, srv, logged
}

type call struct {
	method, path, body string
	user, password     string // Basic when user is set
	token              string // Bearer when set
}

func send(t *testing.T, base string, c call) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.password)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// endpoint is one route and what its holder of the right gets.
type endpoint struct {
	method, path, body string
	ok                 int  // alice's status
	anyUser            bool // bob (no rights) is served too
}

func endpoints(t *testing.T) []endpoint {
	return []endpoint{
		{"GET", "/v1/cluster/status", "", 200, true},
		{"GET", "/v1/cluster/identity", "", 200, true},
		{"POST", "/v1/publish?topic=a/b&retain=true", "hello", 200, false},
		{"GET", "/v1/messages?filter=a/%23", "", 200, false},
		{"POST", "/v1/cluster/snapshot", "", 200, false},
		// A join that reached the handler: a real one would stall this
		// one-voter cluster on an unreachable voter (cmd/strata's process
		// test joins a real node with credentials).
		{"POST", "/v1/cluster/join", `{"id":"n9"}`, 400, false},
		{"POST", "/v1/cluster/remove", `{"id":"ghost"}`, 404, false}, // authorized; ghost is not a member
		{"GET", "/debug/pprof/", "", 200, false},
		{"POST", "/v1/keys/0a1b/revoke", "", 200, false},
		{"GET", "/v1/consumers", "", 200, true}, // bob sees the consumers he may read: none
		{"GET", "/v1/consumers/c1/messages?filter=a/%23", "", 200, false},
		{"POST", "/v1/consumers/c1/commit", `{"offset":0,"filter":"a/#"}`, 200, false},
		{"POST", "/v1/consumers/c1/reset", `{"offset":0}`, 200, false},
		{"DELETE", "/v1/consumers/c1", "", 200, false},
		{"GET", "/metrics", "", 200, true},     // read access, as status
		{"GET", "/v1/clients", "", 200, false}, // bob may read no topic
		{"GET", "/v1/sessions", "", 200, false},
		{"GET", "/v1/retained?filter=a/%23", "", 200, false},
		{"GET", "/v1/presence?filter=a/%23", "", 200, false},
		{"DELETE", "/v1/clients/nobody", "", 404, false}, // reached the handler: no such client
		{"DELETE", "/v1/sessions/nobody", "", 404, false},
		{"GET", "/v1/stats", "", 200, true},
		{"GET", "/v1/cluster/nodes", "", 200, true},
		{"GET", "/ui/", "", 200, true},
		{"GET", "/ui/app.js", "", 200, true},
	}
}

// metricsStub stands for the node's registry (package metrics, which
// imports this one): what matters here is who reaches it.
var metricsStub = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	io.WriteString(w, "strata_stub 1\n")
})

// TestAuthEveryEndpoint: with credentials required, every endpoint but
// /healthz and /readyz answers 401 without credentials or with wrong ones,
// 403 to a user without the right, and serves alice; refused calls change
// neither the log nor the membership.
func TestAuthEveryEndpoint(t *testing.T) {
	counters := &Counters{}
	n, srv, logged := authServer(t, Options{RequireAuth: true, Pprof: true, Metrics: metricsStub, Counters: counters})
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, _, body := send(t, srv.URL, call{method: "GET", path: p}); code != 200 {
			t.Fatalf("GET %s without credentials: %d %s", p, code, body)
		}
	}
	members, next := n.Members(), n.Log().NextOffset()
	for _, e := range endpoints(t) {
		base := call{method: e.method, path: e.path, body: e.body}
		refused := []struct {
			name string
			c    call
			code int
		}{
			{"no credentials", base, 401},
			{"wrong password", with(base, "alice", bobPassword, ""), 401},
			{"unknown user", with(base, "mallory", alicePassword, ""), 401},
			{"bad token", with(base, "", "", "forged"), 401},
			{"bob without the right", with(base, "bob", bobPassword, ""), 403},
		}
		for _, r := range refused {
			if r.code == 403 && e.anyUser {
				continue
			}
			code, h, body := send(t, srv.URL, r.c)
			if code != r.code {
				t.Errorf("%s %s, %s: %d %s, want %d", e.method, e.path, r.name, code, body, r.code)
			}
			if code == 401 && !slices.ContainsFunc(h.Values("WWW-Authenticate"), func(v string) bool { return strings.HasPrefix(v, "Basic ") }) {
				t.Errorf("%s %s, %s: 401 without WWW-Authenticate: Basic (%v)", e.method, e.path, r.name, h)
			}
		}
		if got, now := n.Members(), n.Log().NextOffset(); !slices.Equal(got, members) || now != next {
			t.Fatalf("%s %s: refused calls changed members %v -> %v or the log %d -> %d", e.method, e.path, members, got, next, now)
		}
		if code, _, body := send(t, srv.URL, with(base, "alice", alicePassword, "")); code != e.ok {
			t.Errorf("%s %s as alice: %d %s, want %d", e.method, e.path, code, body, e.ok)
		}
		members, next = n.Members(), n.Log().NextOffset()
	}
	if s := logged.String(); strings.Contains(s, bobPassword) || strings.Contains(s, alicePassword) || strings.Contains(s, "forged") {
		t.Fatalf("a secret is in the log:\n%s", s)
	}
	if s := logged.String(); !strings.Contains(s, `"user":"mallory"`) || !strings.Contains(s, "HTTP authentication failed") {
		t.Fatalf("failed attempts are not logged with the user name:\n%s", s)
	}
	if got, want := counters.AuthFailures.Load(), uint64(4*len(endpoints(t))); got != want {
		t.Fatalf("Counters.AuthFailures %d, want %d (four 401s per endpoint)", got, want)
	}
}

func with(c call, user, password, token string) call {
	c.user, c.password, c.token = user, password, token
	return c
}

// TestAuthTopicRights: carol's token publishes and reads under c/ only;
// Bearer is refused when the node has no TokenVerifier.
func TestAuthTopicRights(t *testing.T) {
	n, srv, _ := authServer(t, Options{RequireAuth: true})
	carol := call{user: "", token: "carol-token"}
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{"POST", "/v1/publish?topic=c/1", 200},
		{"POST", "/v1/publish?topic=d/1", 403},
		{"GET", "/v1/messages?filter=c/%23", 200},
		{"GET", "/v1/messages?filter=%23", 403},
		{"GET", "/v1/messages?filter=d/1", 403},
		{"POST", "/v1/cluster/snapshot", 403},
	} {
		cc := carol
		cc.method, cc.path = c.method, c.path
		if code, _, body := send(t, srv.URL, cc); code != c.code {
			t.Errorf("carol %s %s: %d %s, want %d", c.method, c.path, code, body, c.code)
		}
	}
	if next := n.Log().NextOffset(); next != 1 {
		t.Fatalf("log has %d records, want carol's one publish", next)
	}
	o := DefaultOptions()
	o.RequireAuth = true
	noTokens := httptest.NewServer(Handler(n, o))
	defer noTokens.Close()
	code, h, _ := send(t, noTokens.URL, call{method: "GET", path: "/v1/cluster/status", token: "carol-token"})
	if code != 401 || len(h.Values("WWW-Authenticate")) != 1 {
		t.Fatalf("bearer token on a node without a verifier: %d %v, want 401 offering Basic only", code, h)
	}
}

// TestAuthNotRequired: without RequireAuth anonymous callers are served as
// before (AllowAll), but credentials that are sent are still checked; an
// ACL still applies to anonymous callers.
func TestAuthNotRequired(t *testing.T) {
	_, srv, _ := authServer(t, Options{Metrics: metricsStub})
	for _, p := range []string{"/v1/cluster/status", "/metrics"} {
		if code, _, body := send(t, srv.URL, call{method: "GET", path: p}); code != 200 {
			t.Fatalf("anonymous GET %s: %d %s", p, code, body)
		}
	}
	if code, _, body := send(t, srv.URL, call{method: "POST", path: "/v1/publish?topic=a", user: "alice", password: "nope"}); code != 401 {
		t.Fatalf("wrong password where none is required: %d %s, want 401", code, body)
	}
	if code, _, body := send(t, srv.URL, call{method: "POST", path: "/v1/publish?topic=a"}); code != 403 {
		t.Fatalf("anonymous publish under an ACL granting anonymous nothing: %d %s, want 403", code, body)
	}
	if code, _, body := send(t, srv.URL, call{method: "GET", path: "/debug/pprof/", user: "alice", password: alicePassword}); code != 404 {
		t.Fatalf("pprof without Options.Pprof: %d %s, want 404", code, body)
	}
}

// TestRequireAuthRule: the rule is a function of the listener's address.
func TestRequireAuthRule(t *testing.T) {
	for _, c := range []struct {
		addr                 string
		passwords, anonymous bool
		want                 bool
	}{
		{"127.0.0.1:8080", false, false, false},
		{"127.0.0.2:8080", false, false, false},
		{"[::1]:8080", false, false, false},
		{"127.0.0.1:8080", true, false, true},
		{"127.0.0.1:8080", true, true, false},
		{"0.0.0.0:8080", false, false, true},
		{"[::]:8080", false, true, true},
		{"10.1.2.3:8080", false, false, true},
		{"192.168.1.5:8080", true, true, true},
		{"[fe80::1]:8080", false, false, true},
	} {
		a, err := net.ResolveTCPAddr("tcp", c.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := RequireAuth(a, c.passwords, c.anonymous); got != c.want {
			t.Errorf("RequireAuth(%s, passwords %v, anonymous %v) = %v, want %v", c.addr, c.passwords, c.anonymous, got, c.want)
		}
	}
	if !RequireAuth(nil, false, false) {
		t.Error("an unknown address must require credentials")
	}
}

// TestPublishLikeMQTT: HTTP publish applies MQTT's rules; refused calls add
// nothing to the log; accepted ones store qos and retain as given.
func TestPublishLikeMQTT(t *testing.T) {
	n := newNode(t)
	o := DefaultOptions()
	o.MaxPublishBytes, o.MaxTopicLength = 8, 16
	srv := httptest.NewServer(Handler(n, o))
	defer srv.Close()
	for _, c := range []struct {
		query string
		code  int
		msg   string
	}{
		{"topic=$SYS/x", 403, "$SYS/"},
		{"topic=$replay/0/a", 400, "$replay/"},
		{"topic=$share/g/a", 400, "$share/"},
		{"topic=a/%2B", 400, "wildcards"},
		{"topic=a/%23", 400, "wildcards"},
		{"topic=abcdefghijklmnopq", 400, "limit of 16"},
		{"topic=", 400, "at least one character"},
		{"topic=a%00b", 400, "U+0000"},
		{"topic=a&retain=yes", 400, "retain"},
		{"topic=a&retain=True", 400, "retain"},
		{"topic=a&retain=", 400, "retain"},
		{"topic=a&qos=3", 400, "qos"},
		{"topic=a&qos=01", 400, "qos"},
		{"topic=a&qos=-1", 400, "qos"},
		{"topic=a&qos=1&qos=2", 400, "2 times"},
		{"topic=a&retian=true", 400, "unknown parameter"},
	} {
		code, _, body := send(t, srv.URL, call{method: "POST", path: "/v1/publish?" + c.query, body: "x"})
		if code != c.code || !strings.Contains(body, c.msg) {
			t.Errorf("publish %s: %d %s, want %d mentioning %q", c.query, code, body, c.code, c.msg)
		}
	}
	if code, _, body := send(t, srv.URL, call{method: "POST", path: "/v1/publish?topic=a", body: "123456789"}); code != 413 {
		t.Errorf("payload over the limit: %d %s, want 413", code, body)
	}
	if next := n.Log().NextOffset(); next != 0 {
		t.Fatalf("refused publishes left %d records", next)
	}
	for i, q := range []string{"topic=a&qos=0&retain=false", "topic=a/b&qos=2&retain=true", "topic=a"} {
		if code, _, body := send(t, srv.URL, call{method: "POST", path: "/v1/publish?" + q, body: "x"}); code != 200 {
			t.Fatalf("publish %d %s: %d %s", i, q, code, body)
		}
	}
	want := []fsm.Message{{Topic: "a", QoS: 0}, {Topic: "a/b", QoS: 2, Retain: true}, {Topic: "a", QoS: 1}}
	it := n.Log().Iter(0)
	defer it.Close()
	for i := 0; it.Next(); i++ {
		e, err := fsm.DecodeRecord(it.Record())
		m := e.Publish.Message
		if err != nil || m.Topic != want[i].Topic || m.QoS != want[i].QoS || m.Retain != want[i].Retain {
			t.Fatalf("record %d: %+v %v, want %+v", i, m, err, want[i])
		}
	}
}

// FuzzParsePublish: any query is accepted with a valid topic and QoS, or
// refused with a 4xx status; never a panic.
func FuzzParsePublish(f *testing.F) {
	for _, q := range []string{"topic=a&qos=1&retain=true", "topic=$SYS/x", "topic=a/%2B", "qos=3", "topic=a&x=1", "topic=%ff"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		m, code, err := parsePublish(q, 64)
		if err != nil {
			if code != 400 && code != 403 {
				t.Fatalf("%q: status %d for %v", raw, code, err)
			}
			return
		}
		if m.QoS > 2 || len(m.Topic) == 0 || len(m.Topic) > 64 || strings.ContainsAny(m.Topic, "+#") {
			t.Fatalf("%q accepted as %+v", raw, m)
		}
	})
}

// countLimiter bans an address after two failures.
type countLimiter struct {
	mu       sync.Mutex
	failures map[string]int
}

func (l *countLimiter) Failed(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures[addr]++
	return l.failures[addr] >= 2
}

func (l *countLimiter) BannedFor(addr string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failures[addr] >= 2 {
		return 1500 * time.Millisecond
	}
	return 0
}

// TestAuthLimiter: wrong credentials count against the source address and
// a banned address gets 429 with Retry-After, even with the right
// password; missing credentials and public routes do not count.
func TestAuthLimiter(t *testing.T) {
	l := &countLimiter{failures: map[string]int{}}
	_, srv, _ := authServer(t, Options{RequireAuth: true, Limiter: l})
	status := call{method: "GET", path: "/v1/cluster/status"}
	for i := 0; i < 3; i++ {
		if code, _, _ := send(t, srv.URL, status); code != 401 {
			t.Fatalf("no credentials %d: %d, want 401", i, code)
		}
	}
	if code, _, body := send(t, srv.URL, with(status, "alice", alicePassword, "")); code != 200 {
		t.Fatalf("missing credentials counted as failures: %d %s", code, body)
	}
	for i := 0; i < 2; i++ {
		if code, _, _ := send(t, srv.URL, with(status, "alice", "guess", "")); code != 401 {
			t.Fatalf("guess %d: %d, want 401", i, code)
		}
	}
	code, h, body := send(t, srv.URL, with(status, "alice", alicePassword, ""))
	if code != 429 || h.Get("Retry-After") != "2" {
		t.Fatalf("banned address with the right password: %d %v %s, want 429 with Retry-After 2", code, h, body)
	}
	if code, _, _ := send(t, srv.URL, call{method: "GET", path: "/healthz"}); code != 200 {
		t.Fatalf("healthz from a banned address: %d", code)
	}
}
