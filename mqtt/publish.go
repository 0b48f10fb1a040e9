package mqtt

import (
	"fmt"
	"runtime"
	"strings"
	"unicode/utf8"

	"github.com/stratamq/strata/auth"
	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/mqtt/packet"
	"github.com/stratamq/strata/presence"
	"github.com/stratamq/strata/topic"
)

// sysPrefix starts the broker's statistics topics; clients cannot publish
// there.
const sysPrefix = "$SYS/"

// reservedTopic: the broker's own topics ($SYS/ statistics and
// $presence/ events), where clients cannot publish (nor put a will).
func reservedTopic(name string) bool {
	return strings.HasPrefix(name, sysPrefix) || strings.HasPrefix(name, presence.TopicPrefix)
}

// publish handles an inbound PUBLISH: checks, then proposes it; the writer
// answers once it committed (answerResolved).
func (c *conn) publish(p *packet.Publish) bool {
	name, ok := c.topicOf(p)
	if !ok {
		return false
	}
	if p.QoS > 0 {
		if proceed, alive := c.admitQoS(p); !proceed {
			return alive
		}
	}
	if reservedTopic(name) || !c.acl.Allow(auth.Publish, name) {
		c.refusePublish(p)
		return true
	}
	v5 := c.version == packet.Version5
	if v5 && p.Properties.PayloadFormat == 1 && !utf8.Valid(p.Payload) {
		if p.QoS == 0 {
			c.fail(packet.CodePayloadFormatInvalid, "payload is not UTF-8 as its payload format indicator says")
			return false
		}
		c.answer(p.QoS, p.PacketID, packet.CodePayloadFormatInvalid)
		return true
	}
	if err := checkResponseTopic(&p.Properties); err != nil {
		c.fail(packet.CodeProtocolError, err.Error())
		return false
	}
	e := fsm.Entry{Kind: fsm.KindPublish, ClientID: c.clientID,
		Publish: fsm.Publish{Message: fsm.Message{Topic: name, Payload: p.Payload, QoS: p.QoS, Retain: p.Retain}}}
	if p.QoS > 0 {
		e.PacketID = p.PacketID
	}
	if v5 {
		e.Publish.Props = messageProps(&p.Properties)
	}
	c.b.stats.ReceivedByQoS[p.QoS%3].Add(1)
	if c.r.woke {
		// A publish that woke this reader lets readers woken with it run
		// first: the Go runtime resumes the last of several sockets that
		// became readable first, so without this a SUBSCRIBE another
		// client sent just before (a request/response pair, a test that
		// does not wait for SUBACK) was logged after the publish most of
		// the time. Streaming publishers, whose next packet is already
		// buffered, do not yield. docs/mqtt.md "Order across connections".
		runtime.Gosched()
	}
	f := c.propose(&e)
	if p.QoS > 0 { // QoS 0 is never answered: its outcome concerns nobody here
		c.await(&pending{f: f, kind: pendPublish, qos: p.QoS, id: p.PacketID})
	}
	return true
}

// topicOf resolves a PUBLISH's topic (alias included) and checks it; false
// ends the connection.
func (c *conn) topicOf(p *packet.Publish) (string, bool) {
	name := p.Topic
	if c.version == packet.Version5 && p.Properties.Has(packet.PropTopicAlias) {
		a, max := p.Properties.TopicAlias, c.b.o.TopicAliasMaximum
		if a == 0 || a > max {
			c.fail(packet.CodeTopicAliasInvalid, fmt.Sprintf("topic alias %d is outside 1..%d", a, max)) // [MQTT-3.3.2-9/10]
			return "", false
		}
		if name == "" {
			t, ok := c.r.inAliases[a]
			if !ok {
				c.fail(packet.CodeProtocolError, fmt.Sprintf("topic alias %d was never set", a))
				return "", false
			}
			name = t
		} else {
			c.r.inAliases[a] = name
		}
	}
	if err := c.checkTopic(name); err != nil {
		c.fail(packet.CodeTopicNameInvalid, err.Error())
		return "", false
	}
	if len(p.Properties.SubscriptionIDs) > 0 {
		c.fail(packet.CodeProtocolError, "a PUBLISH from a client carries a subscription identifier") // [MQTT-3.3.4-6]
		return "", false
	}
	return name, true
}

// admitQoS counts an inbound QoS 1/2 publish against Receive Maximum and
// spots a QoS 2 resend; proceed is false when the packet needs no
// proposal, alive false when the connection ends.
func (c *conn) admitQoS(p *packet.Publish) (proceed, alive bool) {
	c.mu.Lock()
	if p.QoS == 2 {
		if awaiting, dup := c.mu.inQoS2[p.PacketID]; dup {
			c.mu.Unlock()
			if awaiting { // PUBREC lost: send it again [MQTT-4.3.3-10]
				c.queueCtrl(&packet.Pubrec{PacketID: p.PacketID})
			}
			return false, true
		}
	}
	if c.mu.inflightIn >= int(c.b.o.ReceiveMaximum) {
		c.mu.Unlock()
		c.fail(packet.CodeReceiveMaximumExceeded, fmt.Sprintf("more than %d QoS 1/2 publishes unacknowledged", c.b.o.ReceiveMaximum)) // [MQTT-3.3.4-9]
		return false, false
	}
	c.mu.inflightIn++
	if p.QoS == 2 {
		c.mu.inQoS2[p.PacketID] = false
	}
	c.mu.Unlock()
	return true, true
}

// refusePublish answers a PUBLISH the client may not make ($SYS/, or not
// granted by the ACL) without proposing it: QoS 0 is dropped; QoS 1/2 get
// PUBACK/PUBREC 0x87 in 5.0 and, in 3.1.1, which has no way to say no, a
// plain PUBACK/PUBREC (as mosquitto does), after which a PUBREL finds no
// packet id and is answered with PUBCOMP.
func (c *conn) refusePublish(p *packet.Publish) {
	if p.QoS == 0 {
		return
	}
	c.mu.Lock()
	c.mu.inflightIn = max(c.mu.inflightIn-1, 0)
	delete(c.mu.inQoS2, p.PacketID)
	c.mu.Unlock()
	code := packet.CodeNotAuthorized
	if c.version != packet.Version5 {
		code = 0
	}
	if p.QoS == 1 {
		c.queueCtrl(&packet.Puback{PacketID: p.PacketID, ReasonCode: code})
	} else {
		c.queueCtrl(&packet.Pubrec{PacketID: p.PacketID, ReasonCode: code})
	}
}

// published answers a publish once its proposal resolved (at off). In 5.0
// a publish that matched no subscription gets 0x10 No matching subscribers
// (unless NoMatchingSubscribers is off): a success code, the message is in
// the log for replays all the same.
func (c *conn) published(p *pending, off log.Offset, err error) {
	if err != nil {
		// Not acknowledged: the client resends after reconnecting.
		c.fail(packet.CodeServerBusy, "publish not committed: "+err.Error())
		return
	}
	var code packet.ReasonCode
	if c.takeUnmatched(off) && c.version == packet.Version5 && c.b.o.NoMatchingSubscribers {
		code = packet.CodeNoMatchingSubscribers
	}
	switch p.qos {
	case 1:
		c.answer(1, p.id, code) // only now, after the commit
	case 2:
		c.mu.Lock()
		c.mu.inQoS2[p.id] = true
		c.mu.Unlock()
		c.queueCtrl(&packet.Pubrec{PacketID: p.id, ReasonCode: code})
	}
}

// noteUnmatched records, from Apply, that the client's QoS 1/2 publish at
// off matched nobody (fsm Effects.Unmatched). Apply runs before the
// publish's future resolves on this node, so published finds the mark: the
// fold already computed the match, so the answer costs no second lookup,
// and offline sessions' and shared subscriptions count as the fold counts
// them.
func (b *Broker) noteUnmatched(off log.Offset, client string) {
	b.mu.Lock()
	c := b.clients[client]
	b.mu.Unlock()
	if c == nil {
		return
	}
	c.mu.Lock()
	if c.mu.unmatched == nil {
		c.mu.unmatched = map[log.Offset]struct{}{}
	}
	c.mu.unmatched[off] = struct{}{}
	c.mu.Unlock()
}

// takeUnmatched reports whether the publish at off matched nobody and
// forgets marks up to off: answers come in offset order, so older marks
// (a publish of a connection this one took over) are never asked for.
func (c *conn) takeUnmatched(off log.Offset) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.mu.unmatched[off]
	for o := range c.mu.unmatched {
		if o <= off {
			delete(c.mu.unmatched, o)
		}
	}
	return ok
}

// answer sends the acknowledgement of an inbound publish.
func (c *conn) answer(qos byte, id uint16, code packet.ReasonCode) {
	if c.version != packet.Version5 {
		code = 0
	}
	c.mu.Lock()
	if qos == 1 || code.IsError() {
		c.mu.inflightIn = max(c.mu.inflightIn-1, 0)
		if qos == 2 {
			delete(c.mu.inQoS2, id)
		}
	}
	c.mu.Unlock()
	if qos == 1 {
		c.queueCtrl(&packet.Puback{PacketID: id, ReasonCode: code})
	} else {
		c.queueCtrl(&packet.Pubrec{PacketID: id, ReasonCode: code})
	}
}

// pubrel releases an inbound QoS 2 packet id once the release commits.
func (c *conn) pubrel(p *packet.Pubrel) {
	id := p.PacketID
	c.mu.Lock()
	awaiting, ok := c.mu.inQoS2[id]
	c.mu.Unlock()
	if !ok || !awaiting {
		code := packet.ReasonCode(0)
		if c.version == packet.Version5 {
			code = packet.CodePacketIdentifierNotFound
		}
		c.queueCtrl(&packet.Pubcomp{PacketID: id, ReasonCode: code})
		return
	}
	e := fsm.Entry{Kind: fsm.KindQoS2Release, ClientID: c.clientID, PacketID: id}
	c.await(&pending{f: c.propose(&e), kind: pendRelease, id: id})
}

// released answers a PUBREL once its release resolved.
func (c *conn) released(id uint16, err error) {
	if err != nil {
		c.fail(packet.CodeServerBusy, "release not committed: "+err.Error())
		return
	}
	c.mu.Lock()
	delete(c.mu.inQoS2, id)
	c.mu.inflightIn = max(c.mu.inflightIn-1, 0)
	c.mu.Unlock()
	c.queueCtrl(&packet.Pubcomp{PacketID: id})
}

// checkTopic applies the broker's topic length limit. The codec already
// enforced the topic name rules (UTF-8, no wildcards) on PUBLISH and will
// topics, and an alias resolves to a name that passed them.
func (c *conn) checkTopic(name string) error {
	if len(name) > c.b.o.MaxTopicLength {
		return fmt.Errorf("topic is %d bytes, longer than this broker's limit of %d", len(name), c.b.o.MaxTopicLength)
	}
	return nil
}

// checkResponseTopic refuses a Response Topic that is not a valid topic
// name (a wildcard in it: [MQTT-3.3.2-14]) here, as the publisher's
// protocol error: the log refuses it too, but a failed proposal would tell
// the client 0x89 (server busy), as if the broker were at fault.
func checkResponseTopic(p *packet.Properties) error {
	if p.ResponseTopic == "" {
		return nil
	}
	if err := topic.ValidateName(p.ResponseTopic); err != nil {
		return fmt.Errorf("response topic: %w", err)
	}
	return nil
}

func messageProps(p *packet.Properties) fsm.Properties {
	fp := fsm.Properties{PayloadFormat: p.PayloadFormat, ContentType: p.ContentType,
		ResponseTopic: p.ResponseTopic, CorrelationData: p.CorrelationData}
	if p.Has(packet.PropMessageExpiry) {
		fp.HasExpiry, fp.MessageExpirySeconds = true, p.MessageExpirySeconds
	}
	for _, u := range p.UserProperties {
		fp.User = append(fp.User, fsm.UserProperty{Name: u.Key, Value: u.Value})
	}
	return fp
}
