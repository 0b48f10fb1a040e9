package log

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/stratamq/strata/segment"
)

// Damage describes a sealed segment whose data failed a check: at open, on
// a read, or in a scrub. Its records stay in the log's offset space (reads
// of them fail) until Replace installs a verified copy.
type Damage struct {
	Base, Next Offset
	Path       string
	Err        error
}

// Damaged lists the sealed segments known to be damaged, oldest first.
func (l *Log) Damaged() []Damage {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []Damage
	for _, s := range l.mu.sealed {
		if d, ok := l.mu.damaged[s.base]; ok {
			out = append(out, d)
		}
	}
	return out
}

// noteDamage records that the sealed segment at base failed a check with
// err (a segment.ErrCorrupt). Damage in the active segment is not noted
// here: its recovery belongs to the writer.
func (l *Log) noteDamage(base Offset, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.mu.sealed {
		if s.base == base {
			h := s.h.Load()
			l.noteDamageLocked(base, h.r.NextOffset(), s.path, err)
			return
		}
	}
}

func (l *Log) noteDamageLocked(base, next Offset, path string, err error) {
	if l.mu.damaged == nil {
		l.mu.damaged = map[Offset]Damage{}
	}
	if _, ok := l.mu.damaged[base]; !ok {
		l.logger.Error().Err(err).Str("segment", path).Msg("segment damaged: its records cannot be read until a verified copy replaces it")
	}
	l.mu.damaged[base] = Damage{Base: base, Next: next, Path: path, Err: err}
}

// Replace installs the file at path, a verified copy of the damaged sealed
// segment at base, in its place: it is renamed over the segment's file (path
// must be in the log's directory), the stale index is removed, and readers
// see the copy from then on (ones already reading keep the old file). The
// copy must cover exactly the damaged segment's offsets.
func (l *Log) Replace(base Offset, path string) error {
	if filepath.Dir(path) != filepath.Clean(l.dir) {
		return fmt.Errorf("%w: %s is not in %s", ErrInvalid, path, l.dir)
	}
	l.pin.Lock()
	defer l.pin.Unlock()
	s, d := l.damagedSeg(base)
	if s == nil {
		l.o.FS.Remove(path)
		return fmt.Errorf("%w: no damaged segment at %d", ErrInvalid, base)
	}
	final := l.segPath(base)
	l.o.FS.Remove(segment.IndexName(final))
	if err := l.o.FS.Rename(path, final); err != nil {
		return fmt.Errorf("log: replace %s: %w", final, err)
	}
	if err := l.o.FS.SyncDir(l.dir); err != nil {
		return fmt.Errorf("log: replace %s: %w", final, err)
	}
	r, err := segment.Open(l.o.FS, final, l.o.Segment)
	if err != nil {
		return fmt.Errorf("log: replace %s: %w", final, err)
	}
	if r.Base() != d.Base || r.NextOffset() != d.Next {
		r.Close()
		return fmt.Errorf("%w: replacement of %s covers [%d, %d), not [%d, %d)", segment.ErrCorrupt, final, r.Base(), r.NextOffset(), d.Base, d.Next)
	}
	l.mu.Lock()
	s.replace(newHandle(r, func() { r.Close() }))
	delete(l.mu.damaged, base)
	l.mu.Unlock()
	l.logger.Warn().Str("segment", final).Msg("damaged segment replaced by a verified copy")
	l.kick() // clustering may have skipped it
	return nil
}

func (l *Log) damagedSeg(base Offset) (*seg, Damage) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	d, ok := l.mu.damaged[base]
	if !ok {
		return nil, d
	}
	for _, s := range l.mu.sealed {
		if s.base == base {
			return s, d
		}
	}
	return nil, d
}

// Scrub reads every sealed segment whole (segment.Verify) and notes the
// damaged ones; it returns how many it found damaged. It stops early, with
// what it found so far, when stop is closed.
func (l *Log) Scrub(stop <-chan struct{}) int {
	segs := l.segments()
	n := 0
	for _, s := range segs[:len(segs)-1] { // the sealed ones: the last is active
		select {
		case <-stop:
			return n
		default:
		}
		// Verify opens the file itself: one deleted meanwhile fails to open
		// (not ErrCorrupt), one rewritten is read whole in either layout.
		_, err := segment.Verify(l.o.FS, s.path, l.o.Segment)
		if errors.Is(err, segment.ErrCorrupt) && l.stillSealed(s) {
			l.noteDamage(s.base, err)
			n++
		}
	}
	return n
}

// stillSealed reports whether s is still one of the log's sealed segments
// (retention may have deleted it while it was read).
func (l *Log) stillSealed(s *seg) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, cur := range l.mu.sealed {
		if cur == s {
			return true
		}
	}
	return false
}
