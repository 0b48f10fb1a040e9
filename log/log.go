package log

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/rs/zerolog"

	"github.com/stratamq/strata/segment"
)

var (
	// ErrFailed wraps the write error that stopped a Log from accepting appends.
	ErrFailed = errors.New("log: failed")
	// ErrInvalid reports invalid Options or an invalid argument (an empty batch).
	ErrInvalid = errors.New("log: invalid")
)

// Log is the ordered set of segments in one directory. See the package doc
// for what is safe for concurrent use.
type Log struct {
	dir    string
	o      Options
	logger zerolog.Logger

	mu struct {
		sync.RWMutex
		sealed  []*seg // in offset order
		active  *seg
		damaged map[Offset]Damage // sealed segments that failed a read, by base
	}
	w *segment.Writer // the active segment's writer: Append's goroutine only
	// pin is held while a segment file is rewritten (clustering), replaced
	// (repair) or deleted (retention), and by Pinned.
	pin    sync.Mutex
	failed error

	work   chan struct{} // wakes the maintenance goroutine
	done   chan struct{}
	wg     sync.WaitGroup
	closed bool
}

// SegmentInfo describes one segment, for manifests and inspection.
type SegmentInfo struct {
	Base       Offset
	NextOffset Offset
	Path       string
	Size       int64
	Sealed     bool
	Clustered  bool
	LastTag    uint64
	Checksum   uint32 // filled in by Manifest only
}

// Open opens (or creates) the log in dir: sealed segments are opened, the
// last one is reopened for appending (a torn tail is cut), leftover temporary
// files are removed and pending clustering resumes.
func Open(dir string, o Options) (*Log, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	l := &Log{dir: dir, o: o, logger: o.Logger.With().Str("component", "log").Logger(),
		work: make(chan struct{}, 1), done: make(chan struct{})}
	if err := o.FS.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("log: open %s: %w", dir, err)
	}
	bases, err := l.scanDir()
	if err != nil {
		return nil, err
	}
	if err := l.openSegments(bases); err != nil {
		l.releaseAll()
		return nil, err
	}
	l.wg.Add(1)
	go l.maintain()
	l.kick()
	return l, nil
}

// scanDir removes temporary files and returns the segment bases in order.
func (l *Log) scanDir() ([]Offset, error) {
	entries, err := l.o.FS.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("log: read %s: %w", l.dir, err)
	}
	var bases []Offset
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			if err := l.o.FS.Remove(filepath.Join(l.dir, name)); err != nil {
				return nil, fmt.Errorf("log: remove %s: %w", name, err)
			}
			continue
		}
		if base, ok := segment.ParseFileName(name); ok {
			bases = append(bases, base)
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases, nil
}

func (l *Log) openSegments(bases []Offset) error {
	if len(bases) == 0 {
		return l.startActive(0)
	}
	for i, base := range bases[:len(bases)-1] {
		if err := l.openSealed(base, bases[i+1]); err != nil {
			return err
		}
	}
	last := bases[len(bases)-1]
	path := l.segPath(last)
	w, err := segment.OpenWriter(l.o.FS, path, l.o.Segment)
	if err != nil && !isClusteredErr(err) {
		return fmt.Errorf("log: %w", err)
	}
	if err != nil { // the last segment was sealed and clustered: start a new one
		if err := l.openSealed(last, 0); err != nil {
			return err
		}
		return l.startActive(l.sealedNext())
	}
	if w.Cut() > 0 {
		l.logger.Warn().Str("segment", path).Int64("bytes", w.Cut()).Msg("cut torn tail after a crash")
	}
	if err := l.checkContiguous(w.Base()); err != nil {
		w.Close()
		return err
	}
	l.setActive(w)
	return nil
}

func isClusteredErr(err error) bool { return errors.Is(err, segment.ErrSealed) }

// openSealed opens the sealed segment at base. One that is damaged, and
// followed by a segment starting at next, is opened as damaged (every read
// of it fails, see Damaged) rather than keeping the whole log shut.
func (l *Log) openSealed(base, next Offset) error {
	r, err := segment.Open(l.o.FS, l.segPath(base), l.o.Segment)
	if err != nil && errors.Is(err, segment.ErrCorrupt) && next > 0 {
		r, err = segment.OpenDamaged(l.segPath(base), base, next, err)
		if err == nil {
			l.noteDamageLocked(base, next, r.Path(), r.Damaged())
		}
	}
	if err != nil {
		return fmt.Errorf("log: %w", err)
	}
	if err := l.checkContiguous(base); err != nil {
		r.Close()
		return err
	}
	s := &seg{base: base, path: r.Path()}
	s.h.Store(newHandle(r, func() { r.Close() }))
	l.mu.sealed = append(l.mu.sealed, s)
	return nil
}

// checkContiguous verifies that a segment starting at base follows the
// sealed ones without a gap or an overlap.
func (l *Log) checkContiguous(base Offset) error {
	if len(l.mu.sealed) == 0 {
		return nil
	}
	if next := l.sealedNext(); next != base {
		return fmt.Errorf("log: %w: segment %s starts at %d, the previous one ends at %d",
			segment.ErrCorrupt, segment.FileName(base), base, next)
	}
	return nil
}

func (l *Log) sealedNext() Offset {
	last := l.mu.sealed[len(l.mu.sealed)-1]
	return last.h.Load().r.NextOffset()
}

func (l *Log) segPath(base Offset) string { return filepath.Join(l.dir, segment.FileName(base)) }

func (l *Log) startActive(base Offset) error {
	w, err := segment.Create(l.o.FS, l.dir, base, l.o.Segment)
	if err != nil {
		return fmt.Errorf("log: %w", err)
	}
	l.setActive(w)
	return nil
}

// setActive installs w as the active segment. Its reader shares w's file,
// which stays open until the writer is sealed or closed.
func (l *Log) setActive(w *segment.Writer) {
	s := &seg{base: w.Base(), path: w.Path()}
	s.h.Store(newHandle(w.Reader(), nil))
	l.mu.Lock()
	l.w, l.mu.active = w, s
	l.mu.Unlock()
}

func (l *Log) releaseAll() {
	for _, s := range l.mu.sealed {
		s.h.Load().release()
	}
	l.mu.sealed = nil
}
