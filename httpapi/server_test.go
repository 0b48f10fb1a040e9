package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/replication"
)

// newNode starts a real one-voter replication node on raft's in-memory
// transport, with its log in a temp dir.
func newNode(t *testing.T) *replication.Node {
	t.Helper()
	n, _ := newNodeMachine(t)
	return n
}

// newNodeMachine is newNode with its fsm machine (for Options.Views).
func newNodeMachine(t testing.TB) (*replication.Node, *replication.FSMMachine) {
	m := replication.NewFSMMachine()
	return newNodeWith(t, m), m
}

// newNodeWith is newNode folding its log into machine.
func newNodeWith(t testing.TB, machine *replication.FSMMachine) *replication.Node {
	t.Helper()
	o := replication.DefaultOptions()
	o.NodeID, o.DataDir, o.Bootstrap = "api", t.TempDir(), true
	_, o.Transport = raft.NewInmemTransport("api")
	store := raft.NewInmemStore()
	o.LogStore, o.StableStore, o.Snapshots = store, store, raft.NewInmemSnapshotStore()
	o.Machine = machine
	o.RaftConfig = func(c *raft.Config) {
		c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout = 50*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond
	}
	n, err := replication.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	return n
}

func do(t *testing.T, h http.Handler, method, url, body string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, url, strings.NewReader(body)))
	var out map[string]any
	b, _ := io.ReadAll(rec.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: body %q is not JSON: %v", method, url, b, err)
	}
	return rec.Code, out
}

func TestPublishAndStatus(t *testing.T) {
	n := newNode(t)
	o := DefaultOptions()
	o.MaxPublishBytes = 16
	h := Handler(n, o)
	for i := 0; i < 3; i++ {
		code, out := do(t, h, "POST", "/v1/publish?topic=a/b&retain=true", "hello")
		if code != 200 || out["offset"] != float64(i) {
			t.Fatalf("publish %d: %d %v", i, code, out)
		}
	}
	it := n.Log().Iter(0)
	defer it.Close()
	for i := 0; it.Next(); i++ {
		e, err := fsm.DecodeRecord(it.Record())
		if err != nil || e.Publish.Topic != "a/b" || string(e.Publish.Payload) != "hello" || !e.Publish.Retain {
			t.Fatalf("record %d: %+v %v", i, e, err)
		}
	}
	code, out := do(t, h, "GET", "/v1/cluster/status", "")
	if code != 200 || out["state"] != "Leader" || out["next_offset"] != float64(3) {
		t.Fatalf("status: %d %v", code, out)
	}
	// Ready once this node applied what it knows committed: raft may have
	// committed an entry of its own (a no-op) a moment before the fold
	// applies it, so poll under a deadline.
	for deadline := time.Now().Add(5 * time.Second); ; {
		code, out := do(t, h, "GET", "/readyz", "")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz: %d %v", code, out)
		}
		time.Sleep(10 * time.Millisecond) // poll under the deadline
	}
	if code, _ := do(t, h, "GET", "/healthz", ""); code != 200 {
		t.Fatalf("healthz: %d", code)
	}
}

func TestBadRequests(t *testing.T) {
	h := Handler(newNode(t), Options{MaxPublishBytes: 4, CommitTimeout: time.Second})
	cases := []struct {
		method, url, body string
		code              int
		msg               string
	}{
		{"POST", "/v1/publish?topic=a/%2B", "x", 400, "MQTT-3.3.2-2"},
		{"POST", "/v1/publish", "x", 400, "MQTT-4.7.3-1"},
		{"POST", "/v1/publish?topic=a", "12345", 413, "over 4 bytes"},
		{"POST", "/v1/cluster/join", `{"id":"x"}`, 400, "raft_addr"},
		{"POST", "/v1/cluster/join", `not json`, 400, "raft_addr"},
		{"POST", "/v1/cluster/remove", `{"who":"x"}`, 400, "id"},
	}
	for _, c := range cases {
		code, out := do(t, h, c.method, c.url, c.body)
		if code != c.code || !strings.Contains(out["error"].(string), c.msg) {
			t.Errorf("%s %s %q: %d %v; want %d mentioning %q", c.method, c.url, c.body, code, out, c.code, c.msg)
		}
	}
}
