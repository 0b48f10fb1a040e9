package mqtt_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stratamq/strata/internal/testpki"
	"github.com/stratamq/strata/mqtt"
	"github.com/stratamq/strata/mqtt/packet"
)

// connectBytes is a CONNECT with protocol name, level and client id "c",
// Clean Start, keep alive 60 and, for level 5, no properties.
func connectBytes(name string, level byte) []byte {
	body := []byte{0, byte(len(name))}
	body = append(body, name...)
	body = append(body, level, 0x02, 0, 60)
	if level == 5 {
		body = append(body, 0)
	}
	body = append(body, 0, 1, 'c')
	return append([]byte{0x10, byte(len(body))}, body...)
}

// readAllRaw sends raw on a new connection and returns every byte the broker
// sends until it closes the connection; the close must come within d.
func readAllRaw(t *testing.T, addr string, raw []byte, d time.Duration) []byte {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write(raw); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(d))
	got, err := io.ReadAll(nc)
	if err != nil {
		t.Fatalf("connection not closed cleanly within %v: %v (read % x)", d, err, got)
	}
	return got
}

// TestUnsupportedProtocolLevel: a protocol level the broker does not speak
// gets CONNACK return code 0x01 in the 3.1.1 format (remaining length 2),
// whatever the level, then the close [MQTT-3.1.2-2]. The client has already
// sent 64 KiB more (pipelined PINGREQs) that the broker never reads as
// packets: it still reads the CONNACK and an orderly end, not a reset.
func TestUnsupportedProtocolLevel(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	want := []byte{0x20, 0x02, 0x00, 0x01}
	pipelined := bytes.Repeat([]byte{0xC0, 0}, 32<<10)
	for _, tc := range []struct {
		name  string
		level byte
	}{{"MQTT", 0}, {"MQTT", 2}, {"MQTT", 3}, {"MQTT", 6}, {"MQTT", 255}, {"MQIsdp", 4}, {"MQIsdp", 5}} {
		raw := append(connectBytes(tc.name, tc.level), pipelined...)
		if got := readAllRaw(t, tb.addr, raw, 10*time.Second); !bytes.Equal(got, want) {
			t.Errorf("%s level %d: got % x, want % x then close", tc.name, tc.level, got, want)
		}
	}
}

// TestWrongProtocolName: a CONNECT whose protocol name is not MQTT (or
// MQIsdp) is not MQTT: the broker closes without a CONNACK, for every level
// (3.1.1 [MQTT-3.1.2-1] allows the close; 5.0 [MQTT-3.1.2-1] allows it
// without the optional CONNACK 0x84).
func TestWrongProtocolName(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	for _, level := range []byte{3, 4, 5} {
		if got := readAllRaw(t, tb.addr, connectBytes("MQTX", level), 10*time.Second); len(got) != 0 {
			t.Errorf("level %d: got % x, want close without CONNACK", level, got)
		}
	}
}

// reasonRow is one end-to-end row of the table in docs/mqtt.md ("Malformed
// Packet or Protocol Error"): raw bytes an MQTT 5 client sends and the
// reason code the broker answers with, in a DISCONNECT (after CONNECT) or in
// the CONNACK (when raw is the CONNECT).
type reasonRow struct {
	name string
	raw  []byte
	want packet.ReasonCode
}

var afterConnectRows = []reasonRow{
	// A packet type the server never receives [MQTT-4.8.0-1] closes: Protocol Error.
	{"CONNACK from a client", []byte{0x20, 3, 0, 0, 0}, packet.CodeProtocolError},
	{"SUBACK from a client", []byte{0x90, 4, 0, 1, 0, 0}, packet.CodeProtocolError},
	{"UNSUBACK from a client", []byte{0xB0, 4, 0, 1, 0, 0}, packet.CodeProtocolError},
	{"PINGRESP from a client", []byte{0xD0, 0}, packet.CodeProtocolError},
	{"second CONNECT [MQTT-3.1.0-2]", connectBytes("MQTT", 5), packet.CodeProtocolError},
	{"AUTH without a method in CONNECT", []byte{0xF0, 0}, packet.CodeProtocolError},
	// Reserved bits and values: Malformed Packet.
	{"reserved packet type 0", []byte{0x00, 0}, packet.CodeMalformedPacket},
	{"PINGREQ flags [MQTT-2.1.3-1]", []byte{0xC1, 0}, packet.CodeMalformedPacket},
	{"SUBSCRIBE flags 0000 [MQTT-3.8.1-1]", []byte{0x80, 6, 0, 1, 0, 0, 1, 'a', 0}, packet.CodeMalformedPacket},
	{"PUBLISH QoS 3 [MQTT-3.3.1-4]", []byte{0x36, 6, 0, 1, 't', 0, 1, 0}, packet.CodeMalformedPacket},
	{"SUBSCRIBE reserved option bits [MQTT-3.8.3-5]", []byte{0x82, 7, 0, 1, 0, 0, 1, 'a', 0xC0}, packet.CodeMalformedPacket},
	{"UNSUBSCRIBE flags 0000 [MQTT-3.10.1-1]", []byte{0xA0, 6, 0, 1, 0, 0, 1, 'a'}, packet.CodeMalformedPacket},
	{"DISCONNECT flags 0010 [MQTT-3.14.1-1]", []byte{0xE2, 0}, packet.CodeMalformedPacket},
	{"AUTH flags 0001 [MQTT-3.15.1-1]", []byte{0xF1, 0}, packet.CodeMalformedPacket},
	{"DISCONNECT property length past the end", []byte{0xE0, 2, 0, 5}, packet.CodeMalformedPacket},
	// Properties.
	{"PUBLISH with Session Expiry (not a PUBLISH property)", []byte{0x30, 9, 0, 1, 't', 5, 0x11, 0, 0, 0, 1}, packet.CodeMalformedPacket},
	{"PUBLISH with Payload Format twice", []byte{0x30, 8, 0, 1, 't', 4, 0x01, 0, 0x01, 0}, packet.CodeProtocolError},
	{"SUBSCRIBE Maximum QoS 3 (section 3.8.3.1)", []byte{0x82, 7, 0, 1, 0, 0, 1, 'a', 3}, packet.CodeProtocolError},
	{"SUBSCRIBE Retain Handling 3", []byte{0x82, 7, 0, 1, 0, 0, 1, 'a', 0x30}, packet.CodeProtocolError},
	{"SUBSCRIBE without a filter (section 3.8.3)", []byte{0x82, 3, 0, 1, 0}, packet.CodeProtocolError},
	{"UNSUBSCRIBE without a filter [MQTT-3.10.3-2]", []byte{0xA2, 3, 0, 1, 0}, packet.CodeProtocolError},
	{"PUBLISH with a Subscription Identifier [MQTT-3.3.4-6]", []byte{0x30, 6, 0, 1, 't', 2, 0x0B, 1}, packet.CodeProtocolError},
	{"PUBLISH Topic Alias 0 [MQTT-3.3.2-8]", []byte{0x30, 7, 0, 1, 't', 3, 0x23, 0, 0}, packet.CodeTopicAliasInvalid},
}

// TestReasonCodesAfterConnect: each row closes an MQTT 5 connection with a
// DISCONNECT carrying its reason code [MQTT-4.13.1-1] [MQTT-4.13.2-1].
func TestReasonCodesAfterConnect(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	for _, row := range afterConnectRows {
		t.Run(row.name, func(t *testing.T) {
			rc, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "reasons", CleanStart: true})
			if err := rc.sendBytes(row.raw); err != nil {
				t.Fatal(err)
			}
			rc.expectDisconnect(row.want, 10*time.Second)
		})
	}
}

var connectRows = []reasonRow{
	{"reserved connect flag [MQTT-3.1.2-3]", []byte{0x10, 14, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x03, 0, 60, 0, 0, 1, 'c'}, packet.CodeMalformedPacket},
	{"will QoS 3 [MQTT-3.1.2-12]", []byte{0x10, 14, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x1E, 0, 60, 0, 0, 1, 'c'}, packet.CodeMalformedPacket},
	{"Topic Alias in CONNECT", []byte{0x10, 17, 0, 4, 'M', 'Q', 'T', 'T', 5, 0, 0, 0, 3, 0x23, 0, 1, 0, 1, 'c'}, packet.CodeMalformedPacket},
	{"Session Expiry twice", []byte{0x10, 24, 0, 4, 'M', 'Q', 'T', 'T', 5, 0, 0, 0, 10, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2, 0, 1, 'c'}, packet.CodeProtocolError},
	{"second Authentication Method", []byte{0x10, 24, 0, 4, 'M', 'Q', 'T', 'T', 5, 0, 0, 0, 10, 0x15, 0, 2, 'a', 'b', 0x15, 0, 2, 'c', 'd', 0, 1, 'c'}, packet.CodeProtocolError},
	{"Authentication Data without Method", []byte{0x10, 18, 0, 4, 'M', 'Q', 'T', 'T', 5, 0, 0, 0, 4, 0x16, 0, 1, 'x', 0, 1, 'c'}, packet.CodeProtocolError},
	{"Receive Maximum 0", []byte{0x10, 17, 0, 4, 'M', 'Q', 'T', 'T', 5, 0, 0, 0, 3, 0x21, 0, 0, 0, 1, 'c'}, packet.CodeProtocolError},
	// Connect flags that disagree with the payload (5.0 numbering).
	{"will QoS 1 without the will flag [MQTT-3.1.2-11]", connectFlags(5, 0x0A, 0, 1, 'c'), packet.CodeMalformedPacket},
	{"will retain without the will flag [MQTT-3.1.2-13]", connectFlags(5, 0x22, 0, 1, 'c'), packet.CodeMalformedPacket},
	{"user name without its flag [MQTT-3.1.2-16]", connectFlags(5, 0x02, 0, 1, 'c', 0, 1, 'u'), packet.CodeMalformedPacket},
	{"password without its flag [MQTT-3.1.2-18]", connectFlags(5, 0x82, 0, 1, 'c', 0, 1, 'u', 0, 1, 'p'), packet.CodeMalformedPacket},
}

// connect311Rows break a 3.1.1 CONNECT rule for which 3.1.1 has no CONNACK
// return code, so the broker closes without a CONNACK (3.1.1 numbering:
// [MQTT-3.1.4-1] [MQTT-3.2.2-6]).
var connect311Rows = []struct {
	name string
	raw  []byte
}{
	{"reserved connect flag [MQTT-3.1.2-3]", connectFlags(4, 0x03, 0, 1, 'c')},
	{"will QoS 1 without the will flag [MQTT-3.1.2-11] [MQTT-3.1.2-13]", connectFlags(4, 0x0A, 0, 1, 'c')},
	{"will retain without the will flag [MQTT-3.1.2-11] [MQTT-3.1.2-15]", connectFlags(4, 0x22, 0, 1, 'c')},
	{"will QoS 3 [MQTT-3.1.2-14]", connectFlags(4, 0x1E, 0, 1, 'c', 0, 1, 'w', 0, 0)},
	{"user name without its flag [MQTT-3.1.2-18]", connectFlags(4, 0x02, 0, 1, 'c', 0, 1, 'u')},
	{"password without its flag [MQTT-3.1.2-20]", connectFlags(4, 0x82, 0, 1, 'c', 0, 1, 'u', 0, 1, 'p')},
	{"password flag without user name flag [MQTT-3.1.2-22]", connectFlags(4, 0x42, 0, 1, 'c', 0, 1, 'p')},
}

// connectFlags is a CONNECT at level (4, or 5 with no properties) with the
// given connect flags, keep alive 60 and payload, byte for byte.
func connectFlags(level, flags byte, payload ...byte) []byte {
	body := []byte{0, 4, 'M', 'Q', 'T', 'T', level, flags, 0, 60}
	if level == 5 {
		body = append(body, 0)
	}
	body = append(body, payload...)
	return append([]byte{0x10, byte(len(body))}, body...)
}

// TestReasonCodesInConnack: a malformed or protocol-violating CONNECT of an
// MQTT 5 client gets CONNACK with 0x81 or 0x82, then the close
// [MQTT-4.13.1-1] [MQTT-3.1.4-1] [MQTT-3.2.2-7]; the same kind of CONNECT at
// level 4 is closed without a CONNACK (3.1.1 has no return code for it).
func TestReasonCodesInConnack(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	for _, row := range connectRows {
		t.Run(row.name, func(t *testing.T) {
			rc := dialRaw(t, tb.addr, packet.Version5)
			if err := rc.sendBytes(row.raw); err != nil {
				t.Fatal(err)
			}
			if ack := expect[*packet.Connack](t, rc, 10*time.Second); ack.ReasonCode != row.want {
				t.Fatalf("CONNACK %v (%q), want %v", ack.ReasonCode, ack.Properties.ReasonString, row.want)
			}
			rc.waitClose(10 * time.Second)
		})
	}
	for _, row := range connect311Rows {
		if got := readAllRaw(t, tb.addr, row.raw, 10*time.Second); len(got) != 0 {
			t.Errorf("3.1.1 %s: got % x, want close without CONNACK", row.name, got)
		}
	}
}

// afterConnect311Rows break a 3.1.1 rule after the CONNACK (3.1.1
// numbering throughout). 3.1.1 has no server DISCONNECT: the broker closes
// the connection without sending anything [MQTT-4.8.0-1].
var afterConnect311Rows = []struct {
	name string
	raw  []byte
}{
	{"PINGREQ flags 0001 [MQTT-2.2.2-1] [MQTT-2.2.2-2]", []byte{0xC1, 0}},
	{"PUBREL flags 0000 [MQTT-2.2.2-1] [MQTT-2.2.2-2]", []byte{0x60, 2, 0, 1}},
	{"SUBSCRIBE flags 0000 [MQTT-3.8.1-1]", []byte{0x80, 6, 0, 1, 0, 1, 'a', 0}},
	{"SUBSCRIBE reserved option bits [MQTT-3.8.3-4]", []byte{0x82, 6, 0, 1, 0, 1, 'a', 0x04}},
	{"SUBSCRIBE QoS 3 [MQTT-3.8.3-4]", []byte{0x82, 6, 0, 1, 0, 1, 'a', 3}},
	{"UNSUBSCRIBE flags 0000 [MQTT-3.10.1-1]", []byte{0xA0, 5, 0, 1, 0, 1, 'a'}},
	{"UNSUBSCRIBE without a filter [MQTT-3.10.3-2]", []byte{0xA2, 2, 0, 1}},
	{"DISCONNECT flags 0010 [MQTT-3.14.1-1]", []byte{0xE2, 0}},
	{"CONNACK from a client", []byte{0x20, 2, 0, 0}},
	{"AUTH, a reserved type in 3.1.1", []byte{0xF0, 0}},
}

// TestProtocolViolationsClose311: each row closes a 3.1.1 connection with
// nothing sent back, and as the close is not a normal DISCONNECT the will
// is published (3.1.1 [MQTT-3.1.2-8]): that tells a DISCONNECT with bad
// flags from a valid one.
func TestProtocolViolationsClose311(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	sub, _ := dial311(t, tb.addr, &packet.Connect{ClientID: "will-watch", CleanStart: true})
	sub.subscribe(0, packet.Subscription{Filter: "v311/#"})
	for i, row := range afterConnect311Rows {
		t.Run(row.name, func(t *testing.T) {
			topic := fmt.Sprintf("v311/%d", i)
			rc, _ := dial311(t, tb.addr, &packet.Connect{ClientID: topic, CleanStart: true,
				Will: &packet.Will{Topic: topic, Payload: []byte("gone")}})
			if err := rc.sendBytes(row.raw); err != nil {
				t.Fatal(err)
			}
			if p, err := rc.next(10 * time.Second); err == errTimeout || p != nil {
				t.Fatalf("got %T %v, want the close with nothing sent", p, err)
			}
			if _, got := sub.recvPublish(10 * time.Second); got != topic {
				t.Fatalf("will on %q, want %q", got, topic)
			}
		})
	}
}

// TestRefusedConnectIgnoresRest: after a CONNACK that refuses the
// connection the broker processes nothing else the client sent: a retained
// PUBLISH pipelined behind the CONNECT is never stored (5.0 [MQTT-3.1.4-6],
// 3.1.1 [MQTT-3.1.4-5]). 5.0 is refused for its Authentication Method,
// 3.1.1 for an empty client identifier with Clean Session 0.
func TestRefusedConnectIgnoresRest(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, nil)
	v5 := &packet.Connect{ProtocolVersion: 5, ClientID: "refused5", CleanStart: true}
	v5.Properties.AuthMethod = "SCRAM-SHA-256"
	v4 := &packet.Connect{ProtocolVersion: 4}
	for _, cp := range []*packet.Connect{v5, v4} {
		rc := dialRaw(t, tb.addr, cp.ProtocolVersion)
		topic := fmt.Sprintf("refused/%d", cp.ProtocolVersion)
		rc.mustSend(cp, &packet.Publish{Topic: topic, Retain: true, Payload: []byte("x")}, &packet.Pingreq{})
		if ack := expect[*packet.Connack](t, rc, 10*time.Second); ack.ReasonCode == packet.CodeSuccess {
			t.Fatalf("level %d: CONNACK accepted the connection", cp.ProtocolVersion)
		}
		if p, err := rc.next(10 * time.Second); err == errTimeout || p != nil {
			t.Fatalf("level %d: after the CONNACK got %T %v, want the close", cp.ProtocolVersion, p, err)
		}
	}
	check, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "check", CleanStart: true})
	check.subscribe(0, packet.Subscription{Filter: "refused/#"})
	check.noPublish(300 * time.Millisecond)
}

// TestReceiveMaximumDisconnectReadByBusyClient: a client that exceeds
// Receive Maximum with QoS 2 and keeps sending (PUBLISH, PUBREL) still reads
// DISCONNECT 0x93 and then an orderly end of stream, not a reset: the broker
// half-closes and discards what arrives for CloseLinger [MQTT-3.3.4-9]. The
// DISCONNECT is the last packet sent [MQTT-3.14.4-1], then the broker
// closes [MQTT-3.14.4-2].
func TestReceiveMaximumDisconnectReadByBusyClient(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(o *mqtt.Options) { o.ReceiveMaximum = 2 })
	nc, err := net.DialTimeout("tcp", tb.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	br := bufio.NewReader(nc)
	mustWrite(t, nc, &packet.Connect{ProtocolVersion: 5, ClientID: "busy", CleanStart: true})
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if p, err := packet.Read(br, 5, 0); err != nil || p.(*packet.Connack).ReasonCode != 0 {
		t.Fatalf("CONNACK: %v %v", p, err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go keepSending(nc, stop)

	var got *packet.Disconnect
	for {
		p, err := packet.Read(br, 5, 0)
		if err != nil {
			if got == nil || !errors.Is(err, io.EOF) {
				t.Fatalf("read ended with %v after DISCONNECT %v, want DISCONNECT 0x93 then EOF", err, got)
			}
			break
		}
		if got != nil {
			t.Fatalf("%T after DISCONNECT %v [MQTT-3.14.4-1]", p, got.ReasonCode)
		}
		if d, ok := p.(*packet.Disconnect); ok {
			got = d
		}
	}
	if got.ReasonCode != packet.CodeReceiveMaximumExceeded {
		t.Fatalf("DISCONNECT %v, want %v", got.ReasonCode, packet.CodeReceiveMaximumExceeded)
	}
}

// keepSending writes QoS 2 PUBLISHes and PUBRELs (unanswered: no PUBREC
// read) until stop, a write error, 2 s or 20,000 packets.
func keepSending(nc net.Conn, stop chan struct{}) {
	deadline := time.Now().Add(2 * time.Second)
	var buf []byte
	for i := range 10000 {
		select {
		case <-stop:
			return
		default:
		}
		if time.Now().After(deadline) {
			return
		}
		id := uint16(i%60000 + 1)
		buf, _ = packet.Encode(buf[:0], &packet.Publish{Topic: "busy/t", QoS: 2, PacketID: id, Payload: []byte("x")}, 5)
		buf, _ = packet.Encode(buf, &packet.Pubrel{PacketID: id}, 5)
		if _, err := nc.Write(buf); err != nil {
			return
		}
	}
}

func mustWrite(t *testing.T, nc net.Conn, p packet.Packet) {
	t.Helper()
	raw, err := packet.Encode(nil, p, 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(raw); err != nil {
		t.Fatal(err)
	}
}

// TestCloseLingerIsBounded: a client that never closes its side after our
// DISCONNECT, and keeps writing, has its connection closed once CloseLinger
// has passed: the discard is bounded in time, and the sender of the
// DISCONNECT closes the connection whatever the peer does [MQTT-3.14.4-2].
func TestCloseLingerIsBounded(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, func(o *mqtt.Options) { o.CloseLinger = 200 * time.Millisecond })
	rc, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "linger", CleanStart: true})
	start := time.Now()
	if err := rc.sendBytes([]byte{0xD0, 0}); err != nil { // PINGRESP: a Protocol Error
		t.Fatal(err)
	}
	rc.expectDisconnect(packet.CodeProtocolError, 10*time.Second)
	waitFor(t, 10*time.Second, "the broker to close the lingering socket", func() bool {
		return rc.sendBytes([]byte{0xC0, 0}) != nil // a reset once closed
	})
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("closed after %v, before CloseLinger", d)
	}
}

// TestCloseWithReasonOverTLS: over TLS the half-close is a close_notify; a
// client whose PINGRESP (a Protocol Error) is followed by 64 KiB the broker
// never handles reads DISCONNECT 0x82 and then a clean end of stream.
func TestCloseWithReasonOverTLS(t *testing.T) {
	t.Parallel()
	addr, roots := startTLSBroker(t, testpki.NewCA(t, "client CA"), false)
	rc, err := dialTLS(t, addr, roots, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ack := rc.connect(&packet.Connect{ClientID: "tls-close", CleanStart: true}); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
	raw := append([]byte{0xD0, 0}, bytes.Repeat([]byte{0xC0, 0}, 32<<10)...)
	if err := rc.sendBytes(raw); err != nil {
		t.Fatal(err)
	}
	rc.expectDisconnect(packet.CodeProtocolError, 10*time.Second)
	if !errors.Is(rc.err, io.EOF) {
		t.Fatalf("after DISCONNECT the read ended with %v, want EOF", rc.err)
	}
}
