package segment

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
)

// state is what a segment's readers see of its ordered frames. The Writer
// extends it under mu; readers copy what they need under the read lock.
type state struct {
	mu      sync.RWMutex
	size    int64  // bytes of complete frames, header included
	next    Offset // one past the last record
	minTime int64
	maxTime int64
	lastTag uint64
	empty   bool
	index   []indexEntry // sparse, in file order
}

// indexEntry locates one frame. prefixMax is the highest record time of every
// frame before it (minInt64 for the first), which makes time seeks correct
// even when times are not monotonic.
type indexEntry struct {
	pos       int64
	base      Offset
	prefixMax int64
}

func (s *state) snapshot() (size int64, next Offset, index []indexEntry) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.size, s.next, s.index
}

// Writer appends frames to the active segment, in the ordered layout.
// Not safe for concurrent use; its Reader is safe to use concurrently with it.
type Writer struct {
	fs     FS
	path   string
	f      File
	o      Options
	st     *state
	reader *Reader

	synced      int64 // file size covered by the last completed Sync
	lastIndexed int64 // position of the last index entry
	maxTime     int64 // highest record time so far (for prefixMax)
	failed      error // sticky: the first write or sync error
	cut         int64 // bytes of torn tail removed by OpenWriter
	closed      bool
	buf, zbuf   []byte
}

// Create makes a new, empty active segment dir/FileName(base). The file
// appears under that name only once its header is durable: it is written to a
// temporary name, fsynced, renamed and the directory fsynced.
func Create(fsys FS, dir string, base Offset, o Options) (*Writer, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, FileName(base))
	f, err := createDurable(fsys, path, base)
	if err != nil {
		return nil, err
	}
	st := &state{size: fileHeaderSize, next: base, empty: true}
	return newWriter(fsys, path, f, o, st, base), nil
}

func newWriter(fsys FS, path string, f File, o Options, st *state, base Offset) *Writer {
	w := &Writer{fs: fsys, path: path, f: f, o: o, st: st, synced: st.size,
		lastIndexed: -1 << 62, maxTime: st.maxTime}
	if st.empty {
		w.maxTime = minTime
	}
	w.reader = &Reader{path: path, f: f, o: o, base: base, layout: layoutOrdered, st: st, shared: true}
	return w
}

const minTime = -1 << 63

// Append writes recs as one frame, assigning dense offsets from NextOffset
// (recs[i].Offset is set). tag is opaque: replication stores the Raft index.
// After any write error the Writer has failed: this and every later call
// return that error, and nothing more is written.
func (w *Writer) Append(recs []Record, tag uint64) (first Offset, err error) {
	if err := w.usable(); err != nil {
		return 0, err
	}
	if len(recs) == 0 {
		return 0, errors.New("segment: empty batch")
	}
	first = w.st.next
	for i := range recs {
		recs[i].Offset = first + Offset(i)
	}
	frame, h, err := w.encodeFrame(recs, tag)
	if err != nil {
		return 0, err
	}
	pos := w.st.size
	if n, err := w.f.Write(frame); err != nil || n != len(frame) {
		return 0, w.fail(fmt.Errorf("segment: write %s: %w", w.path, orShort(err)))
	}
	w.publish(pos, int64(len(frame)), &h)
	return first, nil
}

func orShort(err error) error {
	if err == nil {
		return errors.New("short write")
	}
	return err
}

func (w *Writer) encodeFrame(recs []Record, tag uint64) ([]byte, frameHeader, error) {
	h := frameHeader{flags: uint8(w.o.Codec), tag: tag, synced: uint64(w.synced)}
	var err error
	w.buf, w.zbuf, err = buildFrame(w.buf, w.zbuf, recs, &h, &w.o)
	return w.zbuf, h, err
}

// buildFrame encodes recs as one frame with header h (flags and tag set by
// the caller) into frame, using raw as scratch for the uncompressed body.
func buildFrame(raw, frame []byte, recs []Record, h *frameHeader, o *Options) ([]byte, []byte, error) {
	raw = appendRecords(raw[:0], recs, h.clustered(), h)
	if len(raw) > maxFrameBody {
		return raw, frame, fmt.Errorf("segment: batch of %d bytes exceeds the %d-byte frame limit", len(raw), maxFrameBody)
	}
	h.rawLen = uint32(len(raw))
	frame = append(frame[:0], make([]byte, frameHeaderSz)...)
	frame = compress(o.Codec, o.Zstd, frame, raw)
	h.bodyLen = uint32(len(frame) - frameHeaderSz)
	h.put(frame)
	putCRC(frame)
	return raw, frame, nil
}

func putCRC(frame []byte) {
	c := frameChecksum(frame[:frameHeaderSz], frame[frameHeaderSz:])
	frame[0], frame[1], frame[2], frame[3] = byte(c), byte(c>>8), byte(c>>16), byte(c>>24)
}

// publish makes a written frame visible to readers.
func (w *Writer) publish(pos, n int64, h *frameHeader) {
	s := w.st
	s.mu.Lock()
	defer s.mu.Unlock()
	if pos-w.lastIndexed >= int64(w.o.IndexIntervalBytes) || len(s.index) == 0 {
		s.index = append(s.index, indexEntry{pos: pos, base: h.base, prefixMax: w.maxTime})
		w.lastIndexed = pos
	}
	w.maxTime = max(w.maxTime, h.maxTime)
	if s.empty {
		s.minTime, s.maxTime, s.empty = h.minTime, h.maxTime, false
	}
	s.minTime, s.maxTime = min(s.minTime, h.minTime), max(s.maxTime, h.maxTime)
	s.size, s.next, s.lastTag = pos+n, h.next(), h.tag
}

func (w *Writer) usable() error {
	switch {
	case w.failed != nil:
		return w.failed
	case w.closed:
		return ErrClosed
	}
	return nil
}

func (w *Writer) fail(err error) error {
	w.failed = err
	return err
}

// Sync makes every appended frame durable.
func (w *Writer) Sync() error {
	if err := w.usable(); err != nil {
		return err
	}
	size := w.Size()
	if size == w.synced {
		return nil
	}
	if err := w.f.Sync(); err != nil {
		return w.fail(fmt.Errorf("segment: sync %s: %w", w.path, err))
	}
	w.synced = size
	return nil
}

func (w *Writer) Base() Offset       { return w.reader.base }
func (w *Writer) NextOffset() Offset { _, n, _ := w.st.snapshot(); return n }
func (w *Writer) Size() int64        { s, _, _ := w.st.snapshot(); return s }
func (w *Writer) Path() string       { return w.path }

// LastTag is the tag of the last frame, 0 if none.
func (w *Writer) LastTag() uint64 {
	w.st.mu.RLock()
	defer w.st.mu.RUnlock()
	return w.st.lastTag
}

// MinTime is the lowest record time, or 0 for an empty segment.
func (w *Writer) MinTime() int64 { return w.reader.MinTime() }

// Empty reports whether the segment holds no record.
func (w *Writer) Empty() bool {
	w.st.mu.RLock()
	defer w.st.mu.RUnlock()
	return w.st.empty
}

// Reader returns a reader that sees every frame whose Append has returned.
// It shares the writer's file: closing it is a no-op.
func (w *Writer) Reader() *Reader { return w.reader }

// Seal syncs the segment, writes and syncs its index file, and returns a
// Reader that owns the file. The Writer is closed.
func (w *Writer) Seal() (*Reader, error) {
	if err := w.Sync(); err != nil {
		return nil, err
	}
	w.closed = true
	r := &Reader{path: w.path, f: w.f, o: w.o, base: w.reader.base, layout: layoutOrdered, st: w.st}
	if err := writeIndex(w.fs, r); err != nil {
		w.f.Close()
		return nil, err
	}
	return r, nil
}

// Close syncs and closes the active segment without sealing it.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	err := w.Sync()
	w.closed = true
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("segment: close %s: %w", w.path, cerr)
	}
	return err
}
