package mqtt

import (
	"context"
	"errors"
	"time"

	"github.com/rs/zerolog"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
)

// Cluster is what the broker needs from replication: ordered asynchronous
// proposals, leadership (the leader proposes due wills and expiries) and the
// node's log (offline messages are read back from it). *replication.Node
// implements it.
type Cluster interface {
	// ProposeAsync queues rec behind the caller's earlier proposals and calls
	// done exactly once with its offset once committed, or with an error.
	ProposeAsync(ctx context.Context, rec log.Record, done func(log.Offset, error))
	IsLeader() bool
	Log() *log.Log
}

// Applying is an optional capability of a Cluster (found by type
// assertion): Applying is nil while the node applies committed entries,
// else why it does not (a full disk it retries, a damaged segment its fold
// waits for). Meanwhile new connections are refused with "server
// unavailable": the node could neither record their sessions nor deliver.
type Applying interface {
	Applying() error
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
	Views   Views

	// Auth checks credentials when a client sends a user name; nil accepts
	// none (only anonymous clients, where allowed).
	Auth Authenticator
	// AllowAnonymous admits clients without credentials on every listener;
	// otherwise only on listeners bound to a loopback address.
	AllowAnonymous bool

	MaxConnections    int           // 0: no limit; over it CONNACK 0x97 quota exceeded
	MaxPacketSize     uint32        // largest packet accepted, fixed header included
	ReceiveMaximum    uint16        // inbound QoS 1/2 publishes in flight per client
	MaxInflight       uint16        // outbound QoS 1/2 in flight per client (also capped by its Receive Maximum)
	TopicAliasMaximum uint16        // topic aliases a client may set
	MaxKeepAlive      uint16        // seconds; larger requests are answered with Server Keep Alive; 0 no limit
	MaxTopicLength    int           // bytes of a topic name or filter
	ConnectTimeout    time.Duration // a socket silent this long before CONNECT is closed
	// QueueLength bounds a connection's in-memory outbound queue; past it
	// QoS 0 messages are dropped (and counted) and QoS 1/2 ones are read
	// back from the log by the session's cursor.
	QueueLength int
	// SysInterval is the period of $SYS/ statistics; 0 disables them.
	SysInterval time.Duration
	// SweepInterval is how often sessions left connected to a dead
	// connection or node are looked for.
	SweepInterval time.Duration
	// NodeLostAfter is how long the leader must fail to reach a node before
	// the sessions it held end (and their wills are published).
	NodeLostAfter time.Duration

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
		MaxTopicLength:    4096,
		ConnectTimeout:    10 * time.Second,
		QueueLength:       65536,
		SysInterval:       10 * time.Second,
		SweepInterval:     2 * time.Second,
		NodeLostAfter:     10 * time.Second,
		Logger:            zerolog.Nop(),
	}
}

// Validate reports the first option that cannot work.
func (o *Options) Validate() error {
	switch {
	case o.NodeID == "":
		return errors.New("mqtt: NodeID is required")
	case o.Cluster == nil || o.Views == nil:
		return errors.New("mqtt: Cluster and Views are required")
	case o.MaxPacketSize < 64:
		return errors.New("mqtt: MaxPacketSize must be at least 64 bytes")
	case o.ReceiveMaximum == 0 || o.MaxInflight == 0:
		return errors.New("mqtt: ReceiveMaximum and MaxInflight must be at least 1")
	case o.MaxTopicLength < 1 || o.MaxTopicLength > 65535:
		return errors.New("mqtt: MaxTopicLength must be 1..65535")
	case o.QueueLength < 1:
		return errors.New("mqtt: QueueLength must be at least 1")
	case o.SweepInterval <= 0 || o.NodeLostAfter <= 0:
		return errors.New("mqtt: SweepInterval and NodeLostAfter must be positive")
	case o.MaxConnections < 0:
		return errors.New("mqtt: MaxConnections must not be negative")
	}
	return nil
}
