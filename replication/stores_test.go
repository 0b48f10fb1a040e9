package replication

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/rs/zerolog"
)

// TestOldLayoutRefused: a data directory of the previous release (Raft's
// log and state in raft/raft.db) gets one clear line naming the directory
// and what to do, and nothing in it is created or changed.
func TestOldLayoutRefused(t *testing.T) {
	dir := t.TempDir()
	raftDir := filepath.Join(dir, "raft")
	if err := os.MkdirAll(raftDir, 0o755); err != nil {
		t.Fatal(err)
	}
	old, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(raftDir, "raft.db")})
	if err != nil {
		t.Fatal(err)
	}
	if err := old.SetUint64([]byte("CurrentTerm"), 3); err != nil {
		t.Fatal(err)
	}
	old.Close()
	before := listTree(t, dir)

	_, err = New(storeTestOptions(dir, "solo"))
	if !errors.Is(err, ErrOldLayout) {
		t.Fatalf("New on an old data directory: %v, want ErrOldLayout", err)
	}
	msg := err.Error()
	t.Log(msg)
	for _, want := range []string{raftDir, "raft.db", "empty directory", "move " + dir + " away"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("error is not one line: %q", msg)
	}
	if after := listTree(t, dir); after != before {
		t.Fatalf("the old directory changed:\nbefore %s\nafter  %s", before, after)
	}
}

// TestNewLayout: a new node keeps Raft's log in raft/wal (raft-wal) and its
// term and vote in raft/stable.db, and reads them back after a restart.
func TestNewLayout(t *testing.T) {
	dir := t.TempDir()
	n, _ := realNode(t, dir)
	off, err := n.Propose(context.Background(), publish("l/1", "first")).Wait()
	if err != nil {
		t.Fatal(err)
	}
	last := n.raft.LastIndex()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"raft/wal/wal-meta.db", "raft/stable.db"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Fatalf("missing %s: %v", p, err)
		}
	}
	if segs, _ := filepath.Glob(filepath.Join(dir, "raft/wal/*.wal")); len(segs) == 0 {
		t.Fatal("no raft-wal segment files in raft/wal")
	}
	if _, err := os.Stat(filepath.Join(dir, "raft/raft.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("raft/raft.db exists in the new layout (%v)", err)
	}
	n, _ = realNode(t, dir)
	defer n.Close()
	if got := n.raft.LastIndex(); got < last {
		t.Fatalf("last Raft index %d after restart, want >= %d", got, last)
	}
	off2, err := n.Propose(context.Background(), publish("l/1", "second")).Wait()
	if err != nil || off2 != off+1 {
		t.Fatalf("propose after restart: offset %d err %v, want %d", off2, err, off+1)
	}
}

// storeTestOptions: a node that keeps its Raft stores and log in dir, on
// raft's in-memory transport, bootstrapping a cluster of itself.
func storeTestOptions(dir, id string) Options {
	o := DefaultOptions()
	o.NodeID, o.DataDir, o.Bootstrap = id, dir, true
	_, o.Transport = raft.NewInmemTransport(raft.ServerAddress(id))
	o.Log = testLogOptions()
	o.RaftConfig = fastRaft
	o.Machine = NewFSMMachine()
	return o
}

// listTree names every file under dir with its size and modification time.
func listTree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if path == dir || path == filepath.Join(dir, "LOCK") {
			return nil // the lock is taken first, by design; it changes the directory's time
		}
		fmt.Fprintf(&b, "%s %s %d %s; ", path, fi.Mode(), fi.Size(), fi.ModTime().Format(time.RFC3339Nano))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestObservedRaftStore: with an observer, every append to Raft's log is
// reported with its entry count, and the store still reads as monotonic
// (raft-wal is; raft relies on it after installing a snapshot).
func TestObservedRaftStore(t *testing.T) {
	var appends, entries int
	s, err := openRaftStores(t.TempDir(), zerolog.Nop(), func(n int, d time.Duration) {
		appends, entries = appends+1, entries+n
		if d <= 0 {
			t.Errorf("append took %v", d)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if m, ok := s.cached.(raft.MonotonicLogStore); !ok || !m.IsMonotonic() {
		t.Fatal("the observed store does not read as monotonic")
	}
	if err := s.cached.StoreLogs([]*raft.Log{{Index: 1, Term: 1}, {Index: 2, Term: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := s.cached.StoreLog(&raft.Log{Index: 3, Term: 1}); err != nil {
		t.Fatal(err)
	}
	if appends != 2 || entries != 3 {
		t.Fatalf("observed %d appends of %d entries, want 2 of 3", appends, entries)
	}
}
