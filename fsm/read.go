package fsm

import (
	"slices"
	"strings"

	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/topic"
)

// Readers. They are methods of both State (for the applier) and View (for
// everyone else); results are copies or immutable values.

// Session returns a copy of client's session.
func (v *views) Session(client string) (Session, bool) {
	s, ok := v.session(client)
	if !ok {
		return Session{}, false
	}
	return *s, true
}

// Sessions calls fn for every session in client id order until fn returns false.
func (v *views) Sessions(fn func(Session) bool) {
	v.sessions.Ascend(func(s *Session) bool { return fn(*s) })
}

// SessionCount is the number of sessions, connected or not.
func (v *views) SessionCount() int { return v.sessions.Len() }

// SubscriptionCount is the number of subscriptions of all sessions.
func (v *views) SubscriptionCount() int { return v.subs.Len() }

// Connected is the number of connected sessions (presence).
func (v *views) Connected() int { return v.connected }

// SubscriberCount is the number of sessions subscribed to exactly filter
// (a shared filter is counted as written, "$share/g/f").
func (v *views) SubscriberCount(filter string) int {
	fc, _ := v.filters.Get(filterCount{Filter: filter})
	return fc.Count
}

// Subscriptions returns client's subscriptions in filter order.
func (v *views) Subscriptions(client string) []Subscription {
	var out []Subscription
	v.subs.AscendGreaterOrEqual(subItem{ClientID: client}, func(it subItem) bool {
		if it.ClientID != client {
			return false
		}
		out = append(out, Subscription{Filter: it.Filter, Options: it.Options})
		return true
	})
	return out
}

// Inflight returns the offsets client's cursor holds explicitly, in order.
func (v *views) Inflight(client string) []Inflight {
	var out []Inflight
	v.ascendClient(client, func(in Inflight) { out = append(out, in) })
	return out
}

// HasInflight reports whether client's cursor holds off explicitly: one
// lookup, where Inflight copies the whole list.
func (v *views) HasInflight(client string, off log.Offset) bool {
	return v.inflight.Has(Inflight{ClientID: client, Offset: off})
}

// InflightRange returns the offsets in [from, to) client's cursor holds
// explicitly, in order: a step of a connection's catch-up reads one range
// of the log and needs no more of a cursor that may hold its whole backlog.
func (v *views) InflightRange(client string, from, to log.Offset) []Inflight {
	var out []Inflight
	v.inflight.AscendRange(Inflight{ClientID: client, Offset: from}, Inflight{ClientID: client, Offset: to},
		func(in Inflight) bool {
			out = append(out, in)
			return true
		})
	return out
}

// AwaitingRelease returns client's inbound QoS 2 packet ids awaiting PUBREL.
func (v *views) AwaitingRelease(client string) []uint16 {
	var out []uint16
	for _, a := range v.awaitingOf(client) {
		out = append(out, a.PacketID)
	}
	return out
}

// Retained returns topic's retained message, expired or not.
func (v *views) Retained(topicName string) (Retained, bool) {
	return v.retained.Get(Retained{Topic: topicName})
}

// RetainedCount is the number of retained topics.
func (v *views) RetainedCount() int { return v.retained.Len() }

// RetainedMatching calls fn, in topic order, for each retained message
// matching filter and unexpired at now.
func (v *views) RetainedMatching(filter string, now int64, fn func(Retained) bool) {
	prefix := literalPrefix(filter)
	v.retained.AscendGreaterOrEqual(Retained{Topic: prefix}, func(r Retained) bool {
		if !strings.HasPrefix(r.Topic, prefix) {
			return false
		}
		if r.expired(now) || !topic.Match(filter, r.Topic) {
			return true
		}
		return fn(r)
	})
}

// PendingWill returns client's will waiting for its delay, if any.
func (v *views) PendingWill(client string) (PendingWill, bool) {
	return v.wills.Get(PendingWill{ClientID: client})
}

// NextDeadline is the earliest time at which Due returns something.
func (v *views) NextDeadline() (int64, bool) {
	d, ok := v.deadlines.Min()
	return d.Due, ok
}

// Due returns the entries the leader proposes at time now: each due will
// (KindPublish with Will set), then each expired session (KindSessionExpire),
// in deadline order. Proposing one twice is harmless: the second is stale.
func (v *views) Due(now int64) []Entry {
	var out []Entry
	v.deadlines.Ascend(func(d Deadline) bool {
		if d.Due > now {
			return false
		}
		if d.Kind == DeadlineWill {
			w, _ := v.wills.Get(PendingWill{ClientID: d.ClientID})
			out = append(out, w.Entry(now))
		} else {
			out = append(out, Entry{Kind: KindSessionExpire, Time: now, ClientID: d.ClientID})
		}
		return true
	})
	return out
}

// Owed decides whether the publish e at offset off, read from one of
// client's replay gaps (Resume.Gaps), is owed to client and how to send it.
// Call it on a View taken after client's SessionConnect applied. Owed are
// messages matched by its non-shared subscriptions (no-local honoured
// [MQTT-3.8.3-3]) at QoS ≥ 1 (QoS 0 is not queued while offline), not held
// explicitly in its Inflight, and unexpired at the reconnect's time
// [MQTT-3.3.2-5].
func (v *views) Owed(client string, off log.Offset, e *Entry) (Delivery, bool) {
	sess, ok := v.session(client)
	if !ok || e.Kind != KindPublish || !inGaps(sess.Gaps, off) {
		return Delivery{}, false
	}
	if exp := expiresAt(e); exp != 0 && exp <= sess.ConnectTime {
		return Delivery{}, false
	}
	if v.inflight.Has(Inflight{ClientID: client, Offset: off}) {
		return Delivery{}, false
	}
	m, _ := v.matchClient(client, e, false, nil)
	if m.qos == 0 {
		return Delivery{}, false
	}
	return Delivery{ClientID: client, Node: sess.Node, Offset: off, QoS: m.qos,
		Retain: m.retain, SubscriptionIDs: m.ids, OffsetProperty: m.offset}, true
}

// Redeliver returns the delivery to resend an Inflight item: its granted
// QoS, and the RETAIN flag, subscription ids and offset property of
// client's current subscriptions (shared ones included) that match e.
func (v *views) Redeliver(in Inflight, e *Entry) Delivery {
	sess, _ := v.session(in.ClientID)
	m, _ := v.matchClient(in.ClientID, e, true, nil)
	d := Delivery{ClientID: in.ClientID, Offset: in.Offset, QoS: in.QoS, Retain: m.retain,
		SubscriptionIDs: m.ids, OffsetProperty: m.offset}
	if sess != nil {
		d.Node = sess.Node
	}
	return d
}

// Matching decides how client's current non-shared subscriptions match the
// publish e at off (no-local honoured [MQTT-3.8.3-3], overlaps merged
// [MQTT-3.3.4-2/3]), leaving out those whose filter skip reports (nil: none);
// ok is false when none matches. A connection that fell behind rebuilds
// from it, record by record, the QoS 0 deliveries it did not queue (mqtt
// catch-up), skipping subscriptions made after the record. Shared
// subscriptions are left out: the fold gave each of their messages to one
// member, which a view does not record for QoS 0 (QoS 1/2 ones are in the
// member's Inflight).
func (v *views) Matching(client string, off log.Offset, e *Entry, skip func(filter string) bool) (Delivery, bool) {
	sess, ok := v.session(client)
	if !ok || e.Kind != KindPublish {
		return Delivery{}, false
	}
	m, ok := v.matchClient(client, e, false, skip)
	if !ok {
		return Delivery{}, false
	}
	return Delivery{ClientID: client, Node: sess.Node, Offset: off, QoS: m.qos,
		Retain: m.retain, SubscriptionIDs: m.ids, OffsetProperty: m.offset}, true
}

// matchClient merges client's subscriptions matching publish e, but those
// skip reports (nil: none); ok reports whether any did (a QoS 0 match
// leaves m at its zero value otherwise).
func (v *views) matchClient(client string, e *Entry, shared bool, skip func(string) bool) (m match, ok bool) {
	p := &e.Publish
	v.subs.AscendGreaterOrEqual(subItem{ClientID: client}, func(it subItem) bool {
		if it.ClientID != client {
			return false
		}
		if skip != nil && skip(it.Filter) {
			return true
		}
		filter := it.Filter
		if _, inner, ok, _ := topic.ParseShare(filter); ok {
			if !shared {
				return true
			}
			filter = inner
		} else if it.Options.NoLocal && client == e.ClientID {
			return true
		}
		if topic.Match(filter, p.Topic) {
			m.add(p, it.Options)
			ok = true
		}
		return true
	})
	slices.Sort(m.ids)
	return m, ok
}
