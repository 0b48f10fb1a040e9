package log

import "fmt"

// Manifest describes every segment as Segments does, with its checksum
// (segment.Reader.Checksum: equal on every node holding the same layout of
// the segment), oldest first. Checksums are cached by the segment readers,
// so a manifest costs a read of the frame headers of new segments only.
func (l *Log) Manifest() ([]SegmentInfo, error) {
	segs := l.segments()
	out := make([]SegmentInfo, 0, len(segs))
	for i, s := range segs {
		h := s.acquire()
		if h == nil {
			continue // deleted by retention meanwhile
		}
		r := h.r
		sum, err := r.Checksum()
		info := SegmentInfo{Base: s.base, NextOffset: r.NextOffset(), Path: s.path, Size: r.Size(),
			Sealed: i < len(segs)-1, Clustered: r.Clustered(), LastTag: r.LastTag(), Checksum: sum}
		h.release()
		if err != nil {
			return nil, fmt.Errorf("log: manifest: %w", err)
		}
		out = append(out, info)
	}
	return out, nil
}

// Pinned calls fn with the manifest while no segment file is rewritten,
// replaced or deleted: until fn returns, the files the manifest names are
// the ones in the directory (the active segment may grow, and roll).
func (l *Log) Pinned(fn func([]SegmentInfo) error) error {
	l.pin.Lock()
	defer l.pin.Unlock()
	segs, err := l.Manifest()
	if err != nil {
		return err
	}
	return fn(segs)
}

// ChecksumAt is the checksum the segment at base had when it was size bytes
// long (see segment.Reader.ChecksumAt).
func (l *Log) ChecksumAt(base Offset, size int64) (uint32, error) {
	for _, s := range l.segments() {
		if s.base != base {
			continue
		}
		h := s.acquire()
		if h == nil {
			break
		}
		defer h.release()
		return h.r.ChecksumAt(size)
	}
	return 0, fmt.Errorf("%w: no segment at %d", ErrInvalid, base)
}
