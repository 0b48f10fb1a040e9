package segment

import (
	"bytes"
	"errors"
	"testing"
)

// TestRecordsCanonical: decodeRecords reads what appendRecords writes and
// refuses the same record with a varint padded to a longer, non-minimal form.
func TestRecordsCanonical(t *testing.T) {
	recs := []Record{{Offset: 7, Time: 100, Kind: 1, Key: []byte("k"), Value: []byte("v")}}
	var h frameHeader
	raw := appendRecords(nil, recs, false, &h)
	if want := []byte{0, 1, 1, 'k', 1, 'v'}; !bytes.Equal(raw, want) {
		t.Fatalf("appendRecords = %x, want %x", raw, want)
	}
	got, err := decodeRecords(nil, raw, &h)
	if err != nil || len(got) != 1 || got[0].Offset != 7 || got[0].Time != 100 || string(got[0].Key) != "k" {
		t.Fatalf("decodeRecords = %+v, %v", got, err)
	}
	for _, bad := range [][]byte{
		{0x80, 0x00, 1, 1, 'k', 1, 'v'}, // time delta
		{0, 1, 0x81, 0x00, 'k', 1, 'v'}, // key length
		{0, 1, 1, 'k', 0x81, 0x00, 'v'}, // value length
	} {
		if _, err := decodeRecords(nil, bad, &h); !errors.Is(err, errBadRecords) {
			t.Errorf("decodeRecords(%x) = %v, want errBadRecords", bad, err)
		}
	}
}

// TestIndexCanonical: the index decoder refuses a non-minimal varint.
func TestIndexCanonical(t *testing.T) {
	for _, p := range [][]byte{{0x80, 0x00}, {0x80}, {0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}} {
		d := &idxDecoder{p: p}
		if d.u(); !errors.Is(d.err, errIndex) {
			t.Errorf("u(%x): %v, want errIndex", p, d.err)
		}
		d = &idxDecoder{p: p}
		if d.s(); !errors.Is(d.err, errIndex) {
			t.Errorf("s(%x): %v, want errIndex", p, d.err)
		}
	}
}
