// Package segment stores a contiguous run of log records in one checksummed,
// optionally compressed file. It knows nothing about MQTT or Raft.
//
// A segment is a pair of files named by its base offset in 20 digits:
// NNNNNNNNNNNNNNNNNNNN.seg holds the records and .idx a rebuildable index.
// The .seg starts with a 32-byte file header (magic "STRATSEG", format
// version, layout, base offset, CRC32C), followed by frames. Every frame is a
// 64-byte header (CRC32C over header and body, body length, version, flags
// with the codec, record count, base offset, offset span, raw length, an
// opaque tag, min and max record time, and the writer's last sync point) and
// a body compressed as a unit with none, s2 or zstd. docs/format.md draws
// every byte.
//
// Two layouts share the frame format. The active segment is ordered: one
// frame per Append, records in offset order. Cluster rewrites a sealed
// segment so that, within groups of a few MiB, records are sorted by key;
// the index then maps each key to its run, and a topic-filtered read decodes
// only the frames holding matching keys. Iteration is in offset order in both.
//
// Recovery: OpenWriter cuts a torn tail (damage past the last recorded sync
// point) and reports any other damage as a *CorruptionError; sealed segments
// never cut anything. Readers return ErrCorrupt rather than wrong data.
//
// Concurrency: a Writer is used by one goroutine; Readers, including the
// Writer's own, are safe for concurrent use. Iterators are not.
package segment
