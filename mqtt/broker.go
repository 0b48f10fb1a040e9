package mqtt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/mqtt/packet"
)

// Listener describes where a connection came from.
type Listener struct {
	Name string // "tcp", "tls", "ws" or "wss": for logs and statistics
	// Anonymous admits clients without credentials (loopback listeners, or
	// --allow-anonymous).
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

	stats   Stats
	sysLast map[string]string // last $SYS values published (background goroutine)

	// applied is one past the last offset handed to Apply; afterApplied
	// callbacks wait for it.
	applied atomic.Uint64
	afterMu sync.Mutex
	after   []afterApply
	nAfter  atomic.Int64
}

type afterApply struct {
	off log.Offset
	fn  func()
}

// Stats are the broker's counters ($SYS/ topics, metrics).
type Stats struct {
	Connections     atomic.Int64 // open network connections
	ConnectsTotal   atomic.Uint64
	PublishReceived atomic.Uint64 // PUBLISH packets accepted from clients
	PublishSent     atomic.Uint64 // PUBLISH packets written to clients
	DroppedQoS0     atomic.Uint64 // QoS 0 messages dropped by full queues
	DroppedTooLarge atomic.Uint64 // messages larger than a client's Maximum Packet Size
	Expired         atomic.Uint64 // messages not sent because their expiry elapsed
	BytesReceived   atomic.Uint64
	BytesSent       atomic.Uint64
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
	return &Broker{
		o: o, logger: o.Logger, boot: hex.EncodeToString(b[:]),
		conns: map[string]*conn{}, clients: map[string]*conn{}, listeners: map[net.Listener]struct{}{},
		sysLast: map[string]string{},
		stop:    make(chan struct{}),
	}, nil
}

// Stats returns the broker's counters.
func (b *Broker) Stats() *Stats { return &b.stats }

// Start runs the background duties: the leader's deadlines (due wills,
// session expiry), releasing this node's sessions left connected by an
// earlier run, and $SYS statistics.
func (b *Broker) Start() {
	b.wg.Add(1) // Close waits for it with the connections
	go func() {
		defer b.wg.Done()
		b.background()
	}()
}

// Serve accepts connections on ln until Close. Clients without credentials
// are admitted when ln is bound to a loopback address or AllowAnonymous.
func (b *Broker) Serve(ln net.Listener, name string) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		ln.Close()
		return ErrClosed
	}
	b.listeners[ln] = struct{}{}
	b.mu.Unlock()
	l := Listener{Name: name, Anonymous: b.o.AllowAnonymous || isLoopback(ln.Addr())}
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			b.mu.Lock()
			closed := b.closed
			b.mu.Unlock()
			if closed {
				return ErrClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay) // EMFILE and friends: back off like net/http
				continue
			}
			return err
		}
		delay = 0
		go b.ServeConn(nc, l)
	}
}

// ListenerFor describes a listener bound to addr.
func (b *Broker) ListenerFor(addr net.Addr, name string) Listener {
	return Listener{Name: name, Anonymous: b.o.AllowAnonymous || isLoopback(addr)}
}

func isLoopback(a net.Addr) bool {
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ServeConn runs one client connection until it ends; it closes nc.
func (b *Broker) ServeConn(nc net.Conn, l Listener) {
	c := b.newConn(nc, l)
	if c == nil {
		nc.Close()
		return
	}
	defer b.wg.Done()
	c.run()
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

// Apply hands one committed entry's effects to this node's connections. The
// node calls it on its apply goroutine, in offset order; it never blocks.
func (b *Broker) Apply(off log.Offset, e *fsm.Entry, fx fsm.Effects) {
	if fx.Resume != nil && e.Kind == fsm.KindSessionConnect {
		if c := b.connByName(e.Connect.Node); c != nil {
			c.resumed(fx.Resume)
		}
	}
	for _, cl := range fx.Close {
		if c := b.connByName(cl.Node); c != nil {
			c.shutdown(packet.CodeSessionTakenOver, "another connection took over the session")
		}
	}
	if e.Kind == fsm.KindSessionDisconnect && fx.Err == nil {
		// The session left this connection for a reason other than its own
		// close (a node-lost disconnect proposed by the leader, say).
		b.mu.Lock()
		c := b.clients[e.ClientID]
		b.mu.Unlock()
		if c != nil && c.connectOffset() == e.Disconnect.Since && !c.isClosing() {
			c.shutdown(packet.CodeAdministrativeAction, "session ended by the cluster")
		}
	}
	if e.Kind == fsm.KindSubscribe && fx.Err == nil {
		b.mu.Lock()
		c := b.clients[e.ClientID]
		b.mu.Unlock()
		if c != nil {
			c.subscribed(off, e)
		}
	}
	msg := e
	if e.Kind != fsm.KindPublish {
		msg = nil // retained messages sent on subscribe: read back from the log
	}
	for i := range fx.Deliveries {
		d := &fx.Deliveries[i]
		if c := b.connByName(d.Node); c != nil {
			c.deliver(off, msg, d)
		}
	}
	if len(fx.Wills) > 0 && b.o.Cluster.IsLeader() {
		now := time.Now().UnixNano()
		for _, w := range fx.Wills {
			if w.Due <= now {
				b.proposeQuiet(w.Entry(now))
			}
		}
	}
	b.applied.Store(uint64(off) + 1)
	if b.nAfter.Load() > 0 {
		b.runAfter()
	}
}

// afterApplied runs fn once Apply has handled off on this node: at once if
// it has, else from Apply. A follower learns a forwarded proposal's offset
// from the leader, usually before its own state machine applies it;
// answering only afterwards keeps what the client does next consistent with
// this node's state (the session present flag and resumed messages of a
// CONNACK, an UNSUBSCRIBE sent after its SUBACK). fn must not block.
func (b *Broker) afterApplied(off log.Offset, fn func()) {
	if b.applied.Load() > uint64(off) {
		fn()
		return
	}
	b.afterMu.Lock()
	b.after = append(b.after, afterApply{off: off, fn: fn})
	b.nAfter.Add(1)
	b.afterMu.Unlock()
	b.runAfter() // Apply may have passed off meanwhile without seeing us
}

// waitApplied waits until Apply has handled off on this node, at most d.
func (b *Broker) waitApplied(off log.Offset, d time.Duration) bool {
	if b.applied.Load() > uint64(off) {
		return true
	}
	ch := make(chan struct{})
	b.afterApplied(off, func() { close(ch) })
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	case <-b.stop:
		return false
	}
}

// runAfter runs the afterApplied callbacks whose offset has been applied.
func (b *Broker) runAfter() {
	applied := b.applied.Load()
	var ready []func()
	b.afterMu.Lock()
	keep := b.after[:0]
	for _, a := range b.after {
		if uint64(a.off) < applied {
			ready = append(ready, a.fn)
		} else {
			keep = append(keep, a)
		}
	}
	clear(b.after[len(keep):])
	b.after = keep
	b.nAfter.Store(int64(len(keep)))
	b.afterMu.Unlock()
	for _, fn := range ready {
		fn()
	}
}

// proposeQuiet proposes a housekeeping entry whose outcome does not matter
// (a stale one applies as a no-op).
func (b *Broker) proposeQuiet(e fsm.Entry) {
	rec, err := e.Record()
	if err != nil {
		b.logger.Error().Err(err).Str("kind", e.Kind.String()).Msg("housekeeping entry invalid")
		return
	}
	b.o.Cluster.ProposeAsync(context.Background(), rec, func(_ log.Offset, err error) {
		if err != nil {
			b.logger.Debug().Err(err).Str("kind", e.Kind.String()).Str("client", e.ClientID).Msg("housekeeping proposal failed")
		}
	})
}

// background runs the periodic duties until Close.
func (b *Broker) background() {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var lastSys, lastSweep time.Time
	for {
		select {
		case <-b.stop:
			return
		case now := <-tick.C:
			v := b.o.Views.View()
			if b.o.Cluster.IsLeader() {
				if due, ok := v.NextDeadline(); ok && due <= now.UnixNano() {
					for _, e := range v.Due(now.UnixNano()) {
						b.proposeQuiet(e)
					}
				}
			}
			if now.Sub(lastSweep) >= b.o.SweepInterval {
				lastSweep = now
				b.sweep(v)
				if b.o.Cluster.IsLeader() {
					b.sweepLostNodes(v)
				}
			}
			if b.o.SysInterval > 0 && now.Sub(lastSys) >= b.o.SysInterval {
				lastSys = now
				b.publishSys(v)
			}
		}
	}
}

// sweep ends sessions the log says are connected to this node but that no
// open connection holds: left over by a crash or a kill, or whose own
// disconnect failed to commit. A sweep racing a disconnect is harmless: the
// second one applies as stale.
func (b *Broker) sweep(v *fsm.View) {
	prefix := b.o.NodeID + "/"
	var lost []fsm.Session
	v.Sessions(func(s fsm.Session) bool {
		if s.Connected && strings.HasPrefix(s.Node, prefix) && b.connByName(s.Node) == nil {
			lost = append(lost, s)
		}
		return true
	})
	for _, s := range lost {
		b.proposeQuiet(fsm.Entry{Kind: fsm.KindSessionDisconnect, Time: time.Now().UnixNano(), ClientID: s.ClientID,
			Disconnect: fsm.Disconnect{Reason: fsm.ReasonNodeLost, Since: s.ConnectOffset}})
	}
}

// Liveness is implemented by clusters that can tell which nodes are gone
// (*replication.Node): the leader then ends the sessions those nodes held,
// so their wills are published by the surviving cluster.
type Liveness interface {
	Unreachable(after time.Duration) []string // peers the leader cannot reach for longer than after
	Members() []string                        // ids of the cluster's servers
}

// sweepLostNodes, on the leader, ends the sessions held by nodes that are
// unreachable for NodeLostAfter or no longer members.
func (b *Broker) sweepLostNodes(v *fsm.View) {
	lv, ok := b.o.Cluster.(Liveness)
	if !ok {
		return
	}
	members := lv.Members()
	if len(members) == 0 {
		return
	}
	gone := map[string]bool{}
	for _, id := range lv.Unreachable(b.o.NodeLostAfter) {
		gone[id] = true
	}
	isMember := map[string]bool{}
	for _, id := range members {
		isMember[id] = true
	}
	var lost []fsm.Session
	v.Sessions(func(s fsm.Session) bool {
		if !s.Connected {
			return true
		}
		i := strings.LastIndexByte(s.Node, '/')
		if i < 0 {
			return true
		}
		if id := s.Node[:i]; id != b.o.NodeID && (gone[id] || !isMember[id]) {
			lost = append(lost, s)
		}
		return true
	})
	for _, s := range lost {
		b.logger.Info().Str("client", s.ClientID).Str("node", s.Node).Msg("ending a session held by a lost node")
		b.proposeQuiet(fsm.Entry{Kind: fsm.KindSessionDisconnect, Time: time.Now().UnixNano(), ClientID: s.ClientID,
			Disconnect: fsm.Disconnect{Reason: fsm.ReasonNodeLost, Since: s.ConnectOffset}})
	}
}

// ApplyHook forwards a node's applied entries to a Broker that may be
// created after the node (the node folds its log while starting, before the
// broker exists; nothing is connected then). Set it as the machine's
// OnApply; its zero value is ready.
type ApplyHook struct{ b atomic.Pointer[Broker] }

// Apply calls Broker.Apply once a broker is set.
func (h *ApplyHook) Apply(off log.Offset, e *fsm.Entry, fx fsm.Effects) {
	if b := h.b.Load(); b != nil {
		b.Apply(off, e, fx)
	}
}

// Set makes b receive applied entries.
func (h *ApplyHook) Set(b *Broker) { h.b.Store(b) }

// applying is nil unless the cluster node reports it cannot apply.
func (b *Broker) applying() error {
	if a, ok := b.o.Cluster.(Applying); ok {
		return a.Applying()
	}
	return nil
}
