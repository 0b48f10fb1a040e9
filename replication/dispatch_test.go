package replication

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/segment"
)

// recorder is an FSMMachine that records the offsets whose effects were
// performed, in the order performed; with a gate, Perform waits until the
// gate is closed (a stuck dispatcher); with a delay, each Perform takes
// that long first (a slow one, so that a future resolved too early shows).
type recorder struct {
	*FSMMachine
	gate  chan struct{}
	delay time.Duration
	mu    sync.Mutex
	seen  []log.Offset
}

func (r *recorder) Perform(off log.Offset, effect any) {
	if r.gate != nil {
		<-r.gate
	}
	time.Sleep(r.delay) // simulated work, not a wait for a condition
	r.mu.Lock()
	r.seen = append(r.seen, off)
	r.mu.Unlock()
	r.FSMMachine.Perform(off, effect)
}

func (r *recorder) performed() []log.Offset {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]log.Offset(nil), r.seen...)
}

// has reports whether the effect at off was performed.
func (r *recorder) has(off log.Offset) bool {
	for _, o := range r.performed() {
		if o == off {
			return true
		}
	}
	return false
}

// recorders wraps every node's machine in a recorder; recs[i] is node i's
// current one (replaced when the node restarts).
func recorders(recs []*recorder, gate chan struct{}) func(i int, o *Options) {
	return func(i int, o *Options) {
		recs[i] = &recorder{FSMMachine: o.Machine.(*FSMMachine), gate: gate}
		o.Machine = recs[i]
	}
}

// checkIncreasing fails unless offs strictly increase: effects performed
// in offset order, none twice.
func checkIncreasing(t *testing.T, who string, offs []log.Offset) {
	t.Helper()
	for k := 1; k < len(offs); k++ {
		if offs[k] <= offs[k-1] {
			t.Fatalf("%s: effect of offset %d performed after that of %d", who, offs[k], offs[k-1])
		}
	}
}

// TestFutureResolvesAfterPerform: on the leader and on a follower
// (forwarded), a future resolves only once the effects of its records were
// performed on that node; a proposal's records get consecutive offsets.
func TestFutureResolvesAfterPerform(t *testing.T) {
	recs := make([]*recorder, 3)
	c := newClusterPerNode(t, 3, func(i int, o *Options) {
		recorders(recs, nil)(i, o)
		recs[i].delay = 200 * time.Microsecond
	})
	l := c.leader(all(3)...)
	f := (l + 1) % 3
	waitLeaderHTTP(t, c.nodes[f])
	for _, i := range []int{l, f} {
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- proposeTriples(c.nodes[i], recs[i], fmt.Sprintf("n%d-g%d", i, g), 20)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		checkIncreasing(t, fmt.Sprintf("n%d", i), recs[i].performed())
	}
}

// proposeTriples proposes n three-record proposals on node, one after
// another, and checks each: performed on node when its future resolved,
// its records consecutive and in order in the log.
func proposeTriples(node *Node, rec *recorder, prefix string, n int) error {
	for k := 0; k < n; k++ {
		p := fmt.Sprintf("%s-%d", prefix, k)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		first, err := wait(ctx, node.Propose(ctx, publish("t/a", p+"/0"), publish("t/b", p+"/1"), publish("t/c", p+"/2")))
		cancel()
		if err != nil {
			return fmt.Errorf("proposal %s: %w", p, err)
		}
		for j := 0; j < 3; j++ {
			if !rec.has(first + log.Offset(j)) {
				return fmt.Errorf("proposal %s resolved before the effect of offset %d was performed", p, first+log.Offset(j))
			}
		}
		if err := checkRun(node.Reader(), first, p); err != nil {
			return err
		}
	}
	return nil
}

// checkRun checks that the log holds p's three records at first, first+1
// and first+2.
func checkRun(r *Reader, first log.Offset, p string) error {
	it := r.Iter(first)
	defer it.Close()
	for j := 0; j < 3; j++ {
		if !it.Next() {
			return fmt.Errorf("proposal %s: record %d missing at offset %d: %v", p, j, first+log.Offset(j), it.Err())
		}
		rec := it.Record()
		e, err := fsm.DecodeRecord(rec)
		if err != nil {
			return fmt.Errorf("offset %d: %w", rec.Offset, err)
		}
		if got, want := string(e.Publish.Message.Payload), fmt.Sprintf("%s/%d", p, j); rec.Offset != first+log.Offset(j) || got != want {
			return fmt.Errorf("proposal %s: offset %d holds %q, want %q", p, rec.Offset, got, want)
		}
	}
	return nil
}

// TestFollowerFutureWaitsForItsApplier: a follower whose disk is full
// cannot apply; its forwarded proposal commits on the leader but its future
// waits (the records are not applied here) until recovery applies them. A
// future still waiting when the node closes resolves with ErrClosed.
func TestFollowerFutureWaitsForItsApplier(t *testing.T) {
	mems := map[int]*segment.MemFS{0: segment.NewMemFS(), 1: segment.NewMemFS(), 2: segment.NewMemFS()}
	c := newClusterPerNode(t, 3, memLogs(mems))
	l := c.leader(all(3)...)
	f := (l + 1) % 3
	waitLeaderHTTP(t, c.nodes[f])

	fut := forwardWhileFull(t, c, l, f, mems[f], "while-full")
	mems[f].SetFault(".", nil)
	off := waitAll(t, []*Future{fut}, 10*time.Second)[0]
	if got := c.nodes[f].Applied(); got <= off {
		t.Fatalf("future resolved at offset %d with the watermark at %d", off, got)
	}

	fut = forwardWhileFull(t, c, l, f, mems[f], "closing")
	c.mu.Lock()
	n := c.nodes[f]
	c.nodes[f] = nil
	c.mu.Unlock()
	n.Close()
	if _, err, ok := fut.Result(); !ok || !errors.Is(err, ErrClosed) {
		t.Fatalf("future of a closed node: resolved %v, error %v; want ErrClosed", ok, err)
	}
}

// forwardWhileFull fills follower f's disk, proposes there and returns the
// future once the leader has applied the record, checking that it stays
// unresolved.
func forwardWhileFull(t *testing.T, c *cluster, l, f int, mem *segment.MemFS, payload string) *Future {
	t.Helper()
	mem.SetFault(".", &segment.Fault{WriteErr: syscall.ENOSPC})
	fut := c.nodes[f].Propose(context.Background(), publish("t/w", payload))
	// Nothing else is proposed: the entry the follower fails on is this one,
	// so it is committed, and a probe proposed after it on the leader
	// resolves once the leader applied it (and answered the forward).
	waitUntil(t, "the follower to stop applying", 10*time.Second, func() bool { return c.nodes[f].Applying() != nil })
	waitAll(t, []*Future{c.nodes[l].Propose(context.Background(), publish("t/w", payload+"-probe"))}, 10*time.Second)
	select {
	case <-fut.Done():
		_, err := fut.Wait()
		t.Fatalf("future resolved (%v) while its node cannot apply", err)
	case <-time.After(200 * time.Millisecond): // a negative check needs a bound
	}
	return fut
}

// TestEffectsInOrderAcrossRestartAndInstall: effects are performed in
// offset order, none twice, through a restart's catch-up fold (after a
// snapshot) and a snapshot install on a new node.
func TestEffectsInOrderAcrossRestartAndInstall(t *testing.T) {
	recs := make([]*recorder, 4)
	c := newClusterPerNode(t, 3, recorders(recs, nil))
	lead := c.leader(all(3)...)
	c.snapshotsByHand(10)
	c.proposeMany(lead, 300, 8, "a")
	for i := range c.nodes {
		if err := c.nodes[i].Snapshot(); err != nil {
			t.Fatalf("snapshot n%d: %v", i, err)
		}
	}
	c.proposeMany(lead, 50, 4, "b")

	victim := (lead + 1) % 3
	c.converge(all(3)...)
	next := c.nodes[victim].Log().NextOffset()
	c.mu.Lock()
	c.nodes[victim].Close()
	c.nodes[victim] = nil
	c.mu.Unlock()
	c.start(victim) // catch-up fold of the records after the snapshot
	waitUntil(t, "the restarted node to apply its log", 10*time.Second, func() bool { return c.nodes[victim].Applied() >= next })
	restarted := recs[victim].performed()
	if len(restarted) == 0 || restarted[0] == 0 {
		t.Fatalf("restart performed %d effects from %v: the catch-up did not start after the snapshot", len(restarted), restarted[:min(1, len(restarted))])
	}

	c.addSlot() // a fourth node installs the snapshot
	c.heal()
	c.start(3)
	if err := c.nodes[c.leader(all(3)...)].Join("n3", "node3", ""); err != nil {
		t.Fatal(err)
	}
	c.proposeMany(c.leader(all(3)...), 50, 4, "c")
	c.converge(all(4)...)
	if idx := c.nodes[3].raft.Stats()["last_snapshot_index"]; idx == "0" {
		t.Fatal("the new node caught up without installing a snapshot: the test did not test Restore")
	}
	for i, r := range recs {
		checkIncreasing(t, fmt.Sprintf("n%d", i), r.performed())
	}
	installed := recs[3].performed()
	if len(installed) == 0 || installed[0] == 0 {
		t.Fatal("the new node performed the effects below its snapshot")
	}
	end := c.nodes[3].Reader().NextOffset() // the Reader follows the log the install replaced
	if end != c.nodes[lead].Log().NextOffset() {
		t.Fatalf("the new node's Reader ends at %d, the leader's log at %d", end, c.nodes[lead].Log().NextOffset())
	}
	waitUntil(t, "the new node's watermark", 10*time.Second, func() bool { return c.nodes[3].Applied() == end })
}

// TestSlowPerformDoesNotStopCommits: while the dispatcher is stuck in a
// slow Perform, raft keeps committing and the FSM keeps folding until the
// dispatcher's queue is full; nothing resolves meanwhile, and everything
// resolves, in order, once Perform proceeds.
func TestSlowPerformDoesNotStopCommits(t *testing.T) {
	gate := make(chan struct{})
	recs := make([]*recorder, 1)
	c := newClusterPerNode(t, 1, func(i int, o *Options) {
		recorders(recs, gate)(i, o)
		o.DispatchQueue, o.MaxBatchCount, o.MaxInflight = 2, 1, 8 // one entry per proposal
	})
	c.leader(0)
	n := c.nodes[0]
	defer func() {
		select {
		case <-gate:
		default:
			close(gate) // let Close drain the dispatcher after a failure
		}
	}()
	waitUntil(t, "the node's own address in the log", 10*time.Second, func() bool { return n.MemberHTTP("n0") != "" })
	start := n.Log().NextOffset()
	// Within what the batcher holds (MaxInflight entries in raft, 4 x
	// MaxBatchCount queued): Propose blocks beyond that while nothing applies.
	futures := make([]*Future, 10)
	for k := range futures {
		futures[k] = n.Propose(context.Background(), publish("t/slow", fmt.Sprint(k)))
	}
	// One effect in Perform, DispatchQueue handoffs queued, the FSM
	// goroutine waiting with the next: the fold went past the stuck one.
	waitUntil(t, "the fold to run ahead of Perform", 10*time.Second, func() bool {
		return n.Log().NextOffset() >= start+1+2
	})
	waitUntil(t, "raft to commit past what the FSM folded", 10*time.Second, func() bool {
		return n.raft.CommitIndex() > n.Log().LastTag() // the log's frames carry their Raft index
	})
	for k, f := range futures {
		if _, err, ok := f.Result(); ok {
			t.Fatalf("future %d resolved (%v) before its effect was performed", k, err)
		}
	}
	if got := n.Applied(); got > start {
		t.Fatalf("watermark at %d while Perform is stuck at %d", got, start)
	}
	close(gate)
	offs := waitAll(t, futures, 30*time.Second)
	for k := 1; k < len(offs); k++ {
		if offs[k] != offs[k-1]+1 {
			t.Fatalf("proposal %d at %d after %d", k, offs[k], offs[k-1])
		}
	}
	checkIncreasing(t, "n0", recs[0].performed())
}

// TestDispatcherWatermark: without raft, a dispatcher performs effects in
// the order handed over, skips those below its watermark (a Restore behind
// the fold), resolves a future once the watermark passes its last record,
// at once if it already has, and with ErrClosed when it closes first.
func TestDispatcherWatermark(t *testing.T) {
	m := &recorder{FSMMachine: NewFSMMachine()}
	d := newDispatcher(m, 4)
	early, late, never := newFuture(), newFuture(), newFuture()
	d.await(early, 0, 2) // offsets 0 and 1
	d.await(late, 2, 3)  // offsets 2 to 4
	d.await(never, 9, 1)
	d.handOver([]handoff{{effects: []effectAt{{0, "a"}, {1, "b"}}, through: 2}})
	if off := waitAll(t, []*Future{early}, 5*time.Second)[0]; off != 0 {
		t.Fatalf("first offset %d, want 0", off)
	}
	d.handOver([]handoff{{through: 1}, {effects: []effectAt{{1, "again"}, {2, "c"}}, through: 5}})
	waitAll(t, []*Future{late}, 5*time.Second)
	if _, _, ok := never.Result(); ok {
		t.Fatal("a future beyond the watermark resolved")
	}
	below := newFuture()
	d.await(below, 3, 1)
	if _, err, ok := below.Result(); !ok || err != nil {
		t.Fatalf("a future below the watermark: resolved %v, error %v; want at once", ok, err)
	}
	d.close()
	if _, err, ok := never.Result(); !ok || !errors.Is(err, ErrClosed) {
		t.Fatalf("a waiting future at close: resolved %v, error %v; want ErrClosed", ok, err)
	}
	if got, want := fmt.Sprint(m.performed()), "[0 1 2]"; got != want {
		t.Fatalf("performed %s, want %s", got, want)
	}
}

// firstPerform notes how far the fold had got when the first effect was
// performed, holds that Perform until released, and records every offset
// performed.
type firstPerform struct {
	*FSMMachine
	once    sync.Once
	at      atomic.Int64 // the fold's next offset at the first Perform; -1 before
	release chan struct{}
	mu      sync.Mutex
	seen    []log.Offset
}

func (f *firstPerform) Perform(off log.Offset, effect any) {
	f.once.Do(func() {
		f.at.Store(int64(f.FSMMachine.View().NextOffset()))
		<-f.release
	})
	f.mu.Lock()
	f.seen = append(f.seen, off)
	f.mu.Unlock()
	f.FSMMachine.Perform(off, effect)
}

// TestCatchUpHandsEffectsAsItGoes: a restart's fold of the local log hands
// its effects to the dispatcher as it goes, not all at the end (they hold
// a copy of every record: a long log meant gigabytes held at once). With a
// dispatch queue of one and the first Perform held, the fold stops well
// before the log's end; released, it finishes and every effect is
// performed once, in order.
func TestCatchUpHandsEffectsAsItGoes(t *testing.T) {
	const total = catchUpHandoff * catchUpFlush * 3
	fp := &firstPerform{release: make(chan struct{})}
	fp.at.Store(-1)
	restarted := false
	c := newClusterPerNode(t, 1, func(i int, o *Options) {
		if restarted {
			fp.FSMMachine = o.Machine.(*FSMMachine)
			o.Machine = fp
			o.DispatchQueue = 1
		}
	})
	c.leader(0)
	for b := 0; b < total/512; b++ {
		recs := make([]log.Record, 512)
		for k := range recs {
			recs[k] = publish(fmt.Sprintf("t/%d", k%7), fmt.Sprintf("p-%d-%d", b, k))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := c.nodes[0].ProposeBatch(ctx, recs)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	next := c.nodes[0].Log().NextOffset()
	c.mu.Lock()
	c.nodes[0].Close()
	c.nodes[0] = nil
	c.mu.Unlock()
	restarted = true
	started := make(chan struct{})
	go func() { defer close(started); c.start(0) }()
	waitUntil(t, "the first effect performed", 10*time.Second, func() bool { return fp.at.Load() >= 0 })
	at := fp.at.Load()
	close(fp.release)
	<-started
	if at >= int64(next)/2 {
		t.Fatalf("the first effect was performed with %d of %d records folded: the fold kept its effects", at, next)
	}
	waitUntil(t, "every effect performed", 10*time.Second, func() bool {
		fp.mu.Lock()
		defer fp.mu.Unlock()
		return len(fp.seen) >= total
	})
	fp.mu.Lock()
	defer fp.mu.Unlock()
	checkIncreasing(t, "n0", fp.seen)
	if len(fp.seen) != total {
		t.Fatalf("%d effects performed, want %d", len(fp.seen), total)
	}
}
