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

// errNoRecords answers a proposal of nothing.
var errNoRecords = errors.New("replication: a proposal needs at least one record")

// proposal is one Propose call: its records stay consecutive, in one Raft
// entry.
type proposal struct {
	recs []log.Record
	ctx  context.Context // the proposer's: once it ends, the records are not sent to Raft or a leader
	f    *Future
	// leaderOnly proposals came forwarded from a follower: they fail on a
	// node that is not the leader instead of being forwarded again (two
	// nodes forwarding to each other during an election would wait on
	// each other until the timeout).
	leaderOnly bool
	// fut is f's storage: one allocation for the proposal and its future
	// (the caller's Future then keeps the proposal's few words alive).
	fut Future
}

// fail resolves the proposal's future with err at once.
func (p *proposal) fail(err error) { p.f.resolve(0, err) }

// size is the proposal's encoded size in a batch.
func (p *proposal) size() int {
	n := 0
	for i := range p.recs {
		n += encodedSize(&p.recs[i])
	}
	return n
}

// batcher coalesces proposals into Raft entries (group commit). While up to
// MaxInflight entries are committing, new proposals queue; the next entry
// takes as many as its bounds allow. Its goroutine is owned by the Node.
type batcher struct {
	o        *Options
	raft     *raft.Raft
	a        *applier
	d        *dispatcher  // resolves futures once their records are applied here
	watch    *leaderWatch // leader changes, for forwarding
	in       chan *proposal
	inflight chan struct{}
	stop     chan struct{}
	stopped  chan struct{}
	lastTime int64
}

func newBatcher(o *Options, r *raft.Raft, a *applier, d *dispatcher) *batcher {
	b := &batcher{o: o, raft: r, a: a, d: d, watch: newLeaderWatch(r),
		in:       make(chan *proposal, 4*o.MaxBatchCount),
		inflight: make(chan struct{}, o.MaxInflight),
		stop:     make(chan struct{}), stopped: make(chan struct{})}
	go b.run()
	return b
}

// propose queues recs in order behind earlier proposals and returns their
// future. It blocks while the queue is full, until ctx ends or the batcher
// closes.
func (b *batcher) propose(ctx context.Context, recs []log.Record, leaderOnly bool) *Future {
	p := &proposal{recs: recs, ctx: ctx, leaderOnly: leaderOnly}
	p.fut.done = make(chan struct{})
	p.f = &p.fut
	if b.o.Observe.Commit != nil {
		p.fut.start = sinceEpoch()
	}
	if len(recs) == 0 {
		p.fail(errNoRecords)
		return p.f
	}
	select {
	case <-b.stop: // checked first: a closed batcher takes nothing more
		p.fail(ErrClosed)
		return p.f
	default:
	}
	select {
	case b.in <- p:
		b.failStranded()
	case <-b.stop:
		p.fail(ErrClosed)
	case <-ctx.Done():
		p.fail(fmt.Errorf("replication: not proposed: %w", ctx.Err()))
	}
	return p.f
}

// failStranded fails what is queued once the goroutine has stopped: a
// proposal queued after close's last failQueued would wait for ever.
// Queued before that, close's failQueued takes it.
func (b *batcher) failStranded() {
	select {
	case <-b.stopped:
		b.failQueued()
	default:
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
			first.fail(ErrClosed)
			b.failQueued()
			return
		}
		b.submit(b.collect(first))
	}
}

// collect drains queued proposals up to the batch bounds (a proposal
// larger than MaxBatchBytes alone closes its batch).
func (b *batcher) collect(first *proposal) []*proposal {
	batch := []*proposal{first}
	size := first.size()
	for len(batch) < b.o.MaxBatchCount && size < b.o.MaxBatchBytes {
		select {
		case p := <-b.in:
			batch = append(batch, p)
			size += p.size()
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
	recs := records(batch) // a copy: the proposers' records are theirs
	if b.o.Observe.EntryRecords != nil {
		b.o.Observe.EntryRecords(len(recs))
	}
	for i := range recs {
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
			p.fail(fmt.Errorf("replication: not proposed: %w", err))
			continue
		}
		keep = append(keep, p)
	}
	return keep
}

// await waits for raft's verdict on one entry. Committed proposals then
// wait, in the dispatcher, until this node has applied them; await itself
// only registers them, so the in-flight slot frees at commit.
func (b *batcher) await(f raft.ApplyFuture, batch []*proposal) {
	defer func() { <-b.inflight }()
	first, err := commitResult(f)
	for _, p := range batch {
		if err != nil {
			p.fail(err)
			continue
		}
		b.d.await(p.f, first, len(p.recs))
		first += log.Offset(len(p.recs))
	}
}

// commitResult is the first offset of a committed entry, or why it did
// not commit or could not be applied here.
func commitResult(f raft.ApplyFuture) (log.Offset, error) {
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) ||
			errors.Is(err, raft.ErrLeadershipTransferInProgress) {
			return 0, fmt.Errorf("%w: %w", ErrNotLeader, err)
		}
		return 0, fmt.Errorf("replication: commit: %w", err)
	}
	ar, ok := f.Response().(applyResult)
	if !ok {
		return 0, errors.New("replication: commit: no apply result")
	}
	return ar.First, ar.Err
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
			p.fail(ErrClosed)
		default:
			return
		}
	}
}
