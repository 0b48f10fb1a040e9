package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rs/zerolog"

	"github.com/stratamq/strata/log"
)

// StateMachine is the deterministic state folded from the log, and what
// must happen outside the fold when a record is applied. Capture returns a
// consistent copy to be written later (concurrently with further Applies).
// Restore replaces the state. Apply, Capture and Restore are called from
// one goroutine at a time; Perform from the node's dispatcher goroutine.
type StateMachine interface {
	// Apply folds rec (pure: no I/O, no clock, no blocking) and returns what must happen
	// outside the fold, nil for nothing. Called on raft's FSM goroutine in offset order.
	Apply(off log.Offset, rec *log.Record) (effect any)
	// Perform carries out effects returned by Apply, on the node's dispatcher goroutine, in
	// offset order, after the fold. It must not block on the cluster (never propose and wait).
	Perform(off log.Offset, effect any)
	Capture() func(w io.Writer) error
	Restore(r io.Reader) error
}

// Options configure a Node. Start from DefaultOptions.
type Options struct {
	NodeID   string
	RaftAddr string // bind and advertise address of the Raft TCP transport
	DataDir  string // raft/, snapshots/ and log/ live here
	// Bootstrap makes a node with no Raft state start a cluster of itself.
	Bootstrap bool
	// HTTPAddr is this node's HTTP API address, recorded in the log so that
	// followers can forward proposals to it when it leads.
	HTTPAddr string
	// Forward sends a follower's batches to the leader; nil makes proposals
	// on a follower fail with ErrNotLeader.
	Forward Forwarder
	// FetchSegment copies a segment from a peer: installing a snapshot
	// fetches the segments this node lacks. FetchTimeout bounds one copy.
	FetchSegment SegmentFetcher
	FetchTimeout time.Duration
	// NotifyRemoved tells the node at httpAddr that Remove removed it
	// (Node.MarkRemoved there): raft stops replicating to a removed
	// follower, often before it has the configuration without it, so it
	// would not know. nil: it is not told.
	NotifyRemoved func(ctx context.Context, httpAddr, id string) error

	Log     log.Options
	Machine StateMachine

	// Group commit bounds: a batch (one Raft entry) closes at MaxBatchBytes
	// of records or MaxBatchCount proposals; up to MaxInflight batches are
	// in Raft at once (the next batch fills while they commit). Raft's
	// leader writes every entry waiting for it in one append (one fsync),
	// so the batches in flight are stored together.
	MaxBatchBytes int
	MaxBatchCount int
	MaxInflight   int
	// RaftMaxAppendEntries bounds the entries in one append to the local
	// log and in one AppendEntries RPC (raft's MaxAppendEntries, at most
	// 1024); it must be at least MaxInflight, so that every batch in flight
	// fits one append and one RPC. A lagging follower gets up to
	// RaftMaxAppendEntries × MaxBatchBytes per RPC.
	RaftMaxAppendEntries int
	// RaftMaxRPCsInFlight is how many AppendEntries RPCs the TCP transport
	// pipelines to each follower (raft's MaxRPCsInFlight). The default, 1,
	// disables pipelining: raft 1.7's pipeline can deadlock when a follower
	// rejects an append (its decoder exits while the sender waits on an
	// unbuffered channel), after which that follower gets no more entries
	// and the leader cannot shut down. Our own process test hit it after a
	// paused leader resumed. Pipelining gained nothing measurable here
	// (docs/benchmarks.md).
	RaftMaxRPCsInFlight int

	// DispatchQueue bounds the Raft entries folded but whose effects are
	// not performed yet (the dispatcher's queue): when it is full, raft's
	// FSM goroutine waits for the dispatcher, and raft keeps committing.
	DispatchQueue int

	// ApplyTimeout bounds how long a proposal waits to be committed.
	ApplyTimeout time.Duration
	// MembershipTimeout bounds a membership change (adding, re-addressing
	// or removing a voter).
	MembershipTimeout time.Duration
	// RecoverInterval is how often a node whose log write failed (a full
	// disk) retries; it resumes by itself once the write succeeds.
	RecoverInterval time.Duration
	// ScrubInterval is how often every sealed segment is read whole and
	// verified; a damaged one is repaired from a peer.
	ScrubInterval time.Duration
	// ForwardTimeout bounds one forward of a follower's batch to the
	// leader (a forward is also cut at once when the leader changes); 0
	// means the default.
	ForwardTimeout time.Duration

	// SnapshotThreshold and SnapshotInterval set raft's snapshot cadence.
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	// SnapshotRecords also takes a snapshot once this many records were
	// applied since the last one (checked every SnapshotCheck; 0: never):
	// raft counts entries, and one entry carries a whole group commit, so
	// its threshold alone let millions of records pile up, all folded
	// again at a restart (1M records: ~10 s).
	SnapshotRecords uint64
	SnapshotCheck   time.Duration

	// RaftListener and RaftDial, when both set, carry Raft's transport
	// instead of plain TCP: cmd/strata passes a TLS listener and dialer
	// requiring the cluster's certificate (package trust). The listener's
	// address is advertised, so it must be RaftAddr's.
	RaftListener net.Listener
	RaftDial     func(addr string, timeout time.Duration) (net.Conn, error)

	// Test seams: a transport and stores instead of TCP, raft-wal and raft-boltdb.
	Transport   raft.Transport
	LogStore    raft.LogStore
	StableStore raft.StableStore
	Snapshots   raft.SnapshotStore
	// RaftConfig adjusts the raft configuration (timeouts in tests).
	RaftConfig func(*raft.Config)

	// Observe receives commit latencies, batch sizes and Raft log appends
	// (metrics); its zero value observes nothing.
	Observe Observers

	// Logger receives the node's lines (component "replication", "raft",
	// "log"); it should name the node (a "node" field), as strata serve's
	// root logger does.
	Logger zerolog.Logger
}

// DefaultOptions: 64 KiB / 4096-proposal batches, 4 in flight, up to 64
// entries per Raft append (4 MiB per RPC to a lagging follower), 2
// AppendEntries RPCs in flight per follower, 1024 entries queued for the
// dispatcher, snapshots every 65536 entries or 10 minutes. See docs/benchmarks.md for how these were sized.
func DefaultOptions() Options {
	return Options{
		Log:                  log.DefaultOptions(),
		MaxBatchBytes:        64 << 10,
		MaxBatchCount:        4096,
		MaxInflight:          4,
		RaftMaxAppendEntries: 64,
		RaftMaxRPCsInFlight:  1,
		DispatchQueue:        1024,
		ApplyTimeout:         10 * time.Second,
		MembershipTimeout:    30 * time.Second,
		ForwardTimeout:       2 * time.Second,
		RecoverInterval:      time.Second,
		ScrubInterval:        6 * time.Hour,
		FetchTimeout:         5 * time.Minute,
		SnapshotThreshold:    65536,
		SnapshotInterval:     10 * time.Minute,
		SnapshotRecords:      1_000_000,
		SnapshotCheck:        10 * time.Second,
		Logger:               zerolog.Nop(),
	}
}

// Validate reports the first invalid field.
func (o Options) Validate() error {
	switch {
	case o.NodeID == "":
		return errors.New("replication: NodeID is required")
	case o.DataDir == "":
		return errors.New("replication: DataDir is required")
	case o.Machine == nil:
		return errors.New("replication: Machine is required")
	case (o.RaftListener == nil) != (o.RaftDial == nil):
		return errors.New("replication: RaftListener and RaftDial go together")
	case o.Transport == nil && o.RaftAddr == "":
		return errors.New("replication: RaftAddr is required")
	case o.ForwardTimeout < 0:
		return errors.New("replication: ForwardTimeout must not be negative")
	case o.MaxBatchBytes <= 0 || o.MaxBatchCount <= 0 || o.MaxInflight <= 0:
		return errors.New("replication: batch bounds must be positive")
	case o.DispatchQueue <= 0:
		return errors.New("replication: DispatchQueue must be positive")
	case o.SnapshotRecords > 0 && o.SnapshotCheck <= 0:
		return errors.New("replication: SnapshotCheck must be positive with SnapshotRecords")
	case o.RecoverInterval <= 0 || o.ScrubInterval <= 0:
		return errors.New("replication: RecoverInterval and ScrubInterval must be positive")
	case o.ApplyTimeout <= 0 || o.MembershipTimeout <= 0:
		return errors.New("replication: ApplyTimeout and MembershipTimeout must be positive")
	case o.RaftMaxAppendEntries < o.MaxInflight || o.RaftMaxAppendEntries > 1024:
		return fmt.Errorf("replication: RaftMaxAppendEntries %d must be between MaxInflight (%d) and 1024", o.RaftMaxAppendEntries, o.MaxInflight)
	case o.RaftMaxRPCsInFlight < 1:
		return errors.New("replication: RaftMaxRPCsInFlight must be at least 1")
	}
	return o.Log.Validate()
}
