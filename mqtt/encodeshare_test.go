package mqtt_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/stratamq/strata/internal/testpki"
	"github.com/stratamq/strata/mqtt"
	"github.com/stratamq/strata/mqtt/packet"
)

// frameConn is a subscriber that reads the broker's packets as raw bytes,
// so a test can compare them byte for byte; it acknowledges nothing.
type frameConn struct {
	t       *testing.T
	nc      net.Conn
	r       *bufio.Reader
	version byte
	read    *readCount // shared by a test's connections
	held    [][]byte   // PUBLISH packets read while waiting for another packet
}

// readCount is what a test's frameConns read: bytes, and PUBLISH packets.
type readCount struct{ bytes, publishes uint64 }

func dialFrames(t *testing.T, addr string, cp *packet.Connect, read *readCount) *frameConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	fc := &frameConn{t: t, nc: nc, r: bufio.NewReader(nc), version: cp.ProtocolVersion, read: read}
	fc.roundTrip(cp, packet.TypeConnack)
	return fc
}

func (fc *frameConn) roundTrip(p packet.Packet, want packet.Type) packet.Packet {
	fc.t.Helper()
	buf, err := packet.Encode(nil, p, fc.version)
	if err == nil {
		_, err = fc.nc.Write(buf)
	}
	if err != nil {
		fc.t.Fatal(err)
	}
	raw := fc.frame()
	for packet.Type(raw[0]>>4) == packet.TypePublish && want != packet.TypePublish {
		fc.held = append(fc.held, raw) // retained ones may come before the SUBACK
		raw = fc.frame()
	}
	got, err := packet.Decode(raw[0], raw[1+varintSize(raw):], fc.version)
	if err != nil || got.Type() != want {
		fc.t.Fatalf("want %s, got %v, %v", want, got, err)
	}
	return got
}

// varintSize is the length of the Remaining Length field of raw, a packet.
func varintSize(raw []byte) int {
	n := 1
	for raw[n]&0x80 != 0 {
		n++
	}
	return n
}

// frame reads one whole packet, fixed header included.
func (fc *frameConn) frame() []byte {
	fc.t.Helper()
	fc.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer fc.nc.SetReadDeadline(time.Time{})
	head := []byte{0}
	if _, err := io.ReadFull(fc.r, head); err != nil {
		fc.t.Fatalf("read: %v", err)
	}
	var size, mul int
	for mul = 1; ; mul *= 128 {
		b, err := fc.r.ReadByte()
		if err != nil {
			fc.t.Fatalf("read: %v", err)
		}
		head = append(head, b)
		size += int(b&0x7f) * mul
		if b&0x80 == 0 {
			break
		}
	}
	out := append(head, make([]byte, size)...)
	if _, err := io.ReadFull(fc.r, out[len(head):]); err != nil {
		fc.t.Fatalf("read: %v", err)
	}
	fc.read.bytes += uint64(len(out))
	if packet.Type(out[0]>>4) == packet.TypePublish {
		fc.read.publishes++
	}
	return out
}

// subscribe subscribes with opts (and MQTT 5 subscription identifier id
// when not 0).
func (fc *frameConn) subscribe(sub packet.Subscription, id uint32) {
	fc.t.Helper()
	s := &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{sub}}
	if id != 0 {
		s.Properties.SubscriptionIDs = []uint32{id}
	}
	fc.roundTrip(s, packet.TypeSuback)
}

// expectPublish reads the next packet and checks that it is, byte for
// byte, packet.Encode of want with the packet identifier it carries.
func (fc *frameConn) expectPublish(want packet.Publish) {
	fc.t.Helper()
	var raw []byte
	if len(fc.held) > 0 {
		raw, fc.held = fc.held[0], fc.held[1:]
	} else {
		raw = fc.frame()
	}
	if want.QoS > 0 {
		at := packet.PublishIDAt(raw)
		if at < 0 {
			fc.t.Fatalf("no packet identifier in % x", raw)
		}
		want.PacketID = uint16(raw[at])<<8 | uint16(raw[at+1])
	}
	exp, err := packet.Encode(nil, &want, fc.version)
	if err != nil {
		fc.t.Fatal(err)
	}
	if !bytes.Equal(raw, exp) {
		fc.t.Fatalf("received % x\nexpected % x", raw, exp)
	}
}

// TestSharedEncodingBytes: deliveries of one message to subscribers of
// every kind (3.1.1 and 5.0, QoS 0/1/2, retain as published, retained on
// subscribe, a resend with dup, and the per-subscriber ones: subscription
// id, topic alias) are each byte for byte packet.Encode of that
// subscriber's own PUBLISH, with sharing on and off; the broker's
// BytesSent and PublishSent count exactly what the clients read.
func TestSharedEncodingBytes(t *testing.T) {
	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprintf("shared=%v", shared), func(t *testing.T) {
			defer mqtt.SetShareEncodings(mqtt.SetShareEncodings(shared))
			testSharedEncodingBytes(t)
		})
	}
}

type byteSub struct {
	version byte
	sub     packet.Subscription
	subID   uint32
	aliases uint16
	clean   bool
}

func testSharedEncodingBytes(t *testing.T) {
	tb := startBroker(t, nil)
	read := &readCount{}
	subs := []byteSub{
		{version: packet.Version311, sub: packet.Subscription{QoS: 0}, clean: true},
		{version: packet.Version311, sub: packet.Subscription{QoS: 1}},
		{version: packet.Version311, sub: packet.Subscription{QoS: 2}, clean: true},
		{version: packet.Version5, sub: packet.Subscription{QoS: 0}, clean: true},
		{version: packet.Version5, sub: packet.Subscription{QoS: 1}, clean: true},
		{version: packet.Version5, sub: packet.Subscription{QoS: 2, RetainAsPublished: true}, clean: true},
		{version: packet.Version5, sub: packet.Subscription{QoS: 1}, subID: 9, clean: true},
		{version: packet.Version5, sub: packet.Subscription{QoS: 1}, aliases: 4, clean: true},
	}
	conns := make([]*frameConn, len(subs))
	for i, s := range subs {
		conns[i] = byteSubscriber(t, tb.addr, fmt.Sprintf("s%d", i), s, read)
	}
	props := packet.Properties{PayloadFormat: 1, MessageExpirySeconds: 100, ContentType: "text/plain",
		ResponseTopic: "re/ply", CorrelationData: []byte{7}, UserProperties: []packet.UserProperty{{Key: "k", Value: "v"}}}
	props.Present.Add(packet.PropMessageExpiry)
	pub := &packet.Publish{QoS: 2, Retain: true, Topic: "share/it", Payload: []byte("hello"), Properties: props}
	publishV5(t, tb.addr, pub, read)
	for i, s := range subs {
		conns[i].expectPublish(expectedPublish(pub, s, s.sub.RetainAsPublished))
	}
	// A resend after a reconnect carries dup; retained on subscribe, retain.
	conns[1].nc.Close()
	again := byteSubscriber(t, tb.addr, "s1", byteSub{version: packet.Version311}, read)
	resent := expectedPublish(pub, subs[1], false)
	resent.Dup = true
	again.expectPublish(resent)
	for i, s := range subs[:6] {
		late := byteSubscriber(t, tb.addr, fmt.Sprintf("late%d", i), s, read)
		late.expectPublish(expectedPublish(pub, s, true))
	}
	st := tb.broker.Stats()
	if got, want := st.BytesSent.Load(), read.bytes; got != want {
		t.Errorf("BytesSent %d, clients read %d", got, want)
	}
	if got, want := st.PublishSent(), read.publishes; got != want {
		t.Errorf("PublishSent %d, clients read %d", got, want)
	}
}

// byteSubscriber connects as id and subscribes to share/# (unless s.sub
// has no QoS and no version-5 options: a resumed session).
func byteSubscriber(t *testing.T, addr, id string, s byteSub, read *readCount) *frameConn {
	t.Helper()
	cp := &packet.Connect{ProtocolVersion: s.version, CleanStart: s.clean, ClientID: id, KeepAliveSeconds: 60}
	cp.Properties.TopicAliasMaximum = s.aliases
	fc := dialFrames(t, addr, cp, read)
	if s.clean || s.sub.QoS > 0 || s.subID != 0 {
		s.sub.Filter = "share/#"
		fc.subscribe(s.sub, s.subID)
	}
	return fc
}

// expectedPublish is the PUBLISH subscriber s should receive of pub.
func expectedPublish(pub *packet.Publish, s byteSub, retain bool) packet.Publish {
	p := packet.Publish{QoS: min(pub.QoS, s.sub.QoS), Retain: retain && pub.Retain, Topic: pub.Topic, Payload: pub.Payload}
	if s.version != packet.Version5 {
		return p
	}
	p.Properties = pub.Properties
	if s.subID != 0 {
		p.Properties.SubscriptionIDs = []uint32{s.subID}
	}
	if s.aliases != 0 {
		p.Properties.TopicAlias = 1
	}
	return p
}

// publishV5 publishes pub from a 5.0 client and completes its QoS 2 flow.
func publishV5(t *testing.T, addr string, pub *packet.Publish, read *readCount) {
	t.Helper()
	fc := dialFrames(t, addr, &packet.Connect{ProtocolVersion: packet.Version5, CleanStart: true, ClientID: "pub", KeepAliveSeconds: 60}, read)
	pub.PacketID = 1
	fc.roundTrip(pub, packet.TypePubrec)
	fc.roundTrip(&packet.Pubrel{PacketID: 1}, packet.TypePubcomp)
	pub.PacketID = 0
}

// TestVectoredWritesEveryListener: payloads from a few bytes to past the
// output buffer's bounds (copied, referenced, written out mid-drain),
// published in a burst, reach subscribers on TCP (writev), TLS and
// WebSocket (the parts written in turn) whole and in order, at QoS 0 and 1,
// shared and not.
func TestVectoredWritesEveryListener(t *testing.T) {
	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprintf("shared=%v", shared), func(t *testing.T) {
			defer mqtt.SetShareEncodings(mqtt.SetShareEncodings(shared))
			testVectoredWrites(t)
		})
	}
}

func testVectoredWrites(t *testing.T) {
	tb := startBroker(t, nil)
	urls, pool := tlsAndWebSocket(t, tb)
	var want []string
	for i, size := range []int{10, 3000, 100, 70000, 2047, 2048, 300000, 5, 900000, 64} {
		p := bytes.Repeat([]byte{byte('a' + i)}, size)
		want = append(want, fmt.Sprintf("%d:%s", i, p))
	}
	var inboxes []*inbox
	for name, url := range urls {
		for _, qos := range []byte{0, 1} {
			in := newInbox()
			inboxes = append(inboxes, in)
			c := pahoClient(t, url, fmt.Sprintf("sub-%s-%d", name, qos), true, func(o *paho.ClientOptions) {
				o.SetTLSConfig(&tls.Config{RootCAs: pool})
			})
			wait(t, c.Subscribe("v/#", qos, in.handler))
		}
	}
	pub := pahoClient(t, tb.url(), "pub", true, nil)
	var toks []paho.Token
	for _, p := range want {
		toks = append(toks, pub.Publish("v/x", 1, false, p))
	}
	for _, tok := range toks {
		wait(t, tok)
	}
	for i, in := range inboxes {
		in.waitN(t, len(want), 20*time.Second)
		if got := in.payloads(); !slices.Equal(got, want) {
			t.Fatalf("subscriber %d: %d payloads, not those sent in order", i, len(got))
		}
	}
}

// tlsAndWebSocket adds a TLS and a WebSocket listener to tb; the URLs of
// its three listeners, and the pool that trusts the TLS one.
func tlsAndWebSocket(t *testing.T, tb *testBroker) (map[string]string, *x509.CertPool) {
	cert, pool := testpki.SelfSigned(t)
	tln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	go tb.broker.Serve(tln, "tls")
	wln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := tb.broker.ListenerFor(wln.Addr(), "ws")
	hs := &http.Server{Handler: mqtt.WebSocketHandler(func(c net.Conn) { tb.broker.ServeConn(c, l) }, zerolog.Nop())}
	go hs.Serve(wln)
	t.Cleanup(func() { hs.Close() })
	return map[string]string{"tcp": tb.url(), "tls": "ssl://" + tln.Addr().String(),
		"ws": "ws://" + wln.Addr().String() + "/mqtt"}, pool
}
