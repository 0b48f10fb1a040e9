package mqtt

import (
	"errors"
	"strconv"
	"time"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/mqtt/packet"
)

// deliver queues one live delivery (from Apply). Past QueueLength, QoS 0
// messages are dropped and counted; QoS 1/2 ones are already in the
// session's cursor (fsm Inflight), so the connection switches to reading
// them back from the log (catchUp) and memory stays bounded.
func (c *conn) deliver(applyOff log.Offset, e *fsm.Entry, d *fsm.Delivery) {
	off := d.Offset
	c.mu.Lock()
	if c.closing || (e != nil && off < c.liveFrom) {
		c.mu.Unlock()
		return
	}
	if c.lagging || len(c.queue) >= c.b.o.QueueLength {
		if d.QoS == 0 {
			c.b.stats.DroppedQoS0.Add(1)
		} else {
			c.lagging = true
		}
		c.mu.Unlock()
		c.signal()
		return
	}
	c.queue = append(c.queue, delivery{off: off, e: e, qos: d.QoS, retain: d.Retain, subIDs: d.SubscriptionIDs, applyOff: applyOff})
	c.mu.Unlock()
	c.signal()
}

// resumed records what a resumed session owes (from Apply, before the
// connect's commit reaches the reader).
func (c *conn) resumed(r *fsm.Resume) {
	c.mu.Lock()
	c.resume = r
	c.mu.Unlock()
}

// writeLoop sends queued packets until the connection closes.
func (c *conn) writeLoop() {
	for {
		if err := c.drain(); err != nil {
			c.finish(err)
			return
		}
		<-c.wake
	}
}

// drain writes control packets, then the resume, then live deliveries, and
// flushes when there is nothing left.
func (c *conn) drain() error {
	for {
		c.mu.Lock()
		ctrl := c.ctrl
		c.ctrl = nil
		closing := c.closing
		var res *fsm.Resume
		var d delivery
		var haveD, lag bool
		if c.established && !closing {
			switch {
			case c.resume != nil:
				res, c.resume = c.resume, nil
			case len(c.queue) > 0:
				d, haveD = c.queue[0], true
				c.queue[0] = delivery{}
				c.queue = c.queue[1:]
			case c.lagging:
				lag = true
			}
		}
		c.mu.Unlock()
		for _, p := range ctrl {
			if err := c.write(p); err != nil {
				return err
			}
		}
		var err error
		switch {
		case closing:
			return errClosed
		case res != nil:
			err = c.sendResume(res)
		case haveD && d.rp != nil:
			err = c.sendReplay(d.rp)
		case haveD:
			err = c.send(d)
		case lag:
			err = c.catchUp()
		case len(ctrl) == 0:
			return c.bw.Flush()
		}
		if err != nil {
			return c.endOnReadError(err)
		}
	}
}

// finish sends what is left (a refusing CONNACK, a DISCONNECT with reason
// code to an MQTT 5 client) and closes the socket.
func (c *conn) finish(err error) {
	c.mu.Lock()
	c.closing = true
	ctrl := c.ctrl
	c.ctrl = nil
	code, why, est := c.closeCode, c.closeWhy, c.established
	c.mu.Unlock()
	if errors.Is(err, errClosed) {
		c.nc.SetWriteDeadline(time.Now().Add(time.Second))
		for _, p := range ctrl {
			if c.write(p) != nil {
				break
			}
		}
		if code != 0 && est && c.version == packet.Version5 {
			d := &packet.Disconnect{ReasonCode: code}
			d.Properties.ReasonString = why
			c.write(d)
		}
		c.bw.Flush()
	}
	c.nc.Close()
}

func (c *conn) write(p packet.Packet) error {
	var err error
	c.buf, err = packet.Encode(c.buf[:0], p, c.version)
	if err == nil && c.cliMaxPacket > 0 && uint32(len(c.buf)) > c.cliMaxPacket {
		// Reason String and User Properties are left out rather than exceed
		// the client's Maximum Packet Size [MQTT-3.14.2-3] (and likewise for
		// the other packets); PUBLISH sizes are checked in send.
		if pp := problemProps(p); pp != nil && (pp.ReasonString != "" || len(pp.UserProperties) > 0) {
			pp.ReasonString, pp.UserProperties = "", nil
			c.buf, err = packet.Encode(c.buf[:0], p, c.version)
		}
	}
	if err != nil {
		c.logger.Error().Err(err).Str("packet", p.Type().String()).Msg("cannot encode")
		return nil
	}
	c.b.stats.BytesSent.Add(uint64(len(c.buf)))
	_, err = c.bw.Write(c.buf)
	return err
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

// waitSlot waits for room in the outbound window, sending control packets
// meanwhile (a client may wait for its PUBACKs before acknowledging ours).
func (c *conn) waitSlot() error {
	for {
		c.mu.Lock()
		if c.closing {
			c.mu.Unlock()
			return errClosed
		}
		if len(c.out) < c.window {
			c.mu.Unlock()
			return nil
		}
		ctrl := c.ctrl
		c.ctrl = nil
		c.mu.Unlock()
		for _, p := range ctrl {
			if err := c.write(p); err != nil {
				return err
			}
		}
		if len(ctrl) == 0 {
			if err := c.bw.Flush(); err != nil {
				return err
			}
			<-c.wake
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
		if _, used := c.out[id]; !used {
			break
		}
		if id++; id == 0 {
			id = 1
		}
	}
	c.out[id] = m
	if m.replay {
		c.replaying++
	}
	c.mu.Unlock()
	return id
}

// release frees id without a client acknowledgement.
func (c *conn) release(id uint16) {
	c.mu.Lock()
	if m := c.out[id]; m != nil && m.replay {
		c.replaying--
	}
	delete(c.out, id)
	c.mu.Unlock()
}

// send writes one delivery: expired messages are skipped [MQTT-3.3.2-5],
// the expiry sent is what remains, MQTT 5 clients get the offset user
// property, subscription ids and topic aliases, and a message larger than
// the client's Maximum Packet Size is dropped [MQTT-3.1.2-25].
func (c *conn) send(d delivery) error {
	e := d.e
	if e == nil {
		var err error
		rd := newOffsetReader(c.b.o.Cluster.Log())
		e, err = rd.at(d.off)
		rd.close()
		if err != nil {
			return err // unreadable: the connection ends, nothing is acked
		}
		if e == nil {
			c.logger.Warn().Uint64("offset", uint64(d.off)).Msg("retained message no longer in the log")
			if d.qos > 0 {
				c.ackOffset(d.off)
			}
			return nil
		}
	}
	m := &e.Publish.Message
	var remaining uint32
	if m.Props.HasExpiry {
		age := time.Now().UnixNano() - e.Time
		if age >= int64(m.Props.MessageExpirySeconds)*int64(time.Second) {
			c.b.stats.Expired.Add(1)
			if d.qos > 0 {
				c.ackOffset(d.off)
			}
			return nil
		}
		remaining = m.Props.MessageExpirySeconds - uint32(age/int64(time.Second))
	}
	p := &packet.Publish{Dup: d.dup, QoS: d.qos, Retain: d.retain, Topic: m.Topic, Payload: m.Payload}
	if c.version == packet.Version5 {
		pp := &p.Properties
		pp.PayloadFormat = m.Props.PayloadFormat
		if m.Props.HasExpiry {
			pp.MessageExpirySeconds = remaining
			pp.Present.Add(packet.PropMessageExpiry)
		}
		pp.ContentType, pp.ResponseTopic, pp.CorrelationData = m.Props.ContentType, m.Props.ResponseTopic, m.Props.CorrelationData
		pp.SubscriptionIDs = d.subIDs
		pp.UserProperties = make([]packet.UserProperty, 0, len(m.Props.User)+1)
		for _, u := range m.Props.User {
			pp.UserProperties = append(pp.UserProperties, packet.UserProperty{Key: u.Name, Value: u.Value})
		}
		pp.UserProperties = append(pp.UserProperties, d.extra...)
		pp.UserProperties = append(pp.UserProperties, packet.UserProperty{Key: "offset", Value: strconv.FormatUint(uint64(d.off), 10)})
	}
	newAlias := false
	if c.cliAliasMax > 0 {
		if a, ok := c.aliases[m.Topic]; ok {
			p.Properties.TopicAlias, p.Topic = a, ""
		} else if len(c.aliases) < int(c.cliAliasMax) {
			p.Properties.TopicAlias = uint16(len(c.aliases) + 1)
			newAlias = true
		}
	}
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
				c.ackOffset(d.off)
			}
			return nil
		}
	}
	if newAlias {
		c.aliases[m.Topic] = p.Properties.TopicAlias
	}
	if err := c.write(p); err != nil {
		return err
	}
	c.b.stats.PublishSent.Add(1)
	if !d.replay && !d.dup && d.off > c.sentThrough {
		c.sentThrough = d.off
	}
	return nil
}

// ackOffset completes a delivery the broker decided not to send.
func (c *conn) ackOffset(off log.Offset) {
	c.addAck(fsm.Ack{Offset: off, Kind: fsm.AckComplete}, nil)
}

// completed handles PUBACK (qos 1) and PUBCOMP (qos 2) from the client.
func (c *conn) completed(id uint16, qos byte) {
	c.mu.Lock()
	m := c.out[id]
	if m == nil || m.qos != qos || (qos == 2 && !m.received) {
		c.mu.Unlock()
		return // unknown or out of sequence: nothing to complete
	}
	delete(c.out, id)
	through := false
	if m.replay {
		c.replaying--
		through = c.replaying == 0 && c.replayDone
	}
	c.mu.Unlock()
	c.signal()
	c.addAck(fsm.Ack{Offset: m.off, Kind: fsm.AckComplete}, nil)
	if through {
		c.ackThrough()
	}
}

// pubrec records the client's PUBREC, then sends PUBREL once that commits:
// after a failover the session must resend PUBREL, not the PUBLISH.
func (c *conn) pubrec(p *packet.Pubrec) {
	id := p.PacketID
	c.mu.Lock()
	m := c.out[id]
	c.mu.Unlock()
	if m == nil || m.qos != 2 {
		code := packet.ReasonCode(0)
		if c.version == packet.Version5 {
			code = packet.CodePacketIdentifierNotFound
		}
		c.queueCtrl(&packet.Pubrel{PacketID: id, ReasonCode: code})
		return
	}
	if p.ReasonCode.IsError() { // the client refused it: the delivery ends here
		m.received = true
		c.completed(id, 2)
		return
	}
	c.mu.Lock()
	m.received = true
	c.mu.Unlock()
	c.addAck(fsm.Ack{Offset: m.off, Kind: fsm.AckReceived}, func(err error) {
		if err != nil {
			c.fail(packet.CodeServerBusy, "PUBREC not committed: "+err.Error())
			return
		}
		c.queueCtrl(&packet.Pubrel{PacketID: id})
	})
}

// addAck batches acknowledgements: while one Ack entry commits, the next
// ones gather, so a busy subscriber costs one entry per commit, not per
// message. A completion waits up to ackDelay for company before it is
// proposed (at low rates each would otherwise be a Raft commit, two
// fsyncs, competing with publishes); its only effect is on what a crash
// resends, which QoS 1/2 allow. after, if set, is urgent (a PUBREC, whose
// PUBREL waits for it): it flushes at once and runs once the ack commits.
func (c *conn) addAck(a fsm.Ack, after func(error)) {
	c.mu.Lock()
	c.acks = append(c.acks, a)
	if after != nil {
		c.ackWaiters = append(c.ackWaiters, after)
	}
	busy := c.ackBusy
	c.ackBusy = true
	c.mu.Unlock()
	switch {
	case busy:
	case after != nil:
		c.flushAcks()
	default:
		time.AfterFunc(ackDelay, c.flushAcks)
	}
}

// ackDelay is how long a completion waits to share an Ack entry.
const ackDelay = 5 * time.Millisecond

func (c *conn) flushAcks() {
	c.mu.Lock()
	acks, waiters := c.acks, c.ackWaiters
	c.acks, c.ackWaiters = nil, nil
	if len(acks) == 0 {
		c.ackBusy = false
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	e := fsm.Entry{Kind: fsm.KindAck, Time: time.Now().UnixNano(), ClientID: c.clientID, Acks: acks}
	c.proposeThen(&e, func(_ log.Offset, err error) {
		for _, w := range waiters {
			w(err)
		}
		go c.flushAcks() // never propose from a commit callback
	})
}

// ackThrough tells the cursor that every replayed gap is done.
func (c *conn) ackThrough() {
	c.addAck(fsm.Ack{Offset: c.connectOffset(), Kind: fsm.AckThrough}, nil)
}

// sendResume resends a resumed session's in-flight messages and replays its
// gaps from the log, merged in offset order [MQTT-4.4.0-1], [MQTT-4.6.0-1].
func (c *conn) sendResume(r *fsm.Resume) error {
	v := c.b.o.Views.View()
	rd := newOffsetReader(c.b.o.Cluster.Log())
	defer rd.close()
	in := r.Inflight
	sendInflight := func(upTo log.Offset) error {
		for len(in) > 0 && in[0].Offset < upTo {
			item := in[0]
			in = in[1:]
			if err := c.resend(v, rd, item); err != nil {
				return err
			}
		}
		return nil
	}
	for _, g := range r.Gaps {
		if err := c.replayGap(v, g, sendInflight); err != nil {
			return err
		}
	}
	if err := sendInflight(^log.Offset(0)); err != nil {
		return err
	}
	c.mu.Lock()
	c.replayDone = true
	through := len(r.Gaps) > 0 && c.replaying == 0
	c.mu.Unlock()
	if through {
		c.ackThrough()
	}
	c.sentThrough = max(c.sentThrough, c.connectOffset())
	return nil
}

// replayGap sends, from the log, what the session's subscriptions matched
// in the offline gap g, calling before(off) ahead of each record so that
// in-flight resends merge in offset order. A read failure is returned as a
// *logReadError: the gap stays owed.
func (c *conn) replayGap(v *fsm.View, g fsm.Range, before func(log.Offset) error) error {
	it := c.b.o.Cluster.Log().Iter(g.From)
	defer it.Close()
	next := g.From // the first offset not yet read
	for it.Next() {
		rec := it.Record()
		if rec.Offset >= g.To {
			return nil
		}
		next = rec.Offset + 1
		if err := before(rec.Offset); err != nil {
			return err
		}
		if err := c.sendOwed(v, rec); err != nil {
			return err
		}
	}
	return readFailure(max(next, c.b.o.Cluster.Log().FirstOffset()), it.Err())
}

// sendOwed sends rec if it is a publish the session owes (records the fold
// could not decode were skipped alike by Apply: never owed).
func (c *conn) sendOwed(v *fsm.View, rec log.Record) error {
	if rec.Kind != uint8(fsm.KindPublish) {
		return nil
	}
	e, err := entryOf(rec)
	if err != nil {
		return nil
	}
	d, ok := v.Owed(c.clientID, rec.Offset, e)
	if !ok {
		return nil
	}
	return c.send(delivery{off: rec.Offset, e: e, qos: d.QoS, retain: d.Retain, subIDs: d.SubscriptionIDs, replay: true})
}

// resend sends one in-flight item again: PUBREL after PUBREC (it needs no
// read of the message, so a damaged or deleted frame does not stop the QoS 2
// flow), else the PUBLISH (with DUP when it was sent before).
func (c *conn) resend(v *fsm.View, rd *offsetReader, in fsm.Inflight) error {
	if in.State == fsm.InflightReceived {
		if err := c.waitSlot(); err != nil {
			return err
		}
		id := c.allocID(&outMsg{off: in.Offset, qos: 2, received: true})
		return c.write(&packet.Pubrel{PacketID: id})
	}
	e, err := rd.at(in.Offset)
	if err != nil {
		return err // unreadable: the connection ends, the session still owes it
	}
	if e == nil {
		// Deleted by retention: the log no longer has it, nothing to send.
		c.logger.Warn().Uint64("offset", uint64(in.Offset)).Msg("in-flight message no longer in the log")
		c.ackOffset(in.Offset)
		return nil
	}
	d := v.Redeliver(in, e)
	return c.send(delivery{off: in.Offset, e: e, qos: d.QoS, retain: d.Retain, subIDs: d.SubscriptionIDs, dup: in.State == fsm.InflightSent})
}

// catchUp sends, from the log, the QoS 1/2 deliveries the full queue did
// not take: the session's in-flight offsets past the last one sent. Once
// none is left it returns to live delivery from a view's next offset.
func (c *conn) catchUp() error {
	for {
		v := c.b.o.Views.View()
		pending := c.unsent(v)
		if len(pending) == 0 {
			c.mu.Lock()
			v = c.b.o.Views.View()
			if len(c.unsent(v)) > 0 {
				c.mu.Unlock()
				continue
			}
			c.lagging = false
			c.liveFrom = v.NextOffset()
			c.mu.Unlock()
			return nil
		}
		rd := newOffsetReader(c.b.o.Cluster.Log())
		for _, in := range pending {
			e, err := rd.at(in.Offset)
			if err != nil {
				rd.close()
				return err // unreadable: the connection ends, nothing is acked
			}
			if e == nil { // deleted by retention
				c.ackOffset(in.Offset)
				continue
			}
			d := v.Redeliver(in, e)
			if err := c.send(delivery{off: in.Offset, e: e, qos: d.QoS, retain: d.Retain, subIDs: d.SubscriptionIDs}); err != nil {
				rd.close()
				return err
			}
			c.sentThrough = max(c.sentThrough, in.Offset)
		}
		rd.close()
	}
}

// unsent lists the session's in-flight items this connection has not sent.
func (c *conn) unsent(v *fsm.View) []fsm.Inflight {
	var out []fsm.Inflight
	for _, in := range v.Inflight(c.clientID) {
		if in.Offset > c.sentThrough && in.State == fsm.InflightSent {
			out = append(out, in)
		}
	}
	return out
}

// entryOf decodes a log record into an entry (its time and topic are the
// record's Time and Key). The entry shares no memory with the record.
func entryOf(rec log.Record) (*fsm.Entry, error) {
	e, err := fsm.DecodeRecord(rec)
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// offsetReader reads records at increasing offsets with one iterator.
type offsetReader struct {
	l  *log.Log
	it *log.Iterator
	// the iterator's current record, if any
	cur   log.Record
	valid bool
}

func newOffsetReader(l *log.Log) *offsetReader { return &offsetReader{l: l} }

func (r *offsetReader) close() {
	if r.it != nil {
		r.it.Close()
		r.it = nil
	}
}

// at returns the publish at off; nil, nil if the log no longer has it
// (retention deleted it) or it is no publish the fold could decode; a
// *logReadError if reading failed.
func (r *offsetReader) at(off log.Offset) (*fsm.Entry, error) {
	if r.it == nil || (r.valid && r.cur.Offset > off) || off < r.l.FirstOffset() {
		r.close()
		if off < r.l.FirstOffset() {
			return nil, nil
		}
		r.it = r.l.Iter(off)
		r.valid = false
	}
	for !r.valid || r.cur.Offset < off {
		if !r.it.Next() {
			err := r.it.Err()
			r.close() // reopen next time: the log may have grown
			if err != nil && off < r.l.FirstOffset() {
				return nil, nil // deleted meanwhile
			}
			if err != nil {
				return nil, &logReadError{off: off, exact: true, err: err}
			}
			return nil, nil
		}
		r.cur, r.valid = r.it.Record(), true
	}
	if r.cur.Offset != off || r.cur.Kind != uint8(fsm.KindPublish) {
		return nil, nil
	}
	e, err := entryOf(r.cur)
	if err != nil {
		return nil, nil // skipped alike by Apply: never owed
	}
	return e, nil
}
