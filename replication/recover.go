package replication

import (
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/stratamq/strata/log"
)

// Recovery from a failed append (a full disk, an I/O error).
//
// When the segment log cannot be written, the applier stops applying: every
// entry raft hands over answers an error, so nothing is acknowledged, and no
// snapshot is taken (raft keeps its log). The recovery loop then retries at
// RecoverInterval: it reopens the segment log (a torn frame left by the
// failed write lies past the synced point and is cut), folds whatever the
// reopened log holds beyond the machine's position, and appends and folds,
// from Raft's own log, every entry raft handed over since the log's last
// frame. Nothing is applied twice (frames carry their Raft index) and
// nothing is skipped (entries are read back from Raft's durable log).

// errRestart marks a failure recovery cannot undo in place.
var errRestart = errors.New("replication: restart required")

// Health is nil while the node applies normally, else the reason it does not.
func (a *applier) Health() error {
	if s := a.health.Load(); s != nil {
		return errors.New(*s)
	}
	return nil
}

func (a *applier) setHealth(err error) {
	if err == nil {
		a.health.Store(nil)
		return
	}
	s := err.Error()
	a.health.Store(&s)
}

// needsRecovery reports whether the applier has failed and may recover.
func (a *applier) needsRecovery() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.failed != nil && a.fatal == nil
}

// tryRecover makes one recovery attempt; it returns nil once the node
// applies again.
func (a *applier) tryRecover() error {
	a.lockFold()
	defer a.unlockFold()
	if a.failed == nil || a.fatal != nil {
		return a.fatal
	}
	if a.pending != nil { // a snapshot restored without its segments
		if err := a.installLocked(a.pending); err != nil {
			return err
		}
		a.pending = nil
	}
	if err := a.reopenLocked(); err != nil {
		return err
	}
	if err := a.replayRaftLocked(); err != nil {
		return err
	}
	a.failed = nil
	a.setHealth(nil)
	a.logger.Warn().Uint64("next_offset", uint64(a.log.NextOffset())).Uint64("raft_index", a.log.LastTag()).
		Msg("log writable again; this node applies entries again")
	return nil
}

// reopenLocked replaces the failed log with a freshly opened one and folds
// any of its records the machine has not seen.
func (a *applier) reopenLocked() error {
	// Open the new log before closing the old one, so readers always find
	// a log that serves them.
	l, err := log.Open(a.logDir, a.logOpts)
	if err != nil {
		return fmt.Errorf("replication: reopen the log: %w", err)
	}
	if err := a.log.Close(); err != nil {
		a.logger.Debug().Err(err).Msg("closing the failed log")
	}
	a.log = l
	if l.NextOffset() < a.folded {
		a.fatal = fmt.Errorf("%w: the reopened log ends at offset %d, but records up to %d were folded",
			errRestart, l.NextOffset(), a.folded)
		a.setHealth(a.fatal)
		a.logger.Error().Err(a.fatal).Msg("log recovery")
		return a.fatal
	}
	a.caughtUp = false
	return a.catchUpLocked()
}

// replayRaftLocked appends and folds, from Raft's log, the command entries
// raft handed over after the log's last frame.
func (a *applier) replayRaftLocked() error {
	if a.store == nil {
		return fmt.Errorf("%w: no Raft log to replay from", errRestart)
	}
	for idx := a.log.LastTag() + 1; idx <= a.lastSeen; idx++ {
		var e raft.Log
		if err := a.store.GetLog(idx, &e); err != nil {
			if errors.Is(err, raft.ErrLogNotFound) {
				continue // compacted below a snapshot, or a gap raft never filled
			}
			return fmt.Errorf("replication: read Raft entry %d: %w", idx, err)
		}
		if e.Type != raft.LogCommand {
			continue
		}
		if r := a.appendAndFoldLocked(&e); r.Err != nil && !errors.Is(r.Err, errReplayed) && !errors.Is(r.Err, errBatch) {
			return r.Err
		}
	}
	return nil
}

// recoverOnce repairs damaged segments, then retries a failed applier; the
// recovery loop runs it every RecoverInterval.
func (n *Node) recoverOnce() {
	n.repairDamaged()
	if !n.a.needsRecovery() {
		return
	}
	if err := n.a.tryRecover(); err != nil {
		n.logger.Debug().Err(err).Msg("log recovery attempt failed; retrying")
	}
}

// every runs fn every interval until stop is closed, then closes done.
func every(interval time.Duration, stop <-chan struct{}, done chan<- struct{}, fn func()) {
	defer close(done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			fn()
		}
	}
}

// Applying is nil while the node applies committed entries, else why it
// does not: a failed log write it is retrying, a damaged segment its fold
// waits for, or a failure that needs a restart.
func (n *Node) Applying() error {
	if err := n.removedErr(); err != nil {
		return err
	}
	return n.a.Health()
}

// Health is nil while the node is ready, else why not: Applying's reasons,
// or a damaged segment (its reads fail until a peer's copy replaces it).
func (n *Node) Health() error {
	if err := n.Applying(); err != nil {
		return err
	}
	return damageHealth(n.a.Log())
}
