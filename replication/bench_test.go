package replication

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// BenchmarkPropose measures durable proposals (the node's own Raft stores
// with fsync, real segment logs on disk) of 64-byte publishes, with many
// concurrent proposers. disk_B/publish is what the process wrote to the block
// device (/proc/self/io write_bytes: Raft log, stable store and segments) per
// acknowledged publish and per node.
func BenchmarkPropose(b *testing.B) {
	for _, nodes := range []int{1, 3} {
		for _, conc := range []int{64, 256, 1024, 4096} {
			b.Run(fmt.Sprintf("nodes=%d/proposers=%d", nodes, conc), func(b *testing.B) {
				leader := benchCluster(b, nodes)
				before := writeBytes(b)
				benchPropose(b, leader, conc)
				b.ReportMetric(float64(writeBytes(b)-before)/float64(b.N)/float64(nodes), "disk_B/publish")
			})
		}
	}
}

// BenchmarkProposeTCP is BenchmarkPropose on three nodes over loopback TCP,
// for sizing RaftMaxRPCsInFlight (raft's in-memory transport pipelines a
// fixed 16).
func BenchmarkProposeTCP(b *testing.B) {
	for _, rpcs := range []int{1, 2, 8} {
		b.Run(fmt.Sprintf("nodes=3/proposers=1024/rpcs=%d", rpcs), func(b *testing.B) {
			benchPropose(b, benchClusterTCP(b, 3, rpcs), 1024)
		})
	}
}

// writeBytes is the bytes this process has caused to be written to storage.
func writeBytes(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		b.Skipf("no /proc/self/io: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Skip("no write_bytes in /proc/self/io")
	return 0
}

func benchCluster(b *testing.B, n int) *Node {
	var trans []raft.Transport
	var mem []*raft.InmemTransport
	for i := 0; i < n; i++ {
		_, tr := raft.NewInmemTransport(raft.ServerAddress(fmt.Sprint("b", i)))
		trans, mem = append(trans, tr), append(mem, tr)
	}
	for i := range mem {
		for j := range mem {
			if i != j {
				mem[i].Connect(mem[j].LocalAddr(), mem[j])
			}
		}
	}
	return benchNodes(b, trans, nil)
}

// benchClusterTCP is benchCluster on raft's TCP transport over loopback,
// pipelining rpcs AppendEntries per follower.
func benchClusterTCP(b *testing.B, n, rpcs int) *Node {
	var trans []raft.Transport
	for i := 0; i < n; i++ {
		tr, err := raft.NewTCPTransportWithConfig("127.0.0.1:0", nil, &raft.NetworkTransportConfig{
			MaxPool: 3, Timeout: 10 * time.Second, MaxRPCsInFlight: rpcs, Logger: hclog.NewNullLogger()})
		if err != nil {
			b.Fatal(err)
		}
		trans = append(trans, tr)
	}
	return benchNodes(b, trans, func(o *Options) { o.RaftMaxRPCsInFlight = rpcs })
}

// benchNodes starts one node per transport, each with its own data
// directory, bootstraps them as one cluster and returns the leader.
func benchNodes(b *testing.B, trans []raft.Transport, edit func(*Options)) *Node {
	var servers []raft.Server
	for i := range trans {
		servers = append(servers, raft.Server{ID: raft.ServerID(fmt.Sprint("b", i)), Address: trans[i].LocalAddr()})
	}
	var nodes []*Node
	for i := range trans {
		o := DefaultOptions()
		o.NodeID, o.DataDir, o.Machine = fmt.Sprint("b", i), b.TempDir(), NewFSMMachine()
		o.Transport, o.Snapshots = trans[i], raft.NewInmemSnapshotStore()
		if edit != nil {
			edit(&o)
		}
		if c, ok := trans[i].(raft.WithClose); ok {
			b.Cleanup(func() { c.Close() }) // after the node's Close (cleanups run last first)
		}
		node, err := New(o) // the node's own Raft log and stable store, on disk
		if err != nil {
			b.Fatal(err)
		}
		node.raft.BootstrapCluster(raft.Configuration{Servers: servers})
		nodes = append(nodes, node)
		b.Cleanup(func() { node.Close() })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		for _, nd := range nodes {
			if nd.IsLeader() {
				return nd
			}
		}
		if ctx.Err() != nil {
			b.Fatal("no leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func benchPropose(b *testing.B, n *Node, conc int) {
	rec := publish("site/1/dev/2/temp", string(make([]byte, 64)))
	lat := make([][]time.Duration, conc)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				start := time.Now()
				if _, err := n.Propose(context.Background(), rec).Wait(); err != nil {
					b.Error(err)
					return
				}
				lat[g] = append(lat[g], time.Since(start))
			}
		}(g)
	}
	wg.Wait()
	b.StopTimer()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "proposals/s")
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50_ms")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99_ms")
	}
}

// BenchmarkProposeLatency proposes at a fixed 1,000 proposals/s (open loop:
// each proposal in its own goroutine at its scheduled time) and reports
// commit latency percentiles. Use -benchtime Nx for N proposals.
func BenchmarkProposeLatency(b *testing.B) {
	for _, nodes := range []int{1, 3} {
		b.Run(fmt.Sprintf("nodes=%d/rate=1000", nodes), func(b *testing.B) {
			n := benchCluster(b, nodes)
			rec := publish("site/1/dev/2/temp", string(make([]byte, 64)))
			lat := make([]time.Duration, b.N)
			var wg sync.WaitGroup
			start := time.Now()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				time.Sleep(time.Until(start.Add(time.Duration(i) * time.Millisecond)))
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					t0 := time.Now()
					if _, err := n.Propose(context.Background(), rec).Wait(); err != nil {
						b.Error(err)
					}
					lat[i] = time.Since(t0)
				}(i)
			}
			wg.Wait()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
		})
	}
}
