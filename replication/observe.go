package replication

import (
	"strconv"
	"time"

	"github.com/hashicorp/raft"
)

// Observers receive measurements where the work happens, for metrics (the
// metrics package turns them into histograms). Each is optional; each must
// be cheap and safe for concurrent use, since it runs on the commit path.
type Observers struct {
	// Commit is a proposal's latency from Propose until its future
	// resolved committed and applied on this node. Proposals that fail are
	// not observed.
	Commit func(time.Duration)
	// EntryRecords is the number of records in one Raft entry made by this
	// node's batcher (the group commit's batch size).
	EntryRecords func(records int)
	// RaftAppend is one append to Raft's own log (raft-wal: one write and
	// one fsync): how many entries it stored and how long it took.
	RaftAppend func(entries int, d time.Duration)
}

// epoch is the origin of proposals' start times: time.Since reads the
// monotonic clock, so a wall clock step does not skew latencies.
var epoch = time.Now()

func sinceEpoch() int64 { return int64(time.Since(epoch)) }

// observeCommit reports f's latency if it was timed (Propose set its start).
func (o *Observers) observeCommit(f *Future, now int64) {
	if o.Commit != nil && f.start != 0 {
		o.Commit(time.Duration(now - f.start))
	}
}

// observedLogStore times Raft's appends to its log store. It forwards
// IsMonotonic: raft treats a monotonic store differently after restoring
// a snapshot, and wrapping must not change that.
type observedLogStore struct {
	raft.LogStore
	observe func(entries int, d time.Duration)
}

func (s observedLogStore) StoreLog(l *raft.Log) error {
	return s.StoreLogs([]*raft.Log{l})
}

func (s observedLogStore) StoreLogs(ls []*raft.Log) error {
	start := time.Now()
	err := s.LogStore.StoreLogs(ls)
	s.observe(len(ls), time.Since(start))
	return err
}

func (s observedLogStore) IsMonotonic() bool {
	m, ok := s.LogStore.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}

// RaftStats are this node's Raft figures and queue lengths, for metrics.
type RaftStats struct {
	State        string // Follower, Candidate, Leader or Shutdown
	Term         uint64
	LastIndex    uint64 // the last entry in this node's Raft log
	CommitIndex  uint64
	AppliedIndex uint64 // the last entry raft handed to the fold
	// ProposalQueue is the proposals waiting for the batcher; DispatchQueue
	// the folded entries whose effects wait for the dispatcher.
	ProposalQueue int
	DispatchQueue int
	// AppliedOffset is one past the last log offset whose effects were
	// performed here.
	AppliedOffset uint64
}

// RaftStats reads the node's Raft figures without going through raft's
// main loop (cheap enough for every scrape). Safe for concurrent use.
func (n *Node) RaftStats() RaftStats {
	r := n.raft
	return RaftStats{State: r.State().String(), Term: r.CurrentTerm(), LastIndex: r.LastIndex(),
		CommitIndex: r.CommitIndex(), AppliedIndex: r.AppliedIndex(),
		ProposalQueue: len(n.b.in), DispatchQueue: len(n.a.d.in), AppliedOffset: n.a.d.applied.Load()}
}

// String is for logs and tests.
func (s RaftStats) String() string {
	return s.State + " term " + strconv.FormatUint(s.Term, 10) + " commit " + strconv.FormatUint(s.CommitIndex, 10)
}
