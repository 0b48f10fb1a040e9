package mqtt

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/stratamq/strata/auth"
	"github.com/stratamq/strata/mqtt/packet"
)

// Listener describes where a connection came from.
type Listener struct {
	Name string // "tcp", "tls", "ws" or "wss": for logs and statistics
	// Anonymous admits clients without credentials (Broker.ListenerFor:
	// --allow-anonymous, or loopback listeners without a password file).
	Anonymous bool
}

// ErrClosed is returned by Serve after Close.
var ErrClosed = errors.New("mqtt: broker closed")

// Broker serves MQTT connections on one node. Every packet that changes
// state is proposed to the cluster; what reaches clients comes from Apply,
// which the node calls for each committed entry (see docs/mqtt.md).
type Broker struct {
	o      Options
	logger zerolog.Logger
	// boot distinguishes this process's connections from those of an earlier
	// run of the same node: a connection's name in the log is
	// NodeID/boot-sequence.
	boot string
	seq  atomic.Uint64

	mu        sync.Mutex
	conns     map[string]*conn // by connection name (fsm Session.Node)
	clients   map[string]*conn // by client id: the newest local connection
	listeners map[net.Listener]struct{}
	closed    bool
	wg        sync.WaitGroup

	stop chan struct{}

	// authorizer is Options.Authorizer, or auth.AllowAll.
	authorizer auth.Authorizer

	// applyConns is Apply's scratch: the connections of one entry's
	// deliveries (dispatcher goroutine only).
	applyConns []*conn

	stats   Stats
	watches presenceWatches   // $presence/ subscriptions (presence.go)
	shared  encodings         // PUBLISH heads shared by the writers of a fan-out (encodeshare.go)
	sysLast map[string]string // last $SYS values published (background goroutine)
	sysLoad sysLoad           // $SYS load averages (background goroutine)
	started time.Time         // for $SYS uptime
	clock   Clock
}

// Stats are the broker's counters ($SYS/ topics, metrics): atomics, safe
// for concurrent use, read at any time without a lock.
type Stats struct {
	Connections   atomic.Int64 // open network connections
	ConnectsTotal atomic.Uint64
	// ReceivedByQoS counts PUBLISH packets accepted from clients, SentByQoS
	// those written to clients, by the packet's QoS (PublishReceived and
	// PublishSent sum them).
	ReceivedByQoS [3]atomic.Uint64
	SentByQoS     [3]atomic.Uint64
	// DroppedQoS0 counts every QoS 0 delivery dropped: a connection that
	// fell behind catches up from the log, and drops only what it cannot
	// rebuild from it (catchup.go); DroppedRetention is the part retention
	// removed before the connection read it.
	DroppedQoS0      atomic.Uint64
	DroppedRetention atomic.Uint64
	CatchUps         atomic.Uint64 // times a connection fell behind its queue and read back from the log
	DroppedTooLarge  atomic.Uint64 // messages larger than a client's Maximum Packet Size
	Expired          atomic.Uint64 // messages not sent because their expiry elapsed
	BytesReceived    atomic.Uint64 // read from client sockets (MQTT framing included)
	BytesSent        atomic.Uint64
	// AuthFailures counts CONNECTs refused for their credentials (bad user
	// name or password, a refused key, an anonymous client where none is
	// admitted, a banned address).
	AuthFailures atomic.Uint64
	// ReplayReaders is the replays ($replay/ subscriptions) reading the log
	// now; ReplayRecords the messages they sent.
	ReplayReaders atomic.Int64
	ReplayRecords atomic.Uint64
	// PresenceResyncs counts presence subscriptions sent a snapshot again
	// because their client read events slower than they came (presence.go).
	PresenceResyncs atomic.Uint64
}

// PublishReceived is the PUBLISH packets accepted from clients.
func (s *Stats) PublishReceived() uint64 { return sum3(&s.ReceivedByQoS) }

// PublishSent is the PUBLISH packets written to clients.
func (s *Stats) PublishSent() uint64 { return sum3(&s.SentByQoS) }

func sum3(a *[3]atomic.Uint64) uint64 { return a[0].Load() + a[1].Load() + a[2].Load() }

// QueueDepth is the deliveries queued in memory on this node's connections,
// and how many connections read theirs back from the log because their
// queue overflowed. Safe for concurrent use; it takes each connection's
// lock in turn, for a scrape, not for a hot path.
func (b *Broker) QueueDepth() (queued, lagging int) {
	b.mu.Lock()
	conns := slices.Collect(maps.Values(b.conns))
	b.mu.Unlock()
	for _, c := range conns {
		c.mu.Lock()
		queued += len(c.mu.queue)
		if c.mu.lagging {
			lagging++
		}
		c.mu.Unlock()
	}
	return queued, lagging
}

// countingReader counts the bytes read from a client socket.
type countingReader struct {
	r io.Reader
	n *atomic.Uint64
}

func (cr countingReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	cr.n.Add(uint64(n))
	return n, err
}

// New returns a broker; call Start once the node has a state to serve from.
func New(o Options) (*Broker, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	now := time.Now()
	return &Broker{
		o: o, logger: o.Logger, boot: hex.EncodeToString(b[:]),
		conns: map[string]*conn{}, clients: map[string]*conn{}, listeners: map[net.Listener]struct{}{},
		sysLast: map[string]string{}, started: now, sysLoad: sysLoad{last: now},
		stop:  make(chan struct{}),
		clock: cmp.Or[Clock](o.Clock, wallClock{}),

		authorizer: cmp.Or[auth.Authorizer](o.Authorizer, auth.AllowAll{}),
	}, nil
}

// Stats returns the broker's counters.
func (b *Broker) Stats() *Stats { return &b.stats }

// Start runs the background duties: ending this node's sessions that no
// connection holds (left connected by an earlier run, or whose disconnect
// did not commit) and $SYS statistics. The leader's deadlines (due wills,
// session expiry, lost nodes) are the housekeeping package's.
func (b *Broker) Start() {
	b.wg.Add(1) // Close waits for it with the connections
	go func() {
		defer b.wg.Done()
		b.background()
	}()
}

func (b *Broker) newConn(nc net.Conn, l Listener) *conn {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.wg.Add(1)
	c := newConn(b, nc, l, fmt.Sprintf("%s/%s-%d", b.o.NodeID, b.boot, b.seq.Add(1)))
	b.conns[c.name] = c
	b.stats.Connections.Add(1)
	return c
}

// register makes c its client's current local connection.
func (b *Broker) register(c *conn) {
	b.mu.Lock()
	b.clients[c.clientID] = c
	b.mu.Unlock()
}

func (b *Broker) forget(c *conn) {
	c.unwatchAll()
	b.mu.Lock()
	delete(b.conns, c.name)
	if b.clients[c.clientID] == c {
		delete(b.clients, c.clientID)
	}
	b.mu.Unlock()
	b.stats.Connections.Add(-1)
}

func (b *Broker) connByName(name string) *conn {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.conns[name]
}

// isClosed reports whether Close was called.
func (b *Broker) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// Close stops accepting, closes every connection (MQTT 5 clients get
// DISCONNECT 0x8B server shutting down; their wills follow the usual rules)
// and waits for them, at most until ctx ends.
func (b *Broker) Close(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	for ln := range b.listeners {
		ln.Close()
	}
	conns := make([]*conn, 0, len(b.conns))
	for _, c := range b.conns {
		conns = append(conns, c)
	}
	b.mu.Unlock()
	close(b.stop)
	for _, c := range conns {
		c.shutdown(packet.CodeServerShuttingDown, "server shutting down")
	}
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
