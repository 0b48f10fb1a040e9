package mqtt

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/stratamq/strata/auth"
	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/mqtt/packet"
	"github.com/stratamq/strata/replication"
)

// conn is one client connection, run by two goroutines (docs/threads.md):
// the reader (run) decodes packets and proposes entries; the writer
// (writeLoop) sends what is queued (control packets in the order queued,
// deliveries in offset order within the outbound window) and turns the
// futures of proposals into their answers (PUBACK after the publish
// committed, ...). Apply, on the node's dispatcher goroutine, only queues
// and wakes the writer; it never touches the network.
//
// Fields are grouped by who owns them.
type conn struct {
	// Set by newConn, then read-only.
	b        *Broker
	nc       net.Conn
	listener Listener
	name     string // the connection's name in the log (fsm Connect.Node)
	ctx      context.Context
	cancel   context.CancelFunc
	wake     chan struct{} // wakes the writer
	done     chan struct{} // closed when the connection is torn down
	once     sync.Once

	// Set by the reader while it handles CONNECT, before anything else
	// reads them (the writer reads them after c.mu hands it a packet), then
	// read-only.
	logger       zerolog.Logger
	version      byte
	clientID     string
	keepAlive    time.Duration
	cliMaxPacket uint32 // client's Maximum Packet Size, 0 none
	cliAliasMax  uint16 // client's Topic Alias Maximum
	window       int    // outbound QoS 1/2 in flight
	expiryZero   bool   // CONNECT session expiry was 0 [MQTT-3.14.2-2]
	identity     auth.Identity
	acl          auth.Checker // what identity may do: its key's scope or the Authorizer's
	connOff      atomic.Uint64

	// noProblemInfo: the client set Request Problem Information to 0, so
	// no Reason String or User Property on packets other than PUBLISH,
	// CONNACK and DISCONNECT [MQTT-3.1.2-29] (deliver.go write).
	noProblemInfo bool

	// key is the signed key that admitted the connection, nil for none; Apply
	// reads it to close the connections of a revoked key.
	key atomic.Pointer[auth.KeyClaims]

	mu connState

	// Reader only.
	r struct {
		br        *bufio.Reader     // small, or a pooled big one stacked on it (connbuf.go)
		small     *bufio.Reader     // on the socket
		body      []byte            // PUBLISH bodies, reused while the client streams; nil while idle (connbuf.go)
		inAliases map[uint16]string // inbound topic aliases
		// woke: nothing was buffered before the packet in hand, so the
		// reader waited for it (publish.go yields once then).
		woke bool
	}
	// Writer only.
	w struct {
		out *outBuf // pooled, nil while idle (connbuf.go)
		buf []byte
		// sentRetained holds the QoS 1/2 retained messages sent on subscribe
		// that the session's cursor may still list as in flight: their old
		// offsets can lie in the range a catch-up reads, which must not send them
		// twice (for QoS 2, exactly once). Pruned as acknowledgements apply.
		sentRetained map[log.Offset]struct{}
		pruneAt      int               // prune sentRetained past this size (twice what the last prune kept)
		lag          lagWriter         // the current lag episode (catchup.go)
		aliases      map[string]uint16 // outbound topic aliases
		lingerUntil  time.Time         // set by halfClose: the reader discards until then (linger.go)
	}
}

// connState is what the reader, the writer and Apply share, under its
// mutex. Lock order: conn.mu may be held while taking a View, never the
// reverse; nothing that proposes holds it.
type connState struct {
	sync.Mutex
	// Outbound stream.
	ctrl        []packet.Packet
	queue       []delivery            // live deliveries, at most QueueLength (plus replay marks)
	resume      *fsm.Resume           // set by Apply on the connect; sent first
	lagging     bool                  // deliveries past the queue bound are read back from the log
	lagFrom     log.Offset            // while lagging: the first offset the catch-up has not read
	lagOwed0    uint64                // while lagging: QoS 0 deliveries the fold made (catchup.go counts drops)
	lagSubs     map[string]log.Offset // while lagging: filter → offset of its Subscribe applied meanwhile
	liveFrom    log.Offset            // deliveries below this were covered by a catch-up view
	established bool                  // CONNACK queued: deliveries may flow
	// Closing.
	closing    bool
	closeCode  packet.ReasonCode // DISCONNECT to send (5.0) when closing, 0 none
	closeWhy   string
	proposeEnd bool // propose a SessionDisconnect when the connection ends
	endReason  fsm.DisconnectReason
	endExpiry  *uint32
	// QoS flows.
	out        map[uint16]*outMsg // outbound QoS 1/2 by packet id
	inQoS2     map[uint16]bool    // inbound QoS 2 ids: false committing, true awaiting PUBREL
	inflightIn int                // inbound QoS 1/2 not yet answered (Receive Maximum)
	replaying  int                // replayed gap messages not yet acknowledged
	replayDone bool               // every gap message has been sent

	// The client's own QoS 1/2 publishes that matched nobody, by offset:
	// set by Apply, taken when their PUBACK/PUBREC is written (publish.go).
	unmatched map[log.Offset]struct{}

	// Proposals awaiting their outcome (pending.go), replays awaiting their
	// place in the stream (replay.go) and acknowledgements to propose
	// (acks.go).
	pending []*pending
	replays []*pendingReplay
	acks    ackState

	// Presence subscriptions by name, and their queued messages (presence.go).
	watches  map[string]*presenceWatch
	presence []presenceItem
}

// errClosed ends the writer when the connection is being torn down.
var errClosed = errors.New("connection closed")

func newConn(b *Broker, nc net.Conn, l Listener, name string) *conn {
	c := &conn{b: b, nc: nc, listener: l, name: name,
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	c.r.small = bufio.NewReaderSize(countingReader{nc, &b.stats.BytesReceived}, smallReadSize)
	c.r.br = c.r.small
	c.r.inAliases = map[uint16]string{}
	c.w.aliases = map[string]uint16{}
	c.mu.out = map[uint16]*outMsg{}
	c.mu.inQoS2 = map[uint16]bool{}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.logger = b.logger.With().Str("conn", name).Str("remote", nc.RemoteAddr().String()).Logger()
	return c
}

func (c *conn) connectOffset() log.Offset { return log.Offset(c.connOff.Load()) }

func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.closing
}

func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// queueCtrl queues a control packet for the writer.
func (c *conn) queueCtrl(p packet.Packet) {
	c.mu.Lock()
	if !c.mu.closing {
		c.mu.ctrl = append(c.mu.ctrl, p)
	}
	c.mu.Unlock()
	c.signal()
}

// shutdown closes the connection from the broker's side: an MQTT 5 client
// gets a DISCONNECT with code first. A takeover does not propose a
// disconnect (the new connection's entry ended this one).
func (c *conn) shutdown(code packet.ReasonCode, why string) {
	c.mu.Lock()
	if c.mu.closing {
		c.mu.Unlock()
		return
	}
	c.mu.closing, c.mu.closeCode, c.mu.closeWhy = true, code, why
	if code == packet.CodeSessionTakenOver || code == packet.CodeAdministrativeAction {
		c.mu.proposeEnd = false
	}
	c.mu.Unlock()
	c.signal()
	// The writer sends the DISCONNECT and half-closes the socket, the reader
	// lingers (linger.go) and closes it; bound the time of both.
	time.AfterFunc(c.b.o.CloseTimeout+c.b.o.CloseLinger, func() { c.nc.Close() })
}

// fail tears the connection down after a protocol error: code is sent to
// MQTT 5 clients in a DISCONNECT (or CONNACK before the connection is
// established); 3.x clients are just disconnected [MQTT-4.8.0-1].
func (c *conn) fail(code packet.ReasonCode, why string) {
	c.logger.Debug().Str("reason", code.String()).Str("why", why).Msg("closing connection")
	c.shutdown(code, why)
}

// run is the reader: CONNECT, then packets until the connection ends.
func (c *conn) run() {
	writerDone := make(chan struct{})
	go func() { defer close(writerDone); c.writeLoop() }()
	defer func() {
		c.shutdown(0, "") // no-op when already closing
		<-writerDone
		c.once.Do(func() { close(c.done) })
		c.cancel()
		c.end()
		c.logEnd()
		c.b.forget(c)
		c.linger() // after end: the session's end (and Will) need not wait for it
		c.releaseReader()
		c.nc.Close()
	}()
	if !c.readConnect() {
		return
	}
	for !c.isClosing() { // a closing connection handles nothing more
		c.readBuffers()
		if c.keepAlive > 0 {
			c.nc.SetReadDeadline(time.Now().Add(c.keepAlive * 3 / 2)) // [MQTT-3.1.2-22]
		} else {
			c.nc.SetReadDeadline(time.Time{})
		}
		c.r.woke = c.r.br.Buffered() == 0
		p, err := c.readPacket()
		if err != nil {
			c.readFailed(err)
			return
		}
		if c.isClosing() {
			return
		}
		if !c.handle(p) {
			return
		}
	}
}

// readConnect reads and handles the CONNECT; false ends the connection.
func (c *conn) readConnect() bool {
	c.nc.SetReadDeadline(time.Now().Add(c.b.o.ConnectTimeout))
	p, err := packet.Read(c.r.br, 0, c.b.o.MaxPacketSize)
	if err != nil {
		c.connectFailed(p, err)
		return false
	}
	cp, ok := p.(*packet.Connect)
	if !ok {
		return false // only CONNECT is read before CONNECT [MQTT-3.1.0-1]
	}
	return c.connect(cp)
}

// handle processes one packet after CONNECT; false ends the connection.
func (c *conn) handle(p packet.Packet) bool {
	switch p := p.(type) {
	case *packet.Publish:
		return c.publish(p)
	case *packet.Puback:
		c.completed(p.PacketID, 1)
	case *packet.Pubcomp:
		c.completed(p.PacketID, 2)
	case *packet.Pubrec:
		c.pubrec(p)
	case *packet.Pubrel:
		c.pubrel(p)
	case *packet.Subscribe:
		return c.subscribe(p)
	case *packet.Unsubscribe:
		c.unsubscribe(p)
	case *packet.Pingreq:
		c.queueCtrl(&packet.Pingresp{})
	case *packet.Disconnect:
		return c.disconnect(p)
	case *packet.Connect:
		c.fail(packet.CodeProtocolError, "a second CONNECT") // [MQTT-3.1.0-2]
		return false
	case *packet.Auth:
		c.fail(packet.CodeProtocolError, "AUTH without an authentication method in CONNECT")
		return false
	default:
		c.fail(packet.CodeProtocolError, p.Type().String()+" is sent by servers, not clients")
		return false
	}
	return true
}

// readFailed decides how a failed read ends the connection.
func (c *conn) readFailed(err error) {
	var code packet.ReasonCode
	var ne net.Error
	switch {
	case errors.As(err, &code):
		c.fail(code, err.Error())
	case errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded):
		c.fail(packet.CodeKeepAliveTimeout, "keep alive timeout")
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, io.ErrUnexpectedEOF):
		c.shutdown(0, "the network connection closed without DISCONNECT")
	default:
		c.shutdown(0, "read error: "+err.Error())
	}
}

// propose queues entries (consecutive in the log) and returns their future.
// An entry that cannot be encoded gives a resolved future with the error.
func (c *conn) propose(es ...*fsm.Entry) *replication.Future {
	return c.b.propose(es...)
}
