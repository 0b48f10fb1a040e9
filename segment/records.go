package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/stratamq/strata/internal/varint"
)

// appendRecords encodes recs as a frame body and fills in the header's count,
// base, maxDelta and times. recs must be non-empty. In an ordered frame the
// offsets are recs[0].Offset+i and are not stored; a clustered frame stores
// each record's offset delta from the lowest offset.
//
// Record encoding: [uvarint offset delta, clustered only] uvarint time delta
// from minTime, kind byte, uvarint key length, key, uvarint value length, value.
func appendRecords(dst []byte, recs []Record, clustered bool, h *frameHeader) []byte {
	h.count = uint32(len(recs))
	h.base, h.minTime, h.maxTime = recs[0].Offset, recs[0].Time, recs[0].Time
	last := recs[0].Offset
	for _, r := range recs {
		h.base, last = min(h.base, r.Offset), max(last, r.Offset)
		h.minTime, h.maxTime = min(h.minTime, r.Time), max(h.maxTime, r.Time)
	}
	h.maxDelta = uint32(last - h.base)
	for _, r := range recs {
		if clustered {
			dst = binary.AppendUvarint(dst, uint64(r.Offset-h.base))
		}
		dst = binary.AppendUvarint(dst, uint64(r.Time-h.minTime))
		dst = append(dst, r.Kind)
		dst = binary.AppendUvarint(dst, uint64(len(r.Key)))
		dst = append(dst, r.Key...)
		dst = binary.AppendUvarint(dst, uint64(len(r.Value)))
		dst = append(dst, r.Value...)
	}
	return dst
}

var errBadRecords = errors.New("bad record encoding")

// decodeRecords parses a raw body into dst. Keys and values alias raw.
func decodeRecords(dst []Record, raw []byte, h *frameHeader) ([]Record, error) {
	clustered := h.clustered()
	pos := 0
	uv := func() (uint64, bool) {
		v, n, err := varint.Uvarint(raw[pos:])
		if err != nil {
			return 0, false
		}
		pos += n
		return v, true
	}
	bytesField := func() ([]byte, bool) {
		n, ok := uv()
		if !ok || n > uint64(len(raw)-pos) {
			return nil, false
		}
		b := raw[pos : pos+int(n) : pos+int(n)]
		pos += int(n)
		return b, true
	}
	span := uint64(h.maxTime - h.minTime)
	if h.maxTime-h.minTime < 0 {
		span = math.MaxUint64
	}
	for i := uint32(0); i < h.count; i++ {
		r := Record{Offset: h.base + Offset(i)}
		if clustered {
			d, ok := uv()
			if !ok || d > uint64(h.maxDelta) {
				return dst, fmt.Errorf("record %d: %w: offset delta", i, errBadRecords)
			}
			r.Offset = h.base + Offset(d)
		}
		td, ok := uv()
		if !ok || td > span || pos >= len(raw) {
			return dst, fmt.Errorf("record %d: %w: time", i, errBadRecords)
		}
		r.Time = h.minTime + int64(td)
		r.Kind = raw[pos]
		pos++
		if r.Key, ok = bytesField(); !ok {
			return dst, fmt.Errorf("record %d: %w: key", i, errBadRecords)
		}
		if r.Value, ok = bytesField(); !ok {
			return dst, fmt.Errorf("record %d: %w: value", i, errBadRecords)
		}
		dst = append(dst, r)
	}
	if pos != len(raw) {
		return dst, fmt.Errorf("%w: %d trailing bytes", errBadRecords, len(raw)-pos)
	}
	return dst, nil
}

// recordSize is an upper bound of one record's encoded size.
func recordSize(r *Record) int { return 3*binary.MaxVarintLen64 + 1 + len(r.Key) + len(r.Value) }
