package mqtt

import (
	"cmp"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/stratamq/strata/auth"
	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/mqtt/packet"
)

// offsetPropertyName is the user property carrying a delivery's log
// offset, and the SUBSCRIBE user property asking for it (subscribe.go).
const offsetPropertyName = "offset"

// delivery is one message queued for a connection, or a subscribe mark.
type delivery struct {
	off    log.Offset
	e      *fsm.Entry // nil: read it back from the log (retained on subscribe)
	qos    byte
	retain bool
	subIDs []uint32
	dup    bool
	replay bool // from a replay gap: counts toward AckThrough
	past   bool // from a replay subscription: needs the Replay right
	// applyOff is the offset of the entry whose apply queued this delivery
	// (for a retained message sent on subscribe, the subscribe's).
	applyOff log.Offset
	// mark, when set, is no message but a Subscribe entry of the client
	// applied at applyOff: a pending replay may go here (replay.go).
	mark  []fsm.Subscription
	extra []packet.UserProperty // MQTT 5 user properties added to this delivery
	// offsetProp: a matching subscription asked for the offset user
	// property (fsm.Delivery.OffsetProperty, or the replay's options).
	offsetProp bool
	// retained, when set, is no message but the retained messages one
	// Subscribe applied at applyOff sends, in offset order; the writer reads
	// each from the log as it goes (sendRetained).
	retained []fsm.Delivery
	// alone: the entry's only delivery in the cluster (Apply), so no other
	// writer would use a shared encoding of it (encodeshare.go).
	alone bool
	// onSubscribe: a retained message sent on subscribe: its old offset may
	// be in flight in the session whatever the catch-up reads (sentRetained).
	onSubscribe bool
}

type outMsg struct {
	off      log.Offset
	qos      byte
	received bool // PUBREC seen, PUBREL sent
	replay   bool
}

// deliver queues one live delivery (from Apply). Past QueueLength the
// connection stops queueing and its writer reads the deliveries back from
// the log by position, QoS 0 included (catchup.go), so memory stays bounded
// and a slow reader loses only what retention removes before it reads it.
func (c *conn) deliver(applyOff log.Offset, e *fsm.Entry, d *fsm.Delivery, alone bool) {
	off := d.Offset
	c.mu.Lock()
	if c.mu.closing || (e != nil && off < c.mu.liveFrom) {
		c.mu.Unlock()
		return
	}
	if c.mu.lagging || len(c.mu.queue) >= c.b.o.QueueLength {
		c.lag(off, d.QoS) // the writer reads it back from the log (catchup.go)
		c.mu.Unlock()
		c.signal()
		return
	}
	c.mu.queue = append(c.mu.queue, delivery{off: off, e: e, qos: d.QoS, retain: d.Retain, subIDs: d.SubscriptionIDs,
		offsetProp: d.OffsetProperty, applyOff: applyOff, alone: alone})
	c.mu.Unlock()
	c.signal()
}

// deliverRetained queues the retained messages of one Subscribe (from
// Apply) as a single item, past QueueLength and while lagging alike: they
// are owed to the client (QoS 1/2 ones are in flight in the session, which
// catchUp would not find: their offsets are old), and the item holds the
// fsm's own list, so the queue costs one slot whatever their number.
func (c *conn) deliverRetained(applyOff log.Offset, ds []fsm.Delivery) {
	c.mu.Lock()
	if c.mu.closing {
		c.mu.Unlock()
		return
	}
	c.mu.queue = append(c.mu.queue, delivery{applyOff: applyOff, retained: ds})
	c.mu.Unlock()
	c.signal()
}

// sendRetained sends a Subscribe's retained messages in the order they
// were retained (log offset; neither MQTT version orders them). A read
// decodes a whole frame and the offset reader keeps it, so in offset order
// the whole set is one pass over the frames it touches, whatever their
// number; in topic order (the view's) a large set scattered over the log
// decoded nearly every frame once per chunk (1M retained: 37 s). Memory is
// the index permutation and one message at a time.
func (c *conn) sendRetained(applyOff log.Offset, ds []fsm.Delivery) error {
	rd := newOffsetReader(c.b.o.Log)
	defer rd.close()
	byOff := make([]int32, len(ds))
	for i := range byOff {
		byOff[i] = int32(i)
	}
	slices.SortFunc(byOff, func(a, b int32) int { return cmp.Compare(ds[a].Offset, ds[b].Offset) })
	for _, i := range byOff {
		e, err := rd.at(ds[i].Offset)
		if err != nil {
			return err // unreadable: the connection ends, QoS 1/2 stay owed
		}
		if err := c.sendRetainedOne(applyOff, &ds[i], e); err != nil {
			return err
		}
	}
	return nil
}

// sendRetainedOne sends one retained message read back from the log.
func (c *conn) sendRetainedOne(applyOff log.Offset, d *fsm.Delivery, e *fsm.Entry) error {
	out := delivery{off: d.Offset, e: e, qos: d.QoS, retain: d.Retain, subIDs: d.SubscriptionIDs,
		offsetProp: d.OffsetProperty, applyOff: applyOff, onSubscribe: true}
	if e == nil {
		c.logger.Warn().Uint64("offset", uint64(d.Offset)).Msg("retained message no longer in the log")
		c.skip(out)
		return nil
	}
	return c.send(out)
}

// resumed records what a resumed session owes (from Apply, before the
// connect's future resolves for the reader).
func (c *conn) resumed(r *fsm.Resume) {
	c.mu.Lock()
	c.mu.resume = r
	c.mu.Unlock()
}

// writeLoop sends queued packets until the connection closes.
func (c *conn) writeLoop() {
	for {
		if err := c.drain(); err != nil {
			c.finish(err)
			return
		}
		c.idle(nil)
	}
}

// next is the writer's next piece of work, taken under c.mu.
type next struct {
	ctrl    []packet.Packet
	closing bool
	resume  *fsm.Resume
	d       delivery
	haveD   bool
	lag     bool
	pres    presenceItem
	haveP   bool
}

func (c *conn) takeNext() next {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := next{ctrl: c.mu.ctrl, closing: c.mu.closing}
	c.mu.ctrl = nil
	if !c.mu.established || n.closing {
		return n
	}
	switch {
	case c.mu.resume != nil:
		n.resume, c.mu.resume = c.mu.resume, nil
	case len(c.mu.presence) > 0:
		n.pres, n.haveP = c.takePresenceLocked(), true
	case len(c.mu.queue) > 0:
		n.d, n.haveD = c.mu.queue[0], true
		c.mu.queue[0] = delivery{}
		c.mu.queue = c.mu.queue[1:]
	case c.mu.lagging:
		n.lag = true
	}
	return n
}

// drain answers resolved proposals, writes control packets, then the
// resume, then live deliveries, and flushes when there is nothing left.
func (c *conn) drain() error {
	for {
		c.answerResolved()
		n := c.takeNext()
		if err := c.writeAll(n.ctrl); err != nil {
			return err
		}
		var err error
		switch {
		case n.closing:
			return errClosed
		case n.resume != nil:
			err = c.sendResume(n.resume)
		case n.haveP:
			err = c.sendPresence(n.pres)
		case n.haveD && n.d.mark != nil:
			err = c.placeReplays(n.d.applyOff, n.d.mark)
		case n.haveD && n.d.retained != nil:
			err = c.sendRetained(n.d.applyOff, n.d.retained)
		case n.haveD:
			err = c.send(n.d)
		case n.lag:
			err = c.catchUp()
		case len(n.ctrl) == 0:
			return c.flush()
		}
		if err != nil {
			return c.endOnReadError(err)
		}
	}
}

func (c *conn) writeAll(ps []packet.Packet) error {
	for _, p := range ps {
		if err := c.write(p); err != nil {
			return err
		}
	}
	return nil
}

// idleFlush is the writer's wait while it cannot go on with a delivery
// (full outbound window, a replay's subscribe not yet resolved): it
// answers resolved proposals and writes control packets meanwhile (a
// client may wait for its PUBACKs before acknowledging ours), flushes, and
// waits for something to change or extra.
func (c *conn) idleFlush(extra <-chan struct{}) error {
	c.answerResolved()
	c.mu.Lock()
	ctrl := c.mu.ctrl
	c.mu.ctrl = nil
	c.mu.Unlock()
	if len(ctrl) > 0 {
		return c.writeAll(ctrl)
	}
	if err := c.flush(); err != nil {
		return err
	}
	c.idle(extra)
	return nil
}

// finish sends what is left (a refusing CONNACK, a DISCONNECT with reason
// code to an MQTT 5 client) and half-closes the socket so the client reads
// it even while still sending (linger.go); the socket is closed here only
// when it cannot half-close or the write failed.
func (c *conn) finish(err error) {
	c.mu.Lock()
	c.mu.closing = true
	ctrl := c.mu.ctrl
	c.mu.ctrl = nil
	code, why, est := c.mu.closeCode, c.mu.closeWhy, c.mu.established
	c.mu.Unlock()
	if errors.Is(err, errClosed) {
		c.nc.SetWriteDeadline(time.Now().Add(c.b.o.CloseTimeout))
		c.writeAll(ctrl)
		if code != 0 && est && c.version == packet.Version5 {
			d := &packet.Disconnect{ReasonCode: code}
			d.Properties.ReasonString = why
			c.write(d)
		}
		if c.flush() == nil && c.halfClose() {
			return
		}
	}
	c.nc.Close()
}

// write sends a control packet (any but a PUBLISH to deliver: writePublish).
func (c *conn) write(p packet.Packet) error {
	if c.noProblemInfo {
		stripProblemInfo(p)
	}
	var err error
	c.w.buf, err = packet.Encode(c.w.buf[:0], p, c.version)
	if err == nil && c.cliMaxPacket > 0 && uint32(len(c.w.buf)) > c.cliMaxPacket {
		// Reason String and User Properties are left out rather than exceed
		// the client's Maximum Packet Size [MQTT-3.14.2-3] (and likewise for
		// the other packets); PUBLISH sizes are checked in send.
		if pp := problemProps(p); pp != nil && (pp.ReasonString != "" || len(pp.UserProperties) > 0) {
			pp.ReasonString, pp.UserProperties = "", nil
			c.w.buf, err = packet.Encode(c.w.buf[:0], p, c.version)
		}
	}
	if err != nil {
		c.logger.Error().Err(err).Str("packet", p.Type().String()).Msg("cannot encode")
		return nil
	}
	c.b.stats.BytesSent.Add(uint64(len(c.w.buf)))
	return c.out().copyIn(c.w.buf)
}

// writePublish sends a delivery's PUBLISH: its head encoded here, its
// payload written from where it lies (the entry, immutable).
func (c *conn) writePublish(p *packet.Publish) error {
	var err error
	c.w.buf, err = packet.AppendPublishHead(c.w.buf[:0], p, c.version)
	if err != nil {
		c.logger.Error().Err(err).Str("packet", p.Type().String()).Msg("cannot encode")
		return nil
	}
	c.b.stats.BytesSent.Add(uint64(len(c.w.buf) + len(p.Payload)))
	o := c.out()
	if err := o.copyIn(c.w.buf); err != nil {
		return err
	}
	return o.refIn(p.Payload)
}

// stripProblemInfo removes the Reason String and User Properties of p for a
// client that set Request Problem Information to 0 [MQTT-3.1.2-29]: every
// packet but PUBLISH, CONNACK and DISCONNECT, where the spec lets them stay
// (and a CONNACK's or DISCONNECT's reason is what the client most needs).
func stripProblemInfo(p packet.Packet) {
	var pp *packet.Properties
	switch p := p.(type) {
	case *packet.Connack, *packet.Disconnect, *packet.Publish:
		return
	case *packet.Auth:
		pp = &p.Properties
	default:
		pp = problemProps(p)
	}
	if pp != nil {
		pp.ReasonString, pp.UserProperties = "", nil
		pp.Present &^= 1 << packet.PropReasonString
	}
}

// problemProps returns the properties of a packet that may carry a Reason
// String and User Properties, other than PUBLISH; nil for the rest.
func problemProps(p packet.Packet) *packet.Properties {
	switch p := p.(type) {
	case *packet.Connack:
		return &p.Properties
	case *packet.Puback:
		return &p.Properties
	case *packet.Pubrec:
		return &p.Properties
	case *packet.Pubrel:
		return &p.Properties
	case *packet.Pubcomp:
		return &p.Properties
	case *packet.Suback:
		return &p.Properties
	case *packet.Unsuback:
		return &p.Properties
	case *packet.Disconnect:
		return &p.Properties
	}
	return nil
}

// waitSlot waits for room in the outbound window.
func (c *conn) waitSlot() error {
	for {
		c.mu.Lock()
		closing, full := c.mu.closing, len(c.mu.out) >= c.window
		c.mu.Unlock()
		switch {
		case closing:
			return errClosed
		case !full:
			return nil
		}
		if err := c.idleFlush(nil); err != nil {
			return err
		}
	}
}

// allocID reserves a packet identifier for an outbound QoS 1/2 message. It
// is derived from the offset, so a resend after a reconnect reuses the id
// the client saw (it matters to QoS 2 receivers [MQTT-4.3.3]); collisions
// probe upwards. waitSlot guarantees a free id.
func (c *conn) allocID(m *outMsg) uint16 {
	id := uint16(m.off%65535) + 1
	c.mu.Lock()
	for {
		if _, used := c.mu.out[id]; !used {
			break
		}
		if id++; id == 0 {
			id = 1
		}
	}
	c.mu.out[id] = m
	if m.replay {
		c.mu.replaying++
	}
	c.mu.Unlock()
	return id
}

// release frees id without a client acknowledgement.
func (c *conn) release(id uint16) {
	c.mu.Lock()
	if m := c.mu.out[id]; m != nil && m.replay {
		c.mu.replaying--
	}
	delete(c.mu.out, id)
	c.mu.Unlock()
}

// send writes one delivery: expired messages are skipped [MQTT-3.3.2-5],
// a message larger than the client's Maximum Packet Size is dropped
// [MQTT-3.1.2-25], one whose topic the ACL does not let the client read is
// never sent; each is acknowledged in the session's cursor. A delivery
// with no parts of its own is sent from the message's shared encoding
// (encodeshare.go).
func (c *conn) send(d delivery) error {
	e, err := c.messageOf(d)
	if e == nil {
		return err
	}
	if !c.mayRead(d, e.Publish.Message.Topic) {
		c.skip(d)
		return nil
	}
	expiry, ok := c.expiryLeft(e)
	if !ok {
		c.b.stats.Expired.Add(1)
		c.skip(d)
		return nil
	}
	if h := c.sharedHead(d, e, expiry); h != nil {
		return c.sendShared(d, h, e.Publish.Message.Payload)
	}
	return c.sendOwn(d, e, c.publishPacket(d, e, expiry))
}

// sendShared sends d from a shared head: the size check, the packet
// identifier and the bookkeeping are send's, without building a packet.
func (c *conn) sendShared(d delivery, h *sharedHead, payload []byte) error {
	if c.cliMaxPacket > 0 && uint32(len(h.head)+len(payload)) > c.cliMaxPacket {
		c.b.stats.DroppedTooLarge.Add(1)
		c.skip(d)
		return nil
	}
	var id uint16
	if d.qos > 0 {
		if err := c.waitSlot(); err != nil {
			return err
		}
		id = c.allocID(&outMsg{off: d.off, qos: d.qos, replay: d.replay})
	}
	if err := c.writeShared(h, id, payload); err != nil {
		return err
	}
	c.sent(d)
	return nil
}

// sendOwn sends d as p, a packet of this subscriber's own (subscription
// ids, topic alias, offset property, replay extras).
func (c *conn) sendOwn(d delivery, e *fsm.Entry, p *packet.Publish) error {
	newAlias := c.alias(p, e.Publish.Message.Topic)
	if d.qos > 0 {
		if err := c.waitSlot(); err != nil {
			return err
		}
		p.PacketID = c.allocID(&outMsg{off: d.off, qos: d.qos, replay: d.replay})
	}
	if c.cliMaxPacket > 0 {
		if n, err := packet.Size(p, c.version); err == nil && uint32(n) > c.cliMaxPacket {
			c.b.stats.DroppedTooLarge.Add(1)
			if d.qos > 0 {
				c.release(p.PacketID)
			}
			c.skip(d)
			return nil
		}
	}
	if newAlias {
		c.w.aliases[e.Publish.Message.Topic] = p.Properties.TopicAlias
	}
	if err := c.writePublish(p); err != nil {
		return err
	}
	c.sent(d)
	return nil
}

// sent records that d was written: the statistics and the retained
// messages sent on subscribe still in flight.
func (c *conn) sent(d delivery) {
	c.b.stats.SentByQoS[d.qos%3].Add(1)
	if d.onSubscribe && d.qos > 0 {
		if c.w.sentRetained == nil {
			c.w.sentRetained = map[log.Offset]struct{}{}
		}
		c.w.sentRetained[d.off] = struct{}{}
		if len(c.w.sentRetained) > max(c.w.pruneAt, 2*c.window+64) { // amortized: see pruneSentRetained
			c.pruneSentRetained(c.b.o.Views.View())
		}
	}
}

// mayRead asks the ACL whether the client may receive a message on the
// topic: the Replay right for a replay subscription, Subscribe for the
// rest (live, retained, offline, resent). Every path to the client comes
// through send, so this is the one check; the ACL may have changed since
// the SUBSCRIBE (a reload), and a subscription may match topics a deny
// rule added later covers.
func (c *conn) mayRead(d delivery, topic string) bool {
	right := auth.Subscribe
	if d.past {
		right = auth.Replay
	}
	return c.acl.Allow(right, topic)
}

// skip completes, in the session's cursor, a QoS 1/2 delivery that is not
// sent.
func (c *conn) skip(d delivery) {
	if d.qos > 0 {
		c.ackOffset(d.off)
	}
}

// messageOf returns a delivery's message, reading it back from the log
// when it was queued without one; nil, nil when the log no longer has it
// (retention; a QoS 1/2 delivery is then completed).
func (c *conn) messageOf(d delivery) (*fsm.Entry, error) {
	if d.e != nil {
		return d.e, nil
	}
	rd := newOffsetReader(c.b.o.Log)
	e, err := rd.at(d.off)
	rd.close()
	if err != nil {
		return nil, err // unreadable: the connection ends, nothing is acked
	}
	if e == nil {
		c.logger.Warn().Uint64("offset", uint64(d.off)).Msg("retained message no longer in the log")
		c.skip(d)
	}
	return e, nil
}

// expiryLeft returns the seconds of e's message expiry that remain, the
// Message Expiry Interval to send; false when it has expired.
func (c *conn) expiryLeft(e *fsm.Entry) (uint32, bool) {
	m := &e.Publish.Message
	if !m.Props.HasExpiry {
		return 0, true
	}
	age := c.b.clock.Now().UnixNano() - e.Time
	if age >= int64(m.Props.MessageExpirySeconds)*int64(time.Second) {
		return 0, false
	}
	return m.Props.MessageExpirySeconds - uint32(age/int64(time.Second)), true
}

// publishPacket builds the PUBLISH for d, with expiry the Message Expiry
// Interval left (expiryLeft); MQTT 5 clients get the message's properties
// and the subscription ids.
func (c *conn) publishPacket(d delivery, e *fsm.Entry, expiry uint32) *packet.Publish {
	m := &e.Publish.Message
	p := &packet.Publish{Dup: d.dup, QoS: d.qos, Retain: d.retain, Topic: m.Topic, Payload: m.Payload}
	if c.version != packet.Version5 {
		return p
	}
	pp := &p.Properties
	pp.PayloadFormat = m.Props.PayloadFormat
	if m.Props.HasExpiry {
		pp.MessageExpirySeconds = expiry
		pp.Present.Add(packet.PropMessageExpiry)
	}
	pp.ContentType, pp.ResponseTopic, pp.CorrelationData = m.Props.ContentType, m.Props.ResponseTopic, m.Props.CorrelationData
	pp.SubscriptionIDs = d.subIDs
	pp.UserProperties = c.userProperties(d, m.Props.User)
	return p
}

// userProperties are the message's user properties, unaltered and in order
// [MQTT-3.3.2-17/18], followed by Strata's own only where asked for: a
// replay's replay-truncated, and offset (the message's log offset) when a
// matching subscription asked for it or the broker adds it everywhere
// (Options.OffsetProperty). Appended last, so the publisher's stay a prefix.
func (c *conn) userProperties(d delivery, user []fsm.UserProperty) []packet.UserProperty {
	withOffset := d.offsetProp || c.b.o.OffsetProperty
	n := len(user) + len(d.extra)
	if withOffset {
		n++
	}
	if n == 0 {
		return nil
	}
	out := make([]packet.UserProperty, 0, n)
	for _, u := range user {
		out = append(out, packet.UserProperty{Key: u.Name, Value: u.Value})
	}
	out = append(out, d.extra...)
	if withOffset {
		out = append(out, packet.UserProperty{Key: offsetPropertyName, Value: strconv.FormatUint(uint64(d.off), 10)})
	}
	return out
}

// alias replaces p's topic by an outbound topic alias when the client
// allows them; true when the alias is new (record it once sent).
func (c *conn) alias(p *packet.Publish, topic string) bool {
	if c.cliAliasMax == 0 {
		return false
	}
	if a, ok := c.w.aliases[topic]; ok {
		p.Properties.TopicAlias, p.Topic = a, ""
		return false
	}
	if len(c.w.aliases) < int(c.cliAliasMax) {
		p.Properties.TopicAlias = uint16(len(c.w.aliases) + 1)
		return true
	}
	return false
}
