package replication

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/stratamq/strata/internal/durable"
	"github.com/stratamq/strata/log"
)

// RestoreBackup lays out a new data directory from a snapshot directory
// that TakeSnapshot named (copied away as a backup): the snapshot goes
// where raft's file snapshot store finds it, and each segment its manifest
// names is copied into the log, cut to the size the manifest recorded (the
// active segment's hard link may have grown after the snapshot) and
// verified. dataDir must not hold a log or Raft state yet. A node started
// on it restores the snapshot and joins the membership the snapshot
// records, under the node ID it had.
func RestoreBackup(snapDir, dataDir string) error {
	manifest, err := readBackupManifest(snapDir)
	if err != nil {
		return err
	}
	logDir := filepath.Join(dataDir, "log")
	if entries, _ := os.ReadDir(logDir); len(entries) > 0 {
		return fmt.Errorf("replication: restore: %s is not empty", logDir)
	}
	if entries, _ := os.ReadDir(filepath.Join(dataDir, "raft")); len(entries) > 0 {
		return fmt.Errorf("replication: restore: %s already holds Raft state", dataDir)
	}
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		return fmt.Errorf("replication: restore: %w", err)
	}
	for _, m := range manifest {
		if err := restoreSegmentFile(filepath.Join(snapDir, snapSegments, m.Name), logDir, m); err != nil {
			return err
		}
	}
	dst := filepath.Join(dataDir, "snapshots", "snapshots", filepath.Base(filepath.Clean(snapDir)))
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return fmt.Errorf("replication: restore: %w", err)
	}
	for _, name := range []string{"meta.json", "state.bin"} {
		if err := copyFile(filepath.Join(snapDir, name), filepath.Join(dst, name), -1); err != nil {
			return err
		}
	}
	return errors.Join(durable.SyncDir(logDir), durable.SyncDir(dst), durable.SyncDir(filepath.Dir(dst)))
}

// readBackupManifest reads the manifest from a snapshot's state.bin.
func readBackupManifest(snapDir string) ([]manifestEntry, error) {
	f, err := os.Open(filepath.Join(snapDir, "state.bin"))
	if err != nil {
		return nil, fmt.Errorf("replication: restore: %w", err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	_, mlen, err := readSnapHeader(r)
	if err == nil {
		_, err = r.Discard(int(mlen))
	}
	if err == nil {
		_, err = readMembers(r)
	}
	if err != nil {
		return nil, fmt.Errorf("replication: restore: %s: %w", snapDir, err)
	}
	return readManifest(r)
}

// restoreSegmentFile copies src's first m.Size bytes into logDir and
// verifies that the copy holds m's records.
func restoreSegmentFile(src, logDir string, m manifestEntry) error {
	dst := filepath.Join(logDir, m.Name)
	if err := copyFile(src, dst, m.Size); err != nil {
		return err
	}
	info, err := verifyCopy(log.DefaultOptions(), dst, m)
	if err == nil && info.Checksum != m.Checksum {
		err = fmt.Errorf("checksum %08x, the manifest says %08x", info.Checksum, m.Checksum)
	}
	if err != nil {
		return fmt.Errorf("replication: restore %s: %w", m.Name, err)
	}
	return nil
}

// copyFile copies src to dst (private to the user), n bytes or all (n < 0),
// and syncs it.
func copyFile(src, dst string, n int64) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("replication: restore: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("replication: restore: %w", err)
	}
	var r io.Reader = in
	if n >= 0 {
		r = io.LimitReader(in, n)
	}
	copied, err := io.Copy(out, r)
	if err == nil && n >= 0 && copied != n {
		err = fmt.Errorf("%s holds %d bytes, the manifest names %d", src, copied, n)
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("replication: restore %s: %w", filepath.Base(dst), err)
	}
	return nil
}
