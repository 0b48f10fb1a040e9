package replication

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rs/zerolog"

	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/segment"
)

// BenchmarkSnapshot measures a snapshot (capture, log sync, links, the
// manifest, raft's file store) of a 10 MB and a 2 GB log: its time and the
// bytes it adds on disk should not grow with the log.
//
//	go test -run '^$' -bench Snapshot -benchtime 5x ./replication/
func BenchmarkSnapshot(b *testing.B) {
	for _, size := range []int64{10 << 20, 2 << 30} {
		b.Run(fmt.Sprintf("log=%dMB", size>>20), func(b *testing.B) {
			dir := b.TempDir()
			a := benchApplier(b, filepath.Join(dir, "log"), size)
			store, err := raft.NewFileSnapshotStore(dir, 2, io.Discard)
			if err != nil {
				b.Fatal(err)
			}
			base := filepath.Join(dir, "snapshots")
			a.linkDir = func(id string) string { return snapshotDir(base, id) }
			_, trans := raft.NewInmemTransport("")
			b.ResetTimer()
			var state int64
			for i := 0; i < b.N; i++ {
				state = takeBenchSnapshot(b, a, store, base, trans, uint64(i+1))
			}
			b.ReportMetric(float64(state), "state-bytes")
			b.ReportMetric(float64(len(a.log.Segments())), "segments")
		})
	}
}

// benchApplier builds a log of about size bytes of 4 KiB incompressible
// publishes, 64 MiB segments, and folds nothing (the fold's state is not
// what is measured).
func benchApplier(b *testing.B, dir string, size int64) *applier {
	o := log.DefaultOptions()
	o.Segment.Codec = segment.CodecNone
	o.Cluster = false
	l, err := log.Open(dir, o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	payload := make([]byte, 4<<10)
	batch := make([]log.Record, 64)
	now := time.Now().UnixNano()
	for tag := uint64(1); l.Segments()[len(l.Segments())-1].Size+int64(len(l.Segments())-1)*o.SegmentBytes < size; tag++ {
		for i := range batch {
			rand.Read(payload)
			batch[i] = log.Record{Time: now, Kind: 1, Key: []byte("bench/t"), Value: append([]byte(nil), payload...)}
		}
		if _, err := l.Append(batch, tag); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Sync(); err != nil {
		b.Fatal(err)
	}
	m := NewFSMMachine()
	d := newDispatcher(m, 16)
	b.Cleanup(func() { d.close() })
	return &applier{log: l, d: d, logDir: dir, logOpts: o, m: m, logger: zerolog.Nop(),
		folded: l.NextOffset(), caughtUp: true}
}

func takeBenchSnapshot(b *testing.B, a *applier, store raft.SnapshotStore, base string, trans raft.Transport, index uint64) int64 {
	snap, err := a.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	sink, err := store.Create(raft.SnapshotVersionMax, index, 1, raft.Configuration{}, 1, trans)
	if err != nil {
		b.Fatal(err)
	}
	if err := snap.Persist(sink); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(base, sink.ID(), "state.bin"))
	if err != nil {
		b.Fatal(err)
	}
	return st.Size()
}
