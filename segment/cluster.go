package segment

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
)

// clusterIndex describes a segment in the clustered layout: its offset range
// is split into groups (contiguous offset ranges); inside a group records are
// sorted by (key, offset) and packed into frames; each group's key directory
// says where every key's run starts.
type clusterIndex struct {
	size    int64
	next    Offset
	minTime int64
	maxTime int64
	lastTag uint64
	groups  []group
}

type group struct {
	base, next       Offset
	minTime, maxTime int64
	frames           []int64  // frame positions, in file order
	keys             []keyRun // sorted by key
}

// keyRun locates the records of one key in a group: count records starting
// at record rec of frame frames[frame], continuing into the following frames.
type keyRun struct {
	key   []byte
	frame uint32
	rec   uint32
	count uint32
}

// seekGroup returns the base of the first group holding a record at or after
// time t (groups are in offset order), or next.
func (c *clusterIndex) seekGroup(t int64) Offset {
	for _, g := range c.groups {
		if g.maxTime >= t {
			return g.base
		}
	}
	return c.next
}

// Cluster rewrites a sealed segment into the clustered layout: same records,
// bytes, times and offsets, grouped by key so that filtered reads touch only
// what they match. The new file is written under a temporary name, synced and
// renamed over the old one; a crash leaves one or the other, complete.
// Cluster of a clustered segment returns it as is.
func Cluster(fsys FS, path string, o Options) (*Reader, error) {
	src, err := Open(fsys, path, o)
	if err != nil {
		return nil, err
	}
	if src.Clustered() {
		return src, nil
	}
	defer src.Close()
	tmp := path + TempSuffix
	ci, err := writeClustered(fsys, tmp, src, src.o)
	if err != nil {
		fsys.Remove(tmp)
		return nil, err
	}
	if err := renameDurable(fsys, tmp, path); err != nil {
		return nil, fmt.Errorf("segment: cluster %s: %w", path, err)
	}
	f, err := fsys.Open(path)
	if err != nil {
		return nil, fmt.Errorf("segment: cluster %s: %w", path, err)
	}
	r := &Reader{path: path, f: f, o: src.o, base: src.base, layout: layoutClustered, cl: ci}
	if err := writeIndex(fsys, r); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// clusterWriter accumulates one group and writes it as clustered frames.
type clusterWriter struct {
	f     File
	o     Options
	pos   int64
	tag   uint64
	ci    *clusterIndex
	recs  []Record
	arena []byte
	raw   int
	buf   []byte
	frame []byte
}

func writeClustered(fsys FS, tmp string, src *Reader, o Options) (*clusterIndex, error) {
	f, err := fsys.Create(tmp)
	if err != nil {
		return nil, fmt.Errorf("segment: cluster: %w", err)
	}
	defer f.Close()
	cw := &clusterWriter{f: f, o: o, tag: src.LastTag(), arena: make([]byte, 0, o.ClusterGroupBytes), ci: &clusterIndex{next: src.NextOffset(), lastTag: src.LastTag()}}
	cw.ci.minTime, cw.ci.maxTime = src.times()
	if err := cw.write(fileHeader{layout: layoutClustered, base: src.base}.encode()); err != nil {
		return nil, err
	}
	it := src.Iter(src.base)
	defer it.Close()
	for it.Next() {
		if err := cw.add(it.Record()); err != nil {
			return nil, err
		}
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	if err := cw.flushGroup(); err != nil {
		return nil, err
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("segment: cluster: sync: %w", err)
	}
	cw.ci.size = cw.pos
	return cw.ci, nil
}

func (cw *clusterWriter) write(b []byte) error {
	if n, err := cw.f.Write(b); err != nil || n != len(b) {
		return fmt.Errorf("segment: cluster: write: %w", orShort(err))
	}
	cw.pos += int64(len(b))
	return nil
}

// add copies rec into the current group, flushing the group when full.
func (cw *clusterWriter) add(rec Record) error {
	size := recordSize(&rec)
	if cw.raw > 0 && cw.raw+size > cw.o.ClusterGroupBytes {
		if err := cw.flushGroup(); err != nil {
			return err
		}
	}
	start := len(cw.arena)
	cw.arena = append(cw.arena, rec.Key...)
	cw.arena = append(cw.arena, rec.Value...)
	rec.Key = cw.arena[start : start+len(rec.Key) : start+len(rec.Key)]
	rec.Value = cw.arena[start+len(rec.Key) : len(cw.arena) : len(cw.arena)]
	cw.recs = append(cw.recs, rec)
	cw.raw += size
	return nil
}

// flushGroup sorts the group by key and writes it as frames of about
// ClusterFrameBytes raw bytes each.
func (cw *clusterWriter) flushGroup() error {
	if len(cw.recs) == 0 {
		return nil
	}
	// Records may alias an arena that grew (and moved) while they were added:
	// re-slicing is unnecessary because each append copies into the arena and
	// slices keep pointing at the old backing array, which stays alive.
	recs := cw.recs
	slices.SortStableFunc(recs, func(a, b Record) int { return bytes.Compare(a.Key, b.Key) })
	g := group{base: recs[0].Offset, next: recs[0].Offset, minTime: recs[0].Time, maxTime: recs[0].Time}
	for _, r := range recs {
		g.base, g.next = min(g.base, r.Offset), max(g.next, r.Offset+1)
		g.minTime, g.maxTime = min(g.minTime, r.Time), max(g.maxTime, r.Time)
	}
	for start := 0; start < len(recs); {
		end, raw := start, 0
		for end < len(recs) && (end == start || raw+recordSize(&recs[end]) <= cw.o.ClusterFrameBytes) {
			raw += recordSize(&recs[end])
			end++
		}
		cw.noteKeys(&g, recs[start:end])
		if err := cw.writeFrame(&g, recs[start:end], start == 0); err != nil {
			return err
		}
		start = end
	}
	cw.ci.groups = append(cw.ci.groups, g)
	cw.recs, cw.arena, cw.raw = cw.recs[:0], make([]byte, 0, cw.o.ClusterGroupBytes), 0
	return nil
}

// noteKeys extends the group's key directory with a frame's records.
func (cw *clusterWriter) noteKeys(g *group, recs []Record) {
	frame := uint32(len(g.frames))
	for i := range recs {
		if n := len(g.keys); n > 0 && bytes.Equal(g.keys[n-1].key, recs[i].Key) {
			g.keys[n-1].count++
			continue
		}
		g.keys = append(g.keys, keyRun{key: slices.Clone(recs[i].Key), frame: frame, rec: uint32(i), count: 1})
	}
}

func (cw *clusterWriter) writeFrame(g *group, recs []Record, first bool) error {
	h := frameHeader{flags: uint8(cw.o.Codec) | flagClustered, tag: cw.tag}
	if first {
		h.flags |= flagGroupStart
	}
	var err error
	if cw.buf, cw.frame, err = buildFrame(cw.buf, cw.frame, recs, &h, &cw.o); err != nil {
		return err
	}
	g.frames = append(g.frames, cw.pos)
	return cw.write(cw.frame)
}

// clusteredSource yields, group by group, the records of [from, to) in
// offset order: every record of the group when match is nil, otherwise only
// those of matching keys, decoding only the frames that hold them.
func (r *Reader) clusteredSource(from, to Offset, match func([]byte) bool) func([]Record) ([]Record, error) {
	groups := r.cl.groups
	i := sort.Search(len(groups), func(i int) bool { return groups[i].next > from })
	return func(dst []Record) ([]Record, error) {
		for ; i < len(groups) && groups[i].base < to; i++ {
			g := &groups[i]
			var recs []Record
			var err error
			if match == nil {
				recs, err = r.readGroup(g)
			} else {
				recs, err = r.readGroupFiltered(g, from, to, match)
			}
			if err != nil {
				i = len(groups)
				return nil, err
			}
			if len(recs) > 0 {
				i++
				return recs, nil
			}
		}
		return nil, nil
	}
}

// readGroup decodes every frame of g and places records by offset. Raw
// bodies are decoded into one arena so a group costs a few allocations.
func (r *Reader) readGroup(g *group) ([]Record, error) {
	if err := r.checkGroupCount(g); err != nil {
		return nil, err
	}
	out := make([]Record, g.next-g.base)
	var fb frameBuf
	var recs []Record
	buf := make([]byte, 0, r.o.ClusterGroupBytes)
	seen := 0
	for _, pos := range g.frames {
		h, raw, err := r.readFrame(pos, &fb)
		if err != nil {
			return nil, err
		}
		start := len(buf)
		buf = append(buf, raw...)
		body := buf[start:len(buf):len(buf)]
		if recs, err = decodeRecords(recs[:0], body, &h); err != nil {
			return nil, r.corrupt(pos, err)
		}
		for _, rec := range recs {
			if rec.Offset < g.base || rec.Offset >= g.next || out[rec.Offset-g.base].Key != nil {
				return nil, r.corrupt(pos, fmt.Errorf("record offset %d misplaced in group [%d, %d)", rec.Offset, g.base, g.next))
			}
			if rec.Key == nil {
				rec.Key = []byte{}
			}
			out[rec.Offset-g.base] = rec
			seen++
		}
	}
	if seen != len(out) {
		return nil, r.corrupt(g.frames[0], fmt.Errorf("group [%d, %d) holds %d records", g.base, g.next, seen))
	}
	return out, nil
}

// checkGroupCount verifies, from frame headers alone, that g's frames hold
// exactly the records of its offset range, before anything is allocated.
func (r *Reader) checkGroupCount(g *group) error {
	var hdr [frameHeaderSz]byte
	total := uint64(0)
	for _, pos := range g.frames {
		if _, err := r.f.ReadAt(hdr[:], pos); err != nil {
			return r.corrupt(pos, fmt.Errorf("read frame header: %w", err))
		}
		h, err := parseFrameHeader(hdr[:])
		if err != nil {
			return r.corrupt(pos, err)
		}
		total += uint64(h.count)
	}
	if total != uint64(g.next-g.base) {
		return r.corrupt(g.frames[0], fmt.Errorf("group [%d, %d) frames hold %d records", g.base, g.next, total))
	}
	return nil
}

// readGroupFiltered returns, in offset order, the records of keys matching
// match within [from, to), decoding each needed frame once.
func (r *Reader) readGroupFiltered(g *group, from, to Offset, match func([]byte) bool) ([]Record, error) {
	decoded := map[uint32][]Record{}
	var out []Record
	for _, run := range g.keys {
		if !match(run.key) {
			continue
		}
		frame, rec, left := run.frame, int(run.rec), int(run.count)
		for left > 0 {
			recs, err := r.groupFrame(g, frame, decoded)
			if err != nil {
				return nil, err
			}
			for ; rec < len(recs) && left > 0; rec, left = rec+1, left-1 {
				if o := recs[rec].Offset; o >= from && o < to {
					out = append(out, recs[rec])
				}
			}
			frame, rec = frame+1, 0
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Offset < out[j].Offset })
	return out, nil
}

func (r *Reader) groupFrame(g *group, frame uint32, decoded map[uint32][]Record) ([]Record, error) {
	if recs, ok := decoded[frame]; ok {
		return recs, nil
	}
	if int(frame) >= len(g.frames) {
		return nil, r.corrupt(g.frames[0], fmt.Errorf("key directory points past the group's %d frames", len(g.frames)))
	}
	recs, _, err := r.decodeFrame(g.frames[frame], &frameBuf{}, nil)
	if err != nil {
		return nil, err
	}
	decoded[frame] = recs
	return recs, nil
}
