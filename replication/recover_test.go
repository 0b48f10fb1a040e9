package replication

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/segment"
)

// memLogs gives the listed nodes an in-memory, fault-injecting filesystem
// for their segment logs.
func memLogs(fss map[int]*segment.MemFS) func(int, *Options) {
	return func(i int, o *Options) {
		if fs := fss[i]; fs != nil {
			o.Log.FS = fs
			o.RecoverInterval = 50 * time.Millisecond
		}
	}
}

// waitHealth polls until the node's health is as wanted (nil or not).
func waitHealth(t *testing.T, n *Node, healthy bool) error {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if err := n.Health(); (err == nil) == healthy {
			return err
		}
		time.Sleep(10 * time.Millisecond) // poll under a deadline
	}
	t.Fatalf("health did not become healthy=%v: %v", healthy, n.Health())
	return nil
}

// TestFullDiskStopsAcknowledgingAndResumes: a single node whose disk fills
// acknowledges nothing, says why in its status, and resumes by itself when
// space returns, with every acknowledged publish in the log exactly once.
func TestFullDiskStopsAcknowledgingAndResumes(t *testing.T) {
	mem := segment.NewMemFS()
	c := newClusterPerNode(t, 1, memLogs(map[int]*segment.MemFS{0: mem}))
	c.leader(0)
	n := c.nodes[0]
	acked := c.proposeMany(0, 200, 4, "before")
	if len(acked) != 200 {
		t.Fatalf("acknowledged %d of 200 before the fault: %v", len(acked), c.firstErr)
	}

	mem.SetFault(".", &segment.Fault{WriteErr: syscall.ENOSPC, WriteAfter: 37}) // a torn frame lands
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_, err := n.Propose(ctx, publish("t/full", "refused")).Wait()
	cancel()
	if err == nil {
		t.Fatal("a publish was acknowledged while the disk was full")
	}
	reason := waitHealth(t, n, false)
	if !strings.Contains(reason.Error(), "no space left") {
		t.Fatalf("health reason %q does not name the full disk", reason)
	}
	st, _ := n.Status()
	if st.Degraded == "" {
		t.Fatal("status does not report the degraded node")
	}
	// More proposals while full: none may be acknowledged.
	for k := 0; k < 20; k++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if _, err := n.Propose(ctx, publish("t/full", fmt.Sprint("full-", k))).Wait(); err == nil {
			t.Fatalf("publish %d acknowledged while the disk was full", k)
		}
		cancel()
	}

	mem.SetFault(".", nil)
	waitHealth(t, n, true)
	after := c.proposeMany(0, 200, 4, "after")
	if len(after) != 200 {
		t.Fatalf("acknowledged %d of 200 after space returned: %v", len(after), c.firstErr)
	}
	inLog := payloads(t, readAll(t, n.Log()))
	checkAcked(t, acked, inLog)
	checkAcked(t, after, inLog)
	checkDense(t, n.Log())
}

// TestFollowerFullDiskRecoversAndConverges: a follower whose disk fills
// stops applying while the cluster goes on; once space returns it catches
// up from Raft's log by itself and ends identical to the others.
func TestFollowerFullDiskRecoversAndConverges(t *testing.T) {
	mems := map[int]*segment.MemFS{0: segment.NewMemFS(), 1: segment.NewMemFS(), 2: segment.NewMemFS()}
	c := newClusterPerNode(t, 3, memLogs(mems))
	lead := c.leader(all(3)...)
	f := (lead + 1) % 3
	acked := c.proposeMany(lead, 100, 4, "before")

	mems[f].SetFault(".", &segment.Fault{WriteErr: syscall.ENOSPC})
	during := c.proposeMany(lead, 300, 4, "during")
	if len(during) != 300 {
		t.Fatalf("the cluster acknowledged %d of 300 with one follower's disk full: %v", len(during), c.firstErr)
	}
	waitHealth(t, c.nodes[f], false)

	mems[f].SetFault(".", nil)
	waitHealth(t, c.nodes[f], true)
	after := c.proposeMany(lead, 100, 4, "after")
	recs := c.converge(all(3)...)
	inLog := payloads(t, recs)
	for _, m := range []map[string]log.Offset{acked, during, after} {
		checkAcked(t, m, inLog)
	}
}

// checkDense: offsets run from the first retained one without a gap.
func checkDense(t *testing.T, l *log.Log) {
	t.Helper()
	want := l.FirstOffset()
	for _, r := range readAll(t, l) {
		if r.Offset != want {
			t.Fatalf("offset %d where %d was expected", r.Offset, want)
		}
		want++
	}
}
