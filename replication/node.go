package replication

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/rs/zerolog"

	"github.com/stratamq/strata/log"
)

// Node is one member of a Strata cluster. Safe for concurrent use.
type Node struct {
	o       Options
	logger  zerolog.Logger
	raft    *raft.Raft
	a       *applier
	b       *batcher
	closers []func() error
	dir     *dataDir

	live         *liveness
	stopAnnounce chan struct{}
	announced    chan struct{}
	stopRecover  chan struct{}
	recovered    chan struct{}
	scrubbed     chan struct{}
	removal      removalWatch
	watched      chan struct{}
	snapChecked  chan struct{}
	raftp        atomic.Pointer[raft.Raft] // for raft's own goroutines during NewRaft
	snapBase     string                    // raft's file snapshot directories, if used
}

// leaderID is the leader's ID, "" while unknown or before raft started.
func (n *Node) leaderID() string {
	r := n.raftp.Load()
	if r == nil {
		return ""
	}
	_, id := r.LeaderWithID()
	return string(id)
}

// New opens the node's log and Raft state in o.DataDir and starts Raft. With
// o.Bootstrap, a node that has no Raft state starts a one-voter cluster.
func New(o Options) (*Node, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	// o.Logger names the node already (strata serve's root logger does):
	// a second "node" key would repeat it in every line.
	n := &Node{o: o, logger: o.Logger.With().Str("component", "replication").Logger()}
	dir, err := openDataDir(o.DataDir, o.NodeID) // before anything in it is opened
	if err != nil {
		return nil, err
	}
	n.dir = dir
	n.closers = append(n.closers, dir.close)
	n.warnLooseModes()
	if err := n.start(); err != nil {
		return nil, n.failStart(err)
	}
	if err := n.adoptIdentity(); err != nil {
		return nil, n.failStart(err)
	}
	n.b = newBatcher(&n.o, n.raft, n.a, n.a.d)
	n.live = newLiveness(n.raft)
	n.stopAnnounce, n.announced = make(chan struct{}), make(chan struct{})
	go n.announce(n.stopAnnounce)
	n.stopRecover, n.recovered = make(chan struct{}), make(chan struct{})
	go every(n.o.RecoverInterval, n.stopRecover, n.recovered, n.recoverOnce)
	n.scrubbed = make(chan struct{})
	go every(n.o.ScrubInterval, n.stopRecover, n.scrubbed, n.scrubOnce)
	n.watched = make(chan struct{})
	go every(removalCheckInterval, n.stopRecover, n.watched, n.checkRemoved)
	n.snapChecked = make(chan struct{})
	if n.o.SnapshotRecords > 0 {
		go every(n.o.SnapshotCheck, n.stopRecover, n.snapChecked, n.snapshotByRecords)
	} else {
		close(n.snapChecked)
	}
	return n, nil
}

func (n *Node) start() error {
	o := &n.o
	if err := checkLayout(filepath.Join(o.DataDir, raftDirName)); err != nil {
		return err // before anything in the directory is opened or created
	}
	logDir := filepath.Join(o.DataDir, "log")
	l, err := n.openLog(logDir)
	if err != nil {
		return err
	}
	n.closers = append(n.closers, func() error { return n.a.Log().Close() })
	// The dispatcher runs before raft starts (NewRaft may Restore) and
	// stops after raft shut down (closers run then), before the log closes.
	d := newDispatcher(o.Machine, o.DispatchQueue)
	if o.Observe.Commit != nil {
		d.observe = &o.Observe // before any fold: the dispatcher's goroutine reads it
	}
	n.closers = append(n.closers, d.close)
	n.a = &applier{log: l, d: d, logDir: logDir, logOpts: o.Log, m: o.Machine, logger: n.logger,
		self: o.NodeID, leaderID: n.leaderID, fetch: o.FetchSegment, fetchTimeout: o.FetchTimeout,
		dataDir: o.DataDir, members: loadPeers(o.DataDir)}
	n.a.savedPeers = n.a.members
	if err := n.openStores(); err != nil {
		return err
	}
	n.a.store = o.LogStore
	cfg := n.raftConfig()
	r, err := raft.NewRaft(cfg, n.a, o.LogStore, o.StableStore, o.Snapshots, o.Transport)
	if err != nil {
		return fmt.Errorf("replication: start raft: %w", err)
	}
	n.raft = r
	n.raftp.Store(r)
	// raft restored the latest snapshot inside NewRaft; fold the rest of the
	// local log now, so the state (and the member book) is current at once.
	n.a.lockFold()
	err = n.a.catchUpLocked()
	if isDamage(err) {
		// A damaged segment: start anyway, not applying until the
		// recovery loop has repaired it from a peer and folded the rest.
		n.a.failLocked(err)
		err = nil
	}
	n.a.unlockFold()
	if err != nil {
		return err
	}
	return n.bootstrap()
}

func (n *Node) raftConfig() *raft.Config {
	cfg := raft.DefaultConfig()
	cfg.LocalID = raft.ServerID(n.o.NodeID)
	cfg.Logger = raftLogger(n.o.Logger, hclog.Warn)
	cfg.SnapshotThreshold = n.o.SnapshotThreshold
	cfg.SnapshotInterval = n.o.SnapshotInterval
	cfg.BatchApplyCh = true
	cfg.MaxAppendEntries = n.o.RaftMaxAppendEntries
	if n.o.RaftConfig != nil {
		n.o.RaftConfig(cfg)
	}
	return cfg
}

// openStores fills in raft-wal (Raft's log) and raft-boltdb (term and
// vote), the file snapshot store and the TCP transport where the options do
// not supply test doubles.
func (n *Node) openStores() error {
	o := &n.o
	if o.LogStore == nil || o.StableStore == nil {
		stores, err := openRaftStores(o.DataDir, o.Logger, o.Observe.RaftAppend)
		if err != nil {
			return err
		}
		n.closers = append(n.closers, stores.Close)
		o.LogStore, o.StableStore = stores.cached, stores.stable
	}
	if o.Snapshots == nil {
		snaps, err := openSnapshotStore(o.DataDir, o.Logger)
		if err != nil {
			return fmt.Errorf("replication: open snapshot store: %w", err)
		}
		o.Snapshots = snaps
		n.snapBase = filepath.Join(o.DataDir, "snapshots", "snapshots")
		n.a.linkDir = func(id string) string { return snapshotDir(n.snapBase, id) }
	}
	if o.Transport == nil {
		t, err := n.openTransport()
		if err != nil {
			return err
		}
		n.closers = append(n.closers, t.Close)
		o.Transport = t
	}
	return nil
}

// openTransport is Raft's network transport: over o.RaftListener and
// o.RaftDial when given (TLS), plain TCP otherwise.
func (n *Node) openTransport() (*raft.NetworkTransport, error) {
	o := &n.o
	addr, err := net.ResolveTCPAddr("tcp", o.RaftAddr)
	if err != nil {
		return nil, fmt.Errorf("replication: raft address %q: %w", o.RaftAddr, err)
	}
	cfg := &raft.NetworkTransportConfig{MaxPool: 3, Timeout: 10 * time.Second,
		MaxRPCsInFlight: o.RaftMaxRPCsInFlight, Logger: raftLogger(o.Logger, hclog.Warn)}
	if o.RaftListener != nil {
		cfg.Stream = &streamLayer{Listener: o.RaftListener, addr: addr, dial: o.RaftDial}
		return raft.NewNetworkTransportWithConfig(cfg), nil
	}
	t, err := raft.NewTCPTransportWithConfig(o.RaftAddr, addr, cfg)
	if err != nil {
		return nil, fmt.Errorf("replication: listen on %s: %w", o.RaftAddr, err)
	}
	return t, nil
}

// streamLayer is raft's StreamLayer over a given listener and dialer.
type streamLayer struct {
	net.Listener
	addr net.Addr // advertised: RaftAddr, whatever the listener bound
	dial func(addr string, timeout time.Duration) (net.Conn, error)
}

func (s *streamLayer) Addr() net.Addr { return s.addr }

func (s *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return s.dial(string(addr), timeout)
}

func (n *Node) bootstrap() error {
	if !n.o.Bootstrap {
		return nil
	}
	return n.BootstrapWith([]Server{{ID: n.o.NodeID, Address: string(n.o.Transport.LocalAddr()), Voter: true}})
}

// HasState reports whether this node has Raft state (it was bootstrapped,
// joined, or heard from a leader): such a node never bootstraps again.
func (n *Node) HasState() (bool, error) {
	return raft.HasExistingState(n.o.LogStore, n.o.StableStore, n.o.Snapshots)
}

// BootstrapWith starts a new cluster of the given voters unless this node
// already has Raft state. Every node given the same list may call it: raft
// accepts identical bootstraps, and a node that already heard from a peer
// simply joins the configuration it received.
func (n *Node) BootstrapWith(voters []Server) error {
	if has, err := n.HasState(); err != nil || has {
		return err
	}
	var cfg raft.Configuration
	for _, v := range voters {
		cfg.Servers = append(cfg.Servers, raft.Server{ID: raft.ServerID(v.ID), Address: raft.ServerAddress(v.Address)})
	}
	if err := n.raft.BootstrapCluster(cfg).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		return fmt.Errorf("replication: bootstrap: %w", err)
	}
	return nil
}

// Propose queues recs behind this node's earlier proposals (so one
// caller's proposals commit in the order made, also when forwarded to the
// leader) and returns their future: resolved once they are committed and
// applied here, their effects performed (see Future). The records stay
// consecutive, in one Raft entry; the leader sets their Time. Zero records
// give a resolved future with an error.
//
// Propose blocks while the batcher's queue is full, until ctx ends or the
// node closes: it must never be called from raft's FSM goroutine
// (StateMachine.Apply) or the dispatcher (StateMachine.Perform), whose
// progress the queue may be waiting for. Callers that want a timeout
// select on the future's Done and their own context or timer.
func (n *Node) Propose(ctx context.Context, recs ...log.Record) *Future {
	return n.b.propose(ctx, recs, false)
}

// Applied is one past the last offset whose effects were performed on this
// node: futures for offsets below it are resolved.
func (n *Node) Applied() log.Offset { return log.Offset(n.a.d.applied.Load()) }

// Log is the node's segment log (a Restore may replace it: do not cache),
// for tools and tests; readers use Reader.
func (n *Node) Log() *log.Log { return n.a.Log() }

// Leader returns the leader's ID and Raft address, empty if unknown.
func (n *Node) Leader() (id, addr string) {
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}

// IsLeader reports whether this node is the leader.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// WaitLeader blocks until the cluster has a leader.
func (n *Node) WaitLeader(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if id, _ := n.Leader(); id != "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replication: no leader: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// Join adds a voter; it must be called on the leader. A non-empty httpAddr
// is recorded in the log at once, so the new node can forward proposals.
func (n *Node) Join(id, raftAddr, httpAddr string) error {
	err := n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(raftAddr), 0, n.o.MembershipTimeout).Error()
	if err != nil || httpAddr == "" {
		return wrapLeaderErr("join "+id, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.o.ApplyTimeout)
	defer cancel()
	_, err = wait(ctx, n.Propose(ctx, memberRecord(id, httpAddr)))
	return wrapLeaderErr("record the address of "+id, err)
}

// LeaderHTTP returns the leader's HTTP address as recorded in the log.
func (n *Node) LeaderHTTP() string {
	id, _ := n.Leader()
	return n.a.memberAddr(id)
}

// ProposeBatch proposes recs as one proposal (consecutive offsets, one
// Raft entry) and returns their offsets once applied here: the leader's
// side of forwarding. On a node that is not the leader it fails with
// ErrNotLeader rather than forwarding again. A context that ends first
// leaves the outcome unknown.
func (n *Node) ProposeBatch(ctx context.Context, recs []log.Record) ([]log.Offset, error) {
	first, err := wait(ctx, n.b.propose(ctx, recs, true))
	if err != nil {
		return nil, err
	}
	offs := make([]log.Offset, len(recs))
	for i := range offs {
		offs[i] = first + log.Offset(i)
	}
	return offs, nil
}

// wait is f's outcome, or ctx's error if ctx ends first (the outcome is
// then unknown).
func wait(ctx context.Context, f *Future) (log.Offset, error) {
	select {
	case <-f.Done():
		return f.Wait()
	case <-ctx.Done():
		return 0, fmt.Errorf("replication: waiting for commit: %w", ctx.Err())
	}
}

// TransferLeadership asks the leader to hand leadership to another voter
// (for maintenance); it must be called on the leader.
func (n *Node) TransferLeadership() error {
	return wrapLeaderErr("transfer leadership", n.raft.LeadershipTransfer().Error())
}

// Remove removes a server; it must be called on the leader. An id that is
// not a member is ErrNotMember (on the leader, which knows).
func (n *Node) Remove(id string) error {
	if n.IsLeader() && !slices.Contains(n.Members(), id) {
		return fmt.Errorf("replication: remove %q: %w", id, ErrNotMember)
	}
	addr := n.a.memberAddr(id)
	if err := n.raft.RemoveServer(raft.ServerID(id), 0, n.o.MembershipTimeout).Error(); err != nil {
		return wrapLeaderErr("remove "+id, err)
	}
	n.notifyRemoved(id, addr)
	return nil
}

func wrapLeaderErr(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader):
		return fmt.Errorf("replication: %s: %w", what, ErrNotLeader)
	}
	return fmt.Errorf("replication: %s: %w", what, err)
}

// Server is one member of the cluster configuration.
type Server struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Voter   bool   `json:"voter"`
}

// Status describes the node for operators.
type Status struct {
	ID            string     `json:"id"`
	State         string     `json:"state"`
	LeaderID      string     `json:"leader_id"`
	LeaderAddress string     `json:"leader_address"`
	Servers       []Server   `json:"servers"`
	CommitIndex   uint64     `json:"commit_index"`
	AppliedIndex  uint64     `json:"applied_index"`
	NextOffset    log.Offset `json:"next_offset"`
	// Degraded is why this node does not apply committed entries (empty
	// when it does): a log write failure it is retrying, for example.
	Degraded string `json:"degraded,omitempty"`
}

// Status reports the node's view of the cluster.
func (n *Node) Status() (Status, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return Status{}, fmt.Errorf("replication: status: %w", err)
	}
	st := Status{ID: n.o.NodeID, State: n.raft.State().String(), CommitIndex: n.raft.CommitIndex(),
		AppliedIndex: n.raft.AppliedIndex(), NextOffset: n.Log().NextOffset()}
	st.LeaderID, st.LeaderAddress = n.Leader()
	if err := n.Health(); err != nil {
		st.Degraded = err.Error()
	}
	for _, s := range f.Configuration().Servers {
		st.Servers = append(st.Servers, Server{ID: string(s.ID), Address: string(s.Address), Voter: s.Suffrage == raft.Voter})
	}
	return st, nil
}

// Snapshot takes a Raft snapshot now.
func (n *Node) Snapshot() error { return n.raft.Snapshot().Error() }

// snapshotByRecords takes a snapshot once SnapshotRecords records were
// applied since the last one (Options.SnapshotRecords), so that a restart
// folds at most about that many records of the local log.
func (n *Node) snapshotByRecords() {
	since := uint64(n.Applied()) - min(n.a.snapAt.Load(), uint64(n.Applied()))
	if since < n.o.SnapshotRecords || n.Applying() != nil {
		return
	}
	err := n.Snapshot()
	switch {
	case err == nil:
		n.logger.Info().Uint64("records", since).Msg("snapshot taken: records since the last one reached the threshold")
	case errors.Is(err, raft.ErrNothingNewToSnapshot):
	default:
		n.logger.Warn().Err(err).Msg("snapshot by records failed; raft's own cadence still applies")
	}
}

// Close stops the batcher (queued proposals fail with ErrClosed), shuts Raft
// down (entries in flight resolve with raft's error or their commit), stops
// the dispatcher once it performed what was handed over (futures still
// waiting resolve with ErrClosed), then closes the log and the stores.
func (n *Node) Close() error {
	close(n.stopAnnounce)
	<-n.announced
	close(n.stopRecover)
	<-n.recovered
	<-n.scrubbed
	<-n.snapChecked
	<-n.watched
	n.b.close()
	n.live.close(n.raft)
	err := n.raft.Shutdown().Error()
	return errors.Join(err, n.closeAll())
}

// failStart undoes a start that failed: raft is shut down before the
// stores and the log it uses are closed (closing them under it panics).
func (n *Node) failStart(err error) error {
	if n.raft != nil {
		if serr := n.raft.Shutdown().Error(); serr != nil {
			n.logger.Warn().Err(serr).Msg("raft shutdown after a failed start")
		}
	}
	if cerr := n.closeAll(); cerr != nil {
		n.logger.Warn().Err(cerr).Msg("closing stores after a failed start")
	}
	return err
}

func (n *Node) closeAll() error {
	var errs []error
	for i := len(n.closers) - 1; i >= 0; i-- {
		errs = append(errs, n.closers[i]())
	}
	n.closers = nil
	return errors.Join(errs...)
}
