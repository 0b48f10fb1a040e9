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
