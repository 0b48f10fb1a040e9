package mqtt_test

import (
	"bytes"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/stratamq/strata/auth"
	"github.com/stratamq/strata/mqtt"
	"github.com/stratamq/strata/mqtt/packet"
)

// syncBuffer is a log sink the broker's goroutines write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// dialRawFrom is dialRaw from the local address ip (127.0.0.0/8 is all
// loopback), so a test can play two source addresses.
func dialRawFrom(t *testing.T, ip, addr string, version byte) *rawClient {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	rc := &rawClient{t: t, nc: nc, version: version, in: make(chan packet.Packet, 4096),
		closed: make(chan struct{}), aliases: map[uint16]string{}}
	go rc.readLoop()
	t.Cleanup(func() { nc.Close() })
	return rc
}

// TestFailedAuthBansAddress: after the allowed failures an address gets
// CONNACK 0x8A (5.0) / 5 (3.1.1) even with the right password, another
// address is still admitted, and a connection admitted before stays up.
// No password appears in the broker's log, at debug level.
func TestFailedAuthBansAddress(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	tb := startBroker(t, func(o *mqtt.Options) {
		o.Auth = testAuth{"alice", "s3cret-good"}
		o.AuthLimiter = auth.NewFailureLimiter(auth.LimiterOptions{Failures: 3, Window: time.Hour, Ban: time.Hour})
		o.Logger = zerolog.New(&logs).Level(zerolog.DebugLevel)
	})
	connect := func(from, pass string) *packet.Connack {
		rc := dialRawFrom(t, from, tb.addr, packet.Version5)
		ack := rc.connect(&packet.Connect{ProtocolVersion: 5, ClientID: "c-" + from, CleanStart: true,
			HasUsername: true, Username: "alice", HasPassword: true, Password: []byte(pass)})
		if ack.ReasonCode == 0 {
			t.Cleanup(func() { rc.disconnect(nil) })
		}
		return ack
	}
	early := dialRawFrom(t, "127.0.0.1", tb.addr, packet.Version5)
	if ack := early.connect(&packet.Connect{ProtocolVersion: 5, ClientID: "early", CleanStart: true,
		HasUsername: true, Username: "alice", HasPassword: true, Password: []byte("s3cret-good")}); ack.ReasonCode != 0 {
		t.Fatalf("first CONNECT: %v", ack.ReasonCode)
	}
	for i := 0; i < 3; i++ {
		if ack := connect("127.0.0.1", "wrong-pass-"+string(rune('a'+i))); ack.ReasonCode != packet.CodeBadUsernameOrPassword {
			t.Fatalf("failure %d: CONNACK %v", i+1, ack.ReasonCode)
		}
	}
	if ack := connect("127.0.0.1", "s3cret-good"); ack.ReasonCode != packet.CodeBanned {
		t.Fatalf("banned address, good password: CONNACK %v (%q), want banned", ack.ReasonCode, ack.Properties.ReasonString)
	}
	cp := &packet.Connect{ClientID: "v3", CleanStart: true, HasUsername: true, Username: "alice", HasPassword: true, Password: []byte("s3cret-good")}
	if ack := connack311(t, tb.addr, cp); ack[3] != 0x05 {
		t.Fatalf("banned address, 3.1.1: CONNACK % x, want return code 5", ack)
	}
	if ack := connect("127.0.0.2", "s3cret-good"); ack.ReasonCode != 0 {
		t.Fatalf("another address: CONNACK %v", ack.ReasonCode)
	}
	early.mustSend(&packet.Pingreq{})
	expect[*packet.Pingresp](t, early, 5*time.Second)
	for _, secret := range []string{"s3cret-good", "wrong-pass"} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("the log holds a password %q:\n%s", secret, logs.String())
		}
	}
	if !strings.Contains(logs.String(), "connection refused") {
		t.Fatalf("refusals not logged:\n%s", logs.String())
	}
}
