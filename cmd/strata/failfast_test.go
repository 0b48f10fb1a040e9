package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// waitExit waits up to d for p to exit and returns its exit code and how
// long it took.
func waitExit(t *testing.T, p *proc, d time.Duration) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
		return p.cmd.ProcessState.ExitCode(), time.Since(start)
	case <-time.After(d):
		p.cmd.Process.Signal(syscall.SIGQUIT) // the Go runtime prints every goroutine's stack
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-done
		}
		t.Fatalf("%s still running after %v; stderr (with the goroutines' stacks):\n%s", p.id, d, p.stderr)
		return 0, 0
	}
}

func waitReady(t *testing.T, p *proc) {
	t.Helper()
	waitFor(t, p.id+" ready", 20*time.Second, func() bool { var v any; return getJSON("http://"+p.http+"/readyz", &v) == nil })
}

// stopNode ends a node with SIGTERM, as an operator would.
func stopNode(t *testing.T, p *proc) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, _ := waitExit(t, p, 20*time.Second); code != 0 {
		t.Fatalf("%s exited %d after SIGTERM; stderr:\n%s", p.id, code, p.stderr)
	}
}

// TestServeFailsFast runs real `strata serve` processes on 127.0.0.1: a
// second one on a data directory in use, and one with another --node-id
// than the directory was made with, each exit 1 at once with a message
// that says why.
func TestServeFailsFast(t *testing.T) {
	bin := buildStrata(t)
	dir := filepath.Join(t.TempDir(), "data")
	first := &proc{id: "n1", http: freeAddr(t), raft: freeAddr(t), dir: dir}
	startNode(t, bin, first, "")
	waitReady(t, first)

	second := &proc{id: "n1", http: freeAddr(t), raft: freeAddr(t), dir: dir}
	startNode(t, bin, second, "")
	code, took := waitExit(t, second, 10*time.Second)
	want := fmt.Sprintf("data directory %s is in use by another strata process (pid %d)", dir, first.cmd.Process.Pid)
	if code != 1 || !strings.Contains(second.stderr.String(), want) {
		t.Fatalf("second serve on a directory in use: exit %d, stderr:\n%s\nwant exit 1 and %q", code, second.stderr, want)
	}
	if took > 2*time.Second {
		t.Errorf("second serve took %v to fail", took)
	}
	t.Logf("second serve on the same data directory exited 1 after %v: %s", took.Round(time.Millisecond), strings.TrimSpace(second.stderr.String()))

	stopNode(t, first)
	other := &proc{id: "n2", http: freeAddr(t), raft: first.raft, dir: dir}
	startNode(t, bin, other, "")
	code, took = waitExit(t, other, 10*time.Second)
	want = `belongs to node "n1", not "n2"`
	if code != 1 || !strings.Contains(other.stderr.String(), want) {
		t.Fatalf("serve with another node id: exit %d, stderr:\n%s\nwant exit 1 and %q", code, other.stderr, want)
	}
	t.Logf("serve with another --node-id exited 1 after %v: %s", took.Round(time.Millisecond), strings.TrimSpace(other.stderr.String()))
}

// TestServeSIGTERMWhileWaitingForPeers: a node waiting for its
// --bootstrap-expect peers exits promptly on SIGTERM.
func TestServeSIGTERMWhileWaitingForPeers(t *testing.T) {
	bin := buildStrata(t)
	p := &proc{id: "n1", http: freeAddr(t), raft: freeAddr(t), dir: filepath.Join(t.TempDir(), "data")}
	startNode(t, bin, p, freeAddr(t)+","+freeAddr(t), "--bootstrap-expect", "3")
	waitFor(t, "n1 to answer while it waits for its peers", 20*time.Second, func() bool {
		var id struct{ ID string }
		return getJSON("http://"+p.http+"/v1/cluster/identity", &id) == nil && id.ID == "n1"
	})
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, took := waitExit(t, p, 10*time.Second)
	if took > 2*time.Second {
		t.Errorf("exited %v after SIGTERM", took)
	}
	if code != 0 || !strings.Contains(p.stderr.String(), "start-up interrupted") {
		t.Fatalf("exit %d after SIGTERM; stderr:\n%s", code, p.stderr)
	}
	t.Logf("exited %d %v after SIGTERM", code, took.Round(time.Millisecond))
}

// TestServeNewRaftAddrOneNode: a one-node cluster restarted with another
// --raft-addr applies it to its membership itself.
func TestServeNewRaftAddrOneNode(t *testing.T) {
	bin := buildStrata(t)
	p := &proc{id: "n1", http: freeAddr(t), raft: freeAddr(t), dir: filepath.Join(t.TempDir(), "data")}
	startNode(t, bin, p, "")
	waitReady(t, p)
	stopNode(t, p)
	p.raft, p.mqtt, p.ws = freeAddr(t), "", ""
	startNode(t, bin, p, "")
	waitReady(t, p)
	waitFor(t, "the new raft address in the membership", 20*time.Second, func() bool {
		var st struct{ Servers []struct{ Address string } }
		return getJSON("http://"+p.http+"/v1/cluster/status", &st) == nil && len(st.Servers) == 1 && st.Servers[0].Address == p.raft
	})
}

// TestPausedLeaderAcksResume: three real processes; publishers post to both
// followers; the leader is paused (SIGSTOP), so forwards to it hang. The
// follower that does not become leader acknowledges again soon after the
// new leader's election (it used to wait out the 10 s ApplyTimeout), and
// after the old leader resumes, every acknowledged publish is in all three
// logs exactly once.
func TestPausedLeaderAcksResume(t *testing.T) {
	bin := buildStrata(t)
	nodes := startCluster(t, bin, "p")
	leader := leaderOf(t, nodes)
	pubs := map[string]*publisher{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, n := range nodes {
		if n == leader {
			continue
		}
		pubs[n.id] = &publisher{acked: map[string]uint64{}, nodes: []*proc{n}, dead: map[string]bool{}}
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func(p *publisher, base int) {
				defer wg.Done()
				for seq := base; ; seq += 4 {
					select {
					case <-stop:
						return
					default:
					}
					p.publishOnce(seq)
				}
			}(pubs[n.id], len(pubs)*1_000_000+w)
		}
	}
	for id, p := range pubs {
		waitFor(t, "acks through "+id, 30*time.Second, func() bool { return p.count() >= 20 })
	}
	if err := leader.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	defer leader.cmd.Process.Signal(syscall.SIGCONT)
	var newLeader string
	waitFor(t, "a new leader", 20*time.Second, func() bool {
		newLeader = newLeaderSeen(nodes, leader)
		return newLeader != ""
	})
	elected := time.Now()
	var follower string
	for id := range pubs {
		if id != newLeader {
			follower = id
		}
	}
	before := pubs[follower].count()
	waitFor(t, "an acknowledgement through the follower", 20*time.Second, func() bool { return pubs[follower].count() > before })
	acked := time.Now()
	t.Logf("leader %s paused: %s seen leading %v later; first acknowledgement through follower %s %v after that (%v after the pause)",
		leader.id, newLeader, elected.Sub(paused).Round(time.Millisecond), follower, acked.Sub(elected).Round(time.Millisecond), acked.Sub(paused).Round(time.Millisecond))
	if d := acked.Sub(elected); d > 5*time.Second {
		t.Errorf("the follower acknowledged nothing for %v after the election", d)
	}
	close(stop)
	wg.Wait()
	leader.cmd.Process.Signal(syscall.SIGCONT)
	checkSameLogs(t, nodes, pubs)
}

// startCluster starts three joined processes and waits for three voters.
func startCluster(t *testing.T, bin, prefix string) []*proc {
	t.Helper()
	var nodes []*proc
	for i := 1; i <= 3; i++ {
		nodes = append(nodes, &proc{id: fmt.Sprint(prefix, i), http: freeAddr(t), raft: freeAddr(t), dir: filepath.Join(t.TempDir(), "data")})
	}
	startNode(t, bin, nodes[0], "")
	waitReady(t, nodes[0])
	for _, n := range nodes[1:] {
		startNode(t, bin, n, nodes[0].http)
	}
	waitFor(t, "three voters", 30*time.Second, func() bool {
		var st struct{ Servers []struct{ Voter bool } }
		return getJSON("http://"+nodes[0].http+"/v1/cluster/status", &st) == nil && len(st.Servers) == 3
	})
	for _, n := range nodes {
		waitReady(t, n)
	}
	return nodes
}

// newLeaderSeen returns the id of a leader other than old that a node
// other than old reports, or "".
func newLeaderSeen(nodes []*proc, old *proc) string {
	for _, n := range nodes {
		var st struct {
			LeaderID string `json:"leader_id"`
		}
		if n != old && getJSON("http://"+n.http+"/v1/cluster/status", &st) == nil && st.LeaderID != "" && st.LeaderID != old.id {
			return st.LeaderID
		}
	}
	return ""
}

// checkSameLogs waits for the nodes to converge, stops them and checks
// their logs are equal and hold every acknowledged publish once.
func checkSameLogs(t *testing.T, nodes []*proc, pubs map[string]*publisher) {
	t.Helper()
	waitFor(t, "the nodes to converge", 30*time.Second, func() bool {
		var offs []uint64
		for _, n := range nodes {
			var st struct {
				NextOffset uint64 `json:"next_offset"`
			}
			if getJSON("http://"+n.http+"/v1/cluster/status", &st) != nil {
				return false
			}
			offs = append(offs, st.NextOffset)
		}
		return offs[0] == offs[1] && offs[1] == offs[2]
	})
	var dumps [][]byte
	for _, n := range nodes {
		stopNode(t, n)
		dumps = append(dumps, dumpLog(t, n.dir))
	}
	for _, d := range dumps[1:] {
		if !bytes.Equal(d, dumps[0]) {
			t.Fatal("the logs differ")
		}
	}
	total := 0
	for _, p := range pubs {
		checkAckedInDump(t, p.acked, dumps[0])
		total += len(p.acked)
	}
	t.Logf("%d acknowledged publishes, each in every log once", total)
}

// TestServeRaftAddrChangeInCluster: a member of a three-node cluster
// restarted with another --raft-addr and no --join is refused with the
// command that applies it; with --join the leader applies it and the node
// records it. Then a node restarted alone, waiting for a leader it cannot
// have, exits promptly on SIGTERM.
func TestServeRaftAddrChangeInCluster(t *testing.T) {
	bin := buildStrata(t)
	nodes := startCluster(t, bin, "r")
	leader := leaderOf(t, nodes)
	var f *proc
	for _, n := range nodes {
		if n != leader {
			f = n
		}
	}
	stopNode(t, f)
	oldAddr := f.raft
	f.raft, f.mqtt, f.ws = freeAddr(t), "", ""
	startNode(t, bin, f, "")
	code, _ := waitExit(t, f, 20*time.Second)
	for _, want := range []string{"--raft-addr changed from " + oldAddr + " to " + f.raft, "--join", "or keep --raft-addr " + oldAddr} {
		if code != 1 || !strings.Contains(f.stderr.String(), want) {
			t.Fatalf("restart with a new raft address and no --join: exit %d, stderr:\n%s\nwant exit 1 and %q", code, f.stderr, want)
		}
	}
	startNode(t, bin, f, leader.http)
	waitFor(t, "the leader to apply the new address", 30*time.Second, func() bool {
		var st struct {
			Servers []struct{ ID, Address string }
		}
		if getJSON("http://"+leader.http+"/v1/cluster/status", &st) != nil {
			return false
		}
		for _, s := range st.Servers {
			if s.ID == f.id {
				return s.Address == f.raft
			}
		}
		return false
	})
	waitFor(t, f.id+" to record its new address", 20*time.Second, func() bool {
		b, err := os.ReadFile(filepath.Join(f.dir, "IDENTITY"))
		return err == nil && strings.Contains(string(b), f.raft)
	})
	for _, n := range nodes {
		stopNode(t, n)
	}
	alone := nodes[0]
	alone.mqtt, alone.ws = "", ""
	startNode(t, bin, alone, "")
	waitFor(t, alone.id+" to answer", 20*time.Second, func() bool { var v any; return getJSON("http://"+alone.http+"/healthz", &v) == nil })
	if err := alone.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, took := waitExit(t, alone, 10*time.Second)
	if code != 0 || took > 2*time.Second {
		t.Fatalf("SIGTERM while waiting for a leader: exit %d after %v; stderr:\n%s", code, took, alone.stderr)
	}
}
