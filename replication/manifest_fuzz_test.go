package replication

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/stratamq/strata/log"
)

// FuzzReadManifest: any bytes either fail to parse as a snapshot manifest
// or parse to contiguous segments whose encoding parses to the same
// manifest. (Varints need not be minimal: the stream is checksummed by
// raft's snapshot store, and nothing compares its bytes.)
func FuzzReadManifest(f *testing.F) {
	f.Add(appendManifest(nil, []log.SegmentInfo{
		{Path: "/d/log/00000000000000000000.seg", Base: 0, NextOffset: 10, Size: 900, Checksum: 7, LastTag: 4, Sealed: true},
		{Path: "/d/log/00000000000000000010.seg", Base: 10, NextOffset: 12, Size: 300, LastTag: 6},
	}))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		m, err := readManifest(r)
		if err != nil {
			return
		}
		segs := make([]log.SegmentInfo, len(m))
		for i, e := range m {
			if i > 0 && m[i-1].Next != e.Base {
				t.Fatalf("segment %d does not follow %d", i, i-1)
			}
			segs[i] = log.SegmentInfo{Path: "/x/" + e.Name, Base: e.Base, NextOffset: e.Next, Size: e.Size,
				Checksum: e.Checksum, LastTag: e.LastTag, Sealed: e.Sealed}
		}
		again, err := readManifest(bufio.NewReader(bytes.NewReader(appendManifest(nil, segs))))
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
