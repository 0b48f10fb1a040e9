package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rs/zerolog"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/httpapi"
	strlog "github.com/stratamq/strata/log"
	"github.com/stratamq/strata/trust"
)

func TestClusterKeygen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cluster.key")
	var out, errb bytes.Buffer
	if code := run([]string{"cluster", "keygen", path}, &out, &errb); code != 0 {
		t.Fatalf("keygen: exit %d: %s", code, errb.String())
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", st, err)
	}
	key, _ := os.ReadFile(path)
	if _, err := trust.ParseKey(key); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), strings.TrimSpace(string(key))) {
		t.Fatal("keygen printed the key")
	}
	errb.Reset()
	if code := run([]string{"cluster", "keygen", path}, &out, &errb); code == 0 || !strings.Contains(errb.String(), "already exists") {
		t.Fatalf("keygen over an existing file: exit %d: %s", code, errb.String())
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, key) {
		t.Fatal("keygen changed an existing key")
	}
	if code := run([]string{"cluster", "keygen"}, &out, &errb); code != 2 {
		t.Fatalf("keygen without FILE: exit %d", code)
	}
}

// TestServeRefusesOffLoopbackWithoutKey: off loopback, serve needs the
// cluster's trust and says so before opening anything; bad trust flags
// and key files get clear errors that do not quote the file.
func TestServeRefusesOffLoopbackWithoutKey(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.key")
	os.WriteFile(bad, []byte("not-a-key-c2VjcmV0\n"), 0o600)
	data := filepath.Join(dir, "data")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--raft-addr", "192.0.2.1:7000"}, 2, "--raft-addr 192.0.2.1:7000 is off loopback"},
		// The other nodes dial --raft-addr: an address binding every interface cannot be it.
		{[]string{"--raft-addr", "0.0.0.0:7000"}, 2, "must be this node's own IP address or host name"},
		{[]string{"--raft-addr", "[::]:7000"}, 2, "must be this node's own IP address or host name"},
		{[]string{"--raft-addr", ":7000"}, 2, "must be this node's own IP address or host name"},
		{[]string{"--http", "192.0.2.1:8080"}, 2, "--http 192.0.2.1:8080 is off loopback"},
		{[]string{"--http", ":8080"}, 2, "--cluster-key"},
		{[]string{"--raft-addr", "db1.example:7000"}, 2, "off loopback"},
		{[]string{"--cluster-key", bad}, 1, "neither 32 bytes of base64 nor 64 hex digits"},
		{[]string{"--cluster-key", filepath.Join(dir, "missing")}, 1, "--cluster-key"},
		{[]string{"--cluster-key", bad, "--cluster-ca", bad}, 2, "exclude each other"},
		{[]string{"--cluster-tls-cert", bad}, 2, "go together"},
	} {
		var out, errb bytes.Buffer
		code := run(append([]string{"serve", "--data-dir", data}, c.args...), &out, &errb)
		if code != c.code || !strings.Contains(errb.String(), c.want) {
			t.Errorf("serve %v: exit %d, %q; want exit %d and %q", c.args, code, errb.String(), c.code, c.want)
		}
		if strings.Contains(errb.String(), "c2VjcmV0") {
			t.Errorf("serve %v quoted the key file: %q", c.args, errb.String())
		}
	}
	if _, err := os.Stat(data); err == nil {
		t.Fatal("a refused serve created its data directory")
	}
}

// TestAdvertiseAddrs: the HTTP address given to the other nodes is --http,
// or, when --http binds every interface, the --raft-addr host with its port.
func TestAdvertiseAddrs(t *testing.T) {
	for _, c := range []struct{ raft, http, want string }{
		{"10.0.0.2:7000", "10.0.0.2:8080", "10.0.0.2:8080"},
		{"10.0.0.2:7000", "0.0.0.0:8080", "10.0.0.2:8080"},
		{"10.0.0.2:7000", ":9000", "10.0.0.2:9000"},
		{"[fd00::2]:7000", "[::]:8080", "[fd00::2]:8080"},
		{"strata1:7000", "0.0.0.0:8080", "strata1:8080"},
		{"127.0.0.1:7000", "127.0.0.1:8080", "127.0.0.1:8080"},
	} {
		got, err := advertiseAddrs(c.raft, c.http)
		if err != nil || got != c.want {
			t.Errorf("advertiseAddrs(%s, %s) = %q, %v; want %q", c.raft, c.http, got, err, c.want)
		}
	}
	if _, err := advertiseAddrs("7000", "127.0.0.1:8080"); err == nil {
		t.Error("--raft-addr without a port accepted")
	}
}

func TestWarnLooseKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cluster.key")
	if err := trust.WriteNewKeyFile(path); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	f := trustFlags{key: path}
	f.warnLoose(zerolog.New(&logs))
	if logs.Len() != 0 {
		t.Fatalf("a 0600 key file warned: %s", logs.String())
	}
	os.Chmod(path, 0o644)
	f.warnLoose(zerolog.New(&logs))
	if !strings.Contains(logs.String(), "chmod 600") {
		t.Fatalf("a 0644 key file: %q", logs.String())
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:7000": true, "127.8.9.10:1": true, "[::1]:7000": true, "localhost:8080": true,
		"0.0.0.0:7000": false, ":7000": false, "[::]:7000": false, "10.0.0.1:7000": false, "example.com:1": false, "nonsense": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v", addr, got)
		}
	}
}

// TestClusterTrust: three real nodes sharing a cluster key form a cluster
// and replicate (publishes to followers are forwarded over the cluster's
// TLS); then a node with another key, and callers with another key or
// none, try to join, vote, propose, fetch a segment and discover, and each
// is refused while the cluster's log and membership stay as they were.
func TestClusterTrust(t *testing.T) {
	bin := buildStrata(t)
	nodes := startCluster(t, bin, "k")
	pub := &publisher{acked: map[string]uint64{}, nodes: []*proc{nodes[2], nodes[1], nodes[0]}, dead: map[string]bool{}}
	for i := 0; i < 50; i++ {
		pub.publishOnce(i)
	}
	if pub.count() != 50 {
		t.Fatalf("%d of 50 publishes acknowledged", pub.count())
	}
	leader := leaderOf(t, nodes)
	want := history(t, leader)
	for _, n := range nodes {
		waitFor(t, n.id+" to hold every message", 20*time.Second, func() bool { return bytes.Equal(history(t, n), want) })
	}
	before := clusterState(t, leader)

	otherKey := filepath.Join(t.TempDir(), "other.key")
	if err := trust.WriteNewKeyFile(otherKey); err != nil {
		t.Fatal(err)
	}
	stranger := startStranger(t, bin, otherKey, leader.http)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the stranger's stderr:\n%s", stranger.String())
		}
	})
	waitFor(t, "the stranger's join to be refused", 20*time.Second, func() bool {
		s := stranger.String()
		return strings.Contains(s, "join refused or failed") && strings.Contains(s, "not a member of this cluster")
	})

	k, err := trust.LoadKeyFile(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	other, err := trust.FromKey(k)
	if err != nil {
		t.Fatal(err)
	}
	good := loadTestCluster(t, clusterKey(t, bin))
	seg := sealedSegment(t, leader)
	for name, c := range map[string]*trust.Cluster{"another key": other, "no key": nil} {
		refusedEverything(t, name, c, leader, seg)
	}
	// The control: the same fetch with the cluster's key is served.
	var copy bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := httpapi.FetchSegment(good.HTTPClient(0))(ctx, leader.http, seg, &copy); err != nil || copy.Len() == 0 {
		t.Fatalf("a member fetching %s: %d bytes, %v", seg, copy.Len(), err)
	}
	// and a stale vote request (term 0) from a member is answered (and
	// refused by Raft, changing nothing).
	if err := requestVote(good, leader.raft, 0); err != nil {
		t.Fatalf("a member's vote request: %v", err)
	}
	// Raw HTTP to the internal routes on the public API finds nothing.
	for _, r := range [][2]string{{"POST", "/v1/internal/propose"}, {"GET", "/v1/internal/segments/" + seg},
		{"POST", "/v1/internal/join"}, {"GET", "/v1/internal/identity"}} {
		req, _ := http.NewRequest(r[0], "http://"+leader.http+r[1], strings.NewReader("{}"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("public %s %s: %s, want 404", r[0], r[1], resp.Status)
		}
	}
	for _, n := range nodes {
		if got := clusterState(t, n); got != before {
			t.Errorf("%s after the attempts: %s; before: %s", n.id, got, before)
		}
	}
}

// refusedEverything tries, as a holder of c (another key, or none), every
// node-to-node call on leader and checks each is refused.
func refusedEverything(t *testing.T, name string, c *trust.Cluster, leader *proc, seg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e := fsm.Entry{Kind: fsm.KindPublish, ClientID: "x", Publish: fsm.Publish{Message: fsm.Message{Topic: "load/0", Payload: []byte("forged")}}}
	rec, err := e.Record()
	if err != nil {
		t.Fatal(err)
	}
	if offs, err := httpapi.Forward(c.HTTPClient(5*time.Second))(ctx, leader.http, []strlog.Record{rec}); err == nil {
		t.Errorf("%s: propose accepted at %v", name, offs)
	}
	var b bytes.Buffer
	if err := httpapi.FetchSegment(c.HTTPClient(5*time.Second))(ctx, leader.http, seg, &b); err == nil || b.Len() > 0 {
		t.Errorf("%s: segment fetch served %d bytes (%v)", name, b.Len(), err)
	}
	body := strings.NewReader(`{"id":"x","raft_addr":"127.0.0.1:1"}`)
	if resp, err := c.HTTPClient(5*time.Second).Post("http://"+leader.http+"/v1/internal/join", "application/json", body); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("%s: join accepted", name)
		}
	}
	if err := requestVote(c, leader.raft, 1<<40); err == nil {
		t.Errorf("%s: a vote request was answered", name)
	}
}

// requestVote sends a RequestVote for term to raftAddr over a Raft
// transport of c: a node with the cluster's trust answers it (a far
// higher term would depose the leader).
func requestVote(c *trust.Cluster, raftAddr string, term uint64) error {
	var tr *raft.NetworkTransport
	if c.Secure() {
		ln, err := c.ListenRaft("127.0.0.1:0")
		if err != nil {
			return err
		}
		tr = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
			Stream: &testStream{Listener: ln, c: c}, MaxPool: 1, Timeout: 5 * time.Second})
	} else {
		var err error
		if tr, err = raft.NewTCPTransport("127.0.0.1:0", nil, 1, 5*time.Second, os.Stderr); err != nil {
			return err
		}
	}
	defer tr.Close()
	req := &raft.RequestVoteRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("x"), Addr: []byte(tr.LocalAddr())},
		Term: term, LastLogIndex: term, LastLogTerm: term}
	var resp raft.RequestVoteResponse
	return tr.RequestVote("x", raft.ServerAddress(raftAddr), req, &resp)
}

type testStream struct {
	net.Listener
	c *trust.Cluster
}

func (s *testStream) Dial(a raft.ServerAddress, d time.Duration) (net.Conn, error) {
	return s.c.DialRaft(string(a), d)
}

func loadTestCluster(t *testing.T, path string) *trust.Cluster {
	t.Helper()
	k, err := trust.LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := trust.FromKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// clusterState is what a refused caller must not change: the membership,
// the term's leader and the log's next offset.
func clusterState(t *testing.T, n *proc) string {
	t.Helper()
	var st struct {
		LeaderID   string `json:"leader_id"`
		NextOffset uint64 `json:"next_offset"`
		Servers    []struct{ ID string }
	}
	if err := getJSON("http://"+n.http+"/v1/cluster/status", &st); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range st.Servers {
		ids = append(ids, s.ID)
	}
	sort.Strings(ids)
	return fmt.Sprintf("leader %s, next offset %d, servers %v", st.LeaderID, st.NextOffset, ids)
}

// sealedSegment names a segment file the node holds.
func sealedSegment(t *testing.T, n *proc) string {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(n.dir, "log", "*.seg"))
	if len(segs) == 0 {
		t.Fatalf("%s holds no segment", n.id)
	}
	sort.Strings(segs)
	return filepath.Base(segs[0])
}

// startStranger starts a node with another cluster key that asks join to
// add it; its stderr is returned for the test to read while it runs.
func startStranger(t *testing.T, bin, key, join string) *interopBuffer {
	t.Helper()
	out := &interopBuffer{}
	cmd := exec.Command(bin, "serve", "--node-id", "stranger", "--data-dir", filepath.Join(t.TempDir(), "data"),
		"--http", freeAddr(t), "--raft-addr", freeAddr(t), "--mqtt", freeAddr(t), "--ws", freeAddr(t),
		"--log-level", "warn", "--cluster-key", key, "--join", join)
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return out
}

// TestLoopbackClusterWithoutKey: on loopback a cluster needs no key
// (clusters on one machine, make run): joins, forwarding and replication
// work over node connections in clear.
func TestLoopbackClusterWithoutKey(t *testing.T) {
	bin := buildStrata(t)
	var nodes []*proc
	for i := 1; i <= 3; i++ {
		nodes = append(nodes, &proc{id: fmt.Sprint("p", i), http: freeAddr(t), raft: freeAddr(t), dir: filepath.Join(t.TempDir(), "data")})
	}
	startNode(t, bin, nodes[0], "", "--cluster-key", "")
	waitReady(t, nodes[0])
	for _, n := range nodes[1:] {
		startNode(t, bin, n, nodes[0].http, "--cluster-key", "")
		waitReady(t, n)
	}
	pub := &publisher{acked: map[string]uint64{}, nodes: []*proc{nodes[2]}, dead: map[string]bool{}}
	for i := 0; i < 20; i++ {
		// A publish refused (a leader change on a loaded machine: 503) is
		// sent again; the refusal is logged, and 20 s of refusals fail.
		waitFor(t, fmt.Sprintf("publish %d acknowledged through a follower (last refusal: %s)", i, pub.lastErr), 20*time.Second, func() bool {
			pub.publishOnce(i)
			if pub.count() == i+1 {
				return true
			}
			t.Logf("publish %d not acknowledged: %s", i, pub.lastErr)
			return false
		})
	}
	want := history(t, leaderOf(t, nodes))
	for _, n := range nodes {
		waitFor(t, n.id+" to hold every message", 20*time.Second, func() bool { return bytes.Equal(history(t, n), want) })
	}
}
