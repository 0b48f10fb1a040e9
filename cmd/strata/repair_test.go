package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestDamagedSegmentHealsFromPeers is issue 10's acceptance test with the
// real binary: in a 3-node cluster, one follower's sealed segment is damaged
// while it is stopped (index removed, a byte flipped); it starts, is not
// ready until it has fetched a verified copy from a peer, and then serves
// history byte-identical to the leader's.
func TestDamagedSegmentHealsFromPeers(t *testing.T) {
	bin := buildStrata(t)
	flags := []string{"--segment-bytes", "8192"}
	var nodes []*proc
	for i := 1; i <= 3; i++ {
		nodes = append(nodes, &proc{id: fmt.Sprint("r", i), http: freeAddr(t), raft: freeAddr(t), dir: filepath.Join(t.TempDir(), "data")})
	}
	startNode(t, bin, nodes[0], "", flags...)
	waitReady(t, nodes[0])
	for _, p := range nodes[1:] {
		startNode(t, bin, p, nodes[0].http, flags...)
		waitReady(t, p)
	}
	pub := &publisher{acked: map[string]uint64{}, nodes: nodes, dead: map[string]bool{}}
	for i := 0; i < 600; i++ {
		pub.publishOnce(i)
	}
	if pub.count() != 600 {
		t.Fatalf("%d of 600 publishes acknowledged", pub.count())
	}
	leader := leaderOf(t, nodes)
	want := history(t, leader)
	victim := nodes[0]
	if victim == leader {
		victim = nodes[1]
	}
	waitFor(t, victim.id+" to hold all messages", 20*time.Second, func() bool { return bytes.Equal(history(t, victim), want) })
	stopNode(t, victim)

	segs, _ := filepath.Glob(filepath.Join(victim.dir, "log", "*.seg"))
	sort.Strings(segs)
	if len(segs) < 4 {
		t.Fatalf("only %d segments: nothing sealed to damage", len(segs))
	}
	damaged := segs[1]
	os.Remove(strings.TrimSuffix(damaged, ".seg") + ".idx")
	b, err := os.ReadFile(damaged)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x20
	if err := os.WriteFile(damaged, b, 0o600); err != nil {
		t.Fatal(err)
	}

	startNode(t, bin, victim, "", flags...)
	waitReady(t, victim) // /readyz answers 200 only once the segment is repaired
	got := history(t, victim)
	if !bytes.Equal(got, want) {
		t.Fatalf("after the repair %s serves %d bytes of history, the leader %d", victim.id, len(got), len(want))
	}
	stopNode(t, victim) // its stderr is complete (and no longer written) once it exited
	for _, want := range []string{"damaged", "replaced by a verified copy"} {
		if !strings.Contains(victim.stderr.String(), want) {
			t.Fatalf("%q is not in %s's log:\n%s", want, victim.id, victim.stderr)
		}
	}
}

// history returns a node's whole history as GET /v1/messages serves it.
func history(t *testing.T, p *proc) []byte {
	t.Helper()
	resp, err := http.Get("http://" + p.http + "/v1/messages?filter=%23")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("history from %s: %s %v", p.id, resp.Status, err)
	}
	return b
}
