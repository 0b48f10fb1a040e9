package segment

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"sync/atomic"
)

// Reader reads one segment, in either layout. Safe for concurrent use.
type Reader struct {
	path   string
	f      File
	o      Options
	base   Offset
	layout uint8
	st     *state        // ordered layout: frames and sparse index
	cl     *clusterIndex // clustered layout: groups and key directories
	shared bool          // the file belongs to a Writer; Close leaves it open
	closed atomic.Bool
	sum    checksumCache
	// damaged, if set, is why the segment could not be opened: every read
	// returns it (see OpenDamaged).
	damaged error
}

func (r *Reader) Path() string    { return r.path }
func (r *Reader) Base() Offset    { return r.base }
func (r *Reader) Clustered() bool { return r.layout == layoutClustered }

// NextOffset is one past the last record.
func (r *Reader) NextOffset() Offset {
	if r.cl != nil {
		return r.cl.next
	}
	_, n, _ := r.st.snapshot()
	return n
}

// Size is the segment file's size in bytes (complete frames only).
func (r *Reader) Size() int64 {
	if r.cl != nil {
		return r.cl.size
	}
	s, _, _ := r.st.snapshot()
	return s
}

// MinTime and MaxTime bound the record times; both are 0 when empty.
func (r *Reader) MinTime() int64 { lo, _ := r.times(); return lo }
func (r *Reader) MaxTime() int64 { _, hi := r.times(); return hi }

func (r *Reader) times() (int64, int64) {
	if r.cl != nil {
		return r.cl.minTime, r.cl.maxTime
	}
	if r.damaged != nil {
		return damagedMinTime, damagedMaxTime
	}
	r.st.mu.RLock()
	defer r.st.mu.RUnlock()
	if r.st.empty {
		return 0, 0
	}
	return r.st.minTime, r.st.maxTime
}

// LastTag is the highest frame tag (the last frame's, in the ordered layout).
func (r *Reader) LastTag() uint64 {
	if r.cl != nil {
		return r.cl.lastTag
	}
	r.st.mu.RLock()
	defer r.st.mu.RUnlock()
	return r.st.lastTag
}

// Close releases the file unless a Writer owns it.
func (r *Reader) Close() error {
	if r.closed.Swap(true) || r.shared {
		return nil
	}
	return r.f.Close()
}

// readErr classifies a failed read: bytes missing from the file (EOF) are
// corruption; anything else (EIO, a closed file) is an I/O error, returned as
// such so it is not mistaken for damaged data.
func (r *Reader) readErr(pos int64, what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return r.corrupt(pos, fmt.Errorf("%s: %w", what, err))
	}
	return fmt.Errorf("segment: %s %s at byte %d: %w", what, r.path, pos, err)
}

func (r *Reader) corrupt(pos int64, err error) error {
	return &CorruptionError{Path: r.path, Pos: pos, Err: err}
}

// frameBuf holds the reusable buffers of one frame read.
type frameBuf struct {
	hdr  [frameHeaderSz]byte
	body []byte
	raw  []byte
}

// readFrame reads, verifies and decompresses the frame at pos. The returned
// raw body aliases fb.raw (or fb.body for CodecNone).
func (r *Reader) readFrame(pos int64, fb *frameBuf) (frameHeader, []byte, error) {
	if r.closed.Load() {
		return frameHeader{}, nil, ErrClosed
	}
	if _, err := r.f.ReadAt(fb.hdr[:], pos); err != nil {
		return frameHeader{}, nil, r.readErr(pos, "read frame header", err)
	}
	h, err := parseFrameHeader(fb.hdr[:])
	if err != nil {
		return h, nil, r.corrupt(pos, err)
	}
	fb.body = grow(fb.body, int(h.bodyLen))
	if _, err := r.f.ReadAt(fb.body, pos+frameHeaderSz); err != nil && !(errors.Is(err, io.EOF) && h.bodyLen == 0) {
		return h, nil, r.readErr(pos, "read frame body", err)
	}
	if !checksumOK(fb.hdr[:], fb.body) {
		return h, nil, r.corrupt(pos, errors.New("frame checksum mismatch"))
	}
	raw, err := decompress(h.codec(), r.o.Zstd, fb.raw[:0], fb.body, int(h.rawLen))
	if err != nil {
		return h, nil, r.corrupt(pos, fmt.Errorf("decompress %s: %w", h.codec(), err))
	}
	if h.codec() != CodecNone {
		fb.raw = raw
	}
	return h, raw, nil
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// decodeFrame reads the frame at pos and appends its records to dst.
func (r *Reader) decodeFrame(pos int64, fb *frameBuf, dst []Record) ([]Record, frameHeader, error) {
	h, raw, err := r.readFrame(pos, fb)
	if err != nil {
		return dst, h, err
	}
	dst, err = decodeRecords(dst, raw, &h)
	if err != nil {
		return dst, h, r.corrupt(pos, err)
	}
	return dst, h, nil
}

// ReadAt returns the record at off. Its Key and Value are the caller's.
func (r *Reader) ReadAt(off Offset) (Record, error) {
	if off < r.base || off >= r.NextOffset() {
		return Record{}, fmt.Errorf("%w: %d not in [%d, %d)", ErrOutOfRange, off, r.base, r.NextOffset())
	}
	it := r.Iter(off)
	defer it.Close()
	if !it.Next() {
		if err := it.Err(); err != nil {
			return Record{}, err
		}
		return Record{}, fmt.Errorf("%w: %d", ErrOutOfRange, off)
	}
	rec := it.Record()
	rec.Key = append([]byte(nil), rec.Key...)
	rec.Value = append([]byte(nil), rec.Value...)
	return rec, nil
}

// Iter iterates [from, NextOffset) in offset order. An ordered segment's
// iterator sees the frames complete when it was created.
func (r *Reader) Iter(from Offset) *Iterator {
	return r.Filter(from, ^Offset(0), nil)
}

// Filter iterates, in offset order, the records in [from, to) whose key
// satisfies match (nil matches everything). On a clustered segment only the
// frames holding matching keys are read.
func (r *Reader) Filter(from, to Offset, match func(key []byte) bool) *Iterator {
	it := &Iterator{from: from, to: to, match: match}
	if r.damaged != nil {
		it.src = func([]Record) ([]Record, error) { return nil, r.damaged }
		return it
	}
	if r.cl != nil {
		it.src = r.clusteredSource(from, to, match)
	} else {
		it.src = r.orderedSource(from)
	}
	return it
}

// orderedSource yields one frame's records at a time, starting with the frame
// holding from. Frames wholly below from are skipped by their header alone:
// their bodies are neither read nor checked, so damage there does not fail a
// read that starts after it. A header that does not parse, does not follow
// its predecessor or runs past the end is still an error.
func (r *Reader) orderedSource(from Offset) func([]Record) ([]Record, error) {
	size, _, index := r.st.snapshot()
	pos, expect := int64(fileHeaderSize), r.base
	if i := sort.Search(len(index), func(i int) bool { return index[i].base > from }); i > 0 {
		pos, expect = index[i-1].pos, index[i-1].base
	}
	fb := &frameBuf{}
	return func(dst []Record) ([]Record, error) {
		for pos < size {
			h, err := r.frameHeaderAt(pos, size, expect, fb)
			if err == nil && h.next() > from {
				recs, _, err := r.decodeFrame(pos, fb, dst[:0])
				if err != nil {
					pos = size
					return nil, err
				}
				pos, expect = pos+h.frameSize(), h.next()
				return recs, nil
			}
			if err != nil {
				pos = size
				return nil, err
			}
			pos, expect = pos+h.frameSize(), h.next()
		}
		return nil, nil
	}
}

// frameHeaderAt reads and checks the header of the ordered frame at pos: it
// must parse, start at offset expect and end within size.
func (r *Reader) frameHeaderAt(pos, size int64, expect Offset, fb *frameBuf) (frameHeader, error) {
	if r.closed.Load() {
		return frameHeader{}, ErrClosed
	}
	if _, err := r.f.ReadAt(fb.hdr[:], pos); err != nil {
		return frameHeader{}, r.readErr(pos, "read frame header", err)
	}
	h, err := parseFrameHeader(fb.hdr[:])
	switch {
	case err != nil:
		return h, r.corrupt(pos, err)
	case h.base != expect:
		return h, r.corrupt(pos, fmt.Errorf("frame base %d, expected %d", h.base, expect))
	case h.frameSize() > size-pos:
		return h, r.corrupt(pos, errors.New("frame extends past the end of the segment"))
	case h.synced < fileHeaderSize || h.synced > uint64(pos):
		return h, r.corrupt(pos, fmt.Errorf("sync point %d out of place for a frame at %d", h.synced, pos))
	}
	return h, nil
}

// SeekTime returns the first offset whose record time is >= t, or
// NextOffset if there is none.
func (r *Reader) SeekTime(t int64) (Offset, error) {
	var it *Iterator
	if r.cl != nil {
		it = r.Iter(r.cl.seekGroup(t))
	} else {
		_, _, index := r.st.snapshot()
		i := sort.Search(len(index), func(i int) bool { return index[i].prefixMax >= t })
		from := r.base
		if i > 0 {
			from = index[i-1].base
		}
		it = r.Iter(from)
	}
	defer it.Close()
	for it.Next() {
		if rec := it.Record(); rec.Time >= t {
			return rec.Offset, nil
		}
	}
	return r.NextOffset(), it.Err()
}

// Iterator walks records in offset order:
//
//	for it.Next() { rec := it.Record() }; err := it.Err(); it.Close()
//
// A record's Key and Value are valid until the next call to Next. Not safe
// for concurrent use.
type Iterator struct {
	src      func(dst []Record) ([]Record, error)
	from, to Offset
	match    func([]byte) bool
	batch    []Record
	i        int
	cur      Record
	err      error
	done     bool
}

// Next advances to the next record; it returns false at the end or on error.
func (it *Iterator) Next() bool {
	for !it.done {
		if it.i >= len(it.batch) {
			if !it.refill() {
				return false
			}
			continue
		}
		rec := it.batch[it.i]
		it.i++
		if rec.Offset < it.from || (it.match != nil && !it.match(rec.Key)) {
			continue
		}
		if rec.Offset >= it.to {
			it.done = true
			return false
		}
		it.cur = rec
		return true
	}
	return false
}

func (it *Iterator) refill() bool {
	batch, err := it.src(it.batch[:0])
	it.batch, it.i = batch, 0
	if err != nil || len(batch) == 0 {
		it.err, it.done = err, true
		return false
	}
	return true
}

func (it *Iterator) Record() Record { return it.cur }
func (it *Iterator) Err() error     { return it.err }

// Close ends the iteration; it is safe to call more than once.
func (it *Iterator) Close() error {
	it.done, it.batch = true, nil
	return nil
}
