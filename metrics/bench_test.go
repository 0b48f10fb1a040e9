package metrics

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/replication"
)

// BenchmarkProposeObserved measures what the histograms cost the commit
// path: durable proposals (a real one-node cluster on disk, raft-wal with
// fsync) from 256 concurrent proposers, with the registry's observers and
// without. Run the two with -count N: they alternate within one run.
func BenchmarkProposeObserved(b *testing.B) {
	for _, observed := range []bool{false, true} {
		name := "observers=off"
		if observed {
			name = "observers=on"
		}
		b.Run(name, func(b *testing.B) {
			benchPropose(b, benchNode(b, observed), 256)
		})
	}
}

// benchNode starts one node on disk, with the observers of a registry
// when observed.
func benchNode(b *testing.B, observed bool) *replication.Node {
	o := replication.DefaultOptions()
	o.NodeID, o.DataDir, o.RaftAddr, o.Bootstrap = "b1", b.TempDir(), "127.0.0.1:0", true
	o.Machine = replication.NewFSMMachine()
	if observed {
		r := New("b1", "bench")
		o.Observe = r.Replication()
		r.ObserveLog(&o.Log)
	}
	n, err := replication.New(o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { n.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.WaitLeader(ctx); err != nil {
		b.Fatal(err)
	}
	return n
}

func benchPropose(b *testing.B, n *replication.Node, conc int) {
	e := fsm.Entry{Kind: fsm.KindPublish, ClientID: "bench",
		Publish: fsm.Publish{Message: fsm.Message{Topic: "site/1/dev/2/temp", Payload: make([]byte, 64)}}}
	rec, err := e.Record()
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if _, err := n.Propose(context.Background(), []log.Record{rec}...).Wait(); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "proposals/s")
}

// BenchmarkObserversPerProposal is what the hooks add to one proposal in
// the worst case, a batch of one record: the start time read in Propose,
// the commit latency (one clock read and one histogram observation), the
// batch size and the Raft log append.
func BenchmarkObserversPerProposal(b *testing.B) {
	o := New("b1", "bench").Replication()
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		o.EntryRecords(1)
		o.RaftAppend(1, time.Millisecond)
		o.Commit(time.Since(start))
	}
}
