package replication

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/segment"
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
	return errors.Join(syncDir(logDir), syncDir(dst), syncDir(filepath.Dir(dst)))
}

// readBackupManifest reads the manifest from a snapshot's state.bin.
func readBackupManifest(snapDir string) ([]manifestEntry, error) {
	f, err := os.Open(filepath.Join(snapDir, "state.bin"))
	if err != nil {
		return nil, fmt.Errorf("replication: restore: %w", err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	hdr := make([]byte, len(snapMagic)+1)
	if _, err := io.ReadFull(r, hdr); err != nil || string(hdr[:len(snapMagic)]) != snapMagic || hdr[len(snapMagic)] != snapVersion {
		return nil, fmt.Errorf("%w: %s is not a Strata snapshot of version %d", errSnapshot, snapDir, snapVersion)
	}
	for i := 0; i < 2; i++ { // position, last tag
		if _, err := readUvarint(r); err != nil {
			return nil, err
		}
	}
	for i := 0; i < 2; i++ { // machine, member book
		n, err := readUvarint(r)
		if err == nil {
			_, err = r.Discard(int(n))
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errSnapshot, err)
		}
	}
	return readManifest(r)
}

func readUvarint(r *bufio.Reader) (uint64, error) {
	v, err := binary.ReadUvarint(r)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errSnapshot, err)
	}
	return v, nil
}

// restoreSegmentFile copies src's first m.Size bytes into logDir and
// verifies that the copy holds m's records.
func restoreSegmentFile(src, logDir string, m manifestEntry) error {
	dst := filepath.Join(logDir, m.Name)
	if err := copyFile(src, dst, m.Size); err != nil {
		return err
	}
	o := log.DefaultOptions()
	if err := verifyCopy(o, dst, m); err != nil {
		return fmt.Errorf("replication: restore %s: %w", m.Name, err)
	}
	sum, err := segmentChecksum(o, dst)
	if err != nil {
		return fmt.Errorf("replication: restore %s: %w", m.Name, err)
	}
	if sum != m.Checksum {
		return fmt.Errorf("replication: restore %s: checksum %08x, the manifest says %08x", m.Name, sum, m.Checksum)
	}
	return nil
}

func segmentChecksum(o log.Options, path string) (uint32, error) {
	info, err := segment.Verify(o.FS, path, o.Segment)
	return info.Checksum, err
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
