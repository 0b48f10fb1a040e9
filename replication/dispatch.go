package replication

import (
	"sync"
	"sync/atomic"

	"github.com/stratamq/strata/log"
)

// The dispatcher is the one place that decides "applied here".
//
// raft's FSM goroutine folds each committed entry (StateMachine.Apply, pure
// and quick) and hands the effects it returned, with the offset the fold has
// reached, to the dispatcher over a bounded channel. The dispatcher's
// goroutine performs them (StateMachine.Perform) in offset order, then
// advances the node's applied watermark and resolves every future waiting
// for an offset below it.
//
// The FSM goroutine waits while the channel is full. That cannot deadlock:
// the dispatcher never waits on raft (Perform must not propose and wait, and
// the dispatcher takes no lock a folder holds while it sends: folders send
// after releasing applier.mu). A slow Perform therefore delays applying,
// never committing: raft keeps committing while its FSM goroutine waits.

// effectAt is one record's effect, to be performed at its offset.
type effectAt struct {
	off    log.Offset
	effect any
}

// handoff is what the FSM side hands over: the effects of what it folded
// (possibly none, as after a snapshot install) and the offset the fold has
// reached, through which everything is applied here once they are performed.
type handoff struct {
	effects []effectAt
	through log.Offset
}

// dispatcher owns the goroutine that performs effects and the futures
// waiting for them. Safe for concurrent use.
type dispatcher struct {
	m       StateMachine
	in      chan handoff
	stop    chan struct{}
	stopped chan struct{}
	applied atomic.Uint64 // one past the last offset whose effects were performed
	// observe times the futures resolved: set right after newDispatcher,
	// before anything is handed over; nil when nobody observes.
	observe *Observers

	mu struct {
		sync.Mutex
		waiters waitHeap // futures waiting for the watermark
		closed  bool     // after close: new waits resolve with ErrClosed
	}
}

func newDispatcher(m StateMachine, queue int) *dispatcher {
	d := &dispatcher{m: m, in: make(chan handoff, queue), stop: make(chan struct{}), stopped: make(chan struct{})}
	go d.run()
	return d
}

// handOver queues hs in order, waiting while the queue is full (see the
// comment at the top of this file for why that is safe). Called by the
// folders (raft's FSM goroutine, recovery) with applier.sendMu held, so
// that what they folded is queued in the order folded.
func (d *dispatcher) handOver(hs []handoff) {
	for _, h := range hs {
		select {
		case d.in <- h:
		case <-d.stop: // only after raft shut down: nothing is waiting any more
			return
		}
	}
}

func (d *dispatcher) run() {
	defer close(d.stopped)
	for {
		select {
		case h := <-d.in:
			d.perform(h)
		case <-d.stop:
			d.drain()
			return
		}
	}
}

// drain performs what was handed over before the stop: it was committed
// and folded, so its effects are due.
func (d *dispatcher) drain() {
	for {
		select {
		case h := <-d.in:
			d.perform(h)
		default:
			return
		}
	}
}

// perform carries out one handoff's effects and advances the watermark.
// An effect below the watermark is skipped: a Restore behind the fold (a
// snapshot older than the local log) folds again records whose effects
// were already performed, and performing them twice would deliver twice.
func (d *dispatcher) perform(h handoff) {
	applied := log.Offset(d.applied.Load())
	for _, e := range h.effects {
		if e.off >= applied {
			d.m.Perform(e.off, e.effect)
		}
	}
	if h.through > applied {
		d.advance(h.through)
	}
}

func (d *dispatcher) advance(through log.Offset) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.applied.Store(uint64(through))
	var now int64
	if len(d.mu.waiters) > 0 && d.mu.waiters[0].end <= through && d.observe != nil {
		now = sinceEpoch() // one clock read for all the futures resolved
	}
	for len(d.mu.waiters) > 0 && d.mu.waiters[0].end <= through {
		w := d.mu.waiters.pop()
		w.f.resolve(w.first, nil)
		if d.observe != nil {
			d.observe.observeCommit(w.f, now)
		}
	}
}

// await resolves f with (first, nil) once the records [first, first+n) are
// applied here, at once if they are. It never blocks: the batcher's
// goroutines call it.
func (d *dispatcher) await(f *Future, first log.Offset, n int) {
	end := first + log.Offset(n)
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.mu.closed:
		f.resolve(0, ErrClosed)
	case end <= log.Offset(d.applied.Load()):
		f.resolve(first, nil)
		if d.observe != nil {
			d.observe.observeCommit(f, sinceEpoch())
		}
	default:
		d.mu.waiters.push(waiter{end: end, first: first, f: f})
	}
}

// close stops the goroutine once it performed what was handed over, and
// resolves the futures still waiting with ErrClosed. Call it after raft
// shut down, so that nothing is handed over any more.
func (d *dispatcher) close() error {
	close(d.stop)
	<-d.stopped
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mu.closed = true
	for _, w := range d.mu.waiters {
		w.f.resolve(0, ErrClosed)
	}
	d.mu.waiters = nil
	return nil
}

// waiter is a future resolved once the watermark reaches end.
type waiter struct {
	end, first log.Offset
	f          *Future
}

// waitHeap orders waiters by end, smallest first. It is a typed binary
// heap rather than container/heap, whose Push and Pop box each waiter in an
// interface: two allocations per proposal on the commit path.
type waitHeap []waiter

func (h *waitHeap) push(w waiter) {
	*h = append(*h, w)
	s := *h
	for i := len(s) - 1; i > 0; {
		parent := (i - 1) / 2
		if s[parent].end <= s[i].end {
			break
		}
		s[parent], s[i] = s[i], s[parent]
		i = parent
	}
}

// pop removes and returns the waiter with the smallest end; h is not empty.
func (h *waitHeap) pop() waiter {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s[n] = waiter{} // drop the future for the collector
	s = s[:n]
	for i := 0; ; {
		small, l, r := i, 2*i+1, 2*i+2
		if l < n && s[l].end < s[small].end {
			small = l
		}
		if r < n && s[r].end < s[small].end {
			small = r
		}
		if small == i {
			break
		}
		s[i], s[small] = s[small], s[i]
		i = small
	}
	*h = s
	return top
}
