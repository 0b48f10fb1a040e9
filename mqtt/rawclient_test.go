package mqtt_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stratamq/strata/mqtt/packet"
)

// rawClient speaks MQTT through our codec over a plain TCP connection, for
// tests that need exact control of the packets sent or must see the
// broker's precise reason codes. A reader goroutine decodes everything the
// broker sends into a queue; next takes packets from it in order and
// resolves the broker's topic aliases as it goes.
type rawClient struct {
	t       *testing.T
	nc      net.Conn
	version byte

	wmu sync.Mutex
	buf []byte

	in     chan packet.Packet
	closed chan struct{} // closed when the reader stops
	err    error         // why the reader stopped; read after closed

	// aliases resolves broker→client topic aliases (test goroutine only).
	aliases map[uint16]string
	nextID  uint16
	// pending holds packets set aside while awaiting another (test
	// goroutine only); next returns them first.
	pending []packet.Packet
}

// dialRaw opens a connection to addr; version is the protocol level used to
// decode what the broker sends (and to encode what the client sends).
func dialRaw(t *testing.T, addr string, version byte) *rawClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rc := &rawClient{t: t, nc: nc, version: version, in: make(chan packet.Packet, 4096),
		closed: make(chan struct{}), aliases: map[uint16]string{}}
	go rc.readLoop()
	t.Cleanup(func() { nc.Close() })
	return rc
}

func (rc *rawClient) readLoop() {
	br := bufio.NewReader(rc.nc)
	defer close(rc.closed)
	for {
		p, err := packet.Read(br, rc.version, 0)
		if err != nil {
			rc.err = err
			return
		}
		rc.in <- p
	}
}

// send encodes and writes packets in one write.
func (rc *rawClient) send(ps ...packet.Packet) error {
	rc.wmu.Lock()
	defer rc.wmu.Unlock()
	rc.buf = rc.buf[:0]
	for _, p := range ps {
		var err error
		rc.buf, err = packet.Encode(rc.buf, p, rc.version)
		if err != nil {
			return err
		}
	}
	_, err := rc.nc.Write(rc.buf)
	return err
}

// mustSend is send that fails the test on error.
func (rc *rawClient) mustSend(ps ...packet.Packet) {
	rc.t.Helper()
	if err := rc.send(ps...); err != nil {
		rc.t.Fatalf("send: %v", err)
	}
}

// sendBytes writes b as is.
func (rc *rawClient) sendBytes(b []byte) error {
	rc.wmu.Lock()
	defer rc.wmu.Unlock()
	_, err := rc.nc.Write(b)
	return err
}

func (rc *rawClient) close() { rc.nc.Close() }

// errTimeout is returned by next when no packet arrived in time.
var errTimeout = errors.New("no packet in time")

// next returns the next packet from the broker, errTimeout when none
// arrived within d, or the reader's error once the connection ended.
// Broker→client topic aliases are recorded and resolved: a PUBLISH with an
// empty topic gets its alias's topic in resolvedTopic, the packet itself is
// left as received.
func (rc *rawClient) next(d time.Duration) (packet.Packet, error) {
	if len(rc.pending) > 0 {
		p := rc.pending[0]
		rc.pending = rc.pending[1:]
		return p, nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case p := <-rc.in:
		return p, nil
	case <-rc.closed:
		select { // packets read before the close come first
		case p := <-rc.in:
			return p, nil
		default:
			return nil, rc.err
		}
	case <-timer.C:
		return nil, errTimeout
	}
}

// resolve returns the topic of a PUBLISH from the broker, recording or
// using its topic alias. Call it on every PUBLISH, in order.
func (rc *rawClient) resolve(p *packet.Publish) (string, error) {
	if !p.Properties.Has(packet.PropTopicAlias) {
		return p.Topic, nil
	}
	a := p.Properties.TopicAlias
	if p.Topic != "" {
		rc.aliases[a] = p.Topic
		return p.Topic, nil
	}
	t, ok := rc.aliases[a]
	if !ok {
		return "", fmt.Errorf("topic alias %d used before it was set", a)
	}
	return t, nil
}

// expect returns the next packet, which must be a T, within d.
func expect[T packet.Packet](t *testing.T, rc *rawClient, d time.Duration) T {
	t.Helper()
	p, err := rc.next(d)
	if err != nil {
		var zero T
		t.Fatalf("waiting for %T: %v", zero, err)
	}
	v, ok := p.(T)
	if !ok {
		var zero T
		t.Fatalf("got %T %+v, want %T", p, p, zero)
	}
	return v
}

// await returns the next T within d; PUBLISH and PUBREL packets arriving
// first are set aside for later next calls (a broker may send matching
// PUBLISHes before the SUBACK, section 3.8.4), anything else fails.
func await[T packet.Packet](t *testing.T, rc *rawClient, d time.Duration) T {
	t.Helper()
	deadline := time.Now().Add(d)
	var held []packet.Packet
	defer func() { rc.pending = append(held, rc.pending...) }()
	for {
		p, err := rc.next(time.Until(deadline))
		if err != nil {
			var zero T
			t.Fatalf("waiting for %T: %v", zero, err)
		}
		if v, ok := p.(T); ok {
			return v
		}
		switch p.(type) {
		case *packet.Publish, *packet.Pubrel:
			held = append(held, p)
		default:
			var zero T
			t.Fatalf("got %T %+v, want %T", p, p, zero)
		}
	}
}

// recvPublish returns the next PUBLISH (with its resolved topic), failing
// on any other packet; a QoS 1 PUBLISH is acknowledged, a QoS 2 one gets
// PUBREC and its PUBREL is answered with PUBCOMP when it arrives (PUBRELs
// met while waiting are answered too).
func (rc *rawClient) recvPublish(d time.Duration) (*packet.Publish, string) {
	rc.t.Helper()
	deadline := time.Now().Add(d)
	for {
		p, err := rc.next(time.Until(deadline))
		if err != nil {
			rc.t.Fatalf("waiting for PUBLISH: %v", err)
		}
		switch p := p.(type) {
		case *packet.Publish:
			topic, err := rc.resolve(p)
			if err != nil {
				rc.t.Fatal(err)
			}
			switch p.QoS {
			case 1:
				rc.mustSend(&packet.Puback{PacketID: p.PacketID})
			case 2:
				rc.mustSend(&packet.Pubrec{PacketID: p.PacketID})
			}
			return p, topic
		case *packet.Pubrel:
			rc.mustSend(&packet.Pubcomp{PacketID: p.PacketID})
		default:
			rc.t.Fatalf("waiting for PUBLISH: got %T %+v", p, p)
		}
	}
}

// noPublish checks that no PUBLISH arrives within d (acks are answered).
func (rc *rawClient) noPublish(d time.Duration) {
	rc.t.Helper()
	deadline := time.Now().Add(d)
	for {
		p, err := rc.next(time.Until(deadline))
		if err == errTimeout {
			return
		}
		if err != nil {
			rc.t.Fatalf("connection ended: %v", err)
		}
		switch p := p.(type) {
		case *packet.Publish:
			topic, _ := rc.resolve(p)
			rc.t.Fatalf("unexpected PUBLISH %q %q", topic, p.Payload)
		case *packet.Pubrel:
			rc.mustSend(&packet.Pubcomp{PacketID: p.PacketID})
		}
	}
}

// waitClose reads until the broker closes the connection (within d) and
// returns the DISCONNECT it sent last, if any. Other packets are skipped.
func (rc *rawClient) waitClose(d time.Duration) *packet.Disconnect {
	rc.t.Helper()
	deadline := time.Now().Add(d)
	var last *packet.Disconnect
	for {
		p, err := rc.next(time.Until(deadline))
		if err == errTimeout {
			rc.t.Fatalf("connection still open after %v", d)
		}
		if err != nil {
			return last
		}
		if dp, ok := p.(*packet.Disconnect); ok {
			last = dp
		}
	}
}

// expectDisconnect waits for the broker to close the connection after a
// DISCONNECT with code.
func (rc *rawClient) expectDisconnect(code packet.ReasonCode, d time.Duration) {
	rc.t.Helper()
	dp := rc.waitClose(d)
	if dp == nil {
		rc.t.Fatalf("connection closed without DISCONNECT, want %v", code)
	}
	if dp.ReasonCode != code {
		rc.t.Fatalf("DISCONNECT %v (%q), want %v", dp.ReasonCode, dp.Properties.ReasonString, code)
	}
}

// connect sends cp (its ProtocolVersion defaults to the client's) and
// returns the CONNACK.
func (rc *rawClient) connect(cp *packet.Connect) *packet.Connack {
	rc.t.Helper()
	if cp.ProtocolVersion == 0 {
		cp.ProtocolVersion = rc.version
	}
	rc.mustSend(cp)
	return expect[*packet.Connack](rc.t, rc, 10*time.Second)
}

// rawConnect dials addr and connects an MQTT 5 client, which must be
// accepted.
func rawConnect(t *testing.T, addr string, cp *packet.Connect) (*rawClient, *packet.Connack) {
	t.Helper()
	rc := dialRaw(t, addr, packet.Version5)
	ack := rc.connect(cp)
	if ack.ReasonCode != packet.CodeSuccess {
		t.Fatalf("CONNACK %v (%q)", ack.ReasonCode, ack.Properties.ReasonString)
	}
	return rc, ack
}

func (rc *rawClient) packetID() uint16 {
	rc.nextID++
	if rc.nextID == 0 {
		rc.nextID = 1
	}
	return rc.nextID
}

// subscribe sends one SUBSCRIBE (with subscription identifier id unless 0)
// and checks the SUBACK grants every filter.
func (rc *rawClient) subscribe(id uint32, subs ...packet.Subscription) {
	rc.t.Helper()
	s := &packet.Subscribe{PacketID: rc.packetID(), Subscriptions: subs}
	if id != 0 {
		s.Properties.SubscriptionIDs = []uint32{id}
	}
	rc.mustSend(s)
	ack := await[*packet.Suback](rc.t, rc, 10*time.Second)
	if ack.PacketID != s.PacketID || len(ack.ReasonCodes) != len(subs) {
		rc.t.Fatalf("SUBACK %+v for %+v", ack, s)
	}
	for i, c := range ack.ReasonCodes {
		if c != packet.ReasonCode(subs[i].QoS) {
			rc.t.Fatalf("SUBACK code %v for %q", c, subs[i].Filter)
		}
	}
}

// publish sends p (a packet id is assigned for QoS > 0) and completes its
// flow; it returns the reason code of the PUBACK or PUBREC.
func (rc *rawClient) publish(p *packet.Publish) packet.ReasonCode {
	rc.t.Helper()
	if p.QoS > 0 && p.PacketID == 0 {
		p.PacketID = rc.packetID()
	}
	rc.mustSend(p)
	switch p.QoS {
	case 1:
		ack := await[*packet.Puback](rc.t, rc, 10*time.Second)
		if ack.PacketID != p.PacketID {
			rc.t.Fatalf("PUBACK for %d, want %d", ack.PacketID, p.PacketID)
		}
		return ack.ReasonCode
	case 2:
		rec := await[*packet.Pubrec](rc.t, rc, 10*time.Second)
		if rec.PacketID != p.PacketID {
			rc.t.Fatalf("PUBREC for %d, want %d", rec.PacketID, p.PacketID)
		}
		if rec.ReasonCode.IsError() {
			return rec.ReasonCode
		}
		rc.mustSend(&packet.Pubrel{PacketID: p.PacketID})
		comp := await[*packet.Pubcomp](rc.t, rc, 10*time.Second)
		if comp.PacketID != p.PacketID || comp.ReasonCode != 0 {
			rc.t.Fatalf("PUBCOMP %+v for %d", comp, p.PacketID)
		}
		return rec.ReasonCode
	}
	return 0
}

// disconnect sends a normal DISCONNECT and waits for the broker to close.
func (rc *rawClient) disconnect(d *packet.Disconnect) {
	rc.t.Helper()
	if d == nil {
		d = &packet.Disconnect{}
	}
	rc.mustSend(d)
	rc.waitClose(10 * time.Second)
}

// waitFor polls cond until it holds or d elapses.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
