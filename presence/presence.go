// Package presence answers who listens on a topic filter, from the fsm's
// session views: the snapshot GET /v1/presence and an MQTT $presence/
// subscription send, and the events that follow it (join, leave, online,
// offline), built from the fsm's PresenceChange of each applied entry.
// Both the HTTP API and the MQTT broker use it, so the two speak the same
// JSON (docs/mqtt.md#presence).
package presence

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/topic"
)

// Snapshot is who listens on a filter. Subscribers has one item per
// subscription whose filter overlaps Filter (topic.Overlap: some topic
// name matches both, so "chat/room1" lists "chat/room1", "chat/+",
// "chat/#" and "#"), in (client id, filter) order; Connected names the
// clients among them that are online, once each; Count is
// len(Subscribers).
type Snapshot struct {
	Filter      string   `json:"filter"`
	Count       int      `json:"count"`
	Subscribers []Member `json:"subscribers"`
	Connected   []string `json:"connected"`
}

// Member is one subscription of a snapshot. Node is the node holding the
// client's connection, empty while it is offline.
type Member struct {
	ClientID     string       `json:"client_id"`
	Node         string       `json:"node,omitempty"`
	Online       bool         `json:"online"`
	Subscription Subscription `json:"subscription"`
}

// Subscription is one subscription and its options, as the admin API and
// presence write them.
type Subscription struct {
	Filter            string `json:"filter"`
	QoS               byte   `json:"qos"`
	NoLocal           bool   `json:"no_local,omitempty"`
	RetainAsPublished bool   `json:"retain_as_published,omitempty"`
	RetainHandling    byte   `json:"retain_handling,omitempty"`
	ID                uint32 `json:"subscription_id,omitempty"`
	OffsetProperty    bool   `json:"offset_property,omitempty"`
}

// SubscriptionOf is sub as JSON.
func SubscriptionOf(sub fsm.Subscription) Subscription {
	o := sub.Options
	return Subscription{Filter: sub.Filter, QoS: o.QoS, NoLocal: o.NoLocal,
		RetainAsPublished: o.RetainAsPublished, RetainHandling: o.RetainHandling,
		ID: o.ID, OffsetProperty: o.OffsetProperty}
}

// NodeOf is the node id of a connection's name in the log
// ("node-id/boot-sequence").
func NodeOf(conn string) string {
	if i := strings.LastIndexByte(conn, '/'); i >= 0 {
		return conn[:i]
	}
	return conn
}

// ParseFilter checks a filter presence is asked about: valid, not shared.
func ParseFilter(filter string) (string, error) {
	if filter == "" {
		return "", errors.New("missing filter")
	}
	if _, _, shared, _ := topic.ParseShare(filter); shared {
		return "", errors.New("a shared subscription's filter: ask for its inner filter instead")
	}
	if err := topic.ValidateFilter(filter); err != nil {
		return "", err
	}
	return filter, nil
}

// Of builds the snapshot for filter (valid, non-shared) from v. It is
// safe for concurrent use: a View is immutable. It walks every
// subscription once (fsm View.Presence).
func Of(v *fsm.View, filter string) Snapshot {
	p := Snapshot{Filter: filter, Subscribers: []Member{}, Connected: []string{}}
	v.Presence(filter, func(se fsm.Session, sub fsm.Subscription) bool {
		p.Subscribers = append(p.Subscribers, Member{ClientID: se.ClientID,
			Node: NodeOf(se.Node), Online: se.Connected, Subscription: SubscriptionOf(sub)})
		if se.Connected && (len(p.Connected) == 0 || p.Connected[len(p.Connected)-1] != se.ClientID) {
			p.Connected = append(p.Connected, se.ClientID)
		}
		return true
	})
	p.Count = len(p.Subscribers)
	return p
}

// The kinds of Event.
const (
	EventSnapshot = "snapshot" // the state: Snapshot's fields, as of Offset
	EventJoin     = "join"     // a subscription overlapping the filter was made (or its options replaced)
	EventLeave    = "leave"    // one was removed (unsubscribe, clean start, session end or expiry)
	EventOnline   = "online"   // a client holding one came online (connect or takeover)
	EventOffline  = "offline"  // a client holding one went offline
)

// Event is one message of a presence subscription: first a snapshot, then
// the changes, each with the log offset and time of the entry that made
// it. A consumer folds them onto the snapshot: join adds (or replaces) the
// member (ClientID, Subscription.Filter), leave removes (ClientID,
// Unsubscribed), online and offline set every member of ClientID on or off
// line (Node is the node the client connected to, or left).
type Event struct {
	Event        string        `json:"event"`
	Filter       string        `json:"filter"`
	ClientID     string        `json:"client_id,omitempty"`
	Node         string        `json:"node,omitempty"`
	Subscription *Subscription `json:"subscription,omitempty"` // join
	Unsubscribed string        `json:"unsubscribed,omitempty"` // leave: the removed subscription's filter
	Offset       uint64        `json:"offset"`
	Time         string        `json:"time,omitempty"`
	// A snapshot's fields, for decoding any message into an Event (a
	// snapshot is written as a SnapshotMessage).
	Count       *int     `json:"count,omitempty"`
	Subscribers []Member `json:"subscribers,omitempty"`
	Connected   []string `json:"connected,omitempty"`
}

// SnapshotMessage is the first message of a presence subscription:
// Event "snapshot", the Snapshot's fields (empty lists written []), and
// Offset, the last log entry it includes.
type SnapshotMessage struct {
	Event string `json:"event"`
	Snapshot
	Offset uint64 `json:"offset"`
}

// SnapshotEvent is s as of the entry at last (a View's next offset minus
// one).
func SnapshotEvent(s Snapshot, last log.Offset) SnapshotMessage {
	return SnapshotMessage{Event: EventSnapshot, Snapshot: s, Offset: uint64(last)}
}

// Events are the events the entry at off (time t, unix ns) makes for a
// presence subscription on filter (valid, non-shared), in the order a
// consumer applies them: offline, the leaves, the joins, online. A client
// is online or offline for filter only while it holds a subscription
// overlapping filter (it is then in the snapshot): online counts the
// filters it holds after a connect, offline those it held before the
// disconnect. Nil when the change does not touch filter.
func Events(filter string, off log.Offset, t int64, ch *fsm.PresenceChange) []Event {
	var out []Event
	base := Event{Filter: filter, ClientID: ch.ClientID, Node: NodeOf(ch.Node), Offset: uint64(off), Time: timeString(t)}
	if ch.Online < 0 && (anyOverlap(filter, ch.Held) || anyOverlap(filter, ch.Removed)) {
		// Before the leaves of a session that ended with its connection:
		// the client goes offline, then its subscriptions go.
		ev := base
		ev.Event = EventOffline
		out = append(out, ev)
	}
	for _, f := range ch.Removed {
		if overlaps(filter, f) {
			ev := base
			ev.Event, ev.Unsubscribed = EventLeave, f
			out = append(out, ev)
		}
	}
	for i := range ch.Added {
		if overlaps(filter, ch.Added[i].Filter) {
			ev := base
			sub := SubscriptionOf(ch.Added[i])
			ev.Event, ev.Subscription = EventJoin, &sub
			out = append(out, ev)
		}
	}
	if ch.Online > 0 && anyOverlap(filter, ch.Held) {
		ev := base
		ev.Event = EventOnline
		out = append(out, ev)
	}
	return out
}

func anyOverlap(filter string, fs []string) bool {
	for _, f := range fs {
		if overlaps(filter, f) {
			return true
		}
	}
	return false
}

// overlaps compares filter with a subscription's filter (a shared one by
// its inner filter), as View.Presence does.
func overlaps(filter, sub string) bool {
	if _, inner, ok, _ := topic.ParseShare(sub); ok {
		sub = inner
	}
	return topic.Overlap(filter, sub)
}

func timeString(ns int64) string {
	if ns == 0 {
		return ""
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

// TopicPrefix starts an MQTT presence subscription: $presence/<filter>.
const TopicPrefix = "$presence/"

// TopicName is the topic name the events of the presence subscription
// on filter are published with: TopicPrefix and filter with each wildcard
// level written %2B (+) or %23 (#), since a topic name cannot hold
// wildcards [MQTT-3.3.2-2]; it matches the subscription's filter, so a
// client's library routes it there. The payload's filter is exact.
func TopicName(filter string) string {
	levels := strings.Split(filter, "/")
	for i, l := range levels {
		switch l {
		case "+":
			levels[i] = "%2B"
		case "#":
			levels[i] = "%23"
		}
	}
	return TopicPrefix + strings.Join(levels, "/")
}

// SplitTopic splits a $presence/ subscription filter; ok is false for any
// other filter. The inner filter is checked with ParseFilter.
func SplitTopic(f string) (inner string, ok bool, err error) {
	rest, found := strings.CutPrefix(f, TopicPrefix)
	switch {
	case f == strings.TrimSuffix(TopicPrefix, "/"):
		rest, found = "", true
	case !found:
		return "", false, nil
	}
	if inner, err = ParseFilter(rest); err != nil {
		return "", true, fmt.Errorf("$presence/<filter>: %w", err)
	}
	return inner, true, nil
}
