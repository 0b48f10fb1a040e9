package mqtt_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/mqtt"
	"github.com/stratamq/strata/mqtt/packet"
)

// damageFrame flips a byte in the body of the (ordered) frame holding off in
// the node's segment files under dir/log, as a bad disk would; the reader
// meets it on its next ReadAt. It returns a function that flips it back
// (the node "repaired" the segment).
func damageFrame(t *testing.T, dir string, off log.Offset) (repair func()) {
	t.Helper()
	path, pos := framePos(t, filepath.Join(dir, "log"), off)
	flip := func() {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var b [1]byte
		if _, err := f.ReadAt(b[:], pos); err != nil {
			t.Fatal(err)
		}
		b[0] ^= 0xFF
		if _, err := f.WriteAt(b[:], pos); err != nil {
			t.Fatal(err)
		}
	}
	flip()
	return flip
}

// framePos returns the segment file holding off and the position of a byte
// in the middle of the body of off's frame (docs/format.md: 32-byte file
// header, 64-byte frame headers with the body length at 4, base at 16,
// span at 24).
func framePos(t *testing.T, logDir string, off log.Offset) (string, int64) {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(logDir, "*.seg"))
	slices.Sort(names)
	for i := len(names) - 1; i >= 0; i-- {
		base, _ := strconv.ParseUint(strings.TrimSuffix(filepath.Base(names[i]), ".seg"), 10, 64)
		if log.Offset(base) > off {
			continue
		}
		b, err := os.ReadFile(names[i])
		if err != nil {
			t.Fatal(err)
		}
		for pos := 32; pos+64 <= len(b); {
			h := b[pos : pos+64]
			n := int(binary.LittleEndian.Uint32(h[4:]))
			lo := log.Offset(binary.LittleEndian.Uint64(h[16:]))
			hi := lo + log.Offset(binary.LittleEndian.Uint32(h[24:]))
			if h[9]&4 != 0 {
				t.Fatal("clustered segment: damageFrame handles ordered ones")
			}
			if off >= lo && off <= hi && n > 0 {
				return names[i], int64(pos + 64 + n/2)
			}
			pos += 64 + n
		}
		break
	}
	t.Fatalf("no frame holds offset %d in %s", off, logDir)
	return "", 0
}

// logOffsetOf returns the offset of the first publish with payload p.
func logOffsetOf(t *testing.T, tb *testBroker, p string) log.Offset {
	t.Helper()
	it := tb.node.Log().Iter(0)
	defer it.Close()
	for it.Next() {
		e, err := fsm.DecodeRecord(it.Record())
		if err == nil && e.Kind == fsm.KindPublish && string(e.Publish.Payload) == p {
			return it.Record().Offset
		}
	}
	t.Fatalf("no publish %q in the log (%v)", p, it.Err())
	return 0
}

// acked lists the offsets client's Ack entries in the log name.
func acked(t *testing.T, tb *testBroker, client string) map[log.Offset]bool {
	t.Helper()
	it := tb.node.Log().Iter(0)
	defer it.Close()
	out := map[log.Offset]bool{}
	for it.Next() {
		e, err := fsm.DecodeRecord(it.Record())
		if err != nil || e.Kind != fsm.KindAck || e.ClientID != client {
			continue
		}
		for _, a := range e.Acks {
			out[a.Offset] = true
		}
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// owes reports whether client's session still owes off: in flight, or in
// one of its offline gaps.
func owes(tb *testBroker, client string, off log.Offset) bool {
	v := tb.views.View()
	for _, in := range v.Inflight(client) {
		if in.Offset == off {
			return true
		}
	}
	s, _ := v.Session(client)
	for _, g := range s.Gaps {
		if off >= g.From && off < g.To {
			return true
		}
	}
	return false
}

// expectReadFailure waits for DISCONNECT 0x80 whose reason string names an
// offset in [lo, hi] and no file of the node, then for the close. It
// returns the payloads of the PUBLISHes that came first (a SUBACK may come
// before them, or not at all: the read can fail before the subscription's
// commit is answered).
func expectReadFailure(t *testing.T, rc *rawClient, dir string, lo, hi log.Offset) []string {
	t.Helper()
	var got []string
	var dp *packet.Disconnect
	for {
		p, err := rc.next(10 * time.Second)
		if err == errTimeout {
			t.Fatal("connection still open")
		}
		if err != nil {
			break
		}
		switch p := p.(type) {
		case *packet.Publish:
			got = append(got, string(p.Payload))
		case *packet.Disconnect:
			dp = p
		}
	}
	if dp == nil || dp.ReasonCode != packet.CodeUnspecifiedError {
		t.Fatalf("DISCONNECT %+v, want 0x80", dp)
	}
	why := dp.Properties.ReasonString
	m := regexp.MustCompile(`^cannot read (?:offset (\d+) from this node's log|this node's log at or after offset (\d+)) `).FindStringSubmatch(why)
	if m == nil {
		t.Fatalf("reason %q names no offset", why)
	}
	at, _ := strconv.ParseUint(m[1]+m[2], 10, 64)
	if log.Offset(at) < lo || log.Offset(at) > hi {
		t.Fatalf("reason %q: want an offset in [%d, %d]", why, lo, hi)
	}
	if strings.Contains(why, dir) || strings.Contains(why, ".seg") || !strings.Contains(why, "corrupt") {
		t.Fatalf("reason %q: want the kind of failure and no internal path", why)
	}
	return got
}

// publishAll publishes QoS 1 messages with the given payloads to topic.
func publishAll(rc *rawClient, topic string, payloads ...string) {
	for _, p := range payloads {
		rc.publish(&packet.Publish{Topic: topic, QoS: 1, Payload: []byte(p)})
	}
}

// TestReadErrorInflightResend: an in-flight message whose frame is damaged
// ends the resuming MQTT 5 connection with 0x80 naming the offset; nothing
// is acked, the session still owes it, and once the frame is good again a
// reconnect delivers it.
func TestReadErrorInflightResend(t *testing.T) {
	tb := startRealBroker(t, nil)
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	sub, _ := rawConnect(t, tb.addr, connectV5("owed", true, 60))
	sub.subscribe(0, packet.Subscription{Filter: "rf/#", QoS: 1})
	publishAll(pub, "rf/a", "m0")
	p := expect[*packet.Publish](t, sub, 10*time.Second) // not acknowledged
	sub.close()
	tb.waitOffline(t, "owed")
	off := logOffsetOf(t, tb, "m0")
	if string(p.Payload) != "m0" || !owes(tb, "owed", off) {
		t.Fatalf("got %q; owes %d: %t", p.Payload, off, owes(tb, "owed", off))
	}
	repair := damageFrame(t, tb.dir, off)

	sub, ack := rawConnect(t, tb.addr, connectV5("owed", false, 60))
	if !ack.SessionPresent {
		t.Fatal("session not resumed")
	}
	expectReadFailure(t, sub, tb.dir, off, off)
	tb.waitOffline(t, "owed")
	if !owes(tb, "owed", off) {
		t.Fatalf("offset %d no longer owed after the read failure", off)
	}

	repair()
	sub, _ = rawConnect(t, tb.addr, connectV5("owed", false, 60))
	p = expect[*packet.Publish](t, sub, 10*time.Second)
	if string(p.Payload) != "m0" || !p.Dup {
		t.Fatalf("after repair: %q dup=%t, want m0 resent", p.Payload, p.Dup)
	}
	if acked(t, tb, "owed")[off] {
		t.Fatalf("an Ack for offset %d was committed", off)
	}
}

// TestReadErrorOfflineGap: a message queued while the session was offline
// whose frame is damaged ends the resuming connection (MQTT 5: 0x80;
// 3.1.1: the socket closes), and the gap is still owed.
func TestReadErrorOfflineGap(t *testing.T) {
	for _, version := range []byte{packet.Version5, packet.Version311} {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			tb := startRealBroker(t, nil)
			id := fmt.Sprintf("gap%d", version)
			cp := func(clean bool) *packet.Connect {
				c := connectV5(id, clean, 60)
				c.ProtocolVersion = version
				return c
			}
			sub := dialRaw(t, tb.addr, version)
			sub.connect(cp(false)) // 3.1.1: clean session 0 keeps the session
			sub.subscribe(0, packet.Subscription{Filter: "gp/#", QoS: 1})
			sub.disconnect(nil)
			tb.waitOffline(t, id)
			pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
			publishAll(pub, "gp/a", "g0", "g1", "g2")
			off := logOffsetOf(t, tb, "g1")
			repair := damageFrame(t, tb.dir, off)

			sub = dialRaw(t, tb.addr, version)
			if ack := sub.connect(cp(false)); !ack.SessionPresent {
				t.Fatal("session not resumed")
			}
			if version == packet.Version5 {
				expectReadFailure(t, sub, tb.dir, logOffsetOf(t, tb, "g0")+1, off)
			} else if dp := sub.waitClose(10 * time.Second); dp != nil {
				t.Fatalf("3.1.1 client got %+v", dp)
			}
			tb.waitOffline(t, id)
			if !owes(tb, id, off) {
				t.Fatalf("offset %d no longer owed", off)
			}

			repair()
			sub = dialRaw(t, tb.addr, version)
			sub.connect(cp(false))
			var got []string
			for len(got) < 3 {
				p, _ := sub.recvPublish(10 * time.Second)
				if !slices.Contains(got, string(p.Payload)) { // g0 may come again (QoS 1)
					got = append(got, string(p.Payload))
				}
			}
			if !slices.Equal(got, []string{"g0", "g1", "g2"}) {
				t.Fatalf("after repair: %q", got)
			}
		})
	}
}

// TestReadErrorCatchUp: a subscriber past its queue bound reads its
// messages back from the log; a damaged one ends the connection with 0x80
// and stays owed.
func TestReadErrorCatchUp(t *testing.T) {
	tb := startRealBroker(t, func(o *mqtt.Options) {
		o.QueueLength = 2
		o.MaxInflight = 1
	})
	sub, _ := rawConnect(t, tb.addr, connectV5("lag", true, 60))
	sub.subscribe(0, packet.Subscription{Filter: "cu/#", QoS: 1})
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	msgs := seq("c", 8)
	publishAll(pub, "cu/a", msgs...)
	off := logOffsetOf(t, tb, "c6") // past the queue: read back by catch-up
	repair := damageFrame(t, tb.dir, off)
	for _, m := range msgs[:6] {
		if p, _ := sub.recvPublish(10 * time.Second); string(p.Payload) != m {
			t.Fatalf("got %q, want %s", p.Payload, m)
		}
	}
	expectReadFailure(t, sub, tb.dir, logOffsetOf(t, tb, "c5")+1, off)
	tb.waitOffline(t, "lag")
	if !owes(tb, "lag", off) {
		t.Fatalf("offset %d no longer owed", off)
	}
	repair()
	if acked(t, tb, "lag")[off] {
		t.Fatalf("an Ack for offset %d was committed", off)
	}
}

// TestReadErrorReplay: a $replay over a damaged frame (from an offset, or
// last:N) ends with DISCONNECT 0x80 after the messages before it, not in
// silence.
func TestReadErrorReplay(t *testing.T) {
	tb := startRealBroker(t, nil)
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	publishAll(pub, "rp/a", "r0", "r1", "r2", "r3")
	off := logOffsetOf(t, tb, "r2")
	damageFrame(t, tb.dir, off)
	lo := logOffsetOf(t, tb, "r1") + 1

	rc, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "replayer", CleanStart: true})
	from := logOffsetOf(t, tb, "r0")
	rc.mustSend(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: fmt.Sprintf("$replay/%d/rp/#", from)}}})
	if got := expectReadFailure(t, rc, tb.dir, lo, off); !slices.Equal(got, []string{"r0", "r1"}) {
		t.Fatalf("replayed %q before the failure, want r0 r1", got)
	}

	rc, _ = rawConnect(t, tb.addr, &packet.Connect{ClientID: "last", CleanStart: true})
	rc.mustSend(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "$replay/last-1/rp/#"}}})
	if got := expectReadFailure(t, rc, tb.dir, 0, off); len(got) != 0 {
		t.Fatalf("last-1 sent %q before the failure", got)
	}
}

// TestReadErrorRetained: a retained message whose frame is damaged ends the
// subscribing connection with 0x80 instead of being skipped.
func TestReadErrorRetained(t *testing.T) {
	tb := startRealBroker(t, nil)
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	pub.publish(&packet.Publish{Topic: "rt/a", QoS: 1, Retain: true, Payload: []byte("kept")})
	off := logOffsetOf(t, tb, "kept")
	damageFrame(t, tb.dir, off)
	rc, _ := rawConnect(t, tb.addr, connectV5("ret", true, 60))
	rc.mustSend(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "rt/#", QoS: 1}}})
	expectReadFailure(t, rc, tb.dir, off, off)
}

// TestReadErrorPubrelNeedsNoRead: a QoS 2 delivery whose PUBREC was
// recorded gets its PUBREL again on resume even though its frame is
// damaged: the PUBREL carries only the packet id.
func TestReadErrorPubrelNeedsNoRead(t *testing.T) {
	tb := startRealBroker(t, nil)
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	sub, _ := rawConnect(t, tb.addr, connectV5("q2", true, 60))
	sub.subscribe(0, packet.Subscription{Filter: "q2/#", QoS: 2})
	pub.publish(&packet.Publish{Topic: "q2/a", QoS: 2, Payload: []byte("two")})
	p := expect[*packet.Publish](t, sub, 10*time.Second)
	sub.mustSend(&packet.Pubrec{PacketID: p.PacketID})
	expect[*packet.Pubrel](t, sub, 10*time.Second) // the PUBREC committed; no PUBCOMP
	sub.close()
	tb.waitOffline(t, "q2")
	damageFrame(t, tb.dir, logOffsetOf(t, tb, "two"))

	sub, _ = rawConnect(t, tb.addr, connectV5("q2", false, 60))
	if rel := expect[*packet.Pubrel](t, sub, 10*time.Second); rel.PacketID != p.PacketID {
		t.Fatalf("PUBREL for %d, want %d", rel.PacketID, p.PacketID)
	}
	sub.mustSend(&packet.Pubcomp{PacketID: p.PacketID})
	waitFor(t, 10*time.Second, "the delivery completed", func() bool {
		return len(tb.views.View().Inflight("q2")) == 0
	})
}
