package segment

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Open opens a sealed segment, loading its index or rebuilding it (and
// rewriting the .idx) when it is missing or does not match. A checksum
// failure met while rebuilding is a *CorruptionError: sealed data is synced,
// so damage in it is never cut.
func Open(fsys FS, path string, o Options) (*Reader, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	f, err := fsys.Open(path)
	if err != nil {
		return nil, fmt.Errorf("segment: open %s: %w", path, err)
	}
	r, err := openReader(fsys, path, f, o)
	if err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

func openReader(fsys FS, path string, f File, o Options) (*Reader, error) {
	size, hdr, err := readFileHeader(path, f)
	if err != nil {
		return nil, err
	}
	r := &Reader{path: path, f: f, o: o, base: hdr.base, layout: hdr.layout}
	if b, err := readAll(fsys, IndexName(path)); err == nil {
		if st, ci, err := loadIndex(b, size, hdr.base, hdr.layout); err == nil {
			r.st, r.cl = st, ci
			return r, nil
		}
	}
	if err := r.rebuild(size); err != nil {
		return nil, err
	}
	_ = writeIndex(fsys, r) // best effort: the index is only a cache
	return r, nil
}

func readFileHeader(path string, f File) (int64, fileHeader, error) {
	size, err := f.Size()
	if err != nil {
		return 0, fileHeader{}, fmt.Errorf("segment: open %s: %w", path, err)
	}
	var b [fileHeaderSize]byte
	if _, err := f.ReadAt(b[:], 0); err != nil {
		return size, fileHeader{}, &CorruptionError{Path: path, Pos: 0, Err: fmt.Errorf("read file header: %w", err)}
	}
	hdr, err := decodeFileHeader(b[:])
	if errors.Is(err, ErrFormatVersion) {
		return size, hdr, fmt.Errorf("segment: open %s: %w", path, err)
	}
	if err != nil {
		return size, hdr, &CorruptionError{Path: path, Pos: 0, Err: err}
	}
	if base, ok := ParseFileName(baseName(path)); ok && base != hdr.base {
		return size, hdr, &CorruptionError{Path: path, Pos: 16, Err: fmt.Errorf("header base %d, file name says %d", hdr.base, base)}
	}
	return size, hdr, nil
}

func baseName(path string) string {
	if i := bytes.LastIndexByte([]byte(path), '/'); i >= 0 {
		return path[i+1:]
	}
	return path
}

func readAll(fsys FS, path string) ([]byte, error) {
	f, err := fsys.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil || size > 1<<30 {
		return nil, errors.New("index unreadable")
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b, nil
}

// rebuild scans every frame to recreate the in-memory index.
func (r *Reader) rebuild(size int64) error {
	if r.layout == layoutClustered {
		ci, err := r.scanClustered(size)
		r.cl = ci
		return err
	}
	st, damage, err := r.scanOrdered(size)
	if err != nil {
		return r.corrupt(damage, err)
	}
	r.st = st
	return nil
}

// scanOrdered verifies every frame of an ordered segment and indexes them. On
// the first damaged frame it returns the state so far, the frame's position
// and the reason.
func (r *Reader) scanOrdered(size int64) (*state, int64, error) {
	st := &state{size: fileHeaderSize, next: r.base, empty: true}
	w := &Writer{st: st, o: r.o, lastIndexed: -1 << 62, maxTime: minTime}
	var fb frameBuf
	synced := uint64(fileHeaderSize)
	for pos := int64(fileHeaderSize); pos < size; {
		h, err := r.verifyFrame(pos, size, &fb)
		if err == nil {
			err = checkOrderedFrame(&h, pos, st.next, synced)
		}
		if err != nil {
			return st, pos, err
		}
		w.publish(pos, h.frameSize(), &h)
		pos, synced = pos+h.frameSize(), h.synced
	}
	return st, 0, nil
}

// checkOrderedFrame checks what the frame checksum cannot: the frame follows
// its predecessor, and its sync point (node-local, outside the checksum) is
// not before the previous frame's nor past the frame's own position.
func checkOrderedFrame(h *frameHeader, pos int64, next Offset, prevSynced uint64) error {
	switch {
	case h.clustered():
		return errors.New("clustered frame in an ordered segment")
	case h.base != next:
		return fmt.Errorf("frame base %d, expected %d", h.base, next)
	case h.synced < prevSynced || h.synced > uint64(pos):
		return fmt.Errorf("sync point %d out of order (previous %d, frame at %d)", h.synced, prevSynced, pos)
	}
	return nil
}

// verifyFrame checks one frame's header, extent and checksum without
// decompressing it.
func (r *Reader) verifyFrame(pos, size int64, fb *frameBuf) (frameHeader, error) {
	if size-pos < frameHeaderSz {
		return frameHeader{}, errors.New("frame header truncated")
	}
	if _, err := r.f.ReadAt(fb.hdr[:], pos); err != nil {
		return frameHeader{}, err
	}
	h, err := parseFrameHeader(fb.hdr[:])
	if err != nil {
		return h, err
	}
	if h.frameSize() > size-pos {
		return h, errors.New("frame extends past the end of the file")
	}
	fb.body = grow(fb.body, int(h.bodyLen))
	if _, err := r.f.ReadAt(fb.body, pos+frameHeaderSz); err != nil && h.bodyLen > 0 {
		return h, err
	}
	if !checksumOK(fb.hdr[:], fb.body) {
		return h, errors.New("frame checksum mismatch")
	}
	return h, nil
}

// scanClustered rebuilds a clustered segment's groups and key directories by
// decoding every frame.
func (r *Reader) scanClustered(size int64) (*clusterIndex, error) {
	ci := &clusterIndex{size: size, next: r.base}
	var g *group
	first := true
	for pos := int64(fileHeaderSize); pos < size; {
		var fb frameBuf
		recs, h, err := r.decodeFrame(pos, &fb, nil)
		if err == nil && (!h.clustered() || (g == nil && h.flags&flagGroupStart == 0)) {
			err = r.corrupt(pos, errors.New("frame out of place in a clustered segment"))
		}
		if err != nil {
			return nil, err
		}
		if h.flags&flagGroupStart != 0 {
			ci.groups = append(ci.groups, group{base: h.base, next: h.base, minTime: h.minTime, maxTime: h.maxTime})
			g = &ci.groups[len(ci.groups)-1]
		}
		extendGroup(g, recs, &h, pos)
		if first {
			ci.minTime, ci.maxTime, first = h.minTime, h.maxTime, false
		}
		ci.minTime, ci.maxTime = min(ci.minTime, h.minTime), max(ci.maxTime, h.maxTime)
		ci.lastTag = max(ci.lastTag, h.tag)
		pos += h.frameSize()
	}
	if len(ci.groups) > 0 {
		ci.next = ci.groups[len(ci.groups)-1].next
	}
	if err := ci.validate(r.base, size); err != nil {
		return nil, r.corrupt(fileHeaderSize, err)
	}
	return ci, nil
}

func extendGroup(g *group, recs []Record, h *frameHeader, pos int64) {
	frame := uint32(len(g.frames))
	g.frames = append(g.frames, pos)
	g.base, g.next = min(g.base, h.base), max(g.next, h.next())
	g.minTime, g.maxTime = min(g.minTime, h.minTime), max(g.maxTime, h.maxTime)
	for i := range recs {
		if n := len(g.keys); n > 0 && bytes.Equal(g.keys[n-1].key, recs[i].Key) {
			g.keys[n-1].count++
			continue
		}
		g.keys = append(g.keys, keyRun{key: bytes.Clone(recs[i].Key), frame: frame, rec: uint32(i), count: 1})
	}
}
