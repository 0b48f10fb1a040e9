package segment

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// OpenWriter reopens the active segment for appending after a restart or a
// crash. Every frame is verified. A damaged frame lying past the last point
// the writer had synced (as recorded in later frames' headers) with no valid
// frame after it that a later sync covered, is a torn write: it and what
// follows are cut, and the cut is made durable. Damage anywhere else is a
// *CorruptionError and nothing is cut.
//
// The sync point of the very last frames is recorded only by a later frame,
// so damage there is cut as torn: replication re-applies those entries from
// the Raft log, which keeps every entry the segment log has not synced.
func OpenWriter(fsys FS, path string, o Options) (*Writer, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	f, err := fsys.OpenFile(path)
	if err != nil {
		return nil, fmt.Errorf("segment: open %s: %w", path, err)
	}
	w, err := recoverWriter(fsys, path, f, o)
	if err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

func recoverWriter(fsys FS, path string, f File, o Options) (*Writer, error) {
	torn, err := repairShortHeader(path, f)
	if err != nil {
		return nil, err
	}
	size, hdr, err := readFileHeader(path, f)
	if err != nil {
		return nil, err
	}
	if hdr.layout != layoutOrdered {
		return nil, fmt.Errorf("%w: %s is clustered; it cannot be appended to", ErrSealed, path)
	}
	r := &Reader{path: path, f: f, o: o, base: hdr.base, layout: layoutOrdered}
	st, damage, reason := r.scanOrdered(size)
	if reason != nil {
		if err := r.cutTornTail(st, damage, size, reason); err != nil {
			return nil, err
		}
	}
	w := newWriter(fsys, path, f, o, st, hdr.base)
	w.cut = size - st.size + torn
	return w, nil
}

// repairShortHeader handles an active segment shorter than its file header:
// left by a crash of a version that wrote the header under the final name,
// or by a filesystem that lost it. If what is there is zeros or a prefix of
// the header the file name implies, nothing was ever appended: the header is
// rewritten and synced, and the torn bytes are counted. Anything else is a
// *CorruptionError.
func repairShortHeader(path string, f File) (int64, error) {
	size, err := f.Size()
	if err != nil {
		return 0, fmt.Errorf("segment: open %s: %w", path, err)
	}
	if size >= fileHeaderSize {
		return 0, nil
	}
	base, ok := ParseFileName(baseName(path))
	if !ok {
		return 0, &CorruptionError{Path: path, Err: errors.New("file header truncated; the file name gives no base offset")}
	}
	want := fileHeader{layout: layoutOrdered, base: base}.encode()
	got := make([]byte, size)
	if _, err := f.ReadAt(got, 0); err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("segment: open %s: %w", path, err)
	}
	if !bytes.Equal(got, want[:size]) && !allZero(got) {
		return 0, &CorruptionError{Path: path, Err: fmt.Errorf("file header truncated to %d bytes that are not a header", size)}
	}
	if err := rewriteHeader(f, want); err != nil {
		return 0, fmt.Errorf("segment: rewrite torn header of %s: %w", path, err)
	}
	return size, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func rewriteHeader(f File, hdr []byte) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if n, err := f.Write(hdr); err != nil || n != len(hdr) {
		return orShort(err)
	}
	return f.Sync()
}

// cutTornTail decides whether damage at pos is a torn write and, if so,
// truncates the file there.
func (r *Reader) cutTornTail(st *state, pos, size int64, reason error) error {
	synced := r.syncedBefore(st)
	if pos < synced || r.laterSync(pos, size, st.next) {
		return r.corrupt(pos, reason)
	}
	if err := r.f.Truncate(pos); err != nil {
		return fmt.Errorf("segment: cut torn tail of %s at %d: %w", r.path, pos, err)
	}
	if err := r.f.Sync(); err != nil {
		return fmt.Errorf("segment: cut torn tail of %s at %d: %w", r.path, pos, err)
	}
	return nil
}

// syncedBefore is the highest sync point recorded by the verified frames.
func (r *Reader) syncedBefore(st *state) int64 {
	synced := int64(fileHeaderSize)
	var fb frameBuf
	for pos := int64(fileHeaderSize); pos < st.size; {
		if _, err := r.f.ReadAt(fb.hdr[:], pos); err != nil {
			break
		}
		h, err := parseFrameHeader(fb.hdr[:])
		if err != nil {
			break
		}
		synced = max(synced, int64(h.synced))
		pos += h.frameSize()
	}
	return synced
}

// laterSync looks past damage at pos for any valid frame whose recorded sync
// point covers pos: proof that the damaged bytes had been synced.
func (r *Reader) laterSync(pos, size int64, next Offset) bool {
	var fb frameBuf
	for p := pos + 1; p+frameHeaderSz <= size; p++ {
		if _, err := r.f.ReadAt(fb.hdr[:], p); err != nil {
			return false
		}
		h, err := parseFrameHeader(fb.hdr[:])
		if err != nil || h.base < next || int64(h.synced) <= pos || int64(h.synced) > p {
			continue
		}
		if _, err := r.verifyFrame(p, size, &fb); err == nil {
			return true
		}
	}
	return false
}

// Cut reports how many bytes of torn tail OpenWriter removed.
func (w *Writer) Cut() int64 { return w.cut }
