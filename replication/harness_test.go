package replication

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rs/zerolog"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/segment"
)

// cluster is an in-process Raft cluster on raft's in-memory transport, each
// node with its own real segment log on disk and its own fsm machine.
type cluster struct {
	t     *testing.T
	nodes []*Node
	trans []*raft.InmemTransport
	mach  []*FSMMachine
	dirs  []string
	snaps []raft.SnapshotStore
	logs  []*raft.InmemStore

	firstErr error // the first proposal error seen by proposeMany
	logBuf   logBuffer
	// fetchRefused makes every segment fetch fail (under mu).
	fetchRefused bool
	// adjust, if set, changes node i's options before it starts.
	adjust func(i int, o *Options)

	mu      sync.Mutex   // guards nodes and httpCut against forward, which runs on nodes' goroutines
	httpCut map[int]bool // nodes whose HTTP API forward cannot reach (requests hang, as in a partition)
}

func fastRaft(c *raft.Config) {
	c.HeartbeatTimeout = 250 * time.Millisecond
	c.ElectionTimeout = 250 * time.Millisecond
	c.LeaderLeaseTimeout = 125 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
}

func testLogOptions() log.Options {
	o := log.DefaultOptions()
	o.SegmentBytes = 8 << 10
	o.Segment.Codec = segment.CodecS2
	return o
}

func newCluster(t *testing.T, n int) *cluster {
	return newClusterWith(t, n, nil)
}

// newClusterWith starts n nodes whose options tweak adjusts (nil: none).
func newClusterWith(t *testing.T, n int, tweak func(*Options)) *cluster {
	return newClusterPerNode(t, n, func(_ int, o *Options) {
		if tweak != nil {
			tweak(o)
		}
	})
}

// newClusterPerNode is newCluster with adjust applied to each node's options.
func newClusterPerNode(t *testing.T, n int, adjust func(i int, o *Options)) *cluster {
	t.Helper()
	c := &cluster{t: t, adjust: adjust, httpCut: map[int]bool{}}
	for i := 0; i < n; i++ {
		c.addSlot()
	}
	for i := range c.trans {
		for j := range c.trans {
			if i != j {
				c.trans[i].Connect(c.trans[j].LocalAddr(), c.trans[j])
			}
		}
	}
	var servers []raft.Server
	for i := range c.trans {
		servers = append(servers, raft.Server{ID: raft.ServerID(fmt.Sprintf("n%d", i)), Address: c.trans[i].LocalAddr()})
	}
	for i := range c.nodes {
		c.start(i)
		// A peer's vote request may reach a node before its own bootstrap:
		// it then already has state and learns the configuration from the leader.
		if err := c.nodes[i].raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil && err != raft.ErrCantBootstrap {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		c.close()
		if t.Failed() {
			t.Logf("the nodes' logs (last 16 KiB):\n%s", c.logBuf.tail(16<<10))
		}
	})
	return c
}

// addSlot prepares transport, stores and a data dir for one more node.
func (c *cluster) addSlot() {
	_, tr := raft.NewInmemTransport(raft.ServerAddress(fmt.Sprintf("node%d", len(c.nodes))))
	c.trans = append(c.trans, tr)
	c.dirs = append(c.dirs, c.t.TempDir())
	// raft's file snapshot store, as in production: the in-memory one
	// publishes a snapshot whose Persist failed.
	snaps, err := raft.NewFileSnapshotStore(c.t.TempDir(), 2, io.Discard)
	if err != nil {
		c.t.Fatal(err)
	}
	c.snaps = append(c.snaps, snaps)
	c.logs = append(c.logs, raft.NewInmemStore())
	c.mach = append(c.mach, nil)
	c.mu.Lock()
	c.nodes = append(c.nodes, nil)
	c.mu.Unlock()
}

func (c *cluster) options(i int) Options {
	o := DefaultOptions()
	o.NodeID = fmt.Sprintf("n%d", i)
	o.DataDir = c.dirs[i]
	o.Log = testLogOptions()
	o.Transport, o.LogStore, o.StableStore, o.Snapshots = c.trans[i], c.logs[i], c.logs[i], c.snaps[i]
	o.RaftConfig = fastRaft
	o.ApplyTimeout = 5 * time.Second
	o.Logger = zerolog.New(&c.logBuf).Level(zerolog.InfoLevel).With().Str("node", o.NodeID).Logger()
	o.HTTPAddr = fmt.Sprintf("h%d", i)
	o.Forward = c.forward
	o.FetchSegment = c.fetch
	c.mach[i] = NewFSMMachine()
	o.Machine = c.mach[i]
	if c.adjust != nil {
		c.adjust(i, &o)
	}
	return o
}

// forward is an in-process Forwarder: it hands the records to the node whose
// HTTP address is leaderHTTP, as the HTTP API would, unless that node is cut
// off by the test's partitions.
func (c *cluster) forward(ctx context.Context, leaderHTTP string, recs []log.Record) ([]log.Offset, error) {
	var i int
	if _, err := fmt.Sscanf(leaderHTTP, "h%d", &i); err != nil {
		return nil, fmt.Errorf("no node at %q: %w", leaderHTTP, ErrNotSent)
	}
	c.mu.Lock()
	var n *Node
	if i < len(c.nodes) {
		n = c.nodes[i]
	}
	cut := c.httpCut[i]
	c.mu.Unlock()
	if cut { // the request is sent and never answered
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if n == nil { // as a refused connection
		return nil, fmt.Errorf("no node at %q: %w", leaderHTTP, ErrNotSent)
	}
	return n.ProposeBatch(ctx, recs)
}

// fetch is an in-process SegmentFetcher: node peerHTTP writes the segment,
// as the HTTP API would, unless it is cut off by the test's partitions.
func (c *cluster) fetch(ctx context.Context, peerHTTP, name string, w io.Writer) error {
	var i int
	if _, err := fmt.Sscanf(peerHTTP, "h%d", &i); err != nil {
		return fmt.Errorf("no node at %q", peerHTTP)
	}
	c.mu.Lock()
	var n *Node
	if i < len(c.nodes) {
		n = c.nodes[i]
	}
	refused := c.fetchRefused
	c.mu.Unlock()
	if n == nil || refused {
		return fmt.Errorf("no node at %q", peerHTTP)
	}
	return n.WriteSegment(name, w)
}

func (c *cluster) start(i int) {
	n, err := New(c.options(i))
	if err != nil {
		c.t.Fatalf("start n%d: %v", i, err)
	}
	c.mu.Lock()
	c.nodes[i] = n
	c.mu.Unlock()
}

// logBuffer collects the nodes' logs, shown when a test fails. Safe for
// concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	return len(p), nil
}

func (l *logBuffer) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b[max(0, len(l.b)-n):])
}

func (c *cluster) close() {
	for _, n := range c.nodes {
		if n != nil {
			n.Close()
		}
	}
}

// snapshotsByHand makes every node snapshot only when a test asks, and
// keep trailing entries of its Raft log after one (so that a node further
// behind needs the snapshot).
func (c *cluster) snapshotsByHand(trailing uint64) {
	c.t.Helper()
	for _, n := range c.nodes {
		err := n.raft.ReloadConfig(raft.ReloadableConfig{TrailingLogs: trailing, SnapshotInterval: time.Hour,
			SnapshotThreshold: 1 << 30, HeartbeatTimeout: 250 * time.Millisecond, ElectionTimeout: 250 * time.Millisecond})
		if err != nil {
			c.t.Fatal(err)
		}
	}
}

// leader waits for a leader among the given nodes and returns its index.
func (c *cluster) leader(among ...int) int {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, i := range among {
			if c.nodes[i] != nil && c.nodes[i].IsLeader() {
				return i
			}
		}
		time.Sleep(10 * time.Millisecond) // poll under a deadline
	}
	c.t.Fatalf("no leader among %v", among)
	return -1
}

func all(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// isolate cuts node i off from every other node, both ways.
func (c *cluster) isolate(i int) {
	c.trans[i].DisconnectAll()
	for j := range c.trans {
		if j != i {
			c.trans[j].Disconnect(c.trans[i].LocalAddr())
		}
	}
}

func (c *cluster) heal() {
	for i := range c.trans {
		for j := range c.trans {
			if i != j {
				c.trans[i].Connect(c.trans[j].LocalAddr(), c.trans[j])
			}
		}
	}
}

// publish builds a publish record with a unique payload.
func publish(topic, payload string) log.Record {
	e := fsm.Entry{Kind: fsm.KindPublish, ClientID: "pub", Publish: fsm.Publish{Message: fsm.Message{Topic: topic, Payload: []byte(payload), QoS: 1}}}
	rec, err := e.Record()
	if err != nil {
		panic(err)
	}
	return rec
}

// proposeMany proposes n publishes from w goroutines on node i and returns
// the acknowledged payload -> offset.
func (c *cluster) proposeMany(i, n, w int, prefix string) map[string]log.Offset {
	acked := map[string]log.Offset{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < w; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for k := g; k < n; k += w {
				p := fmt.Sprintf("%s-%d", prefix, k)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				off, err := c.nodes[i].Propose(ctx, publish(fmt.Sprintf("t/%d", k%7), p)).Wait()
				cancel()
				mu.Lock()
				if err == nil {
					acked[p] = off
				} else if c.firstErr == nil {
					c.firstErr = err
				}
				mu.Unlock()
			}
		}(g)
	}
	wg.Wait()
	return acked
}

// converge waits until the given nodes have applied the same log, then
// checks records, tags and digests are equal.
func (c *cluster) converge(nodes ...int) []log.Record {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		want := c.nodes[nodes[0]].raft.LastIndex()
		ref := c.nodes[nodes[0]].Log()
		same := true
		for _, i := range nodes {
			l := c.nodes[i].Log()
			if c.nodes[i].raft.AppliedIndex() < want || l.NextOffset() != ref.NextOffset() || l.LastTag() != ref.LastTag() {
				same = false
			}
			for _, j := range nodes { // every node's address is recorded (announce is asynchronous)
				if c.nodes[i].a.memberAddr(fmt.Sprintf("n%d", j)) == "" {
					same = false
				}
			}
		}
		if same {
			break
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, i := range nodes {
				n := c.nodes[i]
				fmt.Fprintf(&b, "\n  n%d: applied %d of %d, next offset %d, last tag %d, health %v",
					i, n.raft.AppliedIndex(), want, n.Log().NextOffset(), n.Log().LastTag(), n.Health())
			}
			c.t.Fatalf("nodes %v did not converge:%s", nodes, b.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.sameSealedBytes(nodes)
	ref := readAll(c.t, c.nodes[nodes[0]].Log())
	for _, i := range nodes[1:] {
		got := readAll(c.t, c.nodes[i].Log())
		if len(got) != len(ref) {
			c.t.Fatalf("n%d has %d records, n%d has %d", i, len(got), nodes[0], len(ref))
		}
		for k := range got {
			if got[k].Offset != ref[k].Offset || got[k].Time != ref[k].Time || string(got[k].Value) != string(ref[k].Value) {
				c.t.Fatalf("n%d record %d differs", i, k)
			}
		}
		if c.mach[i].Digest() != c.mach[nodes[0]].Digest() {
			c.t.Fatalf("n%d view digest differs from n%d", i, nodes[0])
		}
		if c.nodes[i].Log().LastTag() != c.nodes[nodes[0]].Log().LastTag() {
			c.t.Fatalf("n%d last tag differs", i)
		}
	}
	return ref
}

func readAll(t *testing.T, l *log.Log) []log.Record {
	t.Helper()
	it := l.Iter(l.FirstOffset())
	defer it.Close()
	var out []log.Record
	for it.Next() {
		r := it.Record()
		r.Key, r.Value = append([]byte(nil), r.Key...), append([]byte(nil), r.Value...)
		out = append(out, r)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// payloads maps each record's payload to its offset, failing on duplicates.
func payloads(t *testing.T, recs []log.Record) map[string]log.Offset {
	t.Helper()
	out := map[string]log.Offset{}
	for _, r := range recs {
		if r.Kind == KindMember {
			continue
		}
		e, err := fsm.DecodeRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		p := string(e.Publish.Payload)
		if _, dup := out[p]; dup {
			t.Fatalf("payload %q appears twice", p)
		}
		out[p] = r.Offset
	}
	return out
}

// checkAcked: every acknowledged proposal is in the log exactly once, at the
// offset it was acknowledged with.
func checkAcked(t *testing.T, acked map[string]log.Offset, inLog map[string]log.Offset) {
	t.Helper()
	for p, off := range acked {
		got, ok := inLog[p]
		if !ok {
			t.Fatalf("acknowledged %q (offset %d) is not in the log", p, off)
		}
		if got != off {
			t.Fatalf("acknowledged %q at offset %d, log has it at %d", p, off, got)
		}
	}
}

// sameSealedBytes waits for the nodes' sealed segments to be clustered and
// checks that they are byte-for-byte equal: roll points and the clustered
// rewrite depend only on the data. (Active segments differ only in the sync
// points each node records in its frame headers.) It returns how many
// segments it compared.
func (c *cluster) sameSealedBytes(nodes []int) int {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !c.allClustered(nodes) {
		if time.Now().After(deadline) {
			c.t.Fatal("sealed segments were not clustered in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ref := sealedBytes(c.t, c.nodes[nodes[0]].Log())
	for _, i := range nodes[1:] {
		got := sealedBytes(c.t, c.nodes[i].Log())
		for base, b := range ref {
			if g, ok := got[base]; ok && !bytes.Equal(g, b) {
				c.t.Fatalf("segment %d differs between n%d and n%d", base, nodes[0], i)
			}
		}
	}
	return len(ref)
}

func (c *cluster) allClustered(nodes []int) bool {
	for _, i := range nodes {
		for _, s := range c.nodes[i].Log().Segments() {
			if s.Sealed && !s.Clustered {
				return false
			}
		}
	}
	return true
}

func sealedBytes(t *testing.T, l *log.Log) map[log.Offset][]byte {
	t.Helper()
	out := map[log.Offset][]byte{}
	for _, s := range l.Segments() {
		if !s.Sealed {
			continue
		}
		b, err := os.ReadFile(s.Path)
		if err != nil {
			continue // deleted or replaced meanwhile; compared next time
		}
		out[s.Base] = b
	}
	return out
}
