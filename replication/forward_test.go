package replication

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stratamq/strata/log"
)

// ackLog records a follower's acknowledged proposals with their time.
type ackLog struct {
	mu    sync.Mutex
	acked map[string]log.Offset
	at    []time.Time
	errs  int
}

func (a *ackLog) add(p string, off log.Offset, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		a.errs++
		return
	}
	a.acked[p] = off
	a.at = append(a.at, time.Now())
}

// firstAfter returns the first acknowledgement time after t (zero if none).
func (a *ackLog) firstAfter(t time.Time) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, at := range a.at {
		if at.After(t) {
			return at
		}
	}
	return time.Time{}
}

// proposeUntil proposes unique publishes on node i from w goroutines until
// stop is closed.
func (c *cluster) proposeUntil(i, w int, prefix string, acks *ackLog, stop <-chan struct{}) *sync.WaitGroup {
	n := c.nodes[i]
	var wg sync.WaitGroup
	for g := 0; g < w; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				p := fmt.Sprintf("%s-%d-%d", prefix, g, k)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				off, err := n.Propose(ctx, publish(fmt.Sprintf("t/%d", g), p)).Wait()
				cancel()
				acks.add(p, off, err)
			}
		}(g)
	}
	return &wg
}

// TestFollowerAcksResumeAfterLeaderLoss: while a follower's proposals are
// in flight, the leader is cut off (raft and HTTP: a forward to it hangs, as
// to a paused process) or stopped. The follower's proposals are acknowledged
// again soon after a new leader is elected, long before the 10 s
// ApplyTimeout, and nothing is committed twice.
func TestFollowerAcksResumeAfterLeaderLoss(t *testing.T) {
	for _, mode := range []string{"isolated", "stopped"} {
		t.Run(mode, func(t *testing.T) {
			c := newClusterWith(t, 3, func(o *Options) { o.ApplyTimeout = 10 * time.Second })
			lead := c.leader(all(3)...)
			c.converge(all(3)...) // every address recorded: followers can forward
			var rest []int
			for _, i := range all(3) {
				if i != lead {
					rest = append(rest, i)
				}
			}
			// Both followers propose: one of them becomes the new leader, the
			// other keeps forwarding, which is what is measured.
			acks := map[int]*ackLog{}
			stop := make(chan struct{})
			var wgs []*sync.WaitGroup
			for _, f := range rest {
				acks[f] = &ackLog{acked: map[string]log.Offset{}}
				wgs = append(wgs, c.proposeUntil(f, 8, fmt.Sprintf("n%d", f), acks[f], stop))
			}
			for _, f := range rest {
				waitUntil(t, "acknowledgements before the loss", 10*time.Second, func() bool { return !acks[f].firstAfter(time.Time{}).IsZero() })
			}

			lost := time.Now()
			c.loseLeader(lead, mode)
			newLead, elected := c.electedAt(rest)
			f := rest[0]
			if f == newLead {
				f = rest[1]
			}
			var first time.Time
			waitUntil(t, "an acknowledgement on the follower after the election", 5*time.Second, func() bool {
				first = acks[f].firstAfter(elected)
				return !first.IsZero()
			})
			t.Logf("%s leader n%d: n%d elected %v after the loss; first acknowledgement on follower n%d %v after the election (%v after the loss)",
				mode, lead, newLead, elected.Sub(lost).Round(time.Millisecond), f, first.Sub(elected).Round(time.Millisecond), first.Sub(lost).Round(time.Millisecond))
			close(stop)
			for _, wg := range wgs {
				wg.Wait()
			}
			alive := rest
			if mode == "isolated" {
				c.heal()
				c.mu.Lock()
				c.httpCut = map[int]bool{}
				c.mu.Unlock()
				alive = all(3)
			}
			inLog := payloads(t, c.converge(alive...)) // fails on a record logged twice
			for _, i := range rest {
				checkAcked(t, acks[i].acked, inLog)
				t.Logf("n%d: %d acknowledged, %d failed (outcome unknown or not committed)", i, len(acks[i].acked), acks[i].errs)
			}
		})
	}
}

// loseLeader isolates node i (raft and HTTP) or stops it.
func (c *cluster) loseLeader(i int, mode string) {
	if mode == "isolated" {
		c.mu.Lock()
		c.httpCut[i] = true
		c.mu.Unlock()
		c.isolate(i)
		return
	}
	c.mu.Lock()
	n := c.nodes[i]
	c.nodes[i] = nil
	c.mu.Unlock()
	if err := n.Close(); err != nil {
		c.t.Logf("close n%d: %v", i, err)
	}
}

// electedAt polls for a leader among nodes and returns it with the time it
// was first seen leading.
func (c *cluster) electedAt(nodes []int) (int, time.Time) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, i := range nodes {
			if c.nodes[i].IsLeader() {
				return i, time.Now()
			}
		}
		time.Sleep(time.Millisecond) // poll under a deadline
	}
	c.t.Fatalf("no leader among %v", nodes)
	return -1, time.Time{}
}

func waitUntil(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond) // poll under a deadline
	}
}
