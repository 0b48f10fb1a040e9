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

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/mqtt/packet"
)

// conn is one client connection. The reader goroutine (run) decodes
// packets and proposes entries; the writer goroutine (writeLoop) sends what
// is queued: control packets in the order queued, and deliveries in offset
// order within the outbound window. Commit callbacks and Apply only queue
// and wake the writer; they never block on the network.
type conn struct {
	b        *Broker
	nc       net.Conn
	br       *bufio.Reader
	listener Listener
	name     string // the connection's name in the log (fsm Connect.Node)
	logger   zerolog.Logger
	ctx      context.Context
	cancel   context.CancelFunc

	// Set by the reader before the connection is established, then read-only.
	version      byte
	clientID     string
	keepAlive    time.Duration
	cliMaxPacket uint32 // client's Maximum Packet Size, 0 none
	cliAliasMax  uint16 // client's Topic Alias Maximum
	window       int    // outbound QoS 1/2 in flight
	connOff      atomic.Uint64
	expiryZero   bool // CONNECT session expiry was 0 [MQTT-3.14.2-2]

	mu          sync.Mutex
	ctrl        []packet.Packet
	queue       []delivery // live deliveries, at most QueueLength
	resume      *fsm.Resume
	lagging     bool       // deliveries past the queue bound are read back from the log
	liveFrom    log.Offset // deliveries below this were covered by a catch-up view
	established bool       // CONNACK queued: deliveries may flow
	closing     bool
	closeCode   packet.ReasonCode // DISCONNECT to send (5.0) when closing, 0 none
	closeWhy    string
	proposeEnd  bool // propose a SessionDisconnect when the connection ends
	endReason   fsm.DisconnectReason
	endExpiry   *uint32
	out         map[uint16]*outMsg // outbound QoS 1/2 by packet id
	inQoS2      map[uint16]bool    // inbound QoS 2 ids: false committing, true awaiting PUBREL
	inflightIn  int                // inbound QoS 1/2 not yet answered (Receive Maximum)
	replaying   int                // replayed gap messages not yet acknowledged
	replayDone  bool               // every gap message has been sent
	acks        []fsm.Ack
	// pendingReplays are SUBSCRIBEs with replays awaiting their apply.
	pendingReplays []*pendingReplay
	ackWaiters     []func(error)
	ackBusy        bool

	wake chan struct{}
	done chan struct{} // closed when the connection is torn down
	once sync.Once

	// writer only
	bw          *bufio.Writer
	buf         []byte
	sentThrough log.Offset
	aliases     map[string]uint16

	// reader only
	inAliases map[uint16]string
}

type delivery struct {
	off    log.Offset
	e      *fsm.Entry
	qos    byte
	retain bool
	subIDs []uint32
	dup    bool
	replay bool // from a replay gap: counts toward AckThrough
	// applyOff is the offset of the entry whose apply queued this delivery
	// (for a retained message sent on subscribe, the subscribe's).
	applyOff log.Offset
	rp       *replayReq            // a subscription's replay, sent in place of a message
	extra    []packet.UserProperty // MQTT 5 user properties added to this delivery
}

type outMsg struct {
	off      log.Offset
	qos      byte
	received bool // PUBREC seen, PUBREL sent
	replay   bool
}

// errClosed ends the writer when the connection is being torn down.
var errClosed = errors.New("connection closed")

func newConn(b *Broker, nc net.Conn, l Listener, name string) *conn {
	c := &conn{b: b, nc: nc, listener: l, name: name,
		br:   bufio.NewReaderSize(nc, 16<<10),
		bw:   bufio.NewWriterSize(nc, 16<<10),
		out:  map[uint16]*outMsg{},
		wake: make(chan struct{}, 1), done: make(chan struct{}),
		inQoS2: map[uint16]bool{}, inAliases: map[uint16]string{}, aliases: map[string]uint16{},
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.logger = b.logger.With().Str("conn", name).Str("remote", nc.RemoteAddr().String()).Logger()
	return c
}

func (c *conn) connectOffset() log.Offset { return log.Offset(c.connOff.Load()) }

func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
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
	if !c.closing {
		c.ctrl = append(c.ctrl, p)
	}
	c.mu.Unlock()
	c.signal()
}

// shutdown closes the connection from the broker's side: an MQTT 5 client
// gets a DISCONNECT with code first. A takeover does not propose a
// disconnect (the new connection's entry ended this one).
func (c *conn) shutdown(code packet.ReasonCode, why string) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.closing, c.closeCode, c.closeWhy = true, code, why
	if code == packet.CodeSessionTakenOver || code == packet.CodeAdministrativeAction {
		c.proposeEnd = false
	}
	c.mu.Unlock()
	c.signal()
	// The writer sends the DISCONNECT and closes the socket; bound its time.
	time.AfterFunc(2*time.Second, func() { c.nc.Close() })
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
	b := c.b
	writerDone := make(chan struct{})
	go func() { defer close(writerDone); c.writeLoop() }()
	defer func() {
		c.shutdown(0, "") // no-op when already closing
		<-writerDone
		c.nc.Close()
		c.once.Do(func() { close(c.done) })
		c.cancel()
		c.end()
		b.forget(c)
	}()
	c.nc.SetReadDeadline(time.Now().Add(b.o.ConnectTimeout))
	p, err := packet.Read(c.br, 0, b.o.MaxPacketSize)
	if err != nil {
		c.connectFailed(p, err)
		return
	}
	cp, ok := p.(*packet.Connect)
	if !ok {
		return // only CONNECT is read before CONNECT [MQTT-3.1.0-1]
	}
	if !c.connect(cp) {
		return
	}
	for {
		if c.keepAlive > 0 {
			c.nc.SetReadDeadline(time.Now().Add(c.keepAlive * 3 / 2)) // [MQTT-3.1.2-22]
		} else {
			c.nc.SetReadDeadline(time.Time{})
		}
		p, err := packet.Read(c.br, c.version, b.o.MaxPacketSize)
		if err != nil {
			c.readFailed(err)
			return
		}
		if !c.handle(p) {
			return
		}
	}
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
		c.shutdown(0, "")
	default:
		c.shutdown(0, "")
	}
}

// end proposes the session's disconnect when the connection ended without
// one that the fsm already knows of.
func (c *conn) end() {
	c.mu.Lock()
	propose, reason, exp := c.proposeEnd, c.endReason, c.endExpiry
	c.proposeEnd = false
	c.mu.Unlock()
	if !propose {
		return
	}
	d := fsm.Disconnect{Reason: reason, Since: c.connectOffset()}
	if exp != nil {
		d.HasExpiry, d.ExpirySeconds = true, *exp
	}
	e := fsm.Entry{Kind: fsm.KindSessionDisconnect, Time: time.Now().UnixNano(), ClientID: c.clientID, Disconnect: d}
	rec, err := e.Record()
	if err != nil {
		c.logger.Error().Err(err).Msg("disconnect entry invalid")
		return
	}
	done := make(chan struct{})
	c.b.o.Cluster.ProposeAsync(context.Background(), rec, func(_ log.Offset, err error) {
		if err != nil {
			c.logger.Warn().Err(err).Msg("disconnect not committed; the sweep will retry")
		}
		close(done)
	})
	select { // keep the connection known until its disconnect applies (sweep)
	case <-done:
	case <-time.After(5 * time.Second):
	}
}
