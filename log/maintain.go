package log

import (
	"github.com/stratamq/strata/segment"
)

// kick wakes the maintenance goroutine without blocking.
func (l *Log) kick() {
	select {
	case l.work <- struct{}{}:
	default:
	}
}

// maintain is the Log's one background goroutine: it clusters sealed
// segments and applies retention whenever kicked, until Close.
func (l *Log) maintain() {
	defer l.wg.Done()
	for {
		select {
		case <-l.done:
			return
		case <-l.work:
		}
		l.enforceRetention()
		if l.o.Cluster {
			l.clusterPending()
		}
	}
}

// clusterPending rewrites every sealed, still ordered segment. Retention
// runs before each rewrite: it is not held up by a backlog, and no segment
// is rewritten only to be deleted.
func (l *Log) clusterPending() {
	for {
		l.enforceRetention()
		s := l.nextToCluster()
		if s == nil {
			return
		}
		select {
		case <-l.done:
			return
		default:
		}
		if !l.cluster(s) {
			return
		}
	}
}

// cluster rewrites s in the clustered layout and installs it; false if it
// failed.
func (l *Log) cluster(s *seg) bool {
	l.pin.Lock()
	defer l.pin.Unlock()
	r, err := segment.Cluster(l.o.FS, s.path, l.o.Segment)
	if err != nil {
		l.logger.Error().Err(err).Str("segment", s.path).Msg("clustering failed; the segment stays ordered")
		return false
	}
	if !l.install(s, r) {
		r.Close()
	}
	return true
}

func (l *Log) nextToCluster() *seg {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, s := range l.mu.sealed {
		r := s.h.Load().r
		if _, bad := l.mu.damaged[s.base]; !r.Clustered() && !bad && r.Damaged() == nil {
			return s
		}
	}
	return nil
}

// install swaps the clustered reader in, unless retention removed s meanwhile.
func (l *Log) install(s *seg, r *segment.Reader) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, cur := range l.mu.sealed {
		if cur == s {
			s.replace(newHandle(r, func() { r.Close() }))
			return true
		}
	}
	return false
}

// enforceRetention deletes the oldest sealed segments while the log is over
// RetentionBytes or a segment's newest record is older than RetentionAge
// before the log's newest record. The active segment is never deleted, nor
// the newest sealed one while the active segment is empty: the last record's
// segment is what LastTag reports, and replication relies on it.
func (l *Log) enforceRetention() {
	for l.deleteOldest() {
	}
}

// deleteOldest deletes the oldest sealed segment if retention says so; false
// when it did not (nothing to delete, or the removal failed).
func (l *Log) deleteOldest() bool {
	l.pin.Lock()
	defer l.pin.Unlock()
	s := l.retentionVictim()
	if s == nil {
		return false
	}
	size := s.h.Load().r.Size()
	if err := l.o.FS.Remove(s.path); err != nil {
		l.logger.Error().Err(err).Str("segment", s.path).Msg("retention: remove failed")
		return false
	}
	l.o.FS.Remove(segment.IndexName(s.path)) // a missing index is fine
	if err := l.o.FS.SyncDir(l.dir); err != nil {
		l.logger.Error().Err(err).Msg("retention: sync dir failed")
	}
	l.logger.Info().Str("segment", s.path).Msg("retention deleted segment")
	if l.o.OnRetention != nil {
		l.o.OnRetention(size)
	}
	return true
}

// retentionVictim detaches and returns the oldest sealed segment if a
// retention bound says it must go.
func (l *Log) retentionVictim() *seg {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.mu.sealed) == 0 || (l.o.RetentionBytes == 0 && l.o.RetentionAge == 0) {
		return nil
	}
	active := l.mu.active.h.Load().r
	if len(l.mu.sealed) == 1 && active.NextOffset() == active.Base() {
		return nil // the last record's segment carries LastTag: keep it
	}
	if _, bad := l.mu.damaged[l.mu.sealed[0].base]; bad {
		return nil // wait for the repair: its records may be within retention
	}
	oldest := l.mu.sealed[0].h.Load().r
	total := active.Size()
	newest := active.MaxTime()
	for _, s := range l.mu.sealed {
		r := s.h.Load().r
		total += r.Size()
		if r.Damaged() == nil { // a damaged segment's times are unknown
			newest = max(newest, r.MaxTime())
		}
	}
	overSize := l.o.RetentionBytes > 0 && total > l.o.RetentionBytes
	overAge := l.o.RetentionAge > 0 && newest-oldest.MaxTime() > l.o.RetentionAge.Nanoseconds()
	if !overSize && !overAge {
		return nil
	}
	s := l.mu.sealed[0]
	l.mu.sealed = l.mu.sealed[1:]
	s.h.Load().release() // readers still holding it finish first
	return s
}

// Close stops maintenance, syncs the active segment and releases every
// segment. Iterators still open keep their segments, the active one
// included, until they are closed; the files are closed then.
func (l *Log) Close() error {
	if l.closed {
		return nil
	}
	l.closed = true
	close(l.done)
	l.wg.Wait()
	err := l.w.Sync()
	l.mu.Lock()
	defer l.mu.Unlock()
	w, active := l.w, l.mu.active.h.Load()
	active.setOnClose(func() { w.Close() })
	active.release()
	for _, s := range l.mu.sealed {
		s.h.Load().release()
	}
	l.mu.sealed = nil
	return err
}
