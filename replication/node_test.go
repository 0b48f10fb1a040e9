package replication

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stratamq/strata/log"
)

func realNode(t *testing.T, dir string) (*Node, *FSMMachine) {
	t.Helper()
	o := nodeOptions(dir, "solo", "127.0.0.1:0")
	return startLeader(t, o), o.Machine.(*FSMMachine)
}

// TestRestartFromSnapshotAndTail: a real single node (raft-wal, TCP
// transport, files) restarted after a snapshot and more entries has the same
// log and the same digest as a fresh fold of its whole log.
func TestRestartFromSnapshotAndTail(t *testing.T) {
	dir := t.TempDir()
	n, _ := realNode(t, dir)
	var acked []log.Offset
	propose := func(k int) {
		off, err := n.Propose(context.Background(), publish(fmt.Sprintf("s/%d", k%5), fmt.Sprint("m", k))).Wait()
		if err != nil {
			t.Fatal(err)
		}
		acked = append(acked, off)
	}
	for k := 0; k < 300; k++ {
		propose(k)
	}
	if err := n.Snapshot(); err != nil {
		t.Fatal(err)
	}
	for k := 300; k < 400; k++ {
		propose(k)
	}
	next := n.Log().NextOffset()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n, m := realNode(t, dir)
	defer n.Close()
	if got := n.Log().NextOffset(); got != next {
		t.Fatalf("NextOffset %d after restart, want %d", got, next)
	}
	rebuilt := NewFSMMachine()
	for _, rec := range readAll(t, n.Log()) {
		rebuilt.Apply(rec.Offset, &rec)
	}
	deadline := time.Now().Add(5 * time.Second)
	for m.Digest() != rebuilt.Digest() {
		if time.Now().After(deadline) {
			t.Fatal("digest after snapshot + tail differs from a rebuild from offset 0")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := filepath.Glob(filepath.Join(dir, "snapshots", "*")); err != nil {
		t.Fatal(err)
	}
	off, err := n.Propose(context.Background(), publish("s/x", "after")).Wait()
	if err != nil || off != next {
		t.Fatalf("propose after restart: offset %d err %v, want %d", off, err, next)
	}
}

// TestSnapshotByRecords: with SnapshotRecords set, a snapshot is taken once
// that many records were applied (raft's own threshold, in entries, is not
// reached here), and a restart then folds only the records after it.
func TestSnapshotByRecords(t *testing.T) {
	c := newClusterWith(t, 1, func(o *Options) {
		o.SnapshotRecords, o.SnapshotCheck = 2000, 20*time.Millisecond
	})
	c.leader(0)
	for b := range 6 {
		recs := make([]log.Record, 500)
		for k := range recs {
			recs[k] = publish("t/x", fmt.Sprintf("p-%d-%d", b, k))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := c.nodes[0].ProposeBatch(ctx, recs)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	// snapAt moves when the snapshot is captured; raft counts it once persisted.
	waitUntil(t, "a snapshot by records", 10*time.Second, func() bool {
		return c.nodes[0].a.snapAt.Load() >= 2000 && c.nodes[0].raft.Stats()["last_snapshot_index"] != "0"
	})
	at := c.nodes[0].a.snapAt.Load()
	next := c.nodes[0].Log().NextOffset()
	digest := c.mach[0].Digest()
	c.mu.Lock()
	c.nodes[0].Close()
	c.nodes[0] = nil
	c.mu.Unlock()
	c.start(0)
	if got := c.nodes[0].a.snapAt.Load(); got != at {
		t.Fatalf("after the restart the snapshot is at %d, want %d (restored)", got, at)
	}
	waitUntil(t, "the restart to apply its log", 10*time.Second, func() bool { return c.nodes[0].Applied() >= next })
	if c.mach[0].Digest() != digest {
		t.Fatal("the state restored from the snapshot and the tail differs from the state before")
	}
}
