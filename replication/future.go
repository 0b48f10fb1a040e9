package replication

import (
	"github.com/stratamq/strata/log"
)

// Future is the outcome of one proposal, like hashicorp/raft's ApplyFuture:
// it is resolved exactly once, when the proposal's records are committed
// and this node has applied them and its dispatcher has performed their
// effects (so anything the caller does next sees them in this node's
// views and connections), or with the error that stopped it.
//
// A proposal's records are consecutive in the log: Wait returns the first
// one's offset, and record i of the proposal has offset first+i.
//
// Errors: ErrNotLeader (wrapped) means not committed, and so does
// ErrClosed from a proposal the closing node still held; a context that
// ended before the records left this node means not proposed. ErrClosed for
// committed records the node closed before applying, and any other error
// (raft shut down under the entry, a forward cut by a leader change, a
// timeout, a node that cannot write its log) leave the outcome unknown.
type Future struct {
	done chan struct{}
	off  log.Offset
	err  error
	// start is when Propose was called (sinceEpoch), 0 when nobody
	// observes commit latencies.
	start int64
}

func newFuture() *Future { return &Future{done: make(chan struct{})} }

// Resolved returns a future that is already resolved: for proposers that
// know the outcome at once (a refused record) and for test clusters.
func Resolved(first log.Offset, err error) *Future {
	f := newFuture()
	f.resolve(first, err)
	return f
}

// resolve is called exactly once, by whoever decides the outcome.
func (f *Future) resolve(first log.Offset, err error) {
	f.off, f.err = first, err
	close(f.done)
}

// Done is closed once the future is resolved: select on it to compose
// futures with other events.
func (f *Future) Done() <-chan struct{} { return f.done }

// Wait blocks until the future is resolved and returns the first record's
// offset or the error.
func (f *Future) Wait() (log.Offset, error) {
	<-f.done
	return f.off, f.err
}

// Result returns the outcome of a resolved future; ok is false while it is
// not resolved.
func (f *Future) Result() (first log.Offset, err error, ok bool) {
	select {
	case <-f.done:
		return f.off, f.err, true
	default:
		return 0, nil, false
	}
}
