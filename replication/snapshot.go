package replication

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/hashicorp/raft"

	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/segment"
)

// Snapshot stream (part of the format of raft's snapshot files):
//
//	magic "STRATASN" | u8 version 1
//	uvarint log position (records folded) | uvarint last tag
//	uvarint machine length | machine bytes
//	uvarint member-book length | member book (uvarint count, then per
//	member a uvarint length and a KindMember record value)
//	uvarint segment count, then per segment: uvarint name length, name,
//	uvarint byte length, the .seg file's bytes
//	u32 CRC-32C is not added: raft's file snapshot store checksums the stream.
const snapMagic = "STRATASN"

type snapshot struct {
	a        *applier
	position log.Offset
	tag      uint64
	machine  func(io.Writer) error
	members  []byte
}

// Persist syncs the segment log first (raft compacts its own log after a
// snapshot, so the records it covers must be durable in the segments), then
// writes the machine and the segment files.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	err := s.persist(sink)
	if err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *snapshot) persist(sink raft.SnapshotSink) error {
	l, segs, err := s.a.syncForSnapshot()
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(sink, 1<<20)
	var machine strings.Builder
	if err := s.machine(&machine); err != nil {
		return fmt.Errorf("replication: snapshot machine: %w", err)
	}
	hdr := append([]byte(snapMagic), 1)
	hdr = binary.AppendUvarint(hdr, uint64(s.position))
	hdr = binary.AppendUvarint(hdr, s.tag)
	hdr = binary.AppendUvarint(hdr, uint64(machine.Len()))
	w.Write(hdr)
	w.WriteString(machine.String())
	w.Write(binary.AppendUvarint(nil, uint64(len(s.members))))
	w.Write(s.members)
	w.Write(binary.AppendUvarint(nil, uint64(len(segs))))
	for _, info := range segs {
		if err := copySegment(w, l, info); err != nil {
			return err
		}
	}
	return w.Flush()
}

// syncForSnapshot makes the log durable and lists its segments.
func (a *applier) syncForSnapshot() (*log.Log, []log.SegmentInfo, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.log.Sync(); err != nil {
		return nil, nil, fmt.Errorf("replication: sync log for snapshot: %w", err)
	}
	return a.log, a.log.Segments(), nil
}

func copySegment(w *bufio.Writer, l *log.Log, info log.SegmentInfo) error {
	fsys := l.FS()
	f, err := fsys.Open(info.Path)
	if err != nil {
		return fmt.Errorf("replication: snapshot %s: %w", info.Path, err)
	}
	defer f.Close()
	size := info.Size
	if info.Sealed { // a sealed file may have been clustered since: take it whole
		if size, err = f.Size(); err != nil {
			return err
		}
	}
	name := filepath.Base(info.Path)
	w.Write(binary.AppendUvarint(nil, uint64(len(name))))
	w.WriteString(name)
	w.Write(binary.AppendUvarint(nil, uint64(size)))
	_, err = io.Copy(w, io.NewSectionReader(f, 0, size))
	return err
}

func (s *snapshot) Release() {}

var errSnapshot = errors.New("replication: malformed snapshot")

func (a *applier) restoreLocked(rc io.Reader) error {
	r := bufio.NewReaderSize(rc, 1<<20)
	hdr := make([]byte, len(snapMagic)+1)
	if _, err := io.ReadFull(r, hdr); err != nil || string(hdr[:len(snapMagic)]) != snapMagic || hdr[len(snapMagic)] != 1 {
		return fmt.Errorf("%w: header", errSnapshot)
	}
	position, err1 := binary.ReadUvarint(r)
	_, err2 := binary.ReadUvarint(r) // last tag: informative
	mlen, err3 := binary.ReadUvarint(r)
	if err := errors.Join(err1, err2, err3); err != nil {
		return fmt.Errorf("%w: %v", errSnapshot, err)
	}
	if err := a.m.Restore(io.LimitReader(r, int64(mlen))); err != nil {
		return fmt.Errorf("replication: restore machine: %w", err)
	}
	members, err := readMembers(r)
	if err != nil {
		return err
	}
	a.members = members
	keepLocal := a.log.NextOffset() >= log.Offset(position)
	if err := a.restoreSegments(r, keepLocal); err != nil {
		return err
	}
	a.folded, a.caughtUp, a.failed = log.Offset(position), false, nil
	return a.catchUpLocked()
}

// restoreSegments reads the snapshot's segment files: discarded when the
// local log is a superset, otherwise written in place of the local log.
func (a *applier) restoreSegments(r *bufio.Reader, keepLocal bool) error {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return fmt.Errorf("%w: segment count", errSnapshot)
	}
	if !keepLocal {
		if err := a.log.Close(); err != nil {
			a.logger.Warn().Err(err).Msg("closing the log before restore")
		}
		if err := removeSegments(a.logOpts.FS, a.logDir); err != nil {
			return err
		}
	}
	for i := uint64(0); i < n; i++ {
		if err := a.restoreSegment(r, keepLocal); err != nil {
			return err
		}
	}
	if keepLocal {
		return nil
	}
	l, err := log.Open(a.logDir, a.logOpts)
	if err != nil {
		return fmt.Errorf("replication: reopen restored log: %w", err)
	}
	a.log = l
	a.logger.Info().Uint64("next_offset", uint64(l.NextOffset())).Msg("log restored from snapshot")
	return nil
}

func (a *applier) restoreSegment(r *bufio.Reader, discard bool) error {
	nlen, err := binary.ReadUvarint(r)
	if err != nil || nlen > 64 {
		return fmt.Errorf("%w: segment name", errSnapshot)
	}
	name := make([]byte, nlen)
	if _, err := io.ReadFull(r, name); err != nil {
		return fmt.Errorf("%w: segment name", errSnapshot)
	}
	size, err := binary.ReadUvarint(r)
	if _, ok := segment.ParseFileName(string(name)); err != nil || !ok {
		return fmt.Errorf("%w: segment %q", errSnapshot, name)
	}
	if discard {
		_, err = io.CopyN(io.Discard, r, int64(size))
		return err
	}
	f, err := a.logOpts.FS.Create(filepath.Join(a.logDir, string(name)))
	if err != nil {
		return fmt.Errorf("replication: restore %s: %w", name, err)
	}
	defer f.Close()
	if _, err := io.CopyN(f, r, int64(size)); err != nil {
		return fmt.Errorf("replication: restore %s: %w", name, err)
	}
	return f.Sync()
}

func removeSegments(fsys segment.FS, dir string) error {
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("replication: list %s: %w", dir, err)
	}
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".seg") || strings.HasSuffix(n, ".idx") || strings.HasSuffix(n, ".tmp") {
			if err := fsys.Remove(filepath.Join(dir, n)); err != nil {
				return fmt.Errorf("replication: remove %s: %w", n, err)
			}
		}
	}
	return fsys.SyncDir(dir)
}

func readMembers(r *bufio.Reader) (map[string]string, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil || n > 1<<20 {
		return nil, fmt.Errorf("%w: member book", errSnapshot)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("%w: member book", errSnapshot)
	}
	count, k := binary.Uvarint(b)
	if k <= 0 {
		return nil, fmt.Errorf("%w: member book", errSnapshot)
	}
	b = b[k:]
	m := map[string]string{}
	for i := uint64(0); i < count; i++ {
		v, rest, ok := field(b)
		if !ok {
			return nil, fmt.Errorf("%w: member %d", errSnapshot, i)
		}
		id, addr, err := decodeMember(v)
		if err != nil {
			return nil, err
		}
		m[id], b = addr, rest
	}
	return m, nil
}
