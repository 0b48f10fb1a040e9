package mqtt_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratamq/strata/mqtt"
	"github.com/stratamq/strata/mqtt/packet"
)

// BenchmarkFanout50: one publisher, 50 subscribers of its topic on a fake
// cluster, all through real sockets; an op is one published message (50
// deliveries). The subscribers are lean frame scanners that allocate
// nothing per packet, so allocs/op is the broker's (and the publisher's
// one send) per message: divide by 50 for allocations per delivery.
// Run with -benchtime 20000x -benchmem: QoS 0 subscribers past
// QueueLength would drop. The shared sub-benchmarks encode a message once
// per variant (encodeshare.go); per-subscriber encodes it for each, as
// before issue 14 item 3.
func BenchmarkFanout50(b *testing.B) { benchFanoutModes(b, 50) }

// BenchmarkFanout1 is BenchmarkFanout50 with one subscriber: what sharing
// costs a message nobody else receives (fan-in's case).
func BenchmarkFanout1(b *testing.B) { benchFanoutModes(b, 1) }

func benchFanoutModes(b *testing.B, subscribers int) {
	for _, qos := range []byte{0, 1} {
		for _, mode := range []struct {
			name   string
			shared bool
		}{{"per-subscriber", false}, {"shared", true}} {
			b.Run(fmt.Sprintf("qos=%d/%s", qos, mode.name), func(b *testing.B) {
				defer mqtt.SetShareEncodings(mqtt.SetShareEncodings(mode.shared))
				benchFanout(b, subscribers, qos, 64)
			})
		}
	}
}

func benchFanout(b *testing.B, subscribers int, qos byte, size int) {
	tb := startBroker(b, func(o *mqtt.Options) { o.QueueLength = 1 << 20 })
	var got atomic.Int64
	for i := range subscribers {
		nc := benchConnect(b, tb.addr, fmt.Sprintf("sub%d", i))
		benchSubscribe(b, nc, "fan/out", qos)
		go scanDeliveries(nc, &got)
	}
	pub := benchConnect(b, tb.addr, "pub")
	send := benchPublisher(b, pub, qos, size)
	want := int64(b.N) * int64(subscribers)
	b.ReportAllocs()
	b.ResetTimer()
	start, w0 := time.Now(), writeSyscalls()
	if err := send(b.N); err != nil {
		b.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Minute); got.Load() < want; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("received %d of %d deliveries (dropped %d)", got.Load(), want,
				tb.broker.Stats().DroppedQoS0.Load())
		}
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(want)/el.Seconds(), "deliveries/s")
	b.ReportMetric(float64(el.Nanoseconds())/float64(want), "ns/delivery")
	if w0 >= 0 {
		b.ReportMetric(float64(writeSyscalls()-w0)/float64(want), "writes/delivery")
	}
}

// writeSyscalls is the process's count of write syscalls (Linux), -1 when
// unknown: in a QoS 0 fan-out nearly all of them are the broker's writes
// to subscribers (the publisher's are buffered 64 KiB at a time).
func writeSyscalls() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "syscw: "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

// benchPublisher returns a function that publishes n messages of size
// bytes on fan/out at qos through nc, QoS 1 ones with up to 500 in flight.
func benchPublisher(b *testing.B, nc net.Conn, qos byte, size int) func(n int) error {
	w := bufio.NewWriterSize(nc, 64<<10)
	p := &packet.Publish{Topic: "fan/out", QoS: qos, Payload: make([]byte, size)}
	if qos > 0 {
		p.PacketID = 1
	}
	msg, err := packet.Encode(nil, p, packet.Version311)
	if err != nil {
		b.Fatal(err)
	}
	idAt := packet.PublishIDAt(msg)
	window := make(chan struct{}, 500)
	if qos > 0 {
		go drainAcks(nc, window)
	}
	return func(n int) error {
		for i := range n {
			if qos > 0 {
				if len(window) == cap(window) && w.Flush() != nil {
					return fmt.Errorf("publisher: %w", w.Flush())
				}
				window <- struct{}{}
				id := uint16(i%65535) + 1
				msg[idAt], msg[idAt+1] = byte(id>>8), byte(id)
			}
			w.Write(msg)
		}
		return w.Flush()
	}
}

// drainAcks frees a window slot for each PUBACK nc receives.
func drainAcks(nc net.Conn, window chan struct{}) {
	r := bufio.NewReaderSize(nc, 4<<10)
	var ack [4]byte
	for {
		if _, err := io.ReadFull(r, ack[:]); err != nil {
			return
		}
		<-window
	}
}

// benchConnect opens an MQTT 3.1.1 session with a clean start.
func benchConnect(b *testing.B, addr, id string) net.Conn {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() })
	cp := &packet.Connect{ProtocolVersion: packet.Version311, CleanStart: true, ClientID: id, KeepAliveSeconds: 60}
	benchRoundTrip(b, nc, cp, packet.TypeConnack)
	return nc
}

func benchSubscribe(b *testing.B, nc net.Conn, filter string, qos byte) {
	s := &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: filter, QoS: qos}}}
	benchRoundTrip(b, nc, s, packet.TypeSuback)
}

func benchRoundTrip(b *testing.B, nc net.Conn, p packet.Packet, want packet.Type) {
	buf, err := packet.Encode(nil, p, packet.Version311)
	if err == nil {
		_, err = nc.Write(buf)
	}
	if err != nil {
		b.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := packet.Read(bufio.NewReaderSize(nc, 1), packet.Version311, 0)
	nc.SetReadDeadline(time.Time{})
	if err != nil || got.Type() != want {
		b.Fatalf("want %s, got %v, %v", want, got, err)
	}
}

// scanDeliveries counts the PUBLISH packets nc receives and acknowledges
// QoS 1 ones, without decoding them (nor allocating per packet), until
// the socket ends.
func scanDeliveries(nc net.Conn, got *atomic.Int64) {
	r := bufio.NewReaderSize(nc, 64<<10)
	w := bufio.NewWriterSize(nc, 4<<10)
	var body [64 << 10]byte
	for {
		h, err := r.ReadByte()
		if err != nil {
			return
		}
		n, err := binary.ReadUvarint(r) // MQTT's variable byte integer is a uvarint
		if err != nil || n > uint64(len(body)) {
			return
		}
		if _, err := io.ReadFull(r, body[:n]); err != nil {
			return
		}
		if h>>4 != byte(packet.TypePublish) {
			continue
		}
		got.Add(1)
		if h>>1&3 == 1 {
			at := 2 + int(binary.BigEndian.Uint16(body[:2]))
			w.Write([]byte{byte(packet.TypePuback) << 4, 2, body[at], body[at+1]})
		}
		if r.Buffered() == 0 && w.Flush() != nil {
			return
		}
	}
}
