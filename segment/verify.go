package segment

import (
	"fmt"
	"hash/crc32"
	"sync"
)

// Info describes a segment that Verify read in full.
type Info struct {
	Base       Offset
	NextOffset Offset
	LastTag    uint64
	Size       int64
	Checksum   uint32 // as Reader.Checksum
	Clustered  bool
}

// checksumCache extends a Reader's segment checksum as far as the frames it
// has summed. Its mutex guards every field.
type checksumCache struct {
	mu  sync.Mutex
	pos int64 // bytes summed: 0, or the file header and whole frames
	crc uint32
}

// Checksum is the segment checksum: CRC-32C over the 32-byte file header
// followed by each frame's stored CRC (4 bytes, little endian) in file order.
// Frame CRCs leave out the node-local sync point, so every node holding the
// same segment layout gets the same value. Only frame headers are read (and
// checked: a header that does not parse or runs past the end is a
// *CorruptionError); bodies are not verified, Verify does that. The result
// is cached; on an active segment later calls extend it over new frames.
// Safe for concurrent use.
func (r *Reader) Checksum() (uint32, error) {
	if r.closed.Load() {
		return 0, ErrClosed
	}
	size := r.Size()
	c := &r.sum
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pos == 0 {
		var hdr [fileHeaderSize]byte
		if _, err := r.f.ReadAt(hdr[:], 0); err != nil {
			return 0, r.readErr(0, "read file header", err)
		}
		c.crc, c.pos = crc32.Update(0, castagnoli, hdr[:]), fileHeaderSize
	}
	var err error
	c.crc, c.pos, err = r.sumFrames(c.crc, c.pos, size)
	return c.crc, err
}

// ChecksumAt is what Checksum returned when the segment was size bytes
// long: the file header and the frames that end at or before size, which
// must be a frame boundary. Safe for concurrent use.
func (r *Reader) ChecksumAt(size int64) (uint32, error) {
	if r.closed.Load() {
		return 0, ErrClosed
	}
	var hdr [fileHeaderSize]byte
	if _, err := r.f.ReadAt(hdr[:], 0); err != nil {
		return 0, r.readErr(0, "read file header", err)
	}
	crc, pos, err := r.sumFrames(crc32.Update(0, castagnoli, hdr[:]), fileHeaderSize, size)
	if err == nil && pos != size {
		err = fmt.Errorf("segment: %s: %d is not a frame boundary", r.path, size)
	}
	return crc, err
}

// sumFrames extends crc with the stored CRC of each frame in [pos, size) and
// returns it with the position reached.
func (r *Reader) sumFrames(crc uint32, pos, size int64) (uint32, int64, error) {
	var hdr [frameHeaderSz]byte
	for pos < size {
		if _, err := r.f.ReadAt(hdr[:], pos); err != nil {
			return crc, pos, r.readErr(pos, "read frame header", err)
		}
		h, err := parseFrameHeader(hdr[:])
		if err == nil && h.frameSize() > size-pos {
			err = fmt.Errorf("frame of %d bytes extends past the end (%d)", h.frameSize(), size)
		}
		if err != nil {
			return crc, pos, r.corrupt(pos, err)
		}
		crc = crc32.Update(crc, castagnoli, hdr[:4])
		pos += h.frameSize()
	}
	return crc, pos, nil
}

// Verify reads a whole segment of either layout, ignoring its index: every
// frame's checksum, header and records are checked (bodies decompressed and
// decoded), ordered frames must be contiguous with consistent sync points,
// a clustered segment's groups must cover its range with every record in
// place. It returns what it found, or a *CorruptionError naming the first
// damaged position. Use it to scrub sealed segments and to check a segment
// fetched from a peer before swapping it in. Safe for concurrent use.
func Verify(fsys FS, path string, o Options) (Info, error) {
	if err := o.fill(); err != nil {
		return Info{}, err
	}
	f, err := fsys.Open(path)
	if err != nil {
		return Info{}, fmt.Errorf("segment: verify %s: %w", path, err)
	}
	defer f.Close()
	size, hdr, err := readFileHeader(path, f)
	if err != nil {
		return Info{}, err
	}
	r := &Reader{path: path, f: f, o: o, base: hdr.base, layout: hdr.layout}
	info := Info{Base: hdr.base, Size: size, Clustered: hdr.layout == layoutClustered}
	if info.Clustered {
		info.NextOffset, info.LastTag, err = r.verifyClustered(size)
	} else {
		info.NextOffset, info.LastTag, err = r.verifyOrdered(size)
	}
	if err != nil {
		return info, err
	}
	info.Checksum, err = r.ChecksumAt(size)
	return info, err
}

// verifyOrdered decodes every frame of an ordered segment in file order.
func (r *Reader) verifyOrdered(size int64) (Offset, uint64, error) {
	next, tag, synced := r.base, uint64(0), uint64(fileHeaderSize)
	var fb frameBuf
	var recs []Record
	for pos := int64(fileHeaderSize); pos < size; {
		h, err := r.frameHeaderAt(pos, size, next, &fb)
		if err == nil && h.synced < synced {
			err = r.corrupt(pos, fmt.Errorf("sync point %d before the previous frame's %d", h.synced, synced))
		}
		if err == nil {
			recs, _, err = r.decodeFrame(pos, &fb, recs[:0])
		}
		if err != nil {
			return next, tag, err
		}
		next, tag, synced = h.next(), h.tag, h.synced
		pos += h.frameSize()
	}
	return next, tag, nil
}

// verifyClustered rebuilds a clustered segment's groups from its frames and
// then reads each group, which checks that every record sits in its group
// exactly once.
func (r *Reader) verifyClustered(size int64) (Offset, uint64, error) {
	ci, err := r.scanClustered(size)
	if err != nil {
		return r.base, 0, err
	}
	for i := range ci.groups {
		if _, err := r.readGroup(&ci.groups[i]); err != nil {
			return ci.next, ci.lastTag, err
		}
	}
	return ci.next, ci.lastTag, nil
}
