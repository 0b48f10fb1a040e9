package replication

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/segment"
)

// nodeOptions are a real node's options (raft-boltdb, TCP transport, files).
func nodeOptions(dir, id, raftAddr string) Options {
	o := DefaultOptions()
	o.NodeID, o.DataDir, o.RaftAddr, o.Bootstrap = id, dir, raftAddr, true
	o.Log = testLogOptions()
	o.RaftConfig = fastRaft
	o.Machine = NewFSMMachine()
	return o
}

// loopbackAddr returns a 127.0.0.1 address with a port free at the moment.
func loopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startLeader(t *testing.T, o Options) *Node {
	t.Helper()
	n, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.WaitLeader(ctx); err != nil {
		n.Close()
		t.Fatal(err)
	}
	return n
}

func TestDataDirInUseFailsAtOnce(t *testing.T) {
	dir := t.TempDir()
	n := startLeader(t, nodeOptions(dir, "solo", loopbackAddr(t)))
	start := time.Now()
	_, err := New(nodeOptions(dir, "solo", loopbackAddr(t)))
	if !errors.Is(err, ErrDataDirInUse) {
		n.Close()
		t.Fatalf("second New on a data directory in use: %v, want ErrDataDirInUse", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("second New took %v to fail", took)
	}
	want := fmt.Sprintf("data directory %s is in use by another strata process (pid %d)", dir, os.Getpid())
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	// Close released the lock: the directory opens again.
	startLeader(t, nodeOptions(dir, "solo", loopbackAddr(t))).Close()
}

func TestDataDirOfAnotherNodeIsRefused(t *testing.T) {
	dir := t.TempDir()
	addr := loopbackAddr(t)
	startLeader(t, nodeOptions(dir, "n1", addr)).Close()
	fi, err := os.Stat(filepath.Join(dir, identityFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", identityFile, fi.Mode().Perm())
	}
	id, ok, err := readIdentity(dir)
	if err != nil || !ok || id != (identity{NodeID: "n1", RaftAddr: addr}) {
		t.Fatalf("recorded identity %+v (%v, %v)", id, ok, err)
	}
	_, err = New(nodeOptions(dir, "n2", addr))
	if !errors.Is(err, ErrWrongNode) {
		t.Fatalf("New with another node id: %v, want ErrWrongNode", err)
	}
	for _, want := range []string{`belongs to node "n1", not "n2"`, "--node-id n1", "empty data directory"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// The refusal left the lock free and the directory usable by its node.
	startLeader(t, nodeOptions(dir, "n1", addr)).Close()
}

func TestDamagedIdentityIsAnError(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, identityFile), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(nodeOptions(dir, "n1", loopbackAddr(t))); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("New with a damaged %s: %v", identityFile, err)
	}
}

// TestFailedStartShutsRaftDown: a start whose fold of the local log fails
// (an I/O error while reading it back, after raft started) returns the error
// with raft shut down before its stores close (it used to panic in raft with
// "database not open"), and leaves the directory unlocked. (A damaged
// segment no longer fails a start: the node starts and repairs it.)
func TestFailedStartShutsRaftDown(t *testing.T) {
	dir := t.TempDir()
	addr := loopbackAddr(t)
	n := startLeader(t, nodeOptions(dir, "solo", addr))
	for k := 0; k < 50; k++ {
		if _, err := n.Propose(context.Background(), publish("t/a", fmt.Sprint("payload ", k))).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	for attempt := 0; attempt < 2; attempt++ { // the second proves the lock was released
		o := nodeOptions(dir, "solo", addr)
		fsys := &failingReads{FS: o.Log.FS}
		o.Log.FS = fsys
		o.Machine = &armOnApply{StateMachine: o.Machine, arm: func() { fsys.failing.Store(true) }}
		_, err := New(o)
		if err == nil {
			t.Fatal("a node whose fold failed started")
		}
		if errors.Is(err, ErrDataDirInUse) {
			t.Fatalf("attempt %d: %v: the failed start kept the lock", attempt, err)
		}
		if !errors.Is(err, syscall.EIO) {
			t.Fatalf("attempt %d: %v, want the read error", attempt, err)
		}
		t.Logf("attempt %d: %v", attempt, err)
	}
}

// failingReads fails every read with EIO once failing is set.
type failingReads struct {
	segment.FS
	failing atomic.Bool
}

func (f *failingReads) Open(name string) (segment.File, error) {
	file, err := f.FS.Open(name)
	return &failingFile{File: file, failing: &f.failing}, err
}

func (f *failingReads) OpenFile(name string) (segment.File, error) {
	file, err := f.FS.OpenFile(name)
	return &failingFile{File: file, failing: &f.failing}, err
}

type failingFile struct {
	segment.File
	failing *atomic.Bool
}

func (f *failingFile) ReadAt(p []byte, off int64) (int, error) {
	if f.failing.Load() {
		return 0, syscall.EIO
	}
	return f.File.ReadAt(p, off)
}

// armOnApply calls arm at the first record folded: the start's catch-up.
type armOnApply struct {
	StateMachine
	arm  func()
	once sync.Once
}

func (m *armOnApply) Apply(off log.Offset, rec *log.Record) any {
	m.once.Do(m.arm)
	return m.StateMachine.Apply(off, rec)
}

// TestRaftAddrChangeAppliedByLeader: a one-node cluster restarted with a new
// --raft-addr applies it to its configuration once it leads, and then
// records it in the data directory.
func TestRaftAddrChangeAppliedByLeader(t *testing.T) {
	dir := t.TempDir()
	oldAddr, newAddr := loopbackAddr(t), loopbackAddr(t)
	startLeader(t, nodeOptions(dir, "solo", oldAddr)).Close()
	n := startLeader(t, nodeOptions(dir, "solo", newAddr))
	defer n.Close()
	deadline := time.Now().Add(10 * time.Second)
	for n.StaleRaftAddr() != "" {
		if time.Now().After(deadline) {
			t.Fatalf("the new raft address was not applied; still %s", n.StaleRaftAddr())
		}
		time.Sleep(10 * time.Millisecond) // poll under a deadline
	}
	st, err := n.Status()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Servers) != 1 || st.Servers[0].Address != newAddr {
		t.Fatalf("configuration %+v, want solo at %s", st.Servers, newAddr)
	}
	if id, _, _ := readIdentity(dir); id.RaftAddr != newAddr {
		t.Fatalf("recorded raft address %q, want %q", id.RaftAddr, newAddr)
	}
	if _, err := n.Propose(context.Background(), publish("t/a", "after the move")).Wait(); err != nil {
		t.Fatal(err)
	}
}
