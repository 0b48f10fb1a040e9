package replication

import (
	"bytes"
	"testing"

	"github.com/stratamq/strata/log"
)

func TestBatchRoundTrip(t *testing.T) {
	recs := []log.Record{{Kind: 1, Time: -5, Key: []byte("a/b"), Value: []byte("x")}, {Kind: 4, Time: 1 << 60}}
	got, err := decodeBatch(encodeBatch(recs))
	if err != nil || len(got) != 2 {
		t.Fatalf("decode: %v %v", got, err)
	}
	for i := range recs {
		if got[i].Kind != recs[i].Kind || got[i].Time != recs[i].Time || !bytes.Equal(got[i].Key, recs[i].Key) || !bytes.Equal(got[i].Value, recs[i].Value) {
			t.Fatalf("record %d: %+v, want %+v", i, got[i], recs[i])
		}
	}
	nonMinimal := [][]byte{
		{1, 0x80, 0x00},             // count 0 in two bytes
		{1, 1, 4, 0x80, 0x00, 0, 0}, // time
		{1, 1, 4, 0, 0x80, 0x00, 0}, // key length
		{1, 1, 4, 0, 0, 0x80, 0x00}, // value length
		{1, 1, 4, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, // overlong
	}
	if _, err := decodeBatch([]byte{1, 1, 4, 0, 0, 0}); err != nil {
		t.Fatalf("the canonical form of the non-minimal cases: %v", err)
	}
	for _, bad := range append([][]byte{nil, {2, 0}, {1, 5}, {1, 1, 1}, append(encodeBatch(recs), 0)}, nonMinimal...) {
		if _, err := decodeBatch(bad); err == nil {
			t.Fatalf("decodeBatch(%x) accepted", bad)
		}
	}
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(encodeBatch([]log.Record{{Kind: 1, Time: 3, Key: []byte("k"), Value: []byte("v")}}))
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := decodeBatch(b)
		if err != nil {
			return
		}
		if again := encodeBatch(recs); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs: %x vs %x", again, b)
		}
	})
}
