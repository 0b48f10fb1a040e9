package mqtt

import (
	"context"
	"errors"
	"time"

	"github.com/rs/zerolog"

	"github.com/stratamq/strata/auth"
	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/replication"
)

// Cluster is what the broker needs from replication: ordered proposals
// whose futures resolve once committed and applied on this node.
// *replication.Node implements it; tests use an in-memory fold.
type Cluster interface {
	// Propose queues recs, consecutive and behind the caller's earlier
	// proposals, and returns at once (it may wait while the proposal queue
	// is full). Never called from Apply.
	Propose(ctx context.Context, recs ...log.Record) *replication.Future
	// IsLeader reports whether this node leads: the leader publishes the
	// cluster-wide $SYS figures.
	IsLeader() bool
}

// LogReader reads this node's log: offline messages, catch-up after a
// queue overflow, replays and retained messages are read back from it.
// *replication.Reader implements it.
type LogReader interface {
	FirstOffset() log.Offset
	Iter(from log.Offset) log.Cursor
	Read(filter string, from, to log.Bound) (log.Cursor, error)
}

// Clock tells the time for message expiry. Tests use a fake one.
type Clock interface{ Now() time.Time }

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// Applying is an optional capability of a Cluster (found by type
// assertion): Applying is nil while the node applies committed entries,
// else why it does not (a full disk it retries, a damaged segment its fold
// waits for). Meanwhile new connections are refused with "server
// unavailable": the node could neither record their sessions nor deliver.
type Applying interface {
	Applying() error
}

// Removable is an optional capability of a Cluster: Removed reports that
// the node was removed from the cluster. It will not apply the log again
// (unless it joins again), and the cluster ends the sessions it held, so
// the broker closes its connections with DISCONNECT 0x9C Use another
// server: the clients resume their sessions on another node.
type Removable interface {
	Removed() bool
}

// Views gives consistent read-only copies of the folded state.
// *replication.FSMMachine implements it.
type Views interface {
	View() *fsm.View
}

// Authenticator checks a CONNECT's credentials.
type Authenticator interface {
	// Authenticate reports whether username and password are valid.
	Authenticate(username string, password []byte) bool
}

// Options configure a Broker. Start from DefaultOptions.
type Options struct {
	NodeID  string // the replication node id: deliveries name it
	Cluster Cluster
	Log     LogReader
	Views   Views
	Clock   Clock // nil: the wall clock

	// Auth checks credentials when a client sends a user name; nil accepts
	// none (only anonymous clients, where allowed).
	Auth Authenticator
	// AuthLimiter bans source addresses that fail authentication too
	// often (CONNACK 0x8A banned, 5 in 3.1.1); nil: no limit.
	AuthLimiter *auth.FailureLimiter
	// Keys, if set, admits clients whose password is a signed key of the
	// cluster (any user name): the key's filter and rights bound what they
	// may do, its expiry ends their connections.
	Keys *auth.Keys
	// AllowAnonymous admits clients without credentials on every listener.
	// Otherwise they are admitted only when there is no Auth, and then only
	// on listeners bound to a loopback address: a password file turns them
	// off everywhere, as in mosquitto 2.
	AllowAnonymous bool
	// Authorizer decides what each identity may publish, subscribe and
	// replay (the ACL); nil allows everything. A key's scope bounds the
	// clients it admits instead.
	Authorizer auth.Authorizer

	MaxConnections    int           // 0: no limit; over it CONNACK 0x97 quota exceeded
	MaxPacketSize     uint32        // largest packet accepted, fixed header included
	ReceiveMaximum    uint16        // inbound QoS 1/2 publishes in flight per client
	MaxInflight       uint16        // outbound QoS 1/2 in flight per client (also capped by its Receive Maximum)
	TopicAliasMaximum uint16        // topic aliases a client may set
	MaxKeepAlive      uint16        // seconds; larger requests are answered with Server Keep Alive; 0 no limit
	MaxTopicLength    int           // bytes of a topic name or filter
	ConnectTimeout    time.Duration // a socket silent this long before CONNECT is closed
	// OffsetProperty adds the user property "offset" (the message's log
	// offset) to every MQTT 5 delivery, whatever the subscription asked.
	// Off by default: it alters the message's user properties, which the
	// spec says are forwarded unaltered [MQTT-3.3.2-17/18]; a subscription
	// asks for it with the SUBSCRIBE user property offset=true, and replay
	// subscriptions have it unless they say offset=false.
	OffsetProperty bool
	// NoMatchingSubscribers answers an MQTT 5 QoS 1/2 publish that matched
	// no subscription (of any session, connected or not) with PUBACK/PUBREC
	// 0x10 instead of 0x00. The message is logged and replayable either way.
	NoMatchingSubscribers bool
	// QueueLength bounds a connection's in-memory outbound queue; past it
	// the connection reads its deliveries back from the log by position,
	// QoS 0 included (catchup.go), and drops only what retention removed
	// before it read it.
	QueueLength int
	// SysInterval is the period of $SYS/ statistics; 0 disables them.
	SysInterval time.Duration
	// Version is the release published in $SYS/broker/version ("dev" if empty).
	Version string
	// SweepInterval is how often sessions left connected to a dead
	// connection or node are looked for.
	SweepInterval time.Duration
	// CommitTimeout bounds, after a CONNECT, the wait for its session to
	// commit and apply on this node; past it the client gets 0x88 server
	// unavailable (the sweep ends the session if it commits later).
	CommitTimeout time.Duration
	// CloseTimeout bounds how long a closing connection may take to send
	// its DISCONNECT before the socket is closed under it.
	CloseTimeout time.Duration
	// CloseLinger is how long a connection closed by the broker keeps
	// reading (and discarding) after its last packet and a half-close, so a
	// client still sending reads the DISCONNECT or CONNACK instead of a
	// reset; 0 closes at once.
	CloseLinger time.Duration
	// EndTimeout bounds how long an ended connection waits for its
	// session's disconnect to commit (the sweep retries after it).
	EndTimeout time.Duration

	Logger zerolog.Logger
}

// DefaultOptions are the broker's defaults (docs/mqtt.md lists them).
func DefaultOptions() Options {
	return Options{
		MaxPacketSize:     1 << 20,
		ReceiveMaximum:    1024,
		MaxInflight:       1024,
		TopicAliasMaximum: 64,
		MaxKeepAlive:      3600,
		MaxTopicLength:    65535, // the spec's own limit: every valid topic is accepted
		ConnectTimeout:    10 * time.Second,
		QueueLength:       65536,
		SysInterval:       10 * time.Second,
		SweepInterval:     2 * time.Second,
		CommitTimeout:     10 * time.Second,
		CloseTimeout:      2 * time.Second,
		CloseLinger:       time.Second,
		EndTimeout:        5 * time.Second,
		Logger:            zerolog.Nop(),

		NoMatchingSubscribers: true,
	}
}

// Validate reports the first option that cannot work.
func (o *Options) Validate() error {
	switch {
	case o.NodeID == "":
		return errors.New("mqtt: NodeID is required")
	case o.Cluster == nil || o.Views == nil || o.Log == nil:
		return errors.New("mqtt: Cluster, Log and Views are required")
	case o.MaxPacketSize < 64:
		return errors.New("mqtt: MaxPacketSize must be at least 64 bytes")
	case o.ReceiveMaximum == 0 || o.MaxInflight == 0:
		return errors.New("mqtt: ReceiveMaximum and MaxInflight must be at least 1")
	case o.MaxTopicLength < 1 || o.MaxTopicLength > 65535:
		return errors.New("mqtt: MaxTopicLength must be 1..65535")
	case o.QueueLength < 1:
		return errors.New("mqtt: QueueLength must be at least 1")
	case o.SweepInterval <= 0 || o.CommitTimeout <= 0 || o.CloseTimeout <= 0 || o.EndTimeout <= 0:
		return errors.New("mqtt: SweepInterval, CommitTimeout, CloseTimeout and EndTimeout must be positive")
	case o.CloseLinger < 0:
		return errors.New("mqtt: CloseLinger must not be negative")
	case o.MaxConnections < 0:
		return errors.New("mqtt: MaxConnections must not be negative")
	}
	return nil
}
