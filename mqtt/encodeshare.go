package mqtt

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/mqtt/packet"
)

// Shared PUBLISH encodings (issue 14, item 3). A message fanned out to
// many subscribers used to be encoded by each subscriber's writer; now the
// first writer to send a variant of it encodes the variant's head (the
// PUBLISH up to its payload, packet.AppendPublishHead) and every other
// writer sends the same bytes, with its own packet identifier patched in
// as it copies them out and the payload written from the entry itself. A
// variant is what the bytes depend on besides the message: protocol
// version, QoS, retain, dup, and the expiry left. Deliveries with parts of
// their own (MQTT 5 subscription identifiers, a topic alias, the offset
// user property, a replay's extra properties) are encoded per subscriber
// as before (send in deliver.go).

const (
	// shareSlots is how many messages keep their shared heads: a fan-out's
	// writers send a message within a few thousand offsets of each other,
	// and a slot is taken over by the next message that maps to it.
	shareSlots = 4096
	// headsPerMessage bounds the variants kept for one message; past it a
	// writer encodes the variant for itself.
	headsPerMessage = 4
	// maxSharedHead: a larger head (MQTT 5 properties of many kilobytes)
	// is not kept, so the table holds at most shareSlots × headsPerMessage
	// small heads and never a payload.
	maxSharedHead = 4 << 10
)

// shareEncodings turns sharing off for benchmarks that compare both ways
// in one run (export_test.go).
var shareEncodings atomic.Bool

func init() { shareEncodings.Store(true) }

// variant is what a PUBLISH head depends on besides the message.
type variant struct {
	version, qos byte
	retain, dup  bool
	expiry       uint32 // seconds left, for a message with an expiry
}

// sharedHead is one variant's encoded head, immutable once stored.
type sharedHead struct {
	v    variant
	head []byte
	idAt int // where the packet identifier goes, -1 for QoS 0
}

// sharedMsg is one message's shared heads. heads fill in order and are
// read without the lock; mu serialises adding one.
type sharedMsg struct {
	off   log.Offset
	time  int64
	topic string
	mu    sync.Mutex
	heads [headsPerMessage]atomic.Pointer[sharedHead]
}

// encodings is a broker's table of shared heads, by log offset. Safe for
// concurrent use by every connection's writer.
type encodings struct {
	slots [shareSlots]atomic.Pointer[sharedMsg]
}

// message returns the shared heads of the message at off, taking over its
// slot if another message holds it. The log never changes what an offset
// holds; time and topic are checked too so that a slot can never serve a
// message from a log this broker's table did not see.
func (t *encodings) message(off log.Offset, e *fsm.Entry) *sharedMsg {
	s := &t.slots[off%shareSlots]
	topic := e.Publish.Message.Topic
	for {
		m := s.Load()
		if m != nil && m.off == off && m.time == e.Time && m.topic == topic {
			return m
		}
		n := &sharedMsg{off: off, time: e.Time, topic: topic}
		if s.CompareAndSwap(m, n) {
			return n
		}
	}
}

// head returns the head of variant v, built by build on a miss; nil when
// build fails or the message has all the variants it may keep.
func (m *sharedMsg) head(v variant, build func() *sharedHead) *sharedHead {
	for i := range m.heads {
		h := m.heads[i].Load()
		if h == nil {
			break
		}
		if h.v == v {
			return h
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.heads {
		h := m.heads[i].Load()
		if h == nil {
			if h = build(); h != nil {
				m.heads[i].Store(h)
			}
			return h
		}
		if h.v == v {
			return h
		}
	}
	return nil
}

// shareable says whether d's PUBLISH is the message's alone, with nothing
// that belongs to this subscriber but its packet identifier.
func (c *conn) shareable(d delivery) bool {
	if d.alone || !shareEncodings.Load() {
		return false // a message nobody else receives: sharing only costs (BenchmarkFanout1)
	}
	if c.version != packet.Version5 {
		return true // none of the per-subscriber parts exist before MQTT 5
	}
	return len(d.subIDs) == 0 && len(d.extra) == 0 && c.cliAliasMax == 0 &&
		!d.offsetProp && !c.b.o.OffsetProperty
}

// sharedHead returns the shared head of d's variant of e, encoding it if
// this writer is the first to need it; nil when d cannot share one.
func (c *conn) sharedHead(d delivery, e *fsm.Entry, expiry uint32) *sharedHead {
	if !c.shareable(d) {
		return nil
	}
	v := variant{version: c.version, qos: d.qos, retain: d.retain, dup: d.dup, expiry: expiry}
	return c.b.shared.message(d.off, e).head(v, func() *sharedHead {
		p := c.publishPacket(d, e, expiry)
		if d.qos > 0 {
			p.PacketID = 1 // a placeholder: each writer patches its own
		}
		var err error
		c.w.buf, err = packet.AppendPublishHead(c.w.buf[:0], p, c.version)
		if err != nil || len(c.w.buf) > maxSharedHead {
			return nil // the writer's own encode reports the error
		}
		head := slices.Clone(c.w.buf) // one allocation of the exact size
		return &sharedHead{v: v, head: head, idAt: packet.PublishIDAt(head)}
	})
}

// writeShared writes h with id patched in, then payload.
func (c *conn) writeShared(h *sharedHead, id uint16, payload []byte) error {
	o := c.out()
	var err error
	if h.idAt < 0 {
		err = o.copyIn(h.head)
	} else {
		err = o.copyIn(h.head[:h.idAt])
		if err == nil {
			err = o.copyIn([]byte{byte(id >> 8), byte(id)})
		}
		if err == nil {
			err = o.copyIn(h.head[h.idAt+2:])
		}
	}
	if err == nil {
		err = o.refIn(payload)
	}
	c.b.stats.BytesSent.Add(uint64(len(h.head) + len(payload)))
	return err
}
