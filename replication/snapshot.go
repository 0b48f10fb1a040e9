package replication

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/raft"

	"github.com/stratamq/strata/internal/durable"
	"github.com/stratamq/strata/internal/varint"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/segment"
)

// Snapshot stream (part of the format of raft's snapshot files):
//
//	magic "STRATASN" | u8 version 2
//	uvarint log position (records folded) | uvarint last tag
//	uvarint machine length | machine bytes
//	uvarint member-book length | member book (uvarint count, then per
//	member a uvarint length and a KindMember record value)
//	manifest: uvarint segment count, then per segment (oldest first):
//	  uvarint name length, the .seg file name | uvarint base | uvarint next
//	  offset | uvarint size in bytes | u32 checksum (segment.Reader.Checksum)
//	  | uvarint last tag | u8 flags (bit 0: sealed)
//
// A snapshot never holds segment bytes: it names them. Persist hard-links
// the named files into the snapshot's directory (when raft's file snapshot
// store is used), so a snapshot directory is a complete, consistent backup
// and the files it names outlive retention and the clustered rewrite.
// raft's file snapshot store checksums the stream.
const (
	snapMagic   = "STRATASN"
	snapVersion = 2
	// snapSegments is the directory, inside a snapshot's directory, that
	// holds hard links to the segments its manifest names.
	snapSegments = "segments"
)

type snapshot struct {
	a        *applier
	position log.Offset
	tag      uint64
	machine  func(io.Writer) error
	members  []byte
	linkDir  func(id string) string // a snapshot's directory, "" if none
	// The active segment when the state was captured: it held the records
	// up to position in its first activeSize bytes.
	activeBase log.Offset
	activeSize int64
}

// manifestEntry describes one segment a snapshot needs.
type manifestEntry struct {
	Name     string
	Base     log.Offset
	Next     log.Offset
	Size     int64
	Checksum uint32
	LastTag  uint64
	Sealed   bool
}

// Persist syncs the segment log first (raft compacts its own log after a
// snapshot, so the records it covers must be durable in the segments),
// links the segments into the snapshot's directory, then writes the
// machine and the manifest.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	err := s.persist(sink)
	if err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *snapshot) persist(sink raft.SnapshotSink) error {
	l, err := s.a.syncForSnapshot()
	if err != nil {
		return err
	}
	var segs []log.SegmentInfo
	err = l.Pinned(func(all []log.SegmentInfo) error { // no rewrite or deletion meanwhile
		if segs, err = s.describe(l, all); err != nil {
			return err
		}
		return s.link(sink.ID(), l, segs)
	})
	if err != nil {
		return err
	}
	var machine strings.Builder
	if err := s.machine(&machine); err != nil {
		return fmt.Errorf("replication: snapshot machine: %w", err)
	}
	w := bufio.NewWriter(sink)
	hdr := append([]byte(snapMagic), snapVersion)
	hdr = binary.AppendUvarint(hdr, uint64(s.position))
	hdr = binary.AppendUvarint(hdr, s.tag)
	hdr = binary.AppendUvarint(hdr, uint64(machine.Len()))
	w.Write(hdr)
	w.WriteString(machine.String())
	w.Write(binary.AppendUvarint(nil, uint64(len(s.members))))
	w.Write(s.members)
	w.Write(appendManifest(nil, segs))
	return w.Flush()
}

// syncForSnapshot makes the log durable.
func (a *applier) syncForSnapshot() (*log.Log, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.log.Sync(); err != nil {
		return nil, fmt.Errorf("replication: sync log for snapshot: %w", err)
	}
	return a.log, nil
}

// describe turns the log's manifest now into the snapshot's: the segments
// up to the one that was active at capture, that one cut at its size then
// (it may have grown, or been sealed, since). A segment rewritten since the
// capture fails the snapshot (raft tries again later).
func (s *snapshot) describe(l *log.Log, all []log.SegmentInfo) ([]log.SegmentInfo, error) {
	var out []log.SegmentInfo
	for _, info := range all {
		switch {
		case info.Base > s.activeBase:
			continue // begun after the capture
		case info.Base == s.activeBase:
			if info.Clustered || info.Size < s.activeSize {
				return nil, fmt.Errorf("replication: snapshot: segment %d was rewritten since the capture", info.Base)
			}
			sum, err := l.ChecksumAt(info.Base, s.activeSize)
			if err != nil {
				return nil, fmt.Errorf("replication: snapshot manifest: %w", err)
			}
			info.Size, info.NextOffset, info.LastTag, info.Sealed, info.Checksum = s.activeSize, s.position, s.tag, false, sum
		}
		out = append(out, info)
	}
	return out, nil
}

// link hard-links every segment into the snapshot's directory, so the
// snapshot keeps the exact files it names. Without a directory (an
// in-memory snapshot store) or an OS filesystem there is nothing to link.
func (s *snapshot) link(id string, l *log.Log, segs []log.SegmentInfo) error {
	dir := ""
	if s.linkDir != nil {
		dir = s.linkDir(id)
	}
	if dir == "" || l.FS() != segment.OSFS() {
		return nil
	}
	dst := filepath.Join(dir, snapSegments)
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return fmt.Errorf("replication: snapshot %s: %w", id, err)
	}
	for _, info := range segs {
		if err := os.Link(info.Path, filepath.Join(dst, filepath.Base(info.Path))); err != nil {
			return fmt.Errorf("replication: snapshot %s: link %s: %w", id, filepath.Base(info.Path), err)
		}
	}
	return durable.SyncDir(dst)
}

func appendManifest(b []byte, segs []log.SegmentInfo) []byte {
	b = binary.AppendUvarint(b, uint64(len(segs)))
	for _, s := range segs {
		name := filepath.Base(s.Path)
		b = binary.AppendUvarint(b, uint64(len(name)))
		b = append(b, name...)
		b = binary.AppendUvarint(b, uint64(s.Base))
		b = binary.AppendUvarint(b, uint64(s.NextOffset))
		b = binary.AppendUvarint(b, uint64(s.Size))
		b = binary.LittleEndian.AppendUint32(b, s.Checksum)
		b = binary.AppendUvarint(b, s.LastTag)
		flags := byte(0)
		if s.Sealed {
			flags = 1
		}
		b = append(b, flags)
	}
	return b
}

func (s *snapshot) Release() {}

var errSnapshot = errors.New("replication: malformed snapshot")

// readSnapHeader reads a snapshot stream up to the machine's bytes: the
// log position and the machine's length.
func readSnapHeader(r *bufio.Reader) (position, mlen uint64, err error) {
	hdr := make([]byte, len(snapMagic)+1)
	if _, err := io.ReadFull(r, hdr); err != nil || string(hdr[:len(snapMagic)]) != snapMagic {
		return 0, 0, fmt.Errorf("%w: header", errSnapshot)
	}
	if v := hdr[len(snapMagic)]; v != snapVersion {
		return 0, 0, fmt.Errorf("%w: version %d (this version reads %d)", errSnapshot, v, snapVersion)
	}
	position, err1 := varint.ReadUvarint(r)
	_, err2 := varint.ReadUvarint(r) // last tag: informative
	mlen, err3 := varint.ReadUvarint(r)
	if err := errors.Join(err1, err2, err3); err != nil {
		return 0, 0, fmt.Errorf("%w: %w", errSnapshot, err)
	}
	return position, mlen, nil
}

func (a *applier) restoreLocked(rc io.Reader) error {
	r := bufio.NewReader(rc)
	position, mlen, err := readSnapHeader(r)
	if err != nil {
		return err
	}
	if err := a.m.Restore(io.LimitReader(r, int64(mlen))); err != nil {
		return fmt.Errorf("replication: restore machine: %w", err)
	}
	members, err := readMembers(r)
	if err != nil {
		return err
	}
	a.members = members
	a.savePeersLocked()
	manifest, err := readManifest(r)
	if err != nil {
		return err
	}
	a.folded, a.caughtUp, a.failed, a.pending = log.Offset(position), false, nil, nil
	a.snapAt.Store(position)
	a.setHealth(nil)
	if a.log.NextOffset() < log.Offset(position) {
		if err := a.installLocked(manifest); err != nil {
			// raft has stored the snapshot before calling Restore, so
			// failing here would fail every start. Keep its state and
			// apply nothing until the recovery loop has the segments.
			a.pending = manifest
			a.failLocked(fmt.Errorf("replication: install the snapshot's segments: %w", err))
			return nil
		}
	}
	a.handLocked() // a bare watermark: the snapshot's state is this node's now
	err = a.catchUpLocked()
	if isDamage(err) {
		a.failLocked(err) // repaired and folded by the recovery loop
		return nil
	}
	return err
}

func readManifest(r *bufio.Reader) ([]manifestEntry, error) {
	n, err := varint.ReadUvarint(r)
	if err != nil {
		return nil, fmt.Errorf("%w: segment count: %w", errSnapshot, err)
	}
	if n > 1<<24 {
		return nil, fmt.Errorf("%w: segment count %d", errSnapshot, n)
	}
	out := make([]manifestEntry, 0, min(n, 1024))
	for i := uint64(0); i < n; i++ {
		m, err := readManifestEntry(r)
		if err != nil {
			return nil, fmt.Errorf("%w: segment %d: %w", errSnapshot, i, err)
		}
		if len(out) > 0 && out[len(out)-1].Next != m.Base {
			return nil, fmt.Errorf("%w: segment %s does not follow %s", errSnapshot, m.Name, out[len(out)-1].Name)
		}
		out = append(out, m)
	}
	return out, nil
}

func readManifestEntry(r *bufio.Reader) (manifestEntry, error) {
	var m manifestEntry
	nlen, err := varint.ReadUvarint(r)
	if err != nil {
		return m, fmt.Errorf("name: %w", err)
	}
	if nlen > 64 {
		return m, fmt.Errorf("name of %d bytes", nlen)
	}
	name := make([]byte, nlen)
	if _, err := io.ReadFull(r, name); err != nil {
		return m, fmt.Errorf("name: %w", err)
	}
	m.Name = string(name)
	base, ok := segment.ParseFileName(m.Name)
	if !ok {
		return m, fmt.Errorf("name %q", name)
	}
	var vals [3]uint64
	for i := range vals {
		if vals[i], err = varint.ReadUvarint(r); err != nil {
			return m, err
		}
	}
	var sum [4]byte
	if _, err := io.ReadFull(r, sum[:]); err != nil {
		return m, err
	}
	tag, err := varint.ReadUvarint(r)
	if err != nil {
		return m, err
	}
	flags, err := r.ReadByte()
	if err != nil {
		return m, fmt.Errorf("flags: %w", err)
	}
	if flags > 1 {
		return m, fmt.Errorf("flags %#x", flags)
	}
	m.Base, m.Next, m.Size = log.Offset(vals[0]), log.Offset(vals[1]), int64(vals[2])
	m.Checksum, m.LastTag, m.Sealed = binary.LittleEndian.Uint32(sum[:]), tag, flags == 1
	if m.Base != base || m.Next < m.Base || m.Size > 1<<40 {
		return m, fmt.Errorf("segment %s: base %d, next %d, size %d", m.Name, m.Base, m.Next, m.Size)
	}
	return m, nil
}

func readMembers(r *bufio.Reader) (map[string]string, error) {
	n, err := varint.ReadUvarint(r)
	if err != nil {
		return nil, fmt.Errorf("%w: member book: %w", errSnapshot, err)
	}
	if n > 1<<20 {
		return nil, fmt.Errorf("%w: member book of %d bytes", errSnapshot, n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("%w: member book: %w", errSnapshot, err)
	}
	count, k, err := varint.Uvarint(b)
	if err != nil {
		return nil, fmt.Errorf("%w: member count: %w", errSnapshot, err)
	}
	b = b[k:]
	m := map[string]string{}
	for i := uint64(0); i < count; i++ {
		v, rest, err := field(b)
		if err != nil {
			return nil, fmt.Errorf("%w: member %d: %w", errSnapshot, i, err)
		}
		id, addr, err := decodeMember(v)
		if err != nil {
			return nil, fmt.Errorf("%w: member %d: %w", errSnapshot, i, err)
		}
		m[id], b = addr, rest
	}
	return m, nil
}

// snapshotDir is where raft's file snapshot store keeps snapshot id while
// it is being written (it renames the directory when the sink closes, and
// removes it when the snapshot is reaped, links included); "" if absent.
func snapshotDir(base, id string) string {
	dir := filepath.Join(base, id+".tmp")
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return ""
	}
	return dir
}

// SnapshotInfo names a snapshot taken for a backup.
type SnapshotInfo struct {
	ID    string `json:"id"`
	Index uint64 `json:"index"`
	Term  uint64 `json:"term"`
	// Dir is the snapshot's directory (meta.json, state.bin and hard links
	// to the segments it names): copy it whole for a backup. Empty when the
	// node keeps snapshots elsewhere than in files.
	Dir string `json:"dir,omitempty"`
}

// TakeSnapshot takes a snapshot now (or, when nothing was committed since
// the last one, names that one); it must be called on the leader.
func (n *Node) TakeSnapshot() (SnapshotInfo, error) {
	if !n.IsLeader() {
		return SnapshotInfo{}, fmt.Errorf("replication: snapshot: %w", ErrNotLeader)
	}
	err := n.raft.Snapshot().Error()
	if err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return SnapshotInfo{}, fmt.Errorf("replication: snapshot: %w", err)
	}
	metas, err := n.o.Snapshots.List()
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("replication: snapshot: list: %w", err)
	}
	if len(metas) == 0 {
		return SnapshotInfo{}, errors.New("replication: snapshot: none listed")
	}
	m := metas[0] // newest first
	info := SnapshotInfo{ID: m.ID, Index: m.Index, Term: m.Term}
	if n.snapBase != "" {
		if dir, err := filepath.Abs(filepath.Join(n.snapBase, m.ID)); err == nil {
			info.Dir = dir
		}
	}
	return info, nil
}
