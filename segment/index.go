package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/stratamq/strata/internal/varint"
)

// An index file (.idx) beside a sealed segment:
//
//	0  magic "STRATIDX"  8 bytes
//	8  version           uint16
//	10 layout            uint8 (of the .seg it describes)
//	11 reserved          uint8, zero
//	12 payload length    uint32
//	16 payload
//	.. crc32c            uint32 over everything before it
//
// The payload is a sequence of varints (u: unsigned, s: zigzag signed):
// u segment size, u base, u next, s minTime, s maxTime, u lastTag, then for
// the ordered layout u n and n entries of (u pos, u base, s prefixMax); for
// the clustered layout u n groups, each: u base, u next, s minTime, s
// maxTime, u frames, that many u positions, u keys, and per key: u length,
// key bytes, u frame, u record, u count. An index is only a cache: when it is
// missing, damaged or does not describe the .seg (size, base, layout), it is
// rebuilt by scanning the segment.
const (
	indexMagic  = "STRATIDX"
	indexHeader = 16
)

func encodeIndex(r *Reader) []byte {
	p := []byte{}
	u := func(v uint64) { p = binary.AppendUvarint(p, v) }
	s := func(v int64) { p = binary.AppendVarint(p, v) }
	lo, hi := r.times()
	u(uint64(r.Size()))
	u(uint64(r.base))
	u(uint64(r.NextOffset()))
	s(lo)
	s(hi)
	u(r.LastTag())
	if r.cl == nil {
		_, _, index := r.st.snapshot()
		u(uint64(len(index)))
		for _, e := range index {
			u(uint64(e.pos))
			u(uint64(e.base))
			s(e.prefixMax)
		}
	} else {
		u(uint64(len(r.cl.groups)))
		for _, g := range r.cl.groups {
			u(uint64(g.base))
			u(uint64(g.next))
			s(g.minTime)
			s(g.maxTime)
			u(uint64(len(g.frames)))
			for _, pos := range g.frames {
				u(uint64(pos))
			}
			u(uint64(len(g.keys)))
			for _, k := range g.keys {
				u(uint64(len(k.key)))
				p = append(p, k.key...)
				u(uint64(k.frame))
				u(uint64(k.rec))
				u(uint64(k.count))
			}
		}
	}
	b := make([]byte, indexHeader, indexHeader+len(p)+4)
	copy(b, indexMagic)
	binary.LittleEndian.PutUint16(b[8:], formatVersion)
	b[10] = r.layout
	binary.LittleEndian.PutUint32(b[12:], uint32(len(p)))
	b = append(b, p...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// writeIndex writes r's index file durably (see writeDurable).
func writeIndex(fsys FS, r *Reader) error {
	path := IndexName(r.path)
	if err := writeDurable(fsys, path, encodeIndex(r)); err != nil {
		return fmt.Errorf("segment: write index %s: %w", path, err)
	}
	return nil
}

// idxDecoder reads varints from an index payload, remembering the first error.
type idxDecoder struct {
	p   []byte
	err error
}

var errIndex = errors.New("malformed index")

func (d *idxDecoder) u() uint64 {
	v, n, err := varint.Uvarint(d.p)
	if err != nil {
		d.fail(err)
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *idxDecoder) s() int64 {
	v, n, err := varint.Varint(d.p)
	if err != nil {
		d.fail(err)
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *idxDecoder) fail(err error) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %w", errIndex, err)
	}
	d.p = nil
}

// count reads a length and checks it against what the payload could hold.
func (d *idxDecoder) count() int {
	v := d.u()
	if v > uint64(len(d.p)) {
		d.fail(fmt.Errorf("count %d exceeds the %d bytes left", v, len(d.p)))
		return 0
	}
	return int(v)
}

func (d *idxDecoder) bytes() []byte {
	n := d.count()
	b := d.p[:n:n]
	d.p = d.p[n:]
	return b
}

// loadIndex decodes an index file and checks that it describes a segment of
// the given size, base and layout.
func loadIndex(b []byte, size int64, base Offset, layout uint8) (*state, *clusterIndex, error) {
	if len(b) < indexHeader+4 || string(b[:8]) != indexMagic {
		return nil, nil, errors.New("index: bad header")
	}
	n := len(b) - 4
	if crc32.Checksum(b[:n], castagnoli) != binary.LittleEndian.Uint32(b[n:]) {
		return nil, nil, errors.New("index: checksum mismatch")
	}
	if binary.LittleEndian.Uint16(b[8:]) != formatVersion || b[10] != layout ||
		int(binary.LittleEndian.Uint32(b[12:])) != n-indexHeader {
		return nil, nil, errors.New("index: header does not match")
	}
	d := &idxDecoder{p: b[indexHeader:n]}
	if int64(d.u()) != size || Offset(d.u()) != base {
		return nil, nil, errors.New("index: describes another segment")
	}
	next, lo, hi, tag := Offset(d.u()), d.s(), d.s(), d.u()
	if layout == layoutClustered {
		ci := &clusterIndex{size: size, next: next, minTime: lo, maxTime: hi, lastTag: tag}
		ci.groups = decodeGroups(d)
		return nil, ci, orIndexErr(d, ci.validate(base, size))
	}
	st := &state{size: size, next: next, minTime: lo, maxTime: hi, lastTag: tag, empty: next == base}
	entries := d.count()
	for i := 0; i < entries && d.err == nil; i++ {
		st.index = append(st.index, indexEntry{pos: int64(d.u()), base: Offset(d.u()), prefixMax: d.s()})
	}
	return st, nil, orIndexErr(d, validateEntries(st, base))
}

func orIndexErr(d *idxDecoder, err error) error {
	if d.err != nil {
		return d.err
	}
	if err == nil && len(d.p) != 0 {
		return errIndex
	}
	return err
}

func decodeGroups(d *idxDecoder) []group {
	var gs []group
	n := d.count()
	for i := 0; i < n && d.err == nil; i++ {
		g := group{base: Offset(d.u()), next: Offset(d.u()), minTime: d.s(), maxTime: d.s()}
		frames := d.count()
		for j := 0; j < frames && d.err == nil; j++ {
			g.frames = append(g.frames, int64(d.u()))
		}
		keys := d.count()
		for j := 0; j < keys && d.err == nil; j++ {
			g.keys = append(g.keys, keyRun{key: d.bytes(), frame: uint32(d.u()), rec: uint32(d.u()), count: uint32(d.u())})
		}
		gs = append(gs, g)
	}
	return gs
}

// validate checks the structural promises readers rely on.
func (c *clusterIndex) validate(base Offset, size int64) error {
	at := base
	for _, g := range c.groups {
		if g.base != at || g.next <= g.base || len(g.frames) == 0 {
			return errors.New("index: groups not contiguous")
		}
		for _, pos := range g.frames {
			if pos < fileHeaderSize || pos >= size {
				return errors.New("index: frame position out of range")
			}
		}
		for _, k := range g.keys {
			if int(k.frame) >= len(g.frames) || k.count == 0 {
				return errors.New("index: bad key run")
			}
		}
		at = g.next
	}
	if at != c.next {
		return errors.New("index: groups do not cover the segment")
	}
	return nil
}

func validateEntries(st *state, base Offset) error {
	pos, off := int64(fileHeaderSize)-1, base
	for _, e := range st.index {
		if e.pos <= pos || e.pos >= st.size || e.base < off || e.base >= st.next {
			return errors.New("index: entries out of order")
		}
		pos, off = e.pos, e.base
	}
	return nil
}
