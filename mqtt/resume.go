package mqtt

import (
	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/mqtt/packet"
)

// sendResume resends a resumed session's in-flight messages and replays its
// gaps from the log, merged in offset order [MQTT-4.4.0-1], [MQTT-4.6.0-1].
func (c *conn) sendResume(r *fsm.Resume) error {
	v := c.b.o.Views.View()
	rd := newOffsetReader(c.b.o.Log)
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
	c.mu.replayDone = true
	through := len(r.Gaps) > 0 && c.mu.replaying == 0
	c.mu.Unlock()
	if through {
		c.ackThrough()
	}
	return nil
}

// replayGap sends, from the log, what the session's subscriptions matched
// in the offline gap g, calling before(off) ahead of each record so that
// in-flight resends merge in offset order. A read failure is returned as a
// *logReadError: the gap stays owed.
func (c *conn) replayGap(v *fsm.View, g fsm.Range, before func(log.Offset) error) error {
	it := c.b.o.Log.Iter(g.From)
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
	return readFailure(max(next, c.b.o.Log.FirstOffset()), it.Err())
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
	return c.send(delivery{off: rec.Offset, e: e, qos: d.QoS, retain: d.Retain, subIDs: d.SubscriptionIDs,
		offsetProp: d.OffsetProperty, replay: true})
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
	return c.send(delivery{off: in.Offset, e: e, qos: d.QoS, retain: d.Retain, subIDs: d.SubscriptionIDs,
		offsetProp: d.OffsetProperty, dup: in.State == fsm.InflightSent})
}
