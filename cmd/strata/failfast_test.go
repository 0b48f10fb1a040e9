package main

import (
	"fmt"
	"path/filepath"
	"strings"
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
		p.cmd.Process.Kill()
		<-done
		t.Fatalf("%s still running after %v; stderr:\n%s", p.id, d, p.stderr)
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
