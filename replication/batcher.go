package replication

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/stratamq/strata/log"
)

var (
	// ErrClosed is returned for proposals made or pending when the Node closes.
	ErrClosed = errors.New("replication: closed")
	// ErrNotLeader is returned when this node cannot commit proposals.
	ErrNotLeader = errors.New("replication: not the leader")
)

type proposal struct {
	rec  log.Record
	ctx  context.Context         // the proposer's: once it ends, the record is not sent to Raft or a leader
	done chan result             // Propose waits here
	cb   func(log.Offset, error) // or ProposeAsync's callback
	// leaderOnly proposals came forwarded from a follower: they fail on a
	// node that is not the leader instead of being forwarded again (two
	// nodes forwarding to each other during an election would wait on
	// each other until the timeout).
	leaderOnly bool
}

// resolve reports the proposal's outcome exactly once.
func (p *proposal) resolve(r result) {
	if p.cb != nil {
		p.cb(r.off, r.err)
		return
	}
	p.done <- r
}

type result struct {
	off log.Offset
	err error
}

// batcher coalesces proposals into Raft entries (group commit). While up to
// MaxInflight entries are committing, new proposals queue; the next entry
// takes as many as its bounds allow. Its goroutine is owned by the Node.
type batcher struct {
	o        *Options
	raft     *raft.Raft
	a        *applier
	watch    *leaderWatch // leader changes, for forwarding
	in       chan *proposal
	inflight chan struct{}
	stop     chan struct{}
	stopped  chan struct{}
	lastTime int64
}

func newBatcher(o *Options, r *raft.Raft, a *applier) *batcher {
	b := &batcher{o: o, raft: r, a: a, watch: newLeaderWatch(r),
		in:       make(chan *proposal, 4*o.MaxBatchCount),
		inflight: make(chan struct{}, o.MaxInflight),
		stop:     make(chan struct{}), stopped: make(chan struct{})}
	go b.run()
	return b
}

// propose queues rec and waits for its commit.
func (b *batcher) propose(ctx context.Context, rec log.Record) (log.Offset, error) {
	p := &proposal{rec: rec, ctx: ctx, done: make(chan result, 1)}
	select {
	case b.in <- p:
	case <-b.stop:
		return 0, ErrClosed
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case r := <-p.done:
		return r.off, r.err
	case <-b.stopped:
		// Stranded in the queue after the batcher stopped: fail it (and any
		// others); if it was already in Raft, Raft's shutdown resolves it.
		b.failQueued()
		r := <-p.done
		return r.off, r.err
	case <-ctx.Done():
		// The entry may still commit: the caller must treat this as unknown.
		return 0, fmt.Errorf("replication: waiting for commit: %w", ctx.Err())
	}
}

// proposeAsync queues rec in order behind earlier proposals and returns;
// done runs once with the outcome, on the committing goroutine (or on the
// caller's when rec cannot be queued). It blocks while the queue is full.
func (b *batcher) proposeAsync(ctx context.Context, rec log.Record, leaderOnly bool, done func(log.Offset, error)) {
	select {
	case <-b.stop:
		done(0, ErrClosed)
		return
	default:
	}
	p := &proposal{rec: rec, ctx: ctx, cb: done, leaderOnly: leaderOnly}
	select {
	case b.in <- p:
	case <-b.stop:
		done(0, ErrClosed)
	case <-ctx.Done():
		done(0, ctx.Err())
	}
}

func (b *batcher) run() {
	defer close(b.stopped)
	for {
		var first *proposal
		select {
		case first = <-b.in:
		case <-b.stop:
			b.failQueued()
			return
		}
		select {
		case b.inflight <- struct{}{}:
		case <-b.stop:
			first.resolve(result{err: ErrClosed})
			b.failQueued()
			return
		}
		b.submit(b.collect(first))
	}
}

// collect drains queued proposals up to the batch bounds.
func (b *batcher) collect(first *proposal) []*proposal {
	batch := []*proposal{first}
	size := encodedSize(&first.rec)
	for len(batch) < b.o.MaxBatchCount && size < b.o.MaxBatchBytes {
		select {
		case p := <-b.in:
			batch = append(batch, p)
			size += encodedSize(&p.rec)
		default:
			return batch
		}
	}
	return batch
}

// submit stamps the batch's time (non-decreasing across batches and leaders)
// and hands it to Raft; a goroutine per entry waits for the commit.
func (b *batcher) submit(batch []*proposal) {
	if b.o.Forward != nil && b.raft.State() != raft.Leader {
		// Back from forwardBatch only if this node became the leader meanwhile.
		batch = b.forwardBatch(batch)
	}
	if batch = dropAbandoned(batch); len(batch) == 0 {
		<-b.inflight
		return
	}
	now := max(time.Now().UnixNano(), b.lastTime, b.a.maxTime.Load())
	b.lastTime = now
	recs := make([]log.Record, len(batch))
	for i, p := range batch {
		recs[i] = p.rec
		recs[i].Time = now
	}
	f := b.raft.Apply(encodeBatch(recs), b.o.ApplyTimeout)
	go b.await(f, batch)
}

// dropAbandoned resolves the proposals whose proposer's context ended
// before they were sent (so they certainly do not commit: a caller that gave
// up and tries again elsewhere cannot commit the record twice) and returns
// the others.
func dropAbandoned(batch []*proposal) []*proposal {
	keep := batch[:0]
	for _, p := range batch {
		if err := p.ctx.Err(); err != nil {
			p.resolve(result{err: fmt.Errorf("replication: not proposed: %w", err)})
			continue
		}
		keep = append(keep, p)
	}
	return keep
}

func (b *batcher) await(f raft.ApplyFuture, batch []*proposal) {
	defer func() { <-b.inflight }()
	res := commitResult(f)
	for i, p := range batch {
		if res.err != nil {
			p.resolve(result{err: res.err})
			continue
		}
		p.resolve(result{off: res.off + log.Offset(i)})
	}
}

func commitResult(f raft.ApplyFuture) result {
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) ||
			errors.Is(err, raft.ErrLeadershipTransferInProgress) {
			return result{err: fmt.Errorf("%w: %w", ErrNotLeader, err)}
		}
		return result{err: fmt.Errorf("replication: commit: %w", err)}
	}
	ar, ok := f.Response().(applyResult)
	if !ok {
		return result{err: errors.New("replication: commit: no apply result")}
	}
	if ar.Err != nil {
		return result{err: ar.Err}
	}
	return result{off: ar.First}
}

// close stops the goroutine; queued proposals fail with ErrClosed, and
// entries already in Raft report what Raft says (commit or error).
func (b *batcher) close() {
	close(b.stop)
	<-b.stopped
	b.watch.close(b.raft)
	b.failQueued() // anything queued while it stopped
}

func (b *batcher) failQueued() {
	for {
		select {
		case p := <-b.in:
			p.resolve(result{err: ErrClosed})
		default:
			return
		}
	}
}
