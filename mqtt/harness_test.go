package mqtt_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/hashicorp/raft"
	"github.com/rs/zerolog"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/housekeeping"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/mqtt"
	"github.com/stratamq/strata/replication"
)

// testBroker is an MQTT broker on a loopback port, over a fake cluster
// (startBroker: the fold in memory, a fake clock) or one real node (raft,
// TCP transport, segment files: startRealBroker, startBrokerIn).
type testBroker struct {
	t      testing.TB
	broker *mqtt.Broker
	addr   string
	ln     net.Listener
	views  interface{ View() *fsm.View }
	keeper *housekeeping.Keeper
	// a fake cluster's
	fake *fakeCluster
	// a real node's
	dir      string
	node     *replication.Node
	raftAddr string // set for cluster nodes
}

// startBroker starts a broker on a fake cluster: for protocol tests.
func startBroker(t testing.TB, tune func(*mqtt.Options)) *testBroker {
	t.Helper()
	f := newFakeCluster()
	tb := &testBroker{t: t, fake: f, views: f}
	mo := testOptions(t, "n1", tune)
	mo.Cluster, mo.Log, mo.Views, mo.Clock = f, f, f, f.clock
	b := tb.serve(mo, fakeLiveness{f}, f.clock)
	f.setApply(func(off log.Offset, e *fsm.Entry, fx fsm.Effects) {
		b.Apply(off, e, fx)
		tb.keeper.OnApply(off, e, fx)
	})
	return tb
}

// fakeLiveness completes a fake cluster for housekeeping: one node, never
// lost.
type fakeLiveness struct{ *fakeCluster }

func (fakeLiveness) Unreachable(time.Duration) []string { return nil }
func (fakeLiveness) Members() []string                  { return []string{"n1"} }

func testOptions(t testing.TB, node string, tune func(*mqtt.Options)) mqtt.Options {
	mo := mqtt.DefaultOptions()
	mo.NodeID = node
	mo.SysInterval = 0
	mo.Logger = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel).With().Str("node", node).Logger()
	if tune != nil {
		tune(&mo)
	}
	return mo
}

// serve starts the broker (and its housekeeping) with mo and listens.
func (tb *testBroker) serve(mo mqtt.Options, cl housekeeping.Cluster, clock housekeeping.Clock) *mqtt.Broker {
	t := tb.t
	t.Helper()
	b, err := mqtt.New(mo)
	if err != nil {
		t.Fatal(err)
	}
	ko := housekeeping.DefaultOptions()
	ko.NodeID, ko.Cluster, ko.Views, ko.Clock, ko.Logger = mo.NodeID, cl, mo.Views, clock, mo.Logger
	ko.Interval, ko.SweepInterval, ko.NodeLostAfter = 20*time.Millisecond, 200*time.Millisecond, 500*time.Millisecond
	if tb.keeper, err = housekeeping.New(ko); err != nil {
		t.Fatal(err)
	}
	tb.keeper.Start()
	b.Start()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tb.ln, tb.broker, tb.addr = ln, b, ln.Addr().String()
	go b.Serve(ln, "tcp")
	t.Cleanup(tb.stop)
	return b
}

// startRealBroker starts a broker on one real node in a temporary directory.
func startRealBroker(t testing.TB, tune func(*mqtt.Options)) *testBroker {
	t.Helper()
	return startBrokerIn(t, t.TempDir(), tune)
}

// fastRaft elects quickly, but not so quickly that a CI machine busy with
// other tests (2 cores) starves a heartbeat into an election: tests whose
// subject is not a leader change (same order on every node) assume none.
func fastRaft(c *raft.Config) {
	c.HeartbeatTimeout = 500 * time.Millisecond
	c.ElectionTimeout = 500 * time.Millisecond
	c.LeaderLeaseTimeout = 250 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
}

func startBrokerIn(t testing.TB, dir string, tune func(*mqtt.Options)) *testBroker {
	return startBrokerOpts(t, dir, nil, tune)
}

// startBrokerOpts also lets the test adjust the node's options (its log).
func startBrokerOpts(t testing.TB, dir string, tuneNode func(*replication.Options), tune func(*mqtt.Options)) *testBroker {
	t.Helper()
	tb := &testBroker{t: t, dir: dir}
	o := replication.DefaultOptions()
	o.NodeID, o.DataDir, o.RaftAddr, o.Bootstrap = "n1", dir, "127.0.0.1:0", true
	o.RaftConfig = fastRaft
	if tuneNode != nil {
		tuneNode(&o)
	}
	machine := replication.NewFSMMachine()
	var hook mqtt.ApplyHook
	var keeper atomic.Pointer[housekeeping.Keeper]
	machine.OnApply = func(off log.Offset, e *fsm.Entry, fx fsm.Effects) {
		hook.Apply(off, e, fx)
		if k := keeper.Load(); k != nil {
			k.OnApply(off, e, fx)
		}
	}
	o.Machine = machine
	n, err := replication.New(o)
	if err != nil {
		t.Fatal(err)
	}
	tb.node, tb.views = n, machine
	if o.Bootstrap { // a joining node has no leader until it is added
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.WaitLeader(ctx); err != nil {
			t.Fatal(err)
		}
	}
	mo := testOptions(t, o.NodeID, tune)
	mo.Cluster, mo.Log, mo.Views = n, n.Reader(), machine
	hook.Set(tb.serve(mo, n, nil))
	keeper.Store(tb.keeper)
	return tb
}

func (tb *testBroker) stop() {
	if tb.broker == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tb.broker.Close(ctx)
	tb.keeper.Close()
	if tb.node != nil {
		tb.node.Close()
	}
	tb.broker = nil
}

func (tb *testBroker) url() string { return "tcp://" + tb.addr }

// pahoClient connects a paho.mqtt.golang (MQTT 3.1.1) client.
func pahoClient(t testing.TB, url, id string, clean bool, tune func(*paho.ClientOptions)) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(clean).
		SetAutoReconnect(false).SetConnectRetry(false).SetProtocolVersion(4).SetOrderMatters(true)
	if tune != nil {
		tune(o)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func wait(t *testing.T, tok paho.Token) {
	t.Helper()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatal("token timed out")
	}
	if err := tok.Error(); err != nil {
		t.Fatal(err)
	}
}

// inbox collects messages received by a client.
type inbox struct {
	mu   sync.Mutex
	msgs []paho.Message
	ch   chan struct{}
}

func newInbox() *inbox { return &inbox{ch: make(chan struct{}, 1)} }

func (in *inbox) handler(_ paho.Client, m paho.Message) {
	in.mu.Lock()
	in.msgs = append(in.msgs, m)
	in.mu.Unlock()
	select {
	case in.ch <- struct{}{}:
	default:
	}
}

// waitN waits until at least n messages arrived and returns them.
func (in *inbox) waitN(t *testing.T, n int, within time.Duration) []paho.Message {
	t.Helper()
	deadline := time.After(within)
	for {
		in.mu.Lock()
		got := append([]paho.Message(nil), in.msgs...)
		in.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-in.ch:
		case <-deadline:
			t.Fatalf("got %d messages, want %d", len(got), n)
		}
	}
}

func (in *inbox) payloads() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make([]string, len(in.msgs))
	for i, m := range in.msgs {
		out[i] = string(m.Payload())
	}
	return out
}

func seq(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}
