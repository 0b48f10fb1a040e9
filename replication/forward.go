package replication

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/stratamq/strata/log"
)

// ErrNotSent marks a Forwarder error after which the leader certainly did
// not receive the records (no connection was made): only such a forward is
// retried, since a retry of one that reached the leader could commit its
// records twice.
var ErrNotSent = errors.New("replication: not sent")

// Forwarder sends records to the leader at leaderHTTP and returns their
// offsets once committed there. cmd/strata supplies one over the HTTP API.
// It must return soon after ctx ends, and wrap ErrNotSent where the request
// never left this node.
type Forwarder func(ctx context.Context, leaderHTTP string, recs []log.Record) ([]log.Offset, error)

// forwardBatch sends a batch formed on a follower to the leader and
// resolves its proposals, except when this node became the leader
// meanwhile: those it returns, to be proposed here. Forwarded proposals
// (leaderOnly) are refused rather than forwarded again. It runs inline on
// the batcher's goroutine, one batch at a time: concurrent forwards could
// commit in another order than proposed, and MQTT keeps each publisher's
// order. Proposals queue meanwhile, so the next batch is bigger.
func (b *batcher) forwardBatch(batch []*proposal) []*proposal {
	var fwd []*proposal
	for _, p := range batch {
		if p.leaderOnly {
			p.resolve(result{err: fmt.Errorf("%w: a forwarded proposal is not forwarded again", ErrNotLeader)})
		} else {
			fwd = append(fwd, p)
		}
	}
	if len(fwd) == 0 {
		return nil
	}
	recs := make([]log.Record, len(fwd))
	for i, p := range fwd {
		recs[i] = p.rec
	}
	offs, local, err := b.forwardRecords(recs)
	if local {
		return fwd
	}
	for i, p := range fwd {
		if err != nil {
			p.resolve(result{err: err})
		} else {
			p.resolve(result{off: offs[i]})
		}
	}
	return nil
}

// forwardRecords sends recs to the current leader, waiting for one (up to
// ApplyTimeout) when none is known, and sends again to a new leader only
// after a forward that was not sent. local reports that this node leads.
//
// Why a cut forward is never retried: its records may be in the old
// leader's log. Raft commits them only if the new leader has them at its
// election, and then before anything the new leader is sent, so sending
// later batches to the new leader keeps their order; but sending the same
// records again would commit them twice.
func (b *batcher) forwardRecords(recs []log.Record) (offs []log.Offset, local bool, err error) {
	deadline := time.Now().Add(b.o.ApplyTimeout)
	skip := ""
	for {
		id, addr, err := b.awaitLeader(skip, deadline)
		if err != nil {
			return nil, false, err
		}
		if addr == "" { // this node
			return nil, true, nil
		}
		offs, err = b.forwardOnce(id, addr, recs)
		if !errors.Is(err, ErrNotSent) || time.Now().After(deadline) {
			return offs, false, err
		}
		skip = id
	}
}

// awaitLeader returns the leader's ID and HTTP address once one other than
// skip is known (addr is empty when this node leads), following raft's
// leader observations.
func (b *batcher) awaitLeader(skip string, deadline time.Time) (id, addr string, err error) {
	poll := time.NewTicker(20 * time.Millisecond) // a member's HTTP address arrives by the log, not by an observation
	defer poll.Stop()
	timeout := time.NewTimer(time.Until(deadline))
	defer timeout.Stop()
	for {
		changed := b.watch.next()
		if id, addr, ok := b.leaderTarget(skip); ok {
			return id, addr, nil
		}
		select {
		case <-changed:
		case <-poll.C:
		case <-timeout.C:
			return "", "", fmt.Errorf("%w: no leader with a known HTTP address after %v", ErrNotLeader, b.o.ApplyTimeout)
		case <-b.stop:
			return "", "", ErrClosed
		}
	}
}

func (b *batcher) leaderTarget(skip string) (id, addr string, ok bool) {
	_, leaderID := b.raft.LeaderWithID()
	id = string(leaderID)
	switch {
	case id == "" || id == skip:
		return "", "", false
	case id == b.o.NodeID:
		return id, "", b.raft.State() == raft.Leader
	}
	addr = b.a.memberAddr(id)
	return id, addr, addr != ""
}

type forwardResult struct {
	offs []log.Offset
	err  error
}

// forwardOnce sends recs to the leader id at addr. It gives up, with the
// outcome unknown (a context error), when raft's leader changes from id,
// after ForwardTimeout, or when the node closes.
func (b *batcher) forwardOnce(id, addr string, recs []log.Record) ([]log.Offset, error) {
	ctx, cancel := context.WithTimeout(context.Background(), b.forwardTimeout())
	defer cancel()
	changed := b.watch.next()
	if _, leaderID := b.raft.LeaderWithID(); string(leaderID) != id {
		return nil, fmt.Errorf("replication: leader %s stepped down before the forward: %w", id, ErrNotSent)
	}
	res := make(chan forwardResult, 1) // the call may finish after we stop waiting
	go func() {
		offs, err := b.o.Forward(ctx, addr, recs)
		res <- forwardResult{offs, err}
	}()
	for {
		select {
		case r := <-res:
			return checkForward(id, r, len(recs))
		case <-changed:
			if _, leaderID := b.raft.LeaderWithID(); string(leaderID) == id {
				changed = b.watch.next() // a change and back: keep waiting
				continue
			}
			return b.cut(id, res, len(recs), "the leader changed", context.Canceled)
		case <-ctx.Done():
			return b.cut(id, res, len(recs), fmt.Sprintf("no answer within %v", b.forwardTimeout()), ctx.Err())
		case <-b.stop:
			return b.cut(id, res, len(recs), "the node is closing", context.Canceled)
		}
	}
}

// cut gives up on a forward (its context is cancelled by the caller),
// unless its answer is already there.
func (b *batcher) cut(id string, res <-chan forwardResult, n int, why string, cause error) ([]log.Offset, error) {
	select {
	case r := <-res:
		return checkForward(id, r, n)
	default:
	}
	b.o.Logger.Debug().Str("leader", id).Str("why", why).Msg("forward cut, outcome unknown")
	return nil, fmt.Errorf("replication: forward to %s cut (%s), outcome unknown: %w", id, why, cause)
}

func checkForward(id string, r forwardResult, n int) ([]log.Offset, error) {
	if r.err == nil && len(r.offs) != n {
		r.err = fmt.Errorf("replication: leader answered %d offsets for %d records", len(r.offs), n)
	}
	if r.err != nil {
		return nil, fmt.Errorf("replication: forward to %s: %w", id, r.err)
	}
	return r.offs, nil
}

func (b *batcher) forwardTimeout() time.Duration {
	if b.o.ForwardTimeout > 0 {
		return b.o.ForwardTimeout
	}
	return DefaultOptions().ForwardTimeout
}

// leaderWatch turns raft's leader observations into a channel that is
// closed at the next change of leader. Safe for concurrent use; its
// goroutine is owned by the batcher.
type leaderWatch struct {
	obs  *raft.Observer
	ch   chan raft.Observation
	stop chan struct{}
	done chan struct{}
	mu   struct {
		sync.Mutex
		changed chan struct{}
	}
}

func newLeaderWatch(r *raft.Raft) *leaderWatch {
	w := &leaderWatch{ch: make(chan raft.Observation, 16), stop: make(chan struct{}), done: make(chan struct{})}
	w.mu.changed = make(chan struct{})
	w.obs = raft.NewObserver(w.ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	r.RegisterObserver(w.obs)
	go w.run()
	return w
}

// next returns a channel closed at the next leader change. Take it before
// reading the leader, so that no change goes unseen.
func (w *leaderWatch) next() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mu.changed
}

func (w *leaderWatch) run() {
	defer close(w.done)
	for {
		select {
		case <-w.stop:
			return
		case <-w.ch: // a dropped observation is fine: any one wakes the waiters
			w.mu.Lock()
			close(w.mu.changed)
			w.mu.changed = make(chan struct{})
			w.mu.Unlock()
		}
	}
}

func (w *leaderWatch) close(r *raft.Raft) {
	r.DeregisterObserver(w.obs)
	close(w.stop)
	<-w.done
}
