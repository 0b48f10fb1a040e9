package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratamq/strata/replication"
)

var (
	raftState     = newDesc("strata_raft_state", "1 for this node's current Raft state (Follower, Candidate, Leader, Shutdown), 0 for the others.", gauge, "state")
	raftTerm      = newDesc("strata_raft_term", "This node's current Raft term.", gauge)
	raftLast      = newDesc("strata_raft_last_index", "Index of the last entry in this node's Raft log.", gauge)
	raftCommit    = newDesc("strata_raft_commit_index", "Highest Raft index this node knows to be committed.", gauge)
	raftApplied   = newDesc("strata_raft_applied_index", "Highest Raft index this node has applied.", gauge)
	proposalQueue = newDesc("strata_replication_proposal_queue", "Proposals waiting for this node's group commit.", gauge)
	dispatchQueue = newDesc("strata_replication_dispatch_queue", "Applied Raft entries whose effects (deliveries) wait for the dispatcher.", gauge)
	logSegments   = newDesc("strata_log_segments", "Segments of this node's log, the active one included.", gauge)
	logBytes      = newDesc("strata_log_bytes", "Bytes of this node's log segments.", gauge)
	logFirst      = newDesc("strata_log_first_offset", "Offset of the oldest message this node's log retains.", gauge)
	logNext       = newDesc("strata_log_next_offset", "Offset the next message appended will get.", gauge)
)

// raftStates are the states strata_raft_state always lists.
var raftStates = [...]string{"Follower", "Candidate", "Leader", "Shutdown"}

// nodeCollector reads a replication node's Raft figures and its log's
// segments at scrape time.
type nodeCollector struct{ n *replication.Node }

func (c nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	describeAll(ch, raftState, raftTerm, raftLast, raftCommit, raftApplied, proposalQueue, dispatchQueue,
		logSegments, logBytes, logFirst, logNext)
}

func (c nodeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.n.RaftStats()
	for _, s := range raftStates {
		v := 0.0
		if s == st.State {
			v = 1
		}
		raftState.emit(ch, v, s)
	}
	raftTerm.emit(ch, float64(st.Term))
	raftLast.emit(ch, float64(st.LastIndex))
	raftCommit.emit(ch, float64(st.CommitIndex))
	raftApplied.emit(ch, float64(st.AppliedIndex))
	proposalQueue.emit(ch, float64(st.ProposalQueue))
	dispatchQueue.emit(ch, float64(st.DispatchQueue))
	l := c.n.Log()
	segs := l.Segments()
	var size int64
	for _, s := range segs {
		size += s.Size
	}
	logSegments.emit(ch, float64(len(segs)))
	logBytes.emit(ch, float64(size))
	logFirst.emit(ch, float64(l.FirstOffset()))
	logNext.emit(ch, float64(l.NextOffset()))
}

// AddNode registers the node's Raft and log figures.
func (r *Registry) AddNode(n *replication.Node) {
	r.reg.MustRegister(nodeCollector{n})
}
