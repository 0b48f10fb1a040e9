package mqtt_test

import (
	"context"
	"sync"
	"time"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/replication"
	"github.com/stratamq/strata/topic"
)

// fakeCluster is the test seam for protocol tests: it folds proposals
// straight into an fsm.State, keeps the records in memory for reads, and
// stamps them with a fake clock. No raft, no files, no sleeps. As on a
// node, a proposal's effects are performed (in offset order) before its
// future resolves.
type fakeCluster struct {
	mu       sync.Mutex // fold order
	dispatch sync.Mutex // effect order: taken before mu is released
	state    *fsm.State
	recs     []log.Record
	clock    *fakeClock
	apply    func(log.Offset, *fsm.Entry, fsm.Effects)
}

func newFakeCluster() *fakeCluster {
	return &fakeCluster{state: fsm.New(), clock: &fakeClock{t: time.Unix(1_700_000_000, 0)}}
}

func (f *fakeCluster) Propose(_ context.Context, recs ...log.Record) *replication.Future {
	f.mu.Lock()
	first := log.Offset(len(f.recs))
	type applied struct {
		e  fsm.Entry
		fx fsm.Effects
	}
	out := make([]applied, len(recs))
	for i, rec := range recs {
		rec.Offset, rec.Time = first+log.Offset(i), f.clock.Now().UnixNano()
		f.recs = append(f.recs, rec)
		e, err := fsm.DecodeRecord(rec)
		if err != nil {
			f.mu.Unlock()
			panic(err) // the broker proposed something the fold cannot read
		}
		out[i] = applied{e, f.state.Apply(rec.Offset, &e)}
	}
	apply := f.apply
	f.dispatch.Lock()
	f.mu.Unlock()
	for i := range out {
		if apply != nil {
			apply(first+log.Offset(i), &out[i].e, out[i].fx)
		}
	}
	f.dispatch.Unlock()
	return replication.Resolved(first, nil)
}

func (f *fakeCluster) IsLeader() bool { return true }

// setApply makes fn receive the effects of what is applied from now on.
func (f *fakeCluster) setApply(fn func(log.Offset, *fsm.Entry, fsm.Effects)) {
	f.mu.Lock()
	f.apply = fn
	f.mu.Unlock()
}

func (f *fakeCluster) View() *fsm.View {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state.View()
}

func (f *fakeCluster) FirstOffset() log.Offset { return 0 }

func (f *fakeCluster) Iter(from log.Offset) log.Cursor {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &memCursor{recs: f.recs[min(int(from), len(f.recs)):]}
}

func (f *fakeCluster) Read(filter string, from, to log.Bound) (log.Cursor, error) {
	if err := topic.ValidateFilter(filter); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	lo, hi := f.resolve(from, 0), f.resolve(to, log.Offset(len(f.recs)))
	if hi < lo {
		hi = lo
	}
	return &memCursor{recs: f.recs[lo:hi], match: func(k []byte) bool { return len(k) > 0 && topic.Match(filter, string(k)) }}, nil
}

// resolve turns a bound into an offset within the records (mu held).
func (f *fakeCluster) resolve(b log.Bound, def log.Offset) log.Offset {
	if o, ok := b.Offset(); ok {
		return min(o, log.Offset(len(f.recs)))
	}
	if t, ok := b.Time(); ok {
		for _, r := range f.recs {
			if r.Time >= t.UnixNano() {
				return r.Offset
			}
		}
		return log.Offset(len(f.recs))
	}
	return def
}

// memCursor iterates records held in memory.
type memCursor struct {
	recs  []log.Record
	match func([]byte) bool
	cur   log.Record
	err   error
}

func (c *memCursor) Next() bool {
	for len(c.recs) > 0 {
		c.cur, c.recs = c.recs[0], c.recs[1:]
		if c.match == nil || c.match(c.cur.Key) {
			return true
		}
	}
	return false
}

func (c *memCursor) Record() log.Record { return c.cur }
func (c *memCursor) Err() error         { return c.err }
func (c *memCursor) Close() error       { return nil }

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
