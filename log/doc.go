// Package log stores the broker's records as an ordered set of segments in
// one directory: the message log every view is folded from.
//
// Offsets are dense from the first record ever appended and never reused.
// The last segment is active (appended to); when it reaches SegmentBytes, or
// a batch's time is SegmentAge past its first record, it is sealed and a new
// one started. Roll decisions depend only on the appended data, so replicas
// that append the same batches hold the same segments. Sealed segments are
// rewritten in the background into segment's clustered layout, which makes a
// topic-filtered read cost what it matches. Retention deletes whole oldest
// segments by total size and by age (measured against the newest record's
// time, not the wall clock); iterators holding a deleted segment finish
// reading it.
//
// Records whose Key is empty (state changes that are not publishes) are never
// returned by topic-filtered reads: a topic name is at least one character.
//
// Concurrency: Append, Sync and Close are called from one goroutine at a
// time; Iter, Read, Seek and the accessors are safe concurrently with them
// and with each other. Iterators are not safe for concurrent use. The Log
// owns one background goroutine (clustering and retention), stopped by Close.
//
// The package is named log after its role; it never imports the standard
// library's log (internal/lint checks this).
package log
