package housekeeping

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/replication"
)

// Cluster is what housekeeping needs of the node. *replication.Node
// implements it.
type Cluster interface {
	Propose(ctx context.Context, recs ...log.Record) *replication.Future
	IsLeader() bool
	// Unreachable lists the peers the leader has failed to reach for longer
	// than after; Members lists the cluster's servers.
	Unreachable(after time.Duration) []string
	Members() []string
}

// Views gives consistent read-only copies of the folded state.
type Views interface{ View() *fsm.View }

// Clock tells the time deadlines are compared with.
type Clock interface{ Now() time.Time }

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// Options configure a Keeper. Start from DefaultOptions.
type Options struct {
	NodeID  string
	Cluster Cluster
	Views   Views
	Clock   Clock // nil: the wall clock
	// Interval is how often deadlines are looked at (a Nudge looks at once).
	Interval time.Duration
	// SweepInterval is how often the leader looks for sessions of lost nodes.
	SweepInterval time.Duration
	// NodeLostAfter is how long the leader must fail to reach a node before
	// the sessions it held end (and their wills are published).
	NodeLostAfter time.Duration
	// ProposeTimeout bounds the wait for one round's proposal.
	ProposeTimeout time.Duration
	Logger         zerolog.Logger
}

// DefaultOptions are the defaults.
func DefaultOptions() Options {
	return Options{Interval: 250 * time.Millisecond, SweepInterval: 2 * time.Second,
		NodeLostAfter: 10 * time.Second, ProposeTimeout: 10 * time.Second, Logger: zerolog.Nop()}
}

// Keeper runs the leader's housekeeping.
type Keeper struct {
	o         Options
	nudge     chan struct{}
	stop      chan struct{}
	stopped   chan struct{}
	roundMu   sync.Mutex // one round at a time (the goroutine's, or a caller's)
	lastSweep time.Time
}

// New checks o and returns a Keeper; Start runs it.
func New(o Options) (*Keeper, error) {
	switch {
	case o.NodeID == "" || o.Cluster == nil || o.Views == nil:
		return nil, errors.New("housekeeping: NodeID, Cluster and Views are required")
	case o.Interval <= 0 || o.SweepInterval <= 0 || o.NodeLostAfter <= 0 || o.ProposeTimeout <= 0:
		return nil, errors.New("housekeeping: Interval, SweepInterval, NodeLostAfter and ProposeTimeout must be positive")
	}
	if o.Clock == nil {
		o.Clock = wallClock{}
	}
	return &Keeper{o: o, nudge: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}, nil
}

// Start runs the keeper's goroutine until Close.
func (k *Keeper) Start() { go k.run() }

// Close stops the goroutine and waits for it.
func (k *Keeper) Close() {
	select {
	case <-k.stop:
	default:
		close(k.stop)
	}
	<-k.stopped
}

// Nudge asks for a round now (an entry made wills due). It never blocks.
func (k *Keeper) Nudge() {
	select {
	case k.nudge <- struct{}{}:
	default:
	}
}

// OnApply nudges the keeper when an applied entry made wills due: chain it
// after the broker's Apply on the machine's OnApply.
func (k *Keeper) OnApply(_ log.Offset, _ *fsm.Entry, fx fsm.Effects) {
	if len(fx.Wills) > 0 {
		k.Nudge()
	}
}

func (k *Keeper) run() {
	defer close(k.stopped)
	t := time.NewTicker(k.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-k.stop:
			return
		case <-t.C:
		case <-k.nudge:
		}
		k.Round()
	}
}

// Round does one round of housekeeping if this node leads: the entries due
// now, then (every SweepInterval) the sessions of lost nodes. It waits for
// its proposal, so a round never proposes what the previous one still has
// in flight.
func (k *Keeper) Round() {
	k.roundMu.Lock()
	defer k.roundMu.Unlock()
	if !k.o.Cluster.IsLeader() {
		return
	}
	now := k.o.Clock.Now()
	v := k.o.Views.View()
	var es []fsm.Entry
	if due, ok := v.NextDeadline(); ok && due <= now.UnixNano() {
		es = v.Due(now.UnixNano())
	}
	if now.Sub(k.lastSweep) >= k.o.SweepInterval {
		k.lastSweep = now
		es = append(es, k.lostSessions(v)...)
	}
	if len(es) > 0 {
		k.propose(es)
	}
}

// lostSessions lists disconnects for the sessions held by nodes that are
// unreachable for NodeLostAfter or no longer members.
func (k *Keeper) lostSessions(v *fsm.View) []fsm.Entry {
	members := k.o.Cluster.Members()
	if len(members) == 0 {
		return nil
	}
	gone := map[string]bool{}
	for _, id := range k.o.Cluster.Unreachable(k.o.NodeLostAfter) {
		gone[id] = true
	}
	isMember := map[string]bool{}
	for _, id := range members {
		isMember[id] = true
	}
	var out []fsm.Entry
	v.Sessions(func(s fsm.Session) bool {
		i := strings.LastIndexByte(s.Node, '/')
		if !s.Connected || i < 0 {
			return true
		}
		if id := s.Node[:i]; id != k.o.NodeID && (gone[id] || !isMember[id]) {
			k.o.Logger.Info().Str("client", s.ClientID).Str("node", s.Node).Msg("ending a session held by a lost node")
			out = append(out, fsm.Entry{Kind: fsm.KindSessionDisconnect, ClientID: s.ClientID,
				Disconnect: fsm.Disconnect{Reason: fsm.ReasonNodeLost, Since: s.ConnectOffset}})
		}
		return true
	})
	return out
}

// propose proposes es as one proposal and waits for it, at most
// ProposeTimeout or until Close.
func (k *Keeper) propose(es []fsm.Entry) {
	recs := make([]log.Record, 0, len(es))
	for i := range es {
		rec, err := es[i].Record()
		if err != nil {
			k.o.Logger.Error().Err(err).Str("kind", es[i].Kind.String()).Msg("housekeeping entry cannot be encoded")
			continue
		}
		recs = append(recs, rec)
	}
	if len(recs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), k.o.ProposeTimeout)
	defer cancel()
	f := k.o.Cluster.Propose(ctx, recs...)
	select {
	case <-f.Done():
		if _, err := f.Wait(); err != nil {
			k.o.Logger.Debug().Err(err).Msg("housekeeping proposal failed; the next round retries")
		}
	case <-ctx.Done():
	case <-k.stop:
	}
}
