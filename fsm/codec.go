package fsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/stratamq/strata/internal/varint"
)

// Primitive encoders and a strict decoder shared by entries and snapshots.
// Strict means every accepted input is canonical: varints are minimal and
// flag bits are known, so decoding then encoding gives back the same bytes.

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

// appendVarint appends v zigzag-encoded, as decoder.varint reads it.
func appendVarint(b []byte, v int64) []byte {
	return appendUvarint(b, uint64(v<<1)^uint64(v>>63))
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// decoder reads primitives from b. The first error sticks; later reads
// return zero values, so callers check err once at the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail("unexpected end of data")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) bool() bool {
	switch c := d.byte(); c {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail("bad boolean %d", c)
		return false
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n, err := varint.Uvarint(d.b)
	if err != nil {
		d.fail("%w", err)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// uvarintMax reads a uvarint and checks it is at most limit.
func (d *decoder) uvarintMax(limit uint64, what string) uint64 {
	v := d.uvarint()
	if v > limit {
		d.fail("%s %d out of range", what, v)
		return 0
	}
	return v
}

func (d *decoder) varint() int64 {
	u := d.uvarint()
	return int64(u>>1) ^ -int64(u&1) // zigzag, as binary.AppendVarint writes it
}

func (d *decoder) raw(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("length %d exceeds the %d bytes left", n, len(d.b))
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// bytes reads a length-prefixed byte string into a new slice (nil when empty).
func (d *decoder) bytes(limit uint64) []byte {
	v := d.raw(d.uvarintMax(limit, "length"))
	if len(v) == 0 {
		return nil
	}
	return append([]byte(nil), v...)
}

func (d *decoder) string(limit uint64) string {
	return string(d.raw(d.uvarintMax(limit, "length")))
}

// count reads an item count; each item takes at least one byte, which bounds
// allocations by the input size.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("count %d exceeds the %d bytes left", n, len(d.b))
		return 0
	}
	return int(n)
}

func (d *decoder) end() {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
}

// checkExtensions verifies that ext is a sequence of (uvarint tag, uvarint
// length, bytes) fields.
func checkExtensions(ext []byte) error {
	d := decoder{b: ext}
	for len(d.b) > 0 && d.err == nil {
		d.uvarint()
		d.raw(d.uvarint())
	}
	if d.err != nil {
		return errors.New("malformed extension area")
	}
	return nil
}

const maxUint32 = math.MaxUint32
