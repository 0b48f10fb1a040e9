package mqtt

import (
	"errors"
	"fmt"
	"strings"

	"github.com/stratamq/strata/auth"
	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/mqtt/packet"
	"github.com/stratamq/strata/presence"
	"github.com/stratamq/strata/topic"
)

// subscribeRequest is a SUBSCRIBE once checked: the subscriptions to
// propose, their replays, and the SUBACK (codes of refused filters set).
type subscribeRequest struct {
	codes    []packet.ReasonCode
	reason   string
	subs     []fsm.Subscription
	replays  []*replayReq
	presence []presenceRequest // $presence/ filters: the connection's own (presence.go)
}

// subscribe handles a SUBSCRIBE: each filter is checked, the accepted ones
// are proposed in one entry, and the writer sends the SUBACK once it
// applied here (subscribed). Replays go into the delivery stream at the
// entry's offset (replay.go).
func (c *conn) subscribe(p *packet.Subscribe) bool {
	req, ok := c.checkSubscribe(p)
	if !ok {
		return false
	}
	ack := &packet.Suback{PacketID: p.PacketID, ReasonCodes: req.codes}
	if c.version == packet.Version5 {
		ack.Properties.ReasonString = req.reason
	}
	if len(req.subs) == 0 {
		c.queueCtrl(ack)
		c.watchPresence(req.presence)
		return true
	}
	e := fsm.Entry{Kind: fsm.KindSubscribe, ClientID: c.clientID, Subscriptions: req.subs}
	var pr *pendingReplay
	c.mu.Lock()
	if len(req.replays) > 0 {
		// Registered before proposing: Apply marks this client's
		// subscribes in the stream while a replay waits for its place.
		pr = &pendingReplay{subs: req.subs, reqs: req.replays, proposed: make(chan struct{})}
		c.mu.replays = append(c.mu.replays, pr)
	}
	c.mu.Unlock()
	f := c.propose(&e)
	if pr != nil {
		pr.f = f
		close(pr.proposed)
	}
	c.await(&pending{f: f, kind: pendSubscribe, ack: ack, replay: pr, presence: req.presence})
	return true
}

// checkSubscribe checks every filter of p; false ends the connection.
func (c *conn) checkSubscribe(p *packet.Subscribe) (subscribeRequest, bool) {
	req := subscribeRequest{codes: make([]packet.ReasonCode, len(p.Subscriptions))}
	var subID uint32
	if len(p.Properties.SubscriptionIDs) > 0 {
		subID = p.Properties.SubscriptionIDs[0]
	}
	propReplay, propErr := replayProperty(p.Properties.UserProperties)
	offset, offsetSet, offsetErr := offsetOption(p.Properties.UserProperties)
	if propErr == nil {
		propErr = offsetErr // refuses every filter, as a bad replay-from does
	}
	watches := -1 // the connection's presence subscriptions, counted at the first $presence/ filter
	for i, s := range p.Subscriptions {
		if inner, ok, err := presence.SplitTopic(s.Filter); ok {
			if watches < 0 {
				watches = c.presenceCount()
			}
			code, why := c.checkPresence(inner, err, watches+len(req.presence))
			req.codes[i] = code
			if code.IsError() {
				req.reason = cmpOr(why, req.reason)
			} else {
				req.presence = append(req.presence, presenceRequest{name: s.Filter, filter: inner, subID: subID})
			}
			continue
		}
		filter, rf, code, why := c.checkFilter(s, propReplay, propErr)
		if code == packet.CodeProtocolError {
			c.fail(code, why)
			return req, false
		}
		req.codes[i] = code
		if code.IsError() {
			req.reason = cmpOr(why, req.reason)
			continue
		}
		opts := fsm.SubOptions{QoS: s.QoS, NoLocal: s.NoLocal, RetainAsPublished: s.RetainAsPublished,
			RetainHandling: s.RetainHandling, ID: subID,
			// A replay asked for log semantics: offsets on by default.
			OffsetProperty: offset || !offsetSet && rf != nil}
		req.subs = append(req.subs, fsm.Subscription{Filter: filter, Options: opts})
		if rf != nil {
			req.replays = append(req.replays, &replayReq{from: *rf, filter: filter, opts: opts})
		}
	}
	return req, true
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// checkFilter checks one subscription: the filter it subscribes (a
// $replay/ prefix removed), its replay if any, and the code granted or
// refused (CodeProtocolError: the connection ends).
func (c *conn) checkFilter(s packet.Subscription, propReplay *replayFrom, propErr error) (string, *replayFrom, packet.ReasonCode, string) {
	filter, rf := s.Filter, propReplay
	if from, inner, ok := splitReplayFilter(filter); ok {
		parsed, err := parseReplayFrom(from, true)
		if err == nil && inner == "" {
			err = errors.New("no topic filter after the starting point")
		}
		if err != nil {
			return "", nil, packet.CodeTopicFilterInvalid, "$replay/<from>/<filter>: " + err.Error()
		}
		filter, rf = inner, &parsed
	}
	if propErr != nil {
		return "", nil, packet.CodeImplementationSpecificError, propErr.Error()
	}
	_, inner, shared, err := topic.ParseShare(filter)
	if err == nil {
		if !shared {
			inner = filter
		}
		err = topic.ValidateFilter(inner)
	}
	switch {
	case err != nil || len(filter) > c.b.o.MaxTopicLength:
		return "", nil, packet.CodeTopicFilterInvalid, ""
	case strings.HasPrefix(inner, presence.TopicPrefix):
		return "", nil, packet.CodeTopicFilterInvalid, "a presence subscription can be neither shared nor replayed"
	case shared && rf != nil:
		return "", nil, packet.CodeTopicFilterInvalid, "a shared subscription cannot replay"
	case shared && s.NoLocal && c.version == packet.Version5:
		return "", nil, packet.CodeProtocolError, "no local on a shared subscription" // [MQTT-3.8.3-4]
	case !c.acl.AllowFilter(auth.Subscribe, inner):
		// 0x87 in 5.0; the codec writes 0x80 for 3.1.1 [MQTT-3.9.3-2].
		return "", nil, packet.CodeNotAuthorized, "the ACL does not grant subscribe on every topic of " + inner
	case rf != nil && !c.acl.AllowFilter(auth.Replay, inner):
		return "", nil, packet.CodeNotAuthorized, "the ACL does not grant replay on every topic of " + inner
	}
	return filter, rf, packet.ReasonCode(s.QoS), "" // every QoS is granted
}

// replayProperty reads the MQTT 5 user property replay-from, which asks a
// replay for every filter of the packet.
func replayProperty(props []packet.UserProperty) (*replayFrom, error) {
	for _, u := range props {
		if u.Key == replayPropertyName {
			rf, err := parseReplayFrom(u.Value, false)
			if err != nil {
				return nil, fmt.Errorf("replay-from: %w", err)
			}
			return &rf, nil
		}
	}
	return nil, nil
}

// offsetOption reads the MQTT 5 SUBSCRIBE user property offset, which asks
// (true) or declines (false) the offset user property on the deliveries of
// every filter of the packet; set is false when the packet does not say.
// The first one counts, as for replay-from.
func offsetOption(props []packet.UserProperty) (on, set bool, err error) {
	for _, u := range props {
		if u.Key != offsetPropertyName {
			continue
		}
		switch u.Value {
		case "true":
			return true, true, nil
		case "false":
			return false, true, nil
		}
		return false, false, fmt.Errorf("offset: %q is neither true nor false", u.Value)
	}
	return false, false, nil
}

// subscribed sends the SUBACK once the subscribe resolved; one that did not
// commit fails every filter it proposed.
func (c *conn) subscribed(p *pending, err error) {
	ack := p.ack.(*packet.Suback)
	if err != nil {
		c.dropPendingReplay(p.replay)
		p.presence = nil
		for i, code := range ack.ReasonCodes {
			if !code.IsError() {
				ack.ReasonCodes[i] = packet.CodeUnspecifiedError
			}
		}
		if c.version == packet.Version5 {
			ack.Properties.ReasonString = "subscription not committed: " + err.Error()
		}
	}
	c.queueCtrl(ack)
	c.watchPresence(p.presence) // after the SUBACK: the snapshot follows it
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
		if _, ok, _ := presence.SplitTopic(f); ok {
			if !c.unwatchPresence(f) {
				code = packet.CodeNoSubscriptionExisted
			}
		} else if have[f] {
			filters = append(filters, f)
		} else {
			code = packet.CodeNoSubscriptionExisted
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
	e := fsm.Entry{Kind: fsm.KindUnsubscribe, ClientID: c.clientID, Filters: filters}
	c.await(&pending{f: c.propose(&e), kind: pendUnsubscribe, ack: ack})
}

// unsubscribed sends the UNSUBACK once the unsubscribe resolved.
func (c *conn) unsubscribed(p *pending, err error) {
	ack := p.ack.(*packet.Unsuback)
	if err != nil && c.version == packet.Version5 {
		for i := range ack.ReasonCodes {
			ack.ReasonCodes[i] = packet.CodeUnspecifiedError
		}
	}
	c.queueCtrl(ack)
}
