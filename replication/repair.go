package replication

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/segment"
)

// Healing damaged segments.
//
// Sealed segments are byte-identical on every node (sync points aside,
// which their checksums leave out), so a segment that fails a check here —
// at open, on any read, or in the periodic scrub — is fetched whole from a
// peer, verified (every frame, and the same offsets), and swapped in. While
// any segment is damaged the node reports it in Health (so /readyz answers
// 503); reads of the damaged range fail rather than skip it, and a fold
// that meets it stops applying until the repair lets it resume.

// repairDamaged tries once to replace every damaged segment of the log.
func (n *Node) repairDamaged() {
	l := n.a.Log()
	for _, d := range l.Damaged() {
		if err := n.a.repair(l, d); err != nil {
			n.logger.Debug().Err(err).Str("segment", d.Path).Msg("segment repair attempt failed; retrying")
		}
	}
}

// repair fetches a verified copy of a damaged segment from a peer and
// installs it in l.
func (a *applier) repair(l *log.Log, d log.Damage) error {
	m := manifestEntry{Name: filepath.Base(d.Path), Base: d.Base, Next: d.Next, Sealed: true}
	a.mu.Lock()
	peers := a.peersLocked()
	a.mu.Unlock()
	tmp := filepath.Join(l.Dir(), m.Name+".repair.tmp")
	err := a.fetcher().fetchAny(peers, m.Name, tmp, func(path string) error {
		_, err := verifyCopy(a.logOpts, path, m)
		return err
	})
	if err != nil {
		return err
	}
	return l.Replace(d.Base, tmp)
}

// damageHealth describes the log's damaged segments, nil if there are none.
func damageHealth(l *log.Log) error {
	ds := l.Damaged()
	if len(ds) == 0 {
		return nil
	}
	d := ds[0]
	return fmt.Errorf("segment %s (offsets %d to %d) is damaged and being repaired from a peer (%d damaged in all): %w",
		filepath.Base(d.Path), d.Base, d.Next, len(ds), d.Err)
}

// scrubOnce verifies every sealed segment; the scrub loop runs it every
// ScrubInterval.
func (n *Node) scrubOnce() {
	if bad := n.a.Log().Scrub(n.stopRecover); bad > 0 {
		n.logger.Error().Int("segments", bad).Msg("scrub found damaged segments; repairing them from peers")
	}
}

// isDamage reports whether err is a checksum or structure failure.
func isDamage(err error) bool { return errors.Is(err, segment.ErrCorrupt) }
