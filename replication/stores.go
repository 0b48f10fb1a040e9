package replication

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	raftwal "github.com/hashicorp/raft-wal"
	"github.com/rs/zerolog"
)

// ErrOldLayout is returned by New for a data directory written by an
// earlier release (Raft log and state in raft/raft.db), which this release
// cannot read.
var ErrOldLayout = errors.New("replication: data directory has the old layout")

// Paths under the data directory (see docs/format.md).
const (
	raftDirName   = "raft"
	walDirName    = "wal"       // raft-wal: Raft's log, one fsync per append
	stableDBName  = "stable.db" // raft-boltdb: current term and vote
	legacyDBName  = "raft.db"   // the old layout: raft-boltdb for log and state
	logCacheCount = 256         // recent Raft entries kept in memory
)

// raftStores are the on-disk Raft log and stable store of one node. The
// stores are safe for concurrent use (raft calls them from several
// goroutines); close them only after raft has shut down.
type raftStores struct {
	log    *raftwal.WAL
	cached raft.LogStore // log behind raft's LogCache, as raft uses it
	stable *raftboltdb.BoltStore
}

// openRaftStores opens (creating if need be) <dataDir>/raft/wal and
// <dataDir>/raft/stable.db. The caller has checked the layout (checkLayout).
func openRaftStores(dataDir string, logger zerolog.Logger, observe func(int, time.Duration)) (*raftStores, error) {
	dir := filepath.Join(dataDir, raftDirName)
	walDir := filepath.Join(dir, walDirName)
	w, err := openWAL(walDir, raftLogger(logger, hclog.Warn).Named("wal"))
	if err != nil {
		return nil, fmt.Errorf("replication: open raft log %s: %w", walDir, err)
	}
	stablePath := filepath.Join(dir, stableDBName)
	stable, err := raftboltdb.New(raftboltdb.Options{Path: stablePath})
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("replication: open raft stable store %s: %w", stablePath, err)
	}
	var store raft.LogStore = w
	if observe != nil {
		store = observedLogStore{LogStore: w, observe: observe}
	}
	cached, err := raft.NewLogCache(logCacheCount, store)
	if err != nil { // only for a non-positive capacity
		stable.Close()
		w.Close()
		return nil, fmt.Errorf("replication: %w", err)
	}
	return &raftStores{log: w, cached: cached, stable: stable}, nil
}

// checkLayout refuses a raft directory that holds raft.db but no wal/: the
// previous release kept Raft's log there in a format this one cannot read.
func checkLayout(dir string) error {
	legacy, err := exists(filepath.Join(dir, legacyDBName))
	if err != nil || !legacy {
		return err
	}
	current, err := exists(filepath.Join(dir, walDirName))
	if err != nil || current {
		return err
	}
	return fmt.Errorf("%w: %s holds %s from an earlier release, which this version cannot read "+
		"(the log's entry format changed too): point --data-dir at an empty directory, or move %s away",
		ErrOldLayout, dir, legacyDBName, filepath.Dir(dir))
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("replication: %w", err)
}

// Close closes both stores.
func (s *raftStores) Close() error {
	return errors.Join(s.log.Close(), s.stable.Close())
}
