package fsm

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/stratamq/strata/log"
)

// FuzzDecodeEntry: arbitrary records (kind, time, key, value) never panic;
// what decodes gives back the same record (the decoder accepts only
// canonical input) and decodes to the same entry again.
func FuzzDecodeEntry(f *testing.F) {
	for _, tc := range entryCases {
		f.Add(uint8(tc.e.Kind), tc.e.Time, []byte(keyOf(tc.e)), tc.raw)
	}
	f.Fuzz(func(t *testing.T, kind uint8, time int64, key, value []byte) {
		in := log.Record{Kind: kind, Time: time, Key: key, Value: value}
		e, err := DecodeRecord(in)
		if err != nil {
			return
		}
		out, err := e.Record()
		if err != nil {
			t.Fatalf("decoded entry does not encode: %v", err)
		}
		if out.Kind != kind || out.Time != time || !bytes.Equal(out.Key, key) || !bytes.Equal(out.Value, value) {
			t.Fatalf("re-encoding differs:\n in %+v\nout %+v", in, out)
		}
		if e2, err := DecodeRecord(out); err != nil || !reflect.DeepEqual(e, e2) {
			t.Fatalf("decode(encode(decode(x))) = %+v, %v; want %+v", e2, err, e)
		}
		s := New()
		s.Apply(0, &e) // applying any valid entry to an empty state must not panic
	})
}

// FuzzRestore: arbitrary snapshots never panic. The input is tried as a
// whole file and as a body given a valid header and checksum, so the fuzzer
// reaches the decoder. What restores re-snapshots to the same bytes.
func FuzzRestore(f *testing.F) {
	for seed := uint64(1); seed <= 4; seed++ {
		s, _ := runRandom(seed, 200)
		var buf bytes.Buffer
		if err := s.Snapshot(&buf); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
		f.Add(buf.Bytes()[len(snapshotMagic)+1 : buf.Len()-4])
	}
	s := New() // consumers and revocations: the two optional last sections
	s.Apply(0, &Entry{Kind: KindConsumerCommit, Time: 1, Consumer: ConsumerCommit{Name: "c", Filter: "a/#", Next: 3}})
	s.Apply(1, &Entry{Kind: KindKeyRevoke, KeyID: "k"})
	var buf bytes.Buffer
	if err := s.View().Snapshot(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes()[len(snapshotMagic)+1 : buf.Len()-4])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRestore(t, data)
		checkRestore(t, wrapSnapshot(data))
	})
}

func wrapSnapshot(body []byte) []byte {
	out := append([]byte(snapshotMagic), snapshotVersion)
	out = append(out, body...)
	return binary.BigEndian.AppendUint32(out, crc32.Checksum(out, castagnoli))
}

func checkRestore(t *testing.T, data []byte) {
	s, err := Restore(bytes.NewReader(data))
	if err != nil {
		return
	}
	var buf bytes.Buffer
	if err := s.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("re-snapshot differs:\n in % x\nout % x", data, buf.Bytes())
	}
	rng := rand.New(rand.NewPCG(1, 2))
	g := newGen(rng)
	for range 20 { // a restored state must keep applying without panics
		e := g.next(s)
		s.Apply(s.NextOffset(), &e)
	}
}
