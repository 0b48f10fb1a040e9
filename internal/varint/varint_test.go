package varint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"testing"
)

func TestCanonical(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 300, 1<<14 - 1, 1 << 14, 1<<35 + 5, 1<<63 - 1, 1 << 63, math.MaxUint64} {
		b := binary.AppendUvarint(nil, v)
		got, n, err := Uvarint(append(b, 0xff))
		if err != nil || got != v || n != len(b) {
			t.Errorf("Uvarint(%x) = %d, %d, %v; want %d, %d", b, got, n, err, v, len(b))
		}
		got, err = ReadUvarint(bytes.NewReader(b))
		if err != nil || got != v {
			t.Errorf("ReadUvarint(%x) = %d, %v; want %d", b, got, err, v)
		}
	}
	for _, v := range []int64{0, -1, 1, -64, 64, math.MinInt64, math.MaxInt64} {
		b := binary.AppendVarint(nil, v)
		got, n, err := Varint(b)
		if err != nil || got != v || n != len(b) {
			t.Errorf("Varint(%x) = %d, %d, %v; want %d", b, got, n, err, v)
		}
	}
}

func TestRejects(t *testing.T) {
	for _, c := range []struct {
		b    []byte
		want error
	}{
		{nil, ErrTruncated},
		{[]byte{0x80}, ErrTruncated},
		{[]byte{0xff, 0xff}, ErrTruncated},
		{[]byte{0x80, 0x00}, ErrNonMinimal},
		{[]byte{0x81, 0x80, 0x00}, ErrNonMinimal},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, ErrOverlong},             // 2^64
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81, 0x00}, ErrOverlong},       // 11 bytes
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, ErrOverlong}, // padded
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, ErrNonMinimal},
	} {
		if _, _, err := Uvarint(c.b); !errors.Is(err, c.want) {
			t.Errorf("Uvarint(%x) = %v, want %v", c.b, err, c.want)
		}
		if _, _, err := Varint(c.b); !errors.Is(err, c.want) {
			t.Errorf("Varint(%x) = %v, want %v", c.b, err, c.want)
		}
		_, err := ReadUvarint(bytes.NewReader(c.b))
		if len(c.b) == 0 {
			if err != io.EOF {
				t.Errorf("ReadUvarint(empty) = %v, want io.EOF", err)
			}
		} else if !errors.Is(err, c.want) {
			t.Errorf("ReadUvarint(%x) = %v, want %v", c.b, err, c.want)
		}
	}
	if _, err := ReadUvarint(bytes.NewReader([]byte{0x80})); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("ReadUvarint(80) = %v, want io.ErrUnexpectedEOF", err)
	}
}

// FuzzUvarint: Uvarint accepts exactly what binary.Uvarint decodes in its
// shortest form, and what it accepts re-encodes to the same bytes.
func FuzzUvarint(f *testing.F) {
	f.Add([]byte{0x80, 0x01})
	f.Add([]byte{0x80, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, n, err := Uvarint(b)
		bv, bn := binary.Uvarint(b)
		if err != nil {
			if bn > 0 && bytes.Equal(binary.AppendUvarint(nil, bv), b[:bn]) {
				t.Fatalf("Uvarint(%x) refused the canonical %d: %v", b, bv, err)
			}
			return
		}
		if v != bv || n != bn || !bytes.Equal(binary.AppendUvarint(nil, v), b[:n]) {
			t.Fatalf("Uvarint(%x) = %d, %d; binary.Uvarint %d, %d", b, v, n, bv, bn)
		}
		r, rerr := ReadUvarint(bytes.NewReader(b))
		if rerr != nil || r != v {
			t.Fatalf("ReadUvarint(%x) = %d, %v; Uvarint %d", b, r, rerr, v)
		}
	})
}
