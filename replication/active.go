package replication

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"

	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/segment"
)

// Healing a damaged active segment.
//
// A torn tail of the active segment (past what it had synced) is cut by the
// log and re-applied from Raft. Damage *inside* synced data cannot be cut:
// the records after it may be older than Raft's log. Before the log is
// opened, such a segment is replaced by a peer's copy of the same segment
// (the peers' are byte-identical up to where they agree, sync points aside)
// that reaches at least the latest snapshot: Raft's log has every entry
// after that, so the fold and Raft's replay continue from the copy's end
// without a gap. The damaged file is kept beside it as <name>.damaged.

// openLog opens the segment log, replacing a damaged active segment first.
func (n *Node) openLog(logDir string) (*log.Log, error) {
	l, err := log.Open(logDir, n.o.Log)
	var ce *segment.CorruptionError
	if err == nil || !errors.As(err, &ce) || !isLastSegment(n.o.Log.FS, logDir, ce.Path) {
		return l, err
	}
	n.logger.Error().Err(err).Msg("the active segment is damaged inside synced data; fetching a copy from a peer")
	if rerr := n.replaceActive(ce.Path); rerr != nil {
		return nil, fmt.Errorf("%w (no verified copy from a peer: %w)", err, rerr)
	}
	n.logger.Warn().Str("segment", ce.Path).Msg("damaged active segment replaced by a verified copy; the damaged file is kept as .damaged")
	return log.Open(logDir, n.o.Log)
}

// isLastSegment reports whether path is the newest segment file in dir.
func isLastSegment(fsys segment.FS, dir, path string) bool {
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return false
	}
	var names []string
	for _, e := range entries {
		if _, ok := segment.ParseFileName(e.Name()); ok {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return len(names) > 0 && filepath.Join(dir, names[len(names)-1]) == filepath.Clean(path)
}

// replaceActive fetches a verified copy of the segment at path from a peer
// and puts it in place, keeping the damaged file as <path>.damaged.
func (n *Node) replaceActive(path string) error {
	base, _ := segment.ParseFileName(filepath.Base(path))
	minTag, err := n.latestSnapshotIndex()
	if err != nil {
		return err
	}
	var peers []string // from peers.json: the log, which holds the book, is not open yet
	for id, addr := range loadPeers(n.o.DataDir) {
		if id != n.o.NodeID && addr != "" {
			peers = append(peers, addr)
		}
	}
	f := segmentFetch{fs: n.o.Log.FS, fetch: n.o.FetchSegment, timeout: n.o.FetchTimeout, logger: n.logger}
	tmp := path + ".fetch.tmp"
	if err := f.fetchAny(peers, filepath.Base(path), tmp, func(p string) error { return n.verifyActive(p, base, minTag) }); err != nil {
		return err
	}
	return n.swapActive(path, tmp)
}

// verifyActive checks a fetched copy of the active segment: every frame,
// the base, and a last Raft index of at least minTag.
func (n *Node) verifyActive(path string, base log.Offset, minTag uint64) error {
	info, err := segment.Verify(n.o.Log.FS, path, n.o.Log.Segment)
	switch {
	case err != nil:
		return err
	case info.Base != base:
		return fmt.Errorf("the copy starts at offset %d, not %d", info.Base, base)
	case info.LastTag < minTag:
		return fmt.Errorf("the copy ends at Raft index %d, before the latest snapshot's %d", info.LastTag, minTag)
	}
	return nil
}

// swapActive keeps the damaged file as .damaged and renames tmp into place.
func (n *Node) swapActive(path, tmp string) error {
	fsys := n.o.Log.FS
	if err := fsys.Rename(path, path+".damaged"); err != nil {
		return err
	}
	fsys.Remove(segment.IndexName(path))
	if err := fsys.Rename(tmp, path); err != nil {
		return err
	}
	return fsys.SyncDir(filepath.Dir(path))
}

// latestSnapshotIndex is the Raft index of the newest snapshot, 0 if none.
func (n *Node) latestSnapshotIndex() (uint64, error) {
	store := n.o.Snapshots
	if store == nil {
		var err error
		store, err = openSnapshotStore(n.o.DataDir, n.o.Logger)
		if err != nil {
			return 0, err
		}
	}
	metas, err := store.List()
	if err != nil || len(metas) == 0 {
		return 0, err
	}
	return metas[0].Index, nil
}
