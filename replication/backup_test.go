package replication

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stratamq/strata/log"
)

// TestSnapshotNamesSegmentsAndRestoresFromBackup: a snapshot of a real node
// holds no segment bytes (its state stays small while the log grows), links
// every segment it names, and a data directory restored from a copy of it
// starts with exactly the snapshot's records and accepts new publishes.
func TestSnapshotNamesSegmentsAndRestoresFromBackup(t *testing.T) {
	dir := t.TempDir()
	n, _ := realNode(t, dir)
	propose := func(from, to int) { // 8 proposers, so commits are shared
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := from + g; k < to; k += 8 {
					if _, err := n.Propose(context.Background(), publish(fmt.Sprintf("b/%d", k%5), fmt.Sprint("m", k))).Wait(); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}
	propose(0, 200)
	small := snapshotState(t, n)
	propose(200, 2000)
	info, err := n.TakeSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	large := fileSize(t, filepath.Join(info.Dir, "state.bin"))
	logBytes := int64(0)
	for _, s := range n.Log().Segments() {
		logBytes += s.Size
	}
	t.Logf("snapshot state: %d bytes at 200 records, %d bytes at 2000 records; log %d bytes in %d segments",
		small, large, logBytes, len(n.Log().Segments()))
	if large >= logBytes/4 {
		t.Fatalf("snapshot state is %d bytes for a %d-byte log: segments were copied", large, logBytes)
	}
	links, err := os.ReadDir(filepath.Join(info.Dir, snapSegments))
	if err != nil || len(links) < 3 {
		t.Fatalf("snapshot links %d segments (%v)", len(links), err)
	}
	want := readAll(t, n.Log())

	backup := filepath.Join(t.TempDir(), info.ID)
	if out, err := exec.Command("cp", "-a", info.Dir, backup).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	propose(2000, 2100) // after the backup: not in it
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	restored := t.TempDir()
	if err := RestoreBackup(backup, restored); err != nil {
		t.Fatal(err)
	}
	if err := RestoreBackup(backup, restored); err == nil {
		t.Fatal("a second restore into the same directory was accepted")
	}
	n2, m2 := realNode(t, restored)
	defer n2.Close()
	got := readAll(t, n2.Log())
	if len(got) != len(want) {
		t.Fatalf("restored log has %d records, the snapshot %d", len(got), len(want))
	}
	for i := range got {
		if got[i].Offset != want[i].Offset || string(got[i].Value) != string(want[i].Value) {
			t.Fatalf("restored record %d differs", i)
		}
	}
	off, err := n2.Propose(context.Background(), publish("b/new", "after-restore")).Wait()
	if err != nil || off != log.Offset(len(want)) {
		t.Fatalf("publish after restore: offset %d, %v (want %d)", off, err, len(want))
	}
	if m2.View().NextOffset() != off+1 {
		t.Fatalf("restored view at %d, want %d", m2.View().NextOffset(), off+1)
	}
}

func snapshotState(t *testing.T, n *Node) int64 {
	t.Helper()
	info, err := n.TakeSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	return fileSize(t, filepath.Join(info.Dir, "state.bin"))
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
