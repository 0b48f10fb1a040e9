package mqtt

import (
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/mqtt/packet"
	"github.com/stratamq/strata/replication"
)

// A connection's proposals are answered in the order they resolve, by the
// writer: the reader (or the writer, for acknowledgements) queues the
// proposal's future with what to do with its outcome, and the writer,
// between packets and whenever it would wait, turns resolved futures into
// answers. A future resolves once its entry committed and applied on this
// node, so an answer never runs ahead of this node's state: a client that
// sends UNSUBSCRIBE after SUBACK finds its subscription, a CONNACK's
// session present flag and resumed messages are this node's.

type pendingKind uint8

const (
	pendPublish     pendingKind = iota // PUBACK / PUBREC once committed
	pendRelease                        // PUBCOMP once the PUBREL's release committed
	pendSubscribe                      // SUBACK
	pendUnsubscribe                    // UNSUBACK
	pendAcks                           // an Ack entry: PUBRELs waiting for it, then the next Ack entry
)

type pending struct {
	f       *replication.Future
	kind    pendingKind
	qos     byte
	id      uint16
	ack     packet.Packet  // SUBACK / UNSUBACK
	pubrels []uint16       // pendAcks: PUBRELs to send once the acks commit
	replay  *pendingReplay // pendSubscribe with replays
	// presence: pendSubscribe's $presence/ filters, watched once its SUBACK
	// is queued (presence.go).
	presence []presenceRequest
}

// await queues p for the writer.
func (c *conn) await(p *pending) {
	c.mu.Lock()
	c.mu.pending = append(c.mu.pending, p)
	c.mu.Unlock()
	c.signal()
}

// headDone is the channel the writer waits on for the oldest pending
// proposal; nil (never ready) when there is none.
func (c *conn) headDone() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.mu.pending) == 0 {
		return nil
	}
	return c.mu.pending[0].f.Done()
}

// answerResolved acts on every resolved proposal at the head of the
// queue (writer goroutine).
func (c *conn) answerResolved() {
	for {
		c.mu.Lock()
		if len(c.mu.pending) == 0 {
			c.mu.Unlock()
			return
		}
		p := c.mu.pending[0]
		off, err, ok := p.f.Result()
		if !ok {
			c.mu.Unlock()
			return
		}
		c.mu.pending[0] = nil
		c.mu.pending = c.mu.pending[1:]
		c.mu.Unlock()
		c.answerOne(p, off, err)
	}
}

func (c *conn) answerOne(p *pending, off log.Offset, err error) {
	switch p.kind {
	case pendPublish:
		c.published(p, off, err)
	case pendRelease:
		c.released(p.id, err)
	case pendSubscribe:
		c.subscribed(p, err)
	case pendUnsubscribe:
		c.unsubscribed(p, err)
	case pendAcks:
		c.acked(p, err)
	}
}

// idle waits until the writer has something to do: a wake-up, the oldest
// pending proposal resolving, or extra (nil: none).
func (c *conn) idle(extra <-chan struct{}) {
	select {
	case <-c.wake:
	case <-c.headDone():
	case <-extra:
	}
}
