// Package segment stores a contiguous run of log records in one checksummed,
// optionally compressed file. It knows nothing about MQTT or Raft.
//
// A segment is a pair of files named by its base offset in 20 digits:
// NNNNNNNNNNNNNNNNNNNN.seg holds the records and .idx a rebuildable index.
// The .seg starts with a 32-byte file header (magic "STRATSEG", format
// version 2, layout, base offset, CRC32C), followed by frames. Every frame is
// a 64-byte header (CRC32C, body length, version, flags with the codec,
// record count, base offset, offset span, raw length, an opaque tag, min and
// max record time, and the writer's last sync point) and a body compressed
// as a unit with none, s2 or zstd. The frame CRC covers the header up to the
// sync point and the body; the sync point is node-local and left out, so the
// frame CRCs of a sealed segment are equal on every node. Files of another
// format version are refused with ErrFormatVersion. docs/format.md draws
// every byte.
//
// Two layouts share the frame format. The active segment is ordered: one
// frame per Append, records in offset order. Cluster rewrites a sealed
// segment so that, within groups of a few MiB, records are sorted by key;
// the index then maps each key to its run, and a topic-filtered read decodes
// only the frames holding matching keys. Iteration is in offset order in both.
//
// Crash safety: every file written whole (a new segment's header, an index,
// a clustered rewrite) goes to a name ending in TempSuffix, is fsynced,
// renamed to its final name and the directory fsynced, so a final name never
// shows an incomplete file. OpenWriter cuts a torn tail (damage past the
// last recorded sync point) and rewrites a header shorter than 32 bytes that
// holds zeros or a prefix of the expected header; it reports any other damage
// as a *CorruptionError. Sealed segments never cut anything. Readers return
// ErrCorrupt rather than wrong data; a read from an offset skips the frames
// below it by their headers, so a damaged body there does not fail it.
//
// Integrity: Reader.Checksum is a CRC32C over the file header and the frame
// CRCs, cheap (frame headers only) and equal on every node for the same
// layout; Verify reads a whole segment, checks everything and returns its
// Info, for scrubbing and for checking a segment fetched from a peer.
//
// Concurrency: a Writer is used by one goroutine; Readers, including the
// Writer's own, are safe for concurrent use, and so are Verify and
// Checksum. Iterators are not. MemFS is safe for concurrent use.
package segment
