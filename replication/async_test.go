package replication

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stratamq/strata/log"
)

// TestProposeAsyncKeepsOrder: proposals made one after another by one
// caller, on the leader and on a follower (forwarded), commit in that order.
func TestProposeAsyncKeepsOrder(t *testing.T) {
	c := newCluster(t, 3)
	l := c.leader(all(3)...)
	f := (l + 1) % 3
	deadline := time.Now().Add(10 * time.Second)
	for c.nodes[f].LeaderHTTP() == "" {
		if time.Now().After(deadline) {
			t.Fatal("follower never learned the leader's HTTP address")
		}
		time.Sleep(10 * time.Millisecond) // poll under a deadline
	}
	for _, i := range []int{l, f} {
		const n = 2000
		var mu sync.Mutex
		offs := make([]log.Offset, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		wg.Add(n)
		for k := 0; k < n; k++ {
			c.nodes[i].ProposeAsync(context.Background(), publish("order", fmt.Sprint(k)), func(off log.Offset, err error) {
				mu.Lock()
				offs[k], errs[k] = off, err
				mu.Unlock()
				wg.Done()
			})
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Fatal("callbacks not all called")
		}
		for k := 0; k < n; k++ {
			if errs[k] != nil {
				t.Fatalf("node %d proposal %d: %v", i, k, errs[k])
			}
			if k > 0 && offs[k] <= offs[k-1] {
				t.Fatalf("node %d: proposal %d at offset %d, not after %d", i, k, offs[k], offs[k-1])
			}
		}
	}
}

func TestProposeAsyncAfterClose(t *testing.T) {
	c := newCluster(t, 1)
	c.leader(0)
	c.nodes[0].Close()
	got := make(chan error, 1)
	c.nodes[0].ProposeAsync(context.Background(), publish("x", "y"), func(_ log.Offset, err error) { got <- err })
	select {
	case err := <-got:
		if err == nil {
			t.Fatal("proposal on a closed node succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("callback not called")
	}
	c.nodes[0] = nil
}

// TestProposeBatchOnFollowerIsNotForwarded: ProposeBatch is the leader's
// side of forwarding; on a follower it fails at once with ErrNotLeader, so
// two nodes that each think the other leads cannot wait on each other.
func TestProposeBatchOnFollowerIsNotForwarded(t *testing.T) {
	c := newCluster(t, 3)
	l := c.leader(all(3)...)
	f := (l + 1) % 3
	deadline := time.Now().Add(10 * time.Second)
	for c.nodes[f].LeaderHTTP() == "" {
		if time.Now().After(deadline) {
			t.Fatal("follower never learned the leader's HTTP address")
		}
		time.Sleep(10 * time.Millisecond) // poll under a deadline
	}
	start := time.Now()
	_, err := c.nodes[f].ProposeBatch(context.Background(), []log.Record{publish("fwd", "x")})
	if !errors.Is(err, ErrNotLeader) {
		t.Fatalf("ProposeBatch on a follower: %v, want ErrNotLeader", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
	// The same record through ProposeAsync is forwarded and commits.
	done := make(chan error, 1)
	c.nodes[f].ProposeAsync(context.Background(), publish("fwd", "y"), func(_ log.Offset, err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
