package log

import (
	"fmt"
	"time"

	"github.com/stratamq/strata/segment"
)

// Append writes batch as one frame tagged tag, assigning dense offsets
// (batch[i].Offset is set) and returns the first. It may roll the active
// segment first. After a write error the Log has failed: every later Append
// and Sync returns an error wrapping ErrFailed and the cause.
func (l *Log) Append(batch []Record, tag uint64) (Offset, error) {
	if err := l.usable(); err != nil {
		return 0, err
	}
	if len(batch) == 0 {
		return 0, fmt.Errorf("%w: empty batch", ErrInvalid)
	}
	if l.shouldRoll(batch[0].Time) {
		if err := l.roll(); err != nil {
			return 0, l.fail(err)
		}
	}
	first, err := l.w.Append(batch, tag)
	if err != nil {
		return 0, l.fail(err)
	}
	return first, nil
}

func (l *Log) usable() error {
	switch {
	case l.failed != nil:
		return l.failed
	case l.closed:
		return segment.ErrClosed
	}
	return nil
}

func (l *Log) fail(err error) error {
	l.failed = fmt.Errorf("%w: %w", ErrFailed, err)
	l.logger.Error().Err(err).Msg("log stopped accepting appends")
	return l.failed
}

// shouldRoll decides from the data alone, so every replica rolls alike.
func (l *Log) shouldRoll(batchTime int64) bool {
	if l.w.Empty() {
		return false
	}
	if l.w.Size() >= l.o.SegmentBytes {
		return true
	}
	age := l.o.SegmentAge.Nanoseconds()
	return age > 0 && batchTime-l.w.MinTime() >= age
}

// roll seals the active segment, starts the next and wakes maintenance.
func (l *Log) roll() error {
	old, oldSeg := l.w, l.activeSeg()
	sealed, err := old.Seal()
	if err != nil {
		return err
	}
	next, err := segment.Create(l.o.FS, l.dir, sealed.NextOffset(), l.o.Segment)
	if err != nil {
		sealed.Close()
		return err
	}
	// The old active handle shares the sealed reader's file: it keeps a
	// reference on the sealed handle until its own readers are done.
	hs := newHandle(sealed, func() { sealed.Close() })
	hs.refs.Add(1)
	oldHandle := oldSeg.h.Load()
	oldHandle.setOnClose(hs.release)
	s := &seg{base: sealed.Base(), path: sealed.Path()}
	s.h.Store(hs)
	na := &seg{base: next.Base(), path: next.Path()}
	na.h.Store(newHandle(next.Reader(), nil))
	l.mu.Lock()
	l.mu.sealed = append(l.mu.sealed, s)
	l.w, l.mu.active = next, na
	l.mu.Unlock()
	oldHandle.release()
	l.logger.Debug().Uint64("base", uint64(s.base)).Uint64("next", uint64(next.Base())).Msg("rolled segment")
	l.kick()
	return nil
}

func (l *Log) activeSeg() *seg {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.active
}

// Sync makes every appended record durable.
func (l *Log) Sync() error {
	if err := l.usable(); err != nil {
		return err
	}
	start := time.Now()
	if err := l.w.Sync(); err != nil {
		return l.fail(err)
	}
	if l.o.ObserveSync != nil {
		l.o.ObserveSync(time.Since(start))
	}
	return nil
}

// segments returns the sealed segments and the active one, in offset order.
func (l *Log) segments() []*seg {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]*seg, 0, len(l.mu.sealed)+1)
	out = append(out, l.mu.sealed...)
	return append(out, l.mu.active)
}

// FirstOffset is the offset of the oldest retained record.
func (l *Log) FirstOffset() Offset {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if len(l.mu.sealed) > 0 {
		return l.mu.sealed[0].base
	}
	return l.mu.active.base
}

// NextOffset is the offset the next appended record will get.
func (l *Log) NextOffset() Offset {
	return l.activeSeg().h.Load().r.NextOffset()
}

// LastTag is the tag of the last frame appended (0 for an empty log).
func (l *Log) LastTag() uint64 {
	segs := l.segments()
	for i := len(segs) - 1; i >= 0; i-- {
		r := segs[i].h.Load().r
		if r.NextOffset() > r.Base() {
			return r.LastTag()
		}
	}
	return 0
}

// Segments describes every segment, oldest first.
func (l *Log) Segments() []SegmentInfo {
	segs := l.segments()
	out := make([]SegmentInfo, 0, len(segs))
	for i, s := range segs {
		r := s.h.Load().r
		out = append(out, SegmentInfo{Base: s.base, NextOffset: r.NextOffset(), Path: s.path,
			Size: r.Size(), Sealed: i < len(segs)-1, Clustered: r.Clustered(), LastTag: r.LastTag()})
	}
	return out
}

// FS is the filesystem the log lives on.
func (l *Log) FS() segment.FS { return l.o.FS }

// Dir is the log's directory.
func (l *Log) Dir() string { return l.dir }
