package mqtt_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/mqtt/packet"
	"github.com/stratamq/strata/replication"
)

// TestWillsDueWhileProposalQueueIsFull is the regression test for the
// apply-path deadlock: the node's proposal queue is held at its bound (a
// flood of proposers on a node whose batches hold one proposal each) while
// sessions end and their wills fall due. Proposing those wills from the
// apply goroutine would wait for a queue that only that goroutine drains;
// housekeeping proposes them from its own goroutine, so every will arrives
// and the flood keeps committing.
func TestWillsDueWhileProposalQueueIsFull(t *testing.T) {
	tb := startBrokerOpts(t, t.TempDir(), func(o *replication.Options) {
		o.MaxBatchCount, o.MaxInflight = 1, 1 // a queue of 4 proposals
	}, nil)
	watcher, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "watcher", CleanStart: true})
	watcher.subscribe(0, packet.Subscription{Filter: "will/#", QoS: 1})

	ctx, stop := context.WithCancel(context.Background())
	var flooded atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := fsm.Entry{Kind: fsm.KindPublish, ClientID: fmt.Sprint("flood", g),
				Publish: fsm.Publish{Message: fsm.Message{Topic: "flood", Payload: []byte("x")}}}
			rec, _ := e.Record()
			for ctx.Err() == nil {
				f := tb.node.Propose(ctx, rec)
				select {
				case <-f.Done():
					if _, err := f.Wait(); err == nil {
						flooded.Add(1)
					}
				case <-ctx.Done(): // a stuck node must fail the test, not hang it
				}
			}
		}()
	}
	defer func() { stop(); wg.Wait() }()
	waitFor(t, 10*time.Second, "the flood to commit", func() bool { return flooded.Load() > 100 })

	const n = 10
	for i := range n {
		id := fmt.Sprint("w", i)
		c, _ := rawConnect(t, tb.addr, willConnect(id, "will/"+id, 0, 0))
		c.close() // abnormal end: the will is due at once
	}
	got := map[string]bool{}
	for len(got) < n {
		_, topic := watcher.recvPublish(20 * time.Second)
		got[topic] = true
	}
	before := flooded.Load()
	waitFor(t, 10*time.Second, "the flood to keep committing", func() bool { return flooded.Load() > before+100 })
}
