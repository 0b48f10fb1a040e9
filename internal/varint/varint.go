// Package varint decodes encoding/binary's uvarint and varint (zigzag)
// encodings strictly: only the canonical form is accepted, the one
// binary.AppendUvarint and binary.AppendVarint write. A value padded with
// continuation bytes (non-minimal), longer than 10 bytes or over 64 bits
// (overlong), or cut short (truncated) is an error, so a decoder built on it
// accepts each value in exactly one encoding, and decoding then encoding
// gives back the same bytes.
//
// Every format of ours that stores varints uses it (fsm entries and
// snapshots, replication's batches and snapshot streams, segment records and
// indexes): their writers have always used encoding/binary, which writes
// only canonical varints. MQTT's variable byte integer (mqtt/packet) is a
// different encoding and does not.
package varint

import (
	"errors"
	"fmt"
	"io"
)

// MaxLen is the length of the longest canonical varint (binary.MaxVarintLen64).
const MaxLen = 10

// Errors; a decoding error wraps one of them. Match with errors.Is.
var (
	// ErrTruncated: the input ends inside the varint.
	ErrTruncated = errors.New("truncated varint")
	// ErrOverlong: the varint is longer than MaxLen bytes or its value
	// does not fit in 64 bits.
	ErrOverlong = errors.New("overlong varint")
	// ErrNonMinimal: the value has a shorter encoding (the varint ends in
	// a zero byte after its first).
	ErrNonMinimal = errors.New("non-minimal varint")
)

// Uvarint decodes the uvarint at the start of b and returns it with its
// length in bytes.
func Uvarint(b []byte) (uint64, int, error) {
	var v uint64
	for i := 0; i < MaxLen; i++ {
		if i == len(b) {
			return 0, 0, ErrTruncated
		}
		c := b[i]
		if i == MaxLen-1 && c > 1 {
			return 0, 0, ErrOverlong // past 64 bits, or an 11th byte follows
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			if c == 0 && i > 0 {
				return 0, 0, fmt.Errorf("%w: %d bytes for %d", ErrNonMinimal, i+1, v)
			}
			return v, i + 1, nil
		}
	}
	panic("unreachable")
}

// Varint decodes the zigzag varint at the start of b (as binary.AppendVarint
// writes it) and returns it with its length in bytes.
func Varint(b []byte) (int64, int, error) {
	u, n, err := Uvarint(b)
	return unzigzag(u), n, err
}

// ReadUvarint reads one uvarint from r. It returns io.EOF only if r had no
// byte at all; ending inside the varint is ErrTruncated wrapping
// io.ErrUnexpectedEOF. Other read errors are returned as they are.
func ReadUvarint(r io.ByteReader) (uint64, error) {
	var v uint64
	for i := 0; i < MaxLen; i++ {
		c, err := r.ReadByte()
		if err != nil {
			if i > 0 && err == io.EOF {
				return 0, fmt.Errorf("%w: %w", ErrTruncated, io.ErrUnexpectedEOF)
			}
			return 0, err
		}
		if i == MaxLen-1 && c > 1 {
			return 0, ErrOverlong
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			if c == 0 && i > 0 {
				return 0, fmt.Errorf("%w: %d bytes for %d", ErrNonMinimal, i+1, v)
			}
			return v, nil
		}
	}
	panic("unreachable")
}

func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }
