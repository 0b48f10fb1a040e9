package log

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/stratamq/strata/segment"
	"github.com/stratamq/strata/topic"
)

// Bound is one end of a range: an offset, a time, or unbounded.
type Bound struct {
	kind   uint8 // 0 unbounded, 1 offset, 2 time
	offset Offset
	time   int64
}

// Unbounded is the open end of a range.
func Unbounded() Bound { return Bound{} }

// AtOffset bounds a range at an offset.
func AtOffset(o Offset) Bound { return Bound{kind: 1, offset: o} }

// AtTime bounds a range at the first record whose time is at or after t.
func AtTime(t time.Time) Bound { return Bound{kind: 2, time: t.UnixNano()} }

// ParseBound reads a bound as users write it: a decimal offset or an RFC
// 3339 time; "" is unbounded.
func ParseBound(s string) (Bound, error) {
	if s == "" {
		return Unbounded(), nil
	}
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return AtOffset(Offset(n)), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return Bound{}, fmt.Errorf("%q is neither a decimal offset nor an RFC 3339 time", s)
	}
	return AtTime(t), nil
}

// Offset returns the bound's offset, if it is an offset bound.
func (b Bound) Offset() (Offset, bool) { return b.offset, b.kind == 1 }

// Time returns the bound's time, if it is a time bound.
func (b Bound) Time() (time.Time, bool) { return time.Unix(0, b.time), b.kind == 2 }

func (b Bound) String() string {
	switch b.kind {
	case 1:
		return fmt.Sprintf("offset %d", b.offset)
	case 2:
		return time.Unix(0, b.time).UTC().Format(time.RFC3339Nano)
	}
	return "unbounded"
}

// resolve turns a bound into an offset; unbounded gives def.
func (l *Log) resolve(b Bound, def Offset) (Offset, error) {
	switch b.kind {
	case 1:
		return b.offset, nil
	case 2:
		return l.seek(b.time)
	}
	return def, nil
}

// Iterator walks records across segments in offset order. A record's Key and
// Value are valid until the next call to Next. Not safe for concurrent use;
// Close it when done (it holds its current segment open).
type Iterator struct {
	l        *Log
	handles  []*handle // taken at creation: deleted segments stay readable
	from, to Offset
	match    func([]byte) bool
	cur      *segment.Iterator
	h        *handle
	rec      Record
	err      error
}

// Iter iterates from the given offset (or the first retained one, if from
// was deleted by retention) to the end of the log as it is now.
func (l *Log) Iter(from Offset) *Iterator {
	return l.newIterator(from, l.NextOffset(), nil)
}

func (l *Log) newIterator(from, to Offset, match func([]byte) bool) *Iterator {
	segs := l.segments()
	i := 0
	for i+1 < len(segs) && segs[i+1].base <= from {
		i++
	}
	it := &Iterator{l: l, from: from, to: to, match: match}
	for _, s := range segs[i:] {
		if s.base >= to && len(it.handles) > 0 {
			break
		}
		h := s.acquire()
		if h == nil {
			// Retention deletes a prefix of the log: whatever was acquired
			// before a deleted segment is older still and must not be
			// followed by a gap. Start after it instead.
			it.releaseAll()
			continue
		}
		it.handles = append(it.handles, h)
	}
	return it
}

// Next advances to the next record; false at the end or on error.
func (it *Iterator) Next() bool {
	for it.err == nil {
		if it.cur == nil && !it.open() {
			return false
		}
		if it.cur.Next() {
			it.rec = it.cur.Record()
			return true
		}
		it.err = it.cur.Err()
		if errors.Is(it.err, segment.ErrCorrupt) {
			it.l.noteDamage(it.h.r.Base(), it.err) // sealed segments only
		}
		it.closeCurrent()
	}
	return false
}

// open starts reading the next segment.
func (it *Iterator) open() bool {
	if len(it.handles) == 0 || it.handles[0].r.Base() >= it.to {
		it.releaseAll()
		return false
	}
	it.h, it.handles = it.handles[0], it.handles[1:]
	it.cur = it.h.r.Filter(it.from, it.to, it.match)
	return true
}

func (it *Iterator) releaseAll() {
	for _, h := range it.handles {
		h.release()
	}
	it.handles = nil
}

func (it *Iterator) closeCurrent() {
	if it.cur != nil {
		it.cur.Close()
		it.h.release()
		it.cur, it.h = nil, nil
	}
}

func (it *Iterator) Record() Record { return it.rec }
func (it *Iterator) Err() error     { return it.err }

// Close releases the iterator's segment; it is safe to call more than once.
func (it *Iterator) Close() error {
	it.closeCurrent()
	it.releaseAll()
	return nil
}

// Read returns the records in [from, to) whose key matches the MQTT topic
// filter, in offset order. Records with an empty key never match. A shared
// subscription filter is an error here.
func (l *Log) Read(filter string, from, to Bound) (*Iterator, error) {
	if err := topic.ValidateFilter(filter); err != nil {
		return nil, fmt.Errorf("log: read: %w", err)
	}
	if _, _, shared, _ := topic.ParseShare(filter); shared {
		return nil, fmt.Errorf("log: read: %w: %q is a shared subscription, not a topic filter", topic.ErrInvalid, filter)
	}
	lo, err := l.resolve(from, l.FirstOffset())
	if err != nil {
		return nil, err
	}
	hi, err := l.resolve(to, l.NextOffset())
	if err != nil {
		return nil, err
	}
	match := func(key []byte) bool { return len(key) > 0 && topic.Match(filter, string(key)) }
	if filter == "#" {
		match = func(key []byte) bool { return len(key) > 0 && key[0] != '$' }
	}
	return l.newIterator(lo, hi, match), nil
}

// Seek returns the first offset whose record time is at or after t, or
// NextOffset if there is none.
func (l *Log) Seek(t time.Time) (Offset, error) { return l.seek(t.UnixNano()) }

func (l *Log) seek(t int64) (Offset, error) {
	for _, s := range l.segments() {
		h := s.acquire()
		if h == nil {
			continue
		}
		if h.r.NextOffset() == h.r.Base() || h.r.MaxTime() < t {
			h.release()
			continue
		}
		off, err := h.r.SeekTime(t)
		h.release()
		return off, err
	}
	return l.NextOffset(), nil
}

// Cursor is what a reader of the log iterates with: *Iterator implements
// it, and so can an in-memory log in another package's tests.
type Cursor interface {
	Next() bool     // advance; false at the end or on error
	Record() Record // the current record
	Err() error     // why Next returned false, nil at the end
	Close() error   // release the cursor; safe to call more than once
}

var _ Cursor = (*Iterator)(nil)
