package packet

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Limits of the MQTT data representations (section 1.5).
const (
	// MaxVarint is the largest Variable Byte Integer: four bytes of seven bits.
	MaxVarint = 268_435_455
	// MaxStringBytes is the longest UTF-8 Encoded String or Binary Data.
	MaxStringBytes = 65_535
	// maxVarintBytes is the longest Variable Byte Integer encoding.
	maxVarintBytes = 4
)

// ErrEncode reports a packet that cannot be encoded: a field out of range, a
// property not allowed in that packet, or a rule the receiver would reject
// (e.g. QoS 3, a zero packet identifier). Encode returns it wrapped with detail.
var ErrEncode = errors.New("packet: invalid packet for encoding")

// decoder reads MQTT data types from one packet body. The first error sticks:
// later reads return zero values, so a decode function checks d.err once.
// Slices it returns alias the body.
type decoder struct {
	buf     []byte
	pos     int
	err     error
	version byte
}

// fail records err unless an earlier error is already recorded.
func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// failf records a formatted error wrapping code.
func (d *decoder) failf(code ReasonCode, format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{code}, args...)...)
	}
}

func (d *decoder) remaining() int { return len(d.buf) - d.pos }

// take returns the next n bytes, capacity-capped so appends cannot clobber
// the body.
func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n > d.remaining() {
		d.failf(ErrMalformed, "%d bytes needed at offset %d, %d left", n, d.pos, d.remaining())
		return nil
	}
	b := d.buf[d.pos : d.pos+n : d.pos+n]
	d.pos += n
	return b
}

func (d *decoder) byte() byte {
	if b := d.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) uint16() uint16 {
	if b := d.take(2); b != nil {
		return uint16(b[0])<<8 | uint16(b[1])
	}
	return 0
}

func (d *decoder) uint32() uint32 {
	if b := d.take(4); b != nil {
		return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	}
	return 0
}

// varint reads a Variable Byte Integer (section 1.5.5).
func (d *decoder) varint() uint32 {
	if d.err != nil {
		return 0
	}
	v, n, err := parseVarint(d.buf[d.pos:], d.version == Version5)
	if err != nil {
		d.fail(err)
		return 0
	}
	d.pos += n
	return v
}

// binary reads Binary Data (section 1.5.6). Empty data decodes as nil.
func (d *decoder) binary() []byte {
	n := int(d.uint16())
	b := d.take(n)
	if len(b) == 0 {
		return nil
	}
	return b
}

// string reads a UTF-8 Encoded String and checks it [MQTT-1.5.4-1] [MQTT-1.5.4-2].
// A byte order mark is kept as it is [MQTT-1.5.4-3].
func (d *decoder) string() string {
	b := d.binary()
	if !validUTF8(b) {
		d.failf(ErrMalformed, "ill-formed utf-8 string or U+0000 at offset %d", d.pos-len(b))
		return ""
	}
	return string(b)
}

// rest returns everything not yet read, nil when nothing is left.
func (d *decoder) rest() []byte {
	b := d.take(d.remaining())
	if len(b) == 0 {
		return nil
	}
	return b
}

// end records a malformed-packet error if bytes are left over.
func (d *decoder) end() {
	if d.err == nil && d.remaining() != 0 {
		d.failf(ErrMalformed, "%d unexpected trailing bytes", d.remaining())
	}
}

// parseVarint decodes a Variable Byte Integer from the start of b and returns
// its value and length. A fifth byte is malformed (section 1.5.5). With
// minimal set, a longer encoding than needed is malformed too [MQTT-1.5.5-1];
// MQTT 3.1.1 has no such rule, so it is only enforced for MQTT 5.0.
func parseVarint(b []byte, minimal bool) (uint32, int, error) {
	var v uint32
	for i := 0; i < maxVarintBytes; i++ {
		if i >= len(b) {
			return 0, 0, fmt.Errorf("%w: truncated variable byte integer", ErrMalformed)
		}
		v |= uint32(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			if minimal && i > 0 && b[i] == 0 {
				return 0, 0, fmt.Errorf("%w: non-minimal variable byte integer [MQTT-1.5.5-1]", ErrMalformed)
			}
			return v, i + 1, nil
		}
	}
	return 0, 0, fmt.Errorf("%w: variable byte integer longer than 4 bytes", ErrMalformed)
}

// validUTF8 reports whether b is well-formed UTF-8 without surrogates
// [MQTT-1.5.4-1] and without U+0000 [MQTT-1.5.4-2]. utf8.Valid rejects
// encoded surrogates (U+D800..U+DFFF) and overlong forms.
func validUTF8(b []byte) bool {
	ascii := true
	for _, c := range b {
		if c == 0 {
			return false
		}
		ascii = ascii && c < utf8.RuneSelf
	}
	return ascii || utf8.Valid(b)
}

// varintLen is the encoded length of v, which must be at most MaxVarint.
func varintLen(v uint32) int {
	switch {
	case v < 1<<7:
		return 1
	case v < 1<<14:
		return 2
	case v < 1<<21:
		return 3
	}
	return 4
}

func appendVarint(buf []byte, v uint32) []byte {
	for v >= 0x80 {
		buf = append(buf, byte(v)|0x80)
		v >>= 7
	}
	return append(buf, byte(v))
}

func appendUint16(buf []byte, v uint16) []byte { return append(buf, byte(v>>8), byte(v)) }

func appendUint32(buf []byte, v uint32) []byte {
	return append(buf, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func appendString(buf []byte, s string) []byte {
	return append(appendUint16(buf, uint16(len(s))), s...)
}

func appendBinary(buf []byte, b []byte) []byte {
	return append(appendUint16(buf, uint16(len(b))), b...)
}

// sizer adds up the encoded size of a packet body and records the first
// reason it cannot be encoded (wrapped in ErrEncode by the caller). It is the
// encode-side twin of decoder.
type sizer struct {
	n   int
	err error
}

func (s *sizer) failf(format string, args ...any) {
	if s.err == nil {
		s.err = fmt.Errorf(format, args...)
	}
}

func (s *sizer) add(n int) { s.n += n }

func (s *sizer) string(v string) {
	if len(v) > MaxStringBytes {
		s.failf("string of %d bytes exceeds %d", len(v), MaxStringBytes)
	}
	s.n += 2 + len(v)
}

func (s *sizer) binary(v []byte) {
	if len(v) > MaxStringBytes {
		s.failf("binary data of %d bytes exceeds %d", len(v), MaxStringBytes)
	}
	s.n += 2 + len(v)
}

func (s *sizer) varint(v uint32) {
	if v > MaxVarint {
		s.failf("variable byte integer %d exceeds %d", v, MaxVarint)
	}
	s.n += varintLen(v)
}
