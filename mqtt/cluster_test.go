package mqtt_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/mqtt"
	"github.com/stratamq/strata/replication"
)

// testCluster is n real nodes (TCP Raft transport on loopback, raft-boltdb,
// segment files) with a broker each; followers forward proposals to the
// leader in-process.
type testCluster struct {
	t     *testing.T
	mu    sync.Mutex
	nodes []*testBroker
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startCluster(t *testing.T, n int, tune func(*mqtt.Options)) *testCluster {
	t.Helper()
	tc := &testCluster{t: t}
	for i := 0; i < n; i++ {
		tc.nodes = append(tc.nodes, tc.startNode(i, tune))
		if i == 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := tc.nodes[0].node.WaitLeader(ctx)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		id, raftAddr := fmt.Sprintf("n%d", i+1), tc.nodes[i].raftAddr
		if err := tc.nodes[0].node.Join(id, raftAddr, id); err != nil {
			t.Fatalf("join %s: %v", id, err)
		}
	}
	// Every node knows the leader's address for forwarding.
	deadline := time.Now().Add(15 * time.Second)
	for _, nb := range tc.nodes {
		for nb.node.LeaderHTTP() == "" {
			if time.Now().After(deadline) {
				t.Fatal("a node never learned the leader")
			}
			time.Sleep(10 * time.Millisecond) // poll under a deadline
		}
	}
	return tc
}

func (tc *testCluster) startNode(i int, tune func(*mqtt.Options)) *testBroker {
	t := tc.t
	id := fmt.Sprintf("n%d", i+1)
	tb := &testBroker{t: t, dir: t.TempDir(), raftAddr: freeAddr(t)}
	o := replication.DefaultOptions()
	o.NodeID, o.DataDir, o.RaftAddr, o.Bootstrap, o.HTTPAddr = id, tb.dir, tb.raftAddr, i == 0, id
	o.RaftConfig = fastRaft
	o.Forward = tc.forward
	tb.machine = replication.NewFSMMachine()
	var mu sync.Mutex
	var brk *mqtt.Broker
	tb.machine.OnApply = func(off log.Offset, e *fsm.Entry, fx fsm.Effects) {
		mu.Lock()
		b := brk
		mu.Unlock()
		if b != nil {
			b.Apply(off, e, fx)
		}
	}
	o.Machine = tb.machine
	node, err := replication.New(o)
	if err != nil {
		t.Fatal(err)
	}
	tb.node = node
	mo := mqtt.DefaultOptions()
	mo.NodeID, mo.Cluster, mo.Views = id, node, tb.machine
	mo.SysInterval = 0
	mo.Logger = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel).With().Str("node", id).Logger()
	if tune != nil {
		tune(&mo)
	}
	b, err := mqtt.New(mo)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	brk = b
	mu.Unlock()
	b.Start()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tb.ln, tb.broker, tb.addr = ln, b, ln.Addr().String()
	go b.Serve(ln, "tcp")
	t.Cleanup(tb.stop)
	return tb
}

func (tc *testCluster) forward(ctx context.Context, leaderHTTP string, recs []log.Record) ([]log.Offset, error) {
	tc.mu.Lock()
	var target *replication.Node
	for i, nb := range tc.nodes {
		if fmt.Sprintf("n%d", i+1) == leaderHTTP && nb.broker != nil {
			target = nb.node
		}
	}
	tc.mu.Unlock()
	if target == nil {
		return nil, fmt.Errorf("no live node %q", leaderHTTP)
	}
	return target.ProposeBatch(ctx, recs)
}

// kill stops node i as a crash would: Raft first (nothing more commits or
// applies there), then its sockets; no disconnect is proposed.
func (tc *testCluster) kill(i int) {
	tb := tc.nodes[i]
	tc.mu.Lock()
	b := tb.broker
	tb.broker = nil
	tc.mu.Unlock()
	tb.node.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b.Close(ctx)
}

// TestClusterSameOrder: subscribers on the three nodes receive the same
// messages in the same order while publishers on every node (followers
// forward to the leader) publish concurrently.
func TestClusterSameOrder(t *testing.T) {
	tc := startCluster(t, 3, nil)
	inboxes := make([]*inbox, 3)
	for i, nb := range tc.nodes {
		inboxes[i] = newInbox()
		c := pahoClient(t, nb.url(), fmt.Sprintf("sub%d", i), true, nil)
		wait(t, c.Subscribe("c/#", 1, inboxes[i].handler))
	}
	const per = 100
	var wg sync.WaitGroup
	for i, nb := range tc.nodes {
		pub := pahoClient(t, nb.url(), fmt.Sprintf("pub%d", i), true, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < per; k++ {
				pub.Publish(fmt.Sprintf("c/%d", i), 1, false, fmt.Sprintf("p%d-%d", i, k)).Wait()
			}
		}()
	}
	wg.Wait()
	var first []string
	for i, in := range inboxes {
		in.waitN(t, 3*per, 20*time.Second)
		got := in.payloads()
		if i == 0 {
			first = got
			continue
		}
		if !slices.Equal(got, first) {
			t.Fatalf("node %d received another order than node 1", i+1)
		}
	}
	// Each publisher's messages arrive in its order.
	for p := 0; p < 3; p++ {
		next := 0
		for _, m := range first {
			var pi, k int
			fmt.Sscanf(m, "p%d-%d", &pi, &k)
			if pi != p {
				continue
			}
			if k != next {
				t.Fatalf("publisher %d: message %d arrived where %d was due", p, k, next)
			}
			next++
		}
	}
}

// TestClusterResumeOnAnotherNode: a persistent session left on one node and
// resumed on another gets every message acknowledged to its publisher
// meanwhile, in order.
func TestClusterResumeOnAnotherNode(t *testing.T) {
	tc := startCluster(t, 3, nil)
	in := newInbox()
	sub := pahoClient(t, tc.nodes[1].url(), "roamer", false, nil)
	wait(t, sub.Subscribe("roam/#", 1, in.handler))
	sub.Disconnect(100)
	pub := pahoClient(t, tc.nodes[2].url(), "pub", true, nil)
	want := seq("r", 150)
	for _, p := range want {
		wait(t, pub.Publish("roam/x", 1, false, p))
	}
	in2 := newInbox()
	pahoClient(t, tc.nodes[0].url(), "roamer", false, func(o *paho.ClientOptions) { o.SetDefaultPublishHandler(in2.handler) })
	in2.waitN(t, len(want), 20*time.Second)
	if got := in2.payloads(); !slices.Equal(got, want) {
		t.Fatalf("resumed session got %d messages, first %v", len(got), got[:min(5, len(got))])
	}
}

// TestClusterWillOfLostNode: a client connected to a node that dies has its
// will published by the surviving nodes.
func TestClusterWillOfLostNode(t *testing.T) {
	tc := startCluster(t, 3, func(o *mqtt.Options) {
		o.NodeLostAfter = 500 * time.Millisecond
		o.SweepInterval = 200 * time.Millisecond
	})
	in := newInbox()
	watcher := pahoClient(t, tc.nodes[0].url(), "watcher", true, nil)
	wait(t, watcher.Subscribe("wills/#", 1, in.handler))
	pahoClient(t, tc.nodes[2].url(), "doomed", true, func(o *paho.ClientOptions) {
		o.SetWill("wills/doomed", "gone", 1, false)
	})
	tc.kill(2)
	got := in.waitN(t, 1, 30*time.Second)
	if string(got[0].Payload()) != "gone" || got[0].Topic() != "wills/doomed" {
		t.Fatalf("got %s %q", got[0].Topic(), got[0].Payload())
	}
}
