package replication

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stratamq/strata/log"
)

// TestProposeKeepsOrder: proposals made one after another by one caller,
// without waiting, on the leader and on a follower (forwarded), commit in
// that order.
func TestProposeKeepsOrder(t *testing.T) {
	c := newCluster(t, 3)
	l := c.leader(all(3)...)
	f := (l + 1) % 3
	waitLeaderHTTP(t, c.nodes[f])
	for _, i := range []int{l, f} {
		const n = 2000
		futures := make([]*Future, n)
		for k := range futures {
			futures[k] = c.nodes[i].Propose(context.Background(), publish("order", fmt.Sprint(k)))
		}
		offs := waitAll(t, futures, 60*time.Second)
		for k := 1; k < n; k++ {
			if offs[k] <= offs[k-1] {
				t.Fatalf("node %d: proposal %d at offset %d, not after %d", i, k, offs[k], offs[k-1])
			}
		}
	}
}

// waitAll waits for every future, under one deadline, and fails the test
// on an error.
func waitAll(t *testing.T, futures []*Future, within time.Duration) []log.Offset {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	offs := make([]log.Offset, len(futures))
	for k, f := range futures {
		select {
		case <-f.Done():
		case <-deadline.C:
			t.Fatalf("future %d of %d not resolved within %v", k, len(futures), within)
		}
		off, err := f.Wait()
		if err != nil {
			t.Fatalf("proposal %d: %v", k, err)
		}
		offs[k] = off
	}
	return offs
}

// waitLeaderHTTP polls, under a deadline, until n knows the leader's HTTP
// address (it forwards there).
func waitLeaderHTTP(t *testing.T, n *Node) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for n.LeaderHTTP() == "" {
		if time.Now().After(deadline) {
			t.Fatal("follower never learned the leader's HTTP address")
		}
		time.Sleep(10 * time.Millisecond) // poll under a deadline
	}
}

func TestProposeNothing(t *testing.T) {
	c := newCluster(t, 1)
	c.leader(0)
	if _, err, ok := c.nodes[0].Propose(context.Background()).Result(); !ok || err == nil {
		t.Fatalf("a proposal of no records: resolved %v, error %v; want an error at once", ok, err)
	}
}

// TestProposeBatchOnFollowerIsNotForwarded: ProposeBatch is the leader's
// side of forwarding; on a follower it fails at once with ErrNotLeader, so
// two nodes that each think the other leads cannot wait on each other.
func TestProposeBatchOnFollowerIsNotForwarded(t *testing.T) {
	c := newCluster(t, 3)
	l := c.leader(all(3)...)
	f := (l + 1) % 3
	waitLeaderHTTP(t, c.nodes[f])
	start := time.Now()
	_, err := c.nodes[f].ProposeBatch(context.Background(), []log.Record{publish("fwd", "x")})
	if !errors.Is(err, ErrNotLeader) {
		t.Fatalf("ProposeBatch on a follower: %v, want ErrNotLeader", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
	// The same record through Propose is forwarded and commits.
	waitAll(t, []*Future{c.nodes[f].Propose(context.Background(), publish("fwd", "y"))}, 30*time.Second)
}
