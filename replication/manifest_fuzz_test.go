package replication

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/stratamq/strata/log"
)

// FuzzReadManifest: any bytes either fail to parse as a snapshot manifest
// or parse to contiguous segments whose encoding is the bytes read (varints
// are canonical) and parses to the same manifest.
func FuzzReadManifest(f *testing.F) {
	f.Add(appendManifest(nil, []log.SegmentInfo{
		{Path: "/d/log/00000000000000000000.seg", Base: 0, NextOffset: 10, Size: 900, Checksum: 7, LastTag: 4, Sealed: true},
		{Path: "/d/log/00000000000000000010.seg", Base: 10, NextOffset: 12, Size: 300, LastTag: 6},
	}))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bytes.NewReader(data)
		r := bufio.NewReader(br)
		m, err := readManifest(r)
		if err != nil {
			return
		}
		read := data[:len(data)-br.Len()-r.Buffered()]
		segs := make([]log.SegmentInfo, len(m))
		for i, e := range m {
			if i > 0 && m[i-1].Next != e.Base {
				t.Fatalf("segment %d does not follow %d", i, i-1)
			}
			segs[i] = log.SegmentInfo{Path: "/x/" + e.Name, Base: e.Base, NextOffset: e.Next, Size: e.Size,
				Checksum: e.Checksum, LastTag: e.LastTag, Sealed: e.Sealed}
		}
		enc := appendManifest(nil, segs)
		if !bytes.Equal(enc, read) {
			t.Fatalf("re-encoded manifest %x, read %x", enc, read)
		}
		again, err := readManifest(bufio.NewReader(bytes.NewReader(enc)))
		if err != nil || len(again) != len(m) {
			t.Fatalf("re-encoded manifest: %d entries, %v; read %d", len(again), err, len(m))
		}
		for i := range m {
			if again[i] != m[i] {
				t.Fatalf("entry %d: %+v, read %+v", i, again[i], m[i])
			}
		}
	})
}
