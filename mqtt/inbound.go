package mqtt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/mqtt/packet"
	"github.com/stratamq/strata/topic"
)

// sysPrefix starts the broker's statistics topics; clients cannot publish
// there.
const sysPrefix = "$SYS/"

// connectFailed answers a CONNECT that did not decode. A protocol level the
// broker does not speak gets CONNACK 0x84 (5.0 format) or return code 0x01
// (3.1.1 format) [MQTT-3.1.2-2]; other malformed CONNECTs of a 5.0 client
// get CONNACK with the reason code; anything else is just closed.
func (c *conn) connectFailed(p packet.Packet, err error) {
	var code packet.ReasonCode
	if !errors.As(err, &code) {
		c.shutdown(0, "")
		return
	}
	cp, _ := p.(*packet.Connect)
	switch {
	case code == packet.ErrUnsupportedProtocolVersion && cp != nil && cp.ProtocolVersion >= packet.Version5:
		c.version = packet.Version5
	case code == packet.ErrUnsupportedProtocolVersion:
		c.version = packet.Version311
	case cp != nil && cp.ProtocolVersion == packet.Version5:
		c.version = packet.Version5
	default:
		c.shutdown(0, "") // [MQTT-4.8.0-1]
		return
	}
	c.queueCtrl(&packet.Connack{ReasonCode: code})
	c.shutdown(0, err.Error())
}

// connect handles the CONNECT: checks, then proposes the SessionConnect and
// waits for its commit. It reports whether the connection is established.
func (c *conn) connect(cp *packet.Connect) bool {
	b := c.b
	c.version = cp.ProtocolVersion
	v5 := c.version == packet.Version5
	refuse := func(code packet.ReasonCode, why string) bool {
		ack := &packet.Connack{ReasonCode: code}
		if v5 {
			ack.Properties.ReasonString = why
		}
		c.logger.Info().Str("client", cp.ClientID).Str("reason", code.String()).Str("why", why).Msg("connection refused")
		c.queueCtrl(ack)
		c.shutdown(0, why)
		return false
	}
	if cp.Properties.AuthMethod != "" {
		return refuse(packet.CodeBadAuthenticationMethod, "enhanced authentication is not supported")
	}
	switch {
	case b.o.Auth != nil && cp.HasUsername:
		if !b.o.Auth.Authenticate(cp.Username, cp.Password) {
			return refuse(packet.CodeBadUsernameOrPassword, "bad user name or password")
		}
	case !c.listener.Anonymous:
		return refuse(packet.CodeNotAuthorized, "anonymous clients are not allowed on this listener")
	}
	if max := b.o.MaxConnections; max > 0 && b.stats.Connections.Load() > int64(max) {
		return refuse(packet.CodeQuotaExceeded, fmt.Sprintf("the broker holds its maximum of %d connections", max))
	}
	assigned := ""
	switch {
	case cp.ClientID == "" && !v5 && !cp.CleanStart:
		return refuse(packet.CodeClientIdentifierNotValid, "a persistent session needs a client identifier") // [MQTT-3.1.3-8]
	case cp.ClientID == "":
		var r [9]byte
		rand.Read(r[:])
		assigned = "strata-" + hex.EncodeToString(r[:]) // [MQTT-3.1.3-6]
		cp.ClientID = assigned
	case strings.HasPrefix(cp.ClientID, "$"):
		return refuse(packet.CodeClientIdentifierNotValid, "client identifiers starting with '$' are reserved")
	}
	var will *fsm.Will
	if w := cp.Will; w != nil {
		if err := c.checkTopic(w.Topic); err != nil {
			return refuse(packet.CodeTopicNameInvalid, "will topic: "+err.Error())
		}
		if strings.HasPrefix(w.Topic, sysPrefix) {
			return refuse(packet.CodeNotAuthorized, "clients cannot publish to $SYS/")
		}
		if w.Properties.PayloadFormat == 1 && !utf8.Valid(w.Payload) {
			return refuse(packet.CodePayloadFormatInvalid, "will payload is not UTF-8 as its payload format indicator says")
		}
		will = &fsm.Will{Message: fsm.Message{Topic: w.Topic, Payload: w.Payload, QoS: w.QoS, Retain: w.Retain,
			Props: messageProps(&w.Properties)}, DelaySeconds: w.Properties.WillDelaySeconds}
	}
	keepAlive := cp.KeepAliveSeconds
	serverKeepAlive := false
	if max := b.o.MaxKeepAlive; v5 && max > 0 && (keepAlive == 0 || keepAlive > max) {
		keepAlive, serverKeepAlive = max, true // [MQTT-3.2.2-21]
	}
	c.keepAlive = time.Duration(keepAlive) * time.Second
	var expiry uint32
	switch {
	case v5:
		expiry = cp.Properties.SessionExpirySeconds
	case !cp.CleanStart:
		expiry = fsm.NeverExpire
	}
	c.expiryZero = expiry == 0
	c.window = int(b.o.MaxInflight)
	if v5 {
		if rm := cp.Properties.ReceiveMaximum; rm > 0 && int(rm) < c.window {
			c.window = int(rm) // [MQTT-3.3.4-7]
		}
		c.cliMaxPacket = cp.Properties.MaximumPacketSize
		c.cliAliasMax = cp.Properties.TopicAliasMaximum
	}
	c.clientID = cp.ClientID
	c.logger = c.logger.With().Str("client", c.clientID).Logger()

	if err := b.applying(); err != nil {
		// It could not apply the session, nor deliver: send the client elsewhere.
		return refuse(packet.CodeServerUnavailable, "this node is not applying the log: "+err.Error())
	}
	e := fsm.Entry{Kind: fsm.KindSessionConnect, Time: time.Now().UnixNano(), ClientID: c.clientID,
		Connect: fsm.Connect{CleanStart: cp.CleanStart, ExpirySeconds: expiry, ProtocolVersion: c.version, Node: c.name, Will: will}}
	off, err := c.propose(&e)
	if err != nil {
		return refuse(packet.CodeServerUnavailable, "the cluster did not accept the connection: "+err.Error())
	}
	c.connOff.Store(uint64(off))
	// On a follower the commit is known before this node applied it: the
	// resume (session present) and the view must include it.
	if !b.waitApplied(off, 10*time.Second) {
		c.logger.Warn().Uint64("offset", uint64(off)).Msg("connect committed but not applied here in time")
	}
	v := b.o.Views.View()
	ack := &packet.Connack{}
	c.mu.Lock()
	if c.resume != nil {
		ack.SessionPresent = c.resume.SessionPresent
	}
	for _, id := range v.AwaitingRelease(c.clientID) {
		c.inQoS2[id] = true
	}
	if v5 {
		pp := &ack.Properties
		pp.AssignedClientID = assigned
		if serverKeepAlive {
			pp.ServerKeepAliveSeconds = keepAlive
			pp.Present.Add(packet.PropServerKeepAlive)
		}
		pp.ReceiveMaximum = b.o.ReceiveMaximum
		pp.TopicAliasMaximum = b.o.TopicAliasMaximum
		pp.MaximumPacketSize = b.o.MaxPacketSize
	}
	if !c.closing {
		c.ctrl = append(c.ctrl, ack)
		c.established = true
		c.proposeEnd, c.endReason = true, fsm.ReasonWithWill
	}
	c.mu.Unlock()
	c.signal()
	b.register(c)
	b.stats.ConnectsTotal.Add(1)
	c.logger.Debug().Uint64("offset", uint64(off)).Bool("session_present", ack.SessionPresent).Msg("connected")
	return true
}

// propose proposes e and waits for its commit.
func (c *conn) propose(e *fsm.Entry) (log.Offset, error) {
	rec, err := e.Record()
	if err != nil {
		return 0, err
	}
	type result struct {
		off log.Offset
		err error
	}
	ch := make(chan result, 1)
	c.b.o.Cluster.ProposeAsync(context.Background(), rec, func(off log.Offset, err error) { ch <- result{off, err} })
	r := <-ch
	return r.off, r.err
}

// proposeThen proposes e and calls then with the outcome on a commit
// goroutine; then must not block.
func (c *conn) proposeThen(e *fsm.Entry, then func(log.Offset, error)) {
	rec, err := e.Record()
	if err != nil {
		then(0, err)
		return
	}
	c.b.o.Cluster.ProposeAsync(context.Background(), rec, then)
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

// handle processes one packet after CONNECT; false ends the connection.
func (c *conn) handle(p packet.Packet) bool {
	switch p := p.(type) {
	case *packet.Publish:
		return c.publish(p)
	case *packet.Puback:
		c.completed(p.PacketID, 1)
	case *packet.Pubcomp:
		c.completed(p.PacketID, 2)
	case *packet.Pubrec:
		c.pubrec(p)
	case *packet.Pubrel:
		c.pubrel(p)
	case *packet.Subscribe:
		return c.subscribe(p)
	case *packet.Unsubscribe:
		c.unsubscribe(p)
	case *packet.Pingreq:
		c.queueCtrl(&packet.Pingresp{})
	case *packet.Disconnect:
		return c.disconnect(p)
	case *packet.Connect:
		c.fail(packet.CodeProtocolError, "a second CONNECT") // [MQTT-3.1.0-2]
		return false
	case *packet.Auth:
		c.fail(packet.CodeProtocolError, "AUTH without an authentication method in CONNECT")
		return false
	default:
		c.fail(packet.CodeProtocolError, p.Type().String()+" is sent by servers, not clients")
		return false
	}
	return true
}

// answer sends the acknowledgement of an inbound publish.
func (c *conn) answer(qos byte, id uint16, code packet.ReasonCode) {
	if c.version != packet.Version5 {
		code = 0
	}
	c.mu.Lock()
	if qos == 1 || code.IsError() {
		c.inflightIn = max(c.inflightIn-1, 0)
		if qos == 2 {
			delete(c.inQoS2, id)
		}
	}
	c.mu.Unlock()
	if qos == 1 {
		c.queueCtrl(&packet.Puback{PacketID: id, ReasonCode: code})
	} else {
		c.queueCtrl(&packet.Pubrec{PacketID: id, ReasonCode: code})
	}
}

func (c *conn) publish(p *packet.Publish) bool {
	b := c.b
	v5 := c.version == packet.Version5
	name := p.Topic
	if v5 && p.Properties.Has(packet.PropTopicAlias) {
		a := p.Properties.TopicAlias
		if a == 0 || a > b.o.TopicAliasMaximum {
			c.fail(packet.CodeTopicAliasInvalid, fmt.Sprintf("topic alias %d is outside 1..%d", a, b.o.TopicAliasMaximum)) // [MQTT-3.3.2-9/10]
			return false
		}
		if name == "" {
			t, ok := c.inAliases[a]
			if !ok {
				c.fail(packet.CodeProtocolError, fmt.Sprintf("topic alias %d was never set", a))
				return false
			}
			name = t
		} else {
			c.inAliases[a] = name
		}
	}
	if err := c.checkTopic(name); err != nil {
		c.fail(packet.CodeTopicNameInvalid, err.Error())
		return false
	}
	if len(p.Properties.SubscriptionIDs) > 0 {
		c.fail(packet.CodeProtocolError, "a PUBLISH from a client carries a subscription identifier") // [MQTT-3.3.4-6]
		return false
	}
	if p.QoS > 0 {
		c.mu.Lock()
		if p.QoS == 2 {
			if awaiting, dup := c.inQoS2[p.PacketID]; dup {
				c.mu.Unlock()
				if awaiting { // PUBREC lost: send it again [MQTT-4.3.3-10]
					c.queueCtrl(&packet.Pubrec{PacketID: p.PacketID})
				}
				return true
			}
		}
		if c.inflightIn >= int(b.o.ReceiveMaximum) {
			c.mu.Unlock()
			c.fail(packet.CodeReceiveMaximumExceeded, fmt.Sprintf("more than %d QoS 1/2 publishes unacknowledged", b.o.ReceiveMaximum)) // [MQTT-3.3.4-9]
			return false
		}
		c.inflightIn++
		if p.QoS == 2 {
			c.inQoS2[p.PacketID] = false
		}
		c.mu.Unlock()
	}
	if strings.HasPrefix(name, sysPrefix) {
		if p.QoS > 0 {
			c.answer(p.QoS, p.PacketID, packet.CodeNotAuthorized)
		}
		return true
	}
	if v5 && p.Properties.PayloadFormat == 1 && !utf8.Valid(p.Payload) {
		if p.QoS == 0 {
			c.fail(packet.CodePayloadFormatInvalid, "payload is not UTF-8 as its payload format indicator says")
			return false
		}
		c.answer(p.QoS, p.PacketID, packet.CodePayloadFormatInvalid)
		return true
	}
	e := fsm.Entry{Kind: fsm.KindPublish, Time: time.Now().UnixNano(), ClientID: c.clientID,
		Publish: fsm.Publish{Message: fsm.Message{Topic: name, Payload: p.Payload, QoS: p.QoS, Retain: p.Retain}}}
	if p.QoS > 0 {
		e.PacketID = p.PacketID
	}
	if v5 {
		e.Publish.Props = messageProps(&p.Properties)
	}
	b.stats.PublishReceived.Add(1)
	qos, id := p.QoS, p.PacketID
	c.proposeThen(&e, func(_ log.Offset, err error) {
		switch {
		case err != nil && qos == 0:
			c.logger.Debug().Err(err).Msg("QoS 0 publish not committed")
		case err != nil:
			// Not acknowledged: the client resends after reconnecting.
			c.fail(packet.CodeServerBusy, "publish not committed: "+err.Error())
		case qos == 1:
			c.answer(1, id, 0) // only now, after the commit
		case qos == 2:
			c.mu.Lock()
			c.inQoS2[id] = true
			c.mu.Unlock()
			c.queueCtrl(&packet.Pubrec{PacketID: id})
		}
	})
	return true
}

// pubrel releases an inbound QoS 2 packet id once the release commits.
func (c *conn) pubrel(p *packet.Pubrel) {
	id := p.PacketID
	c.mu.Lock()
	awaiting, ok := c.inQoS2[id]
	c.mu.Unlock()
	if !ok || !awaiting {
		code := packet.ReasonCode(0)
		if c.version == packet.Version5 {
			code = packet.CodePacketIdentifierNotFound
		}
		c.queueCtrl(&packet.Pubcomp{PacketID: id, ReasonCode: code})
		return
	}
	e := fsm.Entry{Kind: fsm.KindQoS2Release, Time: time.Now().UnixNano(), ClientID: c.clientID, PacketID: id}
	c.proposeThen(&e, func(_ log.Offset, err error) {
		if err != nil {
			c.fail(packet.CodeServerBusy, "release not committed: "+err.Error())
			return
		}
		c.mu.Lock()
		delete(c.inQoS2, id)
		c.inflightIn = max(c.inflightIn-1, 0)
		c.mu.Unlock()
		c.queueCtrl(&packet.Pubcomp{PacketID: id})
	})
}

func (c *conn) subscribe(p *packet.Subscribe) bool {
	v5 := c.version == packet.Version5
	var subID uint32
	if len(p.Properties.SubscriptionIDs) > 0 {
		subID = p.Properties.SubscriptionIDs[0]
	}
	// Replay for the whole packet (MQTT 5 user property replay-from).
	var propReplay *replayFrom
	var propErr error
	for _, u := range p.Properties.UserProperties {
		if u.Key == replayProperty && propReplay == nil && propErr == nil {
			rf, err := parseReplayFrom(u.Value, false)
			if err != nil {
				propErr = fmt.Errorf("replay-from: %w", err)
			} else {
				propReplay = &rf
			}
		}
	}
	codes := make([]packet.ReasonCode, len(p.Subscriptions))
	var subs []fsm.Subscription
	var replays []*replayReq
	var reason string
	for i, s := range p.Subscriptions {
		filter := s.Filter
		rf := propReplay
		if from, inner, ok := splitReplayFilter(filter); ok {
			parsed, err := parseReplayFrom(from, true)
			if err != nil || inner == "" {
				codes[i] = packet.CodeTopicFilterInvalid
				if err == nil {
					err = errors.New("no topic filter after the starting point")
				}
				reason = "$replay/<from>/<filter>: " + err.Error()
				continue
			}
			filter, rf = inner, &parsed
		}
		if propErr != nil {
			codes[i] = packet.CodeImplementationSpecificError
			reason = propErr.Error()
			continue
		}
		_, inner, shared, err := topic.ParseShare(filter)
		if err == nil {
			if !shared {
				inner = filter
			}
			err = topic.ValidateFilter(inner)
		}
		if err != nil || len(filter) > c.b.o.MaxTopicLength {
			codes[i] = packet.CodeTopicFilterInvalid
			continue
		}
		if shared && rf != nil {
			codes[i] = packet.CodeTopicFilterInvalid
			reason = "a shared subscription cannot replay"
			continue
		}
		if shared && s.NoLocal && v5 {
			c.fail(packet.CodeProtocolError, "no local on a shared subscription") // [MQTT-3.8.3-4]
			return false
		}
		codes[i] = packet.ReasonCode(s.QoS) // every QoS is granted
		opts := fsm.SubOptions{QoS: s.QoS, NoLocal: s.NoLocal, RetainAsPublished: s.RetainAsPublished,
			RetainHandling: s.RetainHandling, ID: subID}
		subs = append(subs, fsm.Subscription{Filter: filter, Options: opts})
		if rf != nil {
			replays = append(replays, &replayReq{from: *rf, filter: filter, opts: opts})
		}
	}
	ack := &packet.Suback{PacketID: p.PacketID, ReasonCodes: codes}
	if v5 {
		ack.Properties.ReasonString = reason
	}
	if len(subs) == 0 {
		c.queueCtrl(ack)
		return true
	}
	e := fsm.Entry{Kind: fsm.KindSubscribe, Time: time.Now().UnixNano(), ClientID: c.clientID, Subscriptions: subs}
	var pending *pendingReplay
	if len(replays) > 0 {
		// Apply queues the replays at the subscribe's offset (subscribed).
		pending = &pendingReplay{subs: subs, reqs: replays}
		c.mu.Lock()
		c.pendingReplays = append(c.pendingReplays, pending)
		c.mu.Unlock()
	}
	c.proposeThen(&e, func(off log.Offset, err error) {
		if err != nil {
			c.dropPendingReplay(pending)
			for i, code := range codes {
				if !code.IsError() {
					codes[i] = packet.CodeUnspecifiedError
				}
			}
			if v5 {
				ack.Properties.ReasonString = "subscription not committed: " + err.Error()
			}
			c.queueCtrl(ack)
			return
		}
		// An UNSUBSCRIBE sent after the SUBACK must find the subscription
		// in this node's view; a replay reads this node's log up to off.
		c.b.afterApplied(off, func() { c.queueCtrl(ack) })
	})
	return true
}

func (c *conn) unsubscribe(p *packet.Unsubscribe) {
	have := map[string]bool{}
	for _, s := range c.b.o.Views.View().Subscriptions(c.clientID) {
		have[s.Filter] = true
	}
	ack := &packet.Unsuback{PacketID: p.PacketID}
	var filters []string
	for _, f := range p.Filters {
		if _, inner, ok := splitReplayFilter(f); ok {
			f = inner // a replay subscription is held under its filter
		}
		code := packet.CodeSuccess
		switch {
		case !have[f]:
			code = packet.CodeNoSubscriptionExisted
		default:
			filters = append(filters, f)
		}
		ack.ReasonCodes = append(ack.ReasonCodes, code)
	}
	if c.version != packet.Version5 {
		ack.ReasonCodes = nil
	}
	if len(filters) == 0 {
		c.queueCtrl(ack)
		return
	}
	e := fsm.Entry{Kind: fsm.KindUnsubscribe, Time: time.Now().UnixNano(), ClientID: c.clientID, Filters: filters}
	c.proposeThen(&e, func(off log.Offset, err error) {
		if err != nil {
			if c.version == packet.Version5 {
				for i := range ack.ReasonCodes {
					ack.ReasonCodes[i] = packet.CodeUnspecifiedError
				}
			}
			c.queueCtrl(ack)
			return
		}
		c.b.afterApplied(off, func() { c.queueCtrl(ack) }) // as for SUBACK
	})
}

// disconnect handles the client's DISCONNECT: the will is discarded unless
// the reason is 0x04 [MQTT-3.14.4-3]; a new session expiry may be set, but
// not from zero [MQTT-3.14.2-2].
func (c *conn) disconnect(p *packet.Disconnect) bool {
	var exp *uint32
	if c.version == packet.Version5 && p.Properties.Has(packet.PropSessionExpiry) {
		if c.expiryZero && p.Properties.SessionExpirySeconds != 0 {
			c.fail(packet.CodeProtocolError, "session expiry set in DISCONNECT after 0 in CONNECT")
			return false
		}
		v := p.Properties.SessionExpirySeconds
		exp = &v
	}
	reason := fsm.ReasonNormal
	if p.ReasonCode == packet.CodeDisconnectWithWill {
		reason = fsm.ReasonWithWill
	}
	c.mu.Lock()
	if c.proposeEnd {
		c.endReason, c.endExpiry = reason, exp
	}
	c.closing = true // nothing is sent after a client's DISCONNECT
	c.mu.Unlock()
	c.signal()
	return false
}
