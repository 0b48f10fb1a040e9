package replication

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rs/zerolog"

	"github.com/stratamq/strata/log"
)

// applyResult is the response of one committed Raft entry.
type applyResult struct {
	First log.Offset
	N     int
	Err   error
}

var errReplayed = errors.New("replication: entry already in the log")

// applier is the raft.BatchingFSM: it appends committed batches to the
// segment log, folds them into the StateMachine and hands the effects to
// the dispatcher. raft calls ApplyBatch, Snapshot and Restore from its FSM
// goroutine; mu also serialises snapshot persistence (which syncs the log)
// and readers swapping the log.
//
// Whatever moves folded (ApplyBatch, Snapshot's and the start's catch-up,
// Restore, recovery) runs between lockFold and unlockFold: sendMu keeps
// the handoffs in the order folded, and they are sent after mu is released,
// so the dispatcher's Perform may read through the applier (Log,
// memberAddr) while raft's FSM goroutine waits for room in its queue.
// Lock order: sendMu before mu.
type applier struct {
	sendMu sync.Mutex
	mu     sync.Mutex
	d      *dispatcher
	// Under mu: effects folded since the last handoff, and the handoffs
	// formed but not yet sent.
	effects []effectAt
	out     []handoff

	log     *log.Log
	logDir  string
	logOpts log.Options
	m       StateMachine
	logger  zerolog.Logger

	members  map[string]string // node ID -> HTTP address, from KindMember records
	folded   log.Offset        // the machine has folded every record below this
	caughtUp bool              // the machine has folded the whole local log
	maxTime  atomic.Int64

	// store is Raft's log: after a failed append the entries raft handed
	// over meanwhile are read back from it (see recover.go).
	store    raft.LogStore
	lastSeen uint64 // the highest Raft index given to ApplyBatch
	// snapAt is the log position of the latest snapshot taken or restored
	// (snapshotByRecords).
	snapAt atomic.Uint64
	failed error // set when an append failed; cleared by recovery
	fatal  error // set when recovery is impossible without a restart
	health atomic.Pointer[string]

	// Installing a snapshot's segments (install.go).
	self         string
	dataDir      string
	savedPeers   map[string]string // the member book as last saved (peers.go)
	leaderID     func() string     // "" when unknown
	fetch        SegmentFetcher
	fetchTimeout time.Duration
	linkDir      func(id string) string
	pending      []manifestEntry // a snapshot's segments still to fetch (recover.go)
}

func (a *applier) Apply(l *raft.Log) interface{} { return a.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch appends each command entry as one log frame tagged with its
// Raft index, then folds its records. Entries already in the log (replayed
// after a restart) are skipped.
func (a *applier) ApplyBatch(logs []*raft.Log) []interface{} {
	a.lockFold()
	defer a.unlockFold()
	out := make([]interface{}, len(logs))
	if err := a.catchUpLocked(); err != nil {
		a.failLocked(err)
	}
	for i, l := range logs {
		a.lastSeen = max(a.lastSeen, l.Index)
		if l.Type == raft.LogCommand {
			out[i] = a.applyLocked(l)
		}
	}
	return out
}

func (a *applier) applyLocked(l *raft.Log) applyResult {
	if a.failed != nil || a.fatal != nil {
		a.learnMembersLocked(l) // a node that cannot apply may need its peers to recover
		return applyResult{Err: errors.Join(a.failed, a.fatal)}
	}
	return a.appendAndFoldLocked(l)
}

// appendAndFoldLocked appends a command entry's records as one frame and
// folds them; an append error fails the applier.
func (a *applier) appendAndFoldLocked(l *raft.Log) applyResult {
	if l.Index <= a.log.LastTag() {
		return applyResult{Err: errReplayed}
	}
	recs, err := decodeBatch(l.Data)
	if err != nil {
		// Every replica decodes the same bytes alike, so skipping keeps them equal.
		a.logger.Error().Err(err).Uint64("index", l.Index).Msg("skipping undecodable entry")
		return applyResult{Err: err}
	}
	first, err := a.log.Append(recs, l.Index)
	if err != nil {
		if a.failed != nil { // during recovery: the attempt fails, the state stays failed
			return applyResult{Err: err}
		}
		return applyResult{Err: a.failLocked(err)}
	}
	for i := range recs {
		a.foldLocked(first+log.Offset(i), &recs[i])
		a.maxTime.Store(max(a.maxTime.Load(), recs[i].Time))
	}
	a.folded = first + log.Offset(len(recs))
	a.handLocked()
	return applyResult{First: first, N: len(recs)}
}

// lockFold and unlockFold bracket everything that moves folded; unlockFold
// sends what was folded to the dispatcher after releasing mu.
func (a *applier) lockFold() {
	a.sendMu.Lock()
	a.mu.Lock()
}

// flushLocked hands what was folded so far to the dispatcher in the middle
// of a fold: it releases mu while it sends (the dispatcher's Perform may
// read through the applier) and keeps sendMu, so no other folder runs
// meanwhile. Between lockFold and unlockFold only.
func (a *applier) flushLocked() {
	out := a.out
	a.out = nil
	a.mu.Unlock()
	a.d.handOver(out)
	a.mu.Lock()
}

func (a *applier) unlockFold() {
	out := a.out
	a.out = nil
	a.mu.Unlock()
	defer a.sendMu.Unlock()
	a.d.handOver(out)
}

// foldLocked folds rec and keeps its effect for the dispatcher.
func (a *applier) foldLocked(off log.Offset, rec *log.Record) {
	if effect := a.foldRecord(off, rec); effect != nil {
		a.effects = append(a.effects, effectAt{off: off, effect: effect})
	}
}

// handLocked closes the effects folded so far into one handoff, applied
// here through folded once they are performed.
func (a *applier) handLocked() {
	a.out = append(a.out, handoff{effects: a.effects, through: a.folded})
	a.effects = nil
}

// failLocked stops this node from applying: its log can no longer be
// written, and acknowledging anything more would be a lie. The recovery
// loop (recover.go) retries until the log can be written again.
func (a *applier) failLocked(err error) error {
	if a.failed != nil {
		return a.failed
	}
	a.failed = fmt.Errorf("replication: node stopped applying: %w", err)
	if a.health.Load() == nil { // once per failure, not per retry
		a.setHealth(a.failed)
		a.logger.Error().Err(err).Msg("log write failed; this node stops applying entries and retries until the log can be written")
	}
	return a.failed
}

// catchUpHandoff is how many records of the catch-up fold share a handoff.
const catchUpHandoff = 256

// catchUpFlush is how many handoffs the catch-up fold keeps before it
// hands them to the dispatcher: the effects of a whole log (a restart
// folds it all) held at once were a copy of every record (1M records: 1.3
// GB more RSS), and nothing but the dispatcher frees them.
const catchUpFlush = 16

// catchUpLocked folds the local log's records that the machine has not
// seen: after a restart, or after Restore kept a local log longer than the
// snapshot. Between lockFold and unlockFold: it hands its effects over as
// it goes (flushLocked), so memory stays bounded whatever the log's length.
func (a *applier) catchUpLocked() error {
	if a.caughtUp {
		return nil
	}
	defer a.handLocked() // what was folded, also when a read failed
	it := a.log.Iter(a.folded)
	defer it.Close()
	for it.Next() {
		rec := it.Record()
		// The iterator reuses its buffers; an effect may keep the bytes.
		rec.Key, rec.Value = bytes.Clone(rec.Key), bytes.Clone(rec.Value)
		a.foldLocked(rec.Offset, &rec)
		a.maxTime.Store(max(a.maxTime.Load(), rec.Time))
		a.folded = rec.Offset + 1
		if len(a.effects) >= catchUpHandoff {
			a.handLocked()
			if len(a.out) >= catchUpFlush {
				a.flushLocked()
			}
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("replication: fold the local log: %w", err)
	}
	a.folded = max(a.folded, a.log.NextOffset())
	a.caughtUp = true
	return nil
}

// Log returns the current segment log (Restore may replace it).
func (a *applier) Log() *log.Log {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.log
}

// Snapshot captures the machine and the log position; Persist does the I/O.
func (a *applier) Snapshot() (raft.FSMSnapshot, error) {
	a.lockFold() // a catch-up may fold
	defer a.unlockFold()
	if err := errors.Join(a.failed, a.fatal); err != nil {
		return nil, fmt.Errorf("replication: no snapshot of a failed fold: %w", err)
	}
	if err := a.catchUpLocked(); err != nil {
		return nil, err
	}
	segs := a.log.Segments()
	active := segs[len(segs)-1] // folded == NextOffset here: it ends at the position
	a.snapAt.Store(uint64(a.folded))
	return &snapshot{a: a, position: a.folded, tag: a.log.LastTag(), machine: a.m.Capture(),
		members: encodeMembers(a.members), linkDir: a.linkDir,
		activeBase: active.Base, activeSize: active.Size}, nil
}

// Restore replaces the machine with a snapshot's, and the log with the
// snapshot's segments unless the local log already holds everything the
// snapshot covers (its records are immutable, so it is then a superset).
func (a *applier) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	a.lockFold()
	defer a.unlockFold()
	return a.restoreLocked(rc)
}
