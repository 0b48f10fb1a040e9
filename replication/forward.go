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
// meanwhile: those it returns, to be proposed here. It runs inline on the
// batcher's goroutine, one batch at a time: concurrent forwards could
// commit in another order than proposed, and MQTT keeps each publisher's
// order. Proposals queue meanwhile, so the next batch is bigger.
//
// With no leader known it fails at once with ErrNotLeader (nothing was
// sent: the caller may try elsewhere). After a forward that was not sent it
// waits for a new leader, up to ForwardTimeout, and sends the batch there. A
// forward cut by a change of leader is never sent again: its records may
// be in the old leader's log. Raft commits them only if the new leader has
// them at its election, and then before anything the new leader is sent,
// so later batches keep their order; but sending the same records again
// could commit them twice.
func (b *batcher) forwardBatch(batch []*proposal) []*proposal {
	batch = refuseForwarded(batch)
	deadline := time.Now() // no wait for a first leader
	skip := ""
	for len(batch) > 0 {
		id, addr, err := b.awaitLeader(skip, deadline)
		if err != nil {
			b.resolveForward(batch, nil, err)
			return nil
		}
		if addr == "" { // this node leads
			return batch
		}
		if batch = dropAbandoned(batch); len(batch) == 0 {
			return nil
		}
		offs, err := b.forwardOnce(id, addr, records(batch))
		if !errors.Is(err, ErrNotSent) {
			b.resolveForward(batch, offs, err)
			return nil
		}
		skip, deadline = id, time.Now().Add(b.forwardTimeout())
	}
	return nil
}

// refuseForwarded fails proposals that came forwarded (leaderOnly) rather
// than forwarding them again: two nodes that each believed the other led
// would wait on each other.
func refuseForwarded(batch []*proposal) []*proposal {
	keep := batch[:0]
	for _, p := range batch {
		if p.leaderOnly {
			p.fail(fmt.Errorf("%w: a forwarded proposal is not forwarded again", ErrNotLeader))
			continue
		}
		keep = append(keep, p)
	}
	return keep
}

// records lists the batch's records in order, in a new slice.
func records(batch []*proposal) []log.Record {
	n := 0
	for _, p := range batch {
		n += len(p.recs)
	}
	recs := make([]log.Record, 0, n)
	for _, p := range batch {
		recs = append(recs, p.recs...)
	}
	return recs
}

// resolveForward resolves a forwarded batch's proposals: each waits until
// this node has applied its records (offs lists every record's offset, as
// the leader committed them), or fails with err at once.
func (b *batcher) resolveForward(batch []*proposal, offs []log.Offset, err error) {
	k := 0
	for _, p := range batch {
		if err != nil {
			p.fail(err)
			continue
		}
		n := len(p.recs)
		if offs[k+n-1] != offs[k]+log.Offset(n-1) { // one proposal is one run of offsets
			p.fail(fmt.Errorf("replication: the leader split a proposal (offsets %d to %d for %d records)", offs[k], offs[k+n-1], n))
		} else {
			b.d.await(p.f, offs[k], n)
		}
		k += n
	}
}

// awaitLeader returns the leader's ID and HTTP address once one other than
// skip is known (addr is empty when this node leads), following raft's
// leader observations; ErrNotLeader if none is by the deadline.
func (b *batcher) awaitLeader(skip string, deadline time.Time) (id, addr string, err error) {
	if id, addr, ok := b.leaderTarget(skip); ok { // the common case: no timers
		return id, addr, nil
	}
	poll := time.NewTicker(20 * time.Millisecond) // a member's HTTP address arrives by the log, not by an observation
	defer poll.Stop()
	timeout := time.NewTimer(time.Until(deadline))
	defer timeout.Stop()
	for {
		changed := b.watch.next()
		if id, addr, ok := b.leaderTarget(skip); ok {
			return id, addr, nil
		}
		if !time.Now().Before(deadline) {
			return "", "", fmt.Errorf("%w: no leader with a known HTTP address", ErrNotLeader)
		}
		select {
		case <-changed:
		case <-poll.C:
		case <-timeout.C:
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
// outcome unknown (a context error), when raft reports another leader than
// id, after ForwardTimeout, or when the node closes.
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
			// Cut only once another leader is known: a follower that merely
			// lost contact (leader unknown, an election under way) may yet
			// get the answer, and every cut leaves an outcome unknown.
			if _, leaderID := b.raft.LeaderWithID(); leaderID == "" || string(leaderID) == id {
				changed = b.watch.next()
				continue
			}
			return b.cut(id, res, len(recs), "another leader was elected", context.Canceled)
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
