package mqtt_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/hashicorp/raft"
	"github.com/rs/zerolog"

	"github.com/stratamq/strata/mqtt"
	"github.com/stratamq/strata/replication"
)

// testBroker is one real node (raft-boltdb, TCP transport, segment files)
// with an MQTT broker on a loopback port.
type testBroker struct {
	t       testing.TB
	dir     string
	node    *replication.Node
	machine *replication.FSMMachine
	broker  *mqtt.Broker
	addr    string
	ln      net.Listener
	// raftAddr is set for cluster nodes
	raftAddr string
}

func fastRaft(c *raft.Config) {
	c.HeartbeatTimeout = 200 * time.Millisecond
	c.ElectionTimeout = 200 * time.Millisecond
	c.LeaderLeaseTimeout = 100 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
}

func startBroker(t testing.TB, tune func(*mqtt.Options)) *testBroker {
	t.Helper()
	return startBrokerIn(t, t.TempDir(), tune)
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
	tb.machine = replication.NewFSMMachine()
	var hook mqtt.ApplyHook
	tb.machine.OnApply = hook.Apply
	o.Machine = tb.machine
	n, err := replication.New(o)
	if err != nil {
		t.Fatal(err)
	}
	tb.node = n
	if o.Bootstrap { // a joining node has no leader until it is added
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.WaitLeader(ctx); err != nil {
			t.Fatal(err)
		}
	}
	mo := mqtt.DefaultOptions()
	mo.NodeID, mo.Cluster, mo.Views = o.NodeID, n, tb.machine
	mo.SysInterval = 0
	mo.Logger = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel).With().Str("node", o.NodeID).Logger()
	if tune != nil {
		tune(&mo)
	}
	b, err := mqtt.New(mo)
	if err != nil {
		t.Fatal(err)
	}
	hook.Set(b)
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

func (tb *testBroker) stop() {
	if tb.broker == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tb.broker.Close(ctx)
	tb.node.Close()
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
