package mqtt

import (
	"time"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/mqtt/packet"
)

// Acknowledgements of outbound QoS 1/2 messages are batched: while one Ack
// entry is pending, the next ones gather, so a busy subscriber costs one
// entry per commit, not per message. A completion waits up to ackDelay for
// company before it is proposed (at low rates each would otherwise be a
// Raft commit competing with publishes); its only effect is on what a crash
// resends, which QoS 1/2 allow. A PUBREC is urgent: its PUBREL waits for
// the Ack entry, which is proposed at once.

// ackDelay is how long a completion waits to share an Ack entry.
const ackDelay = 5 * time.Millisecond

// ackState is the connection's batch of acknowledgements (under conn.mu).
type ackState struct {
	acks    []fsm.Ack
	pubrels []uint16 // PUBRECs whose PUBREL waits for these acks to commit
	busy    bool     // an Ack entry is pending or a flush is scheduled
	ended   bool     // the connection ended: end proposes what is left
}

// ackOffset completes a delivery the broker decided not to send.
func (c *conn) ackOffset(off log.Offset) {
	c.addAck(fsm.Ack{Offset: off, Kind: fsm.AckComplete}, 0)
}

// ackThrough tells the cursor that every replayed gap is done.
func (c *conn) ackThrough() {
	c.addAck(fsm.Ack{Offset: c.connectOffset(), Kind: fsm.AckThrough}, 0)
}

// addAck adds a to the batch; a non-zero pubrel is a PUBREC's packet id,
// whose PUBREL is sent once a commits.
func (c *conn) addAck(a fsm.Ack, pubrel uint16) {
	c.mu.Lock()
	st := &c.mu.acks
	if st.ended {
		c.mu.Unlock()
		return
	}
	st.acks = append(st.acks, a)
	if pubrel != 0 {
		st.pubrels = append(st.pubrels, pubrel)
	}
	busy := st.busy
	st.busy = true
	c.mu.Unlock()
	switch {
	case busy:
	case pubrel != 0:
		c.flushAcks()
	default:
		time.AfterFunc(ackDelay, c.flushAcks)
	}
}

// takeAcksLocked takes the batch; end marks the connection ended.
func (c *conn) takeAcksLocked(end bool) ackState {
	st := c.mu.acks
	c.mu.acks = ackState{busy: st.busy, ended: st.ended || end}
	return st
}

// flushAcks proposes the gathered acknowledgements as one entry; the
// writer answers it (acked), which flushes the next batch.
func (c *conn) flushAcks() {
	c.mu.Lock()
	st := c.takeAcksLocked(false)
	if len(st.acks) == 0 || st.ended {
		c.mu.acks.busy = false
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.await(&pending{f: c.propose(c.ackEntry(st.acks)), kind: pendAcks, pubrels: st.pubrels})
}

func (c *conn) ackEntry(acks []fsm.Ack) *fsm.Entry {
	return &fsm.Entry{Kind: fsm.KindAck, ClientID: c.clientID, Acks: acks}
}

// acked sends the PUBRELs that waited for an Ack entry, then proposes the
// acknowledgements gathered meanwhile.
func (c *conn) acked(p *pending, err error) {
	if err != nil && len(p.pubrels) > 0 {
		c.fail(packet.CodeServerBusy, "PUBREC not committed: "+err.Error())
		return
	}
	for _, id := range p.pubrels {
		c.queueCtrl(&packet.Pubrel{PacketID: id})
	}
	c.flushAcks()
}

// completed handles PUBACK (qos 1) and PUBCOMP (qos 2) from the client.
func (c *conn) completed(id uint16, qos byte) {
	c.mu.Lock()
	m := c.mu.out[id]
	if m == nil || m.qos != qos || (qos == 2 && !m.received) {
		c.mu.Unlock()
		return // unknown or out of sequence: nothing to complete
	}
	delete(c.mu.out, id)
	through := false
	if m.replay {
		c.mu.replaying--
		through = c.mu.replaying == 0 && c.mu.replayDone
	}
	c.mu.Unlock()
	c.signal()
	c.ackOffset(m.off)
	if through {
		c.ackThrough()
	}
}

// pubrec records the client's PUBREC, then sends PUBREL once that commits:
// after a failover the session must resend PUBREL, not the PUBLISH.
func (c *conn) pubrec(p *packet.Pubrec) {
	id := p.PacketID
	c.mu.Lock()
	m := c.mu.out[id]
	c.mu.Unlock()
	if m == nil || m.qos != 2 {
		code := packet.ReasonCode(0)
		if c.version == packet.Version5 {
			code = packet.CodePacketIdentifierNotFound
		}
		c.queueCtrl(&packet.Pubrel{PacketID: id, ReasonCode: code})
		return
	}
	c.mu.Lock()
	m.received = true
	c.mu.Unlock()
	if p.ReasonCode.IsError() { // the client refused it: the delivery ends here
		c.completed(id, 2)
		return
	}
	c.addAck(fsm.Ack{Offset: m.off, Kind: fsm.AckReceived}, id)
}
