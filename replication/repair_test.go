package replication

import (
	"os"
	"testing"
	"time"

	"github.com/stratamq/strata/log"
)

// damageSealed flips a byte in the middle of the n-th sealed segment of l
// (a frame body: the header and first frame header are left alone) and
// returns its path; dropIndex also removes its index, so the damage is
// found when the segment is opened rather than when it is read.
func damageSealed(t *testing.T, l *log.Log, n int, dropIndex bool) string {
	t.Helper()
	var sealed []log.SegmentInfo
	for _, s := range l.Segments() {
		if s.Sealed {
			sealed = append(sealed, s)
		}
	}
	if len(sealed) <= n {
		t.Fatalf("only %d sealed segments", len(sealed))
	}
	s := sealed[n]
	b, err := os.ReadFile(s.Path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(s.Path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if dropIndex {
		os.Remove(s.Path[:len(s.Path)-len(".seg")] + ".idx")
	}
	return s.Path
}

// waitClustered polls until node i's sealed segments are all clustered.
func (c *cluster) waitClustered(i int) {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !c.allClustered([]int{i}) {
		if time.Now().After(deadline) {
			c.t.Fatalf("n%d's sealed segments were not clustered in time", i)
		}
		time.Sleep(10 * time.Millisecond) // poll under a deadline
	}
}

// waitHealthy polls until node i reports no problem.
func (c *cluster) waitHealthy(i int) {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for c.nodes[i].Health() != nil {
		if time.Now().After(deadline) {
			c.t.Fatalf("n%d did not heal: %v", i, c.nodes[i].Health())
		}
		time.Sleep(10 * time.Millisecond) // poll under a deadline
	}
}

// TestDamagedSegmentWhileStoppedHealsFromPeers: a follower whose sealed
// segment was damaged while it was stopped starts, reports the damage,
// fetches a verified copy from a peer, and ends byte-identical to the
// others, having lost and acknowledged nothing wrongly.
func TestDamagedSegmentWhileStoppedHealsFromPeers(t *testing.T) {
	for _, dropIndex := range []bool{false, true} {
		name := map[bool]string{false: "found on read", true: "found at open"}[dropIndex]
		t.Run(name, func(t *testing.T) {
			c := newCluster(t, 3)
			lead := c.leader(all(3)...)
			acked := c.proposeMany(lead, 600, 8, "a")
			c.converge(all(3)...)
			victim := (lead + 1) % 3
			logDir := c.nodes[victim].Log().Dir()
			if err := c.nodes[victim].Close(); err != nil {
				t.Fatal(err)
			}
			c.mu.Lock()
			c.nodes[victim] = nil
			c.mu.Unlock()
			l, err := log.Open(logDir, testLogOptions())
			if err != nil {
				t.Fatal(err)
			}
			damageSealed(t, l, 1, dropIndex)
			l.Close()

			c.start(victim) // must not refuse: the damage is repaired, not fatal
			for k, v := range c.proposeMany(c.leader(all(3)...), 200, 8, "b") {
				acked[k] = v
			}
			c.waitHealthy(victim)
			checkAcked(t, acked, payloads(t, c.converge(all(3)...)))
		})
	}
}

// TestScrubFindsDamageAndHeals: damage to a running node's sealed segment
// is found by a scrub, reported in its health, and repaired from a peer;
// history reads stay exact meanwhile (an error, never a gap) and after.
func TestScrubFindsDamageAndHeals(t *testing.T) {
	c := newCluster(t, 3)
	lead := c.leader(all(3)...)
	acked := c.proposeMany(lead, 600, 8, "a")
	want := c.converge(all(3)...)
	victim := (lead + 2) % 3
	l := c.nodes[victim].Log()
	damageSealed(t, l, 0, false)
	if bad := l.Scrub(nil); bad != 1 {
		t.Fatalf("scrub found %d damaged segments, want 1", bad)
	}
	if err := c.nodes[victim].Health(); err == nil {
		t.Log("healed before the health check") // the repair loop may be that quick
	}
	c.waitHealthy(victim)
	got := readAll(t, c.nodes[victim].Log())
	if len(got) != len(want) {
		t.Fatalf("after repair %d records, want %d", len(got), len(want))
	}
	checkAcked(t, acked, payloads(t, c.converge(all(3)...)))
}

// TestDamagedSegmentReadFailsNotSkips: with no peer to repair from, a read
// across a damaged segment fails; it never skips the damaged records.
func TestDamagedSegmentReadFailsNotSkips(t *testing.T) {
	c := newCluster(t, 1)
	c.leader(0)
	c.proposeMany(0, 600, 8, "a")
	c.waitClustered(0) // a rewrite in progress would replace the damaged file
	l := c.nodes[0].Log()
	damageSealed(t, l, 1, false)
	it := l.Iter(l.FirstOffset())
	var last log.Offset
	for it.Next() {
		last = it.Record().Offset
	}
	if it.Err() == nil {
		t.Fatalf("read across a damaged segment ended without an error (last offset %d)", last)
	}
	it.Close()
	if c.nodes[0].Health() == nil {
		t.Fatal("a damaged segment with no peer to repair it is not reported")
	}
}

// TestDamagedActiveSegmentHealsFromPeers: damage inside the synced part of
// a stopped follower's active segment (records older than Raft's log, so
// not replayable) is not cut: the node fetches a verified copy from a peer
// before opening its log, keeps the damaged file aside, and converges.
func TestDamagedActiveSegmentHealsFromPeers(t *testing.T) {
	c := newClusterWith(t, 3, func(o *Options) { o.Log.SegmentBytes = 1 << 20 }) // one segment
	lead := c.leader(all(3)...)
	c.snapshotsByHand(10)
	acked := c.proposeMany(lead, 300, 8, "a")
	c.converge(all(3)...)
	for i := range c.nodes {
		if err := c.nodes[i].Snapshot(); err != nil { // syncs the log; raft keeps 10 entries
			t.Fatal(err)
		}
	}
	for k, v := range c.proposeMany(lead, 100, 4, "b") { // frames that record the sync point
		acked[k] = v
	}
	c.converge(all(3)...)
	victim := (lead + 1) % 3
	segs := c.nodes[victim].Log().Segments()
	if len(segs) != 1 {
		t.Fatalf("%d segments: the test needs the first frame in the active one", len(segs))
	}
	path := segs[0].Path
	if err := c.nodes[victim].Close(); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.nodes[victim] = nil
	c.mu.Unlock()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[32+64+2] ^= 0x10 // the first frame's body
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	c.heal()
	c.start(victim)
	checkAcked(t, acked, payloads(t, c.converge(all(3)...)))
	if _, err := os.Stat(path + ".damaged"); err != nil {
		t.Fatalf("the damaged file was not kept aside: %v", err)
	}
}
