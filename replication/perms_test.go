package replication

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rs/zerolog"
)

// checkPrivate fails for every directory in dir that is not 0700 and every
// file that is not 0600, and returns how many files it saw.
func checkPrivate(t *testing.T, dir string) int {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(fileMode)
		if d.IsDir() {
			want = dirMode
		} else {
			files++
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, info.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestDataDirIsPrivate: after traffic, a snapshot and a restart, every
// file a real node (raft-wal, raft-boltdb, raft's snapshot store, the
// segment log) wrote is 0600 and every directory 0700, under the usual
// umask 022; so is a data directory restored from a backup.
func TestDataDirIsPrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "data") // New makes it
	n, _ := realNode(t, dir)
	for k := 0; k < 300; k++ {
		if _, err := n.Propose(context.Background(), publish(fmt.Sprintf("p/%d", k%3), fmt.Sprint("m", k))).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	info, err := n.TakeSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	files := checkPrivate(t, dir)
	for _, want := range []string{"LOCK", "IDENTITY", "raft/stable.db", "raft/wal/" + walMetaName, "snapshots/snapshots/" + info.ID + "/state.bin"} {
		if _, err := os.Stat(filepath.Join(dir, want)); err != nil {
			t.Errorf("expected %s: %v", want, err)
		}
	}
	t.Logf("%d files checked", files)

	restored := filepath.Join(t.TempDir(), "restored")
	if err := RestoreBackup(info.Dir, restored); err != nil {
		t.Fatal(err)
	}
	checkPrivate(t, restored)
}

// TestLooseModesWarnedOnce: a data directory others may read is reported
// once at start, with the fix, and left as it is.
func TestLooseModesWarnedOnce(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	o := nodeOptions(dir, "solo", loopbackAddr(t))
	o.Logger = zerolog.New(&buf)
	n := startLeader(t, o)
	n.Close()
	if c := strings.Count(buf.String(), "other users may read"); c != 1 {
		t.Fatalf("%d warnings, want 1; log:\n%s", c, buf.String())
	}
	if !strings.Contains(buf.String(), "chmod -R go-rwx "+dir) {
		t.Fatalf("warning without the fix:\n%s", buf.String())
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o755 {
		t.Fatalf("mode changed to %v", fi.Mode().Perm())
	}
}
