package replication

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/segment"
)

// errPowerOff fails every file operation after the simulated power loss.
var errPowerOff = errors.New("power off")

// powerLoss cuts the power of every node's segment log at once when the
// watched filesystem reaches its k-th mutating operation: each log keeps
// what a power loss would leave (segment.MemFS.CrashClone), and every later
// operation fails, so the nodes stop applying, snapshotting and
// acknowledging. Raft's stores (in memory here) are durable, as raft-wal's
// fsync per append makes them.
type powerLoss struct {
	mems   []*segment.MemFS
	clones []*segment.MemFS
	ops    atomic.Int64
	at     int64
	once   sync.Once
	done   chan struct{}
	rng    *rand.Rand
}

func newPowerLoss(n int, at int64, seed uint64) *powerLoss {
	p := &powerLoss{at: at, done: make(chan struct{}), rng: rand.New(rand.NewPCG(seed, 7))}
	for i := 0; i < n; i++ {
		p.mems = append(p.mems, segment.NewMemFS())
	}
	return p
}

// arm starts counting operations: from now on the k-th one cuts the power.
func (p *powerLoss) arm() {
	p.mems[0].SetHook(p.step)
	for _, m := range p.mems[1:] {
		m.SetHook(p.dead)
	}
}

func (p *powerLoss) step(segment.Op) error {
	if p.ops.Add(1) < p.at {
		return nil
	}
	p.once.Do(p.cut)
	return errPowerOff
}

func (p *powerLoss) dead(segment.Op) error {
	select {
	case <-p.done:
		return errPowerOff
	default:
		return nil
	}
}

func (p *powerLoss) cut() {
	for _, m := range p.mems {
		p.clones = append(p.clones, m.CrashClone(p.rng))
	}
	close(p.done)
}

// TestPowerLossOfAllNodesUnderSnapshots: three nodes take snapshots (raft
// then compacts its log to a few trailing entries) under load; at some
// operation of the first node's segment log every node loses power at
// once. After a restart every acknowledged publish is present exactly once
// at its offset and the replicas are identical. STRATA_CRASH=full tries
// many more crash points (make crash).
func TestPowerLossOfAllNodesUnderSnapshots(t *testing.T) {
	points := []int64{3, 20, 60, 110, 170, 240}
	if os.Getenv("STRATA_CRASH") == "full" {
		points = nil
		for k := int64(1); k < 400; k += 3 {
			points = append(points, k)
		}
	}
	for _, k := range points {
		t.Run(fmt.Sprint("op", k), func(t *testing.T) { powerLossAt(t, k) })
	}
}

func powerLossAt(t *testing.T, k int64) {
	p := newPowerLoss(3, k, uint64(k))
	fss := map[int]*segment.MemFS{}
	for i, m := range p.mems {
		fss[i] = m
	}
	c := newClusterPerNode(t, 3, memLogs(fss))
	lead := c.leader(all(3)...)
	c.snapshotsByHand(16)
	p.arm()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	var snaps atomic.Int64
	go func() { // snapshots while the load runs
		defer wg.Done()
		for j := 0; ; j++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if c.nodes[j%3].Snapshot() == nil { // fails once the power is off, or with nothing new
				snaps.Add(1)
			}
		}
	}()
	acked := c.proposeMany(lead, 400, 8, "a")
	close(stop)
	wg.Wait()
	p.once.Do(p.cut) // the load may end before step k: cut now
	for i := range c.nodes {
		c.nodes[i].Close()
		c.mu.Lock()
		c.nodes[i] = nil
		c.mu.Unlock()
	}
	for i, clone := range p.clones {
		fss[i] = clone
	}
	c.heal() // raft's shutdown disconnected the in-memory transports
	for i := range c.nodes {
		c.start(i)
	}
	c.leader(all(3)...)
	for i := range c.nodes {
		c.waitHealthy(i)
	}
	recs := c.converge(all(3)...)
	checkAcked(t, acked, payloads(t, recs))
	checkDenseRecords(t, recs)
	t.Logf("power loss at operation %d: %d snapshots, %d acknowledged, %d records after restart", k, snaps.Load(), len(acked), len(recs))
}

func checkDenseRecords(t *testing.T, recs []log.Record) {
	t.Helper()
	for i := 1; i < len(recs); i++ {
		if recs[i].Offset != recs[i-1].Offset+1 {
			t.Fatalf("offset %d follows %d", recs[i].Offset, recs[i-1].Offset)
		}
	}
}
