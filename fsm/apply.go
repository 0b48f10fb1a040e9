package fsm

import (
	"cmp"
	"slices"
	"strings"

	"github.com/stratamq/strata/log"
)

// Effects is what the connection layer must do after an entry applies, on
// every node for the clients connected to it (like etcd raft's Ready).
type Effects struct {
	// Err is why the entry changed nothing (ErrStale, ErrNoSession,
	// ErrApplied); nil when it applied.
	Err error
	// Deliveries go to connected sessions: live matches in client id order,
	// or, for a Subscribe, the retained messages in topic order.
	Deliveries []Delivery
	// Duplicate marks a QoS 2 publish whose packet id awaits PUBREL: it was
	// not delivered again; the proposer answers PUBREC [MQTT-4.3.3-10].
	Duplicate bool
	// Unmatched marks a publish that matched no subscription of any
	// session, connected or offline, direct or shared (a no-local one of
	// the publisher's own does not count): the proposer may answer 0x10 No
	// matching subscribers. The message is in the log all the same.
	Unmatched bool
	// Wills are due now; the leader proposes PendingWill.Entry for each.
	Wills []PendingWill
	// Close lists network connections to close (session takeover).
	Close []Close
	// Resume is set by a SessionConnect: what the new connection owes first.
	Resume *Resume
	// Presence says how the entry changed who listens (presence events,
	// docs/mqtt.md#presence): nil when it added or removed no subscription
	// and brought no session on or off line.
	Presence *PresenceChange
}

// PresenceChange is one entry's change to the presence view, for one
// client: the subscriptions it added and removed, and whether its session
// came online or went offline.
type PresenceChange struct {
	ClientID string
	// Node is the connection holding the session: the new one for a
	// connect, the one that ended for a disconnect, the current one for a
	// subscribe or unsubscribe; "" while offline.
	Node string
	// Online is +1 when the session came online (a connect, a takeover
	// included), -1 when it went offline (a disconnect), 0 otherwise.
	Online int8
	// Added are subscriptions made or whose options were replaced, in the
	// entry's order; Removed the filters of subscriptions removed (an
	// unsubscribe, or a session that ended: clean start, expiry), in
	// filter order.
	Added   []Subscription
	Removed []string
	// Held, when Online is not 0, is the filters the client holds after
	// the entry, in filter order.
	Held []string
}

// Delivery is one message to send to one connected session.
type Delivery struct {
	ClientID string
	Node     string
	Offset   log.Offset
	QoS      byte // min(publish QoS, subscription QoS), highest over matches [MQTT-3.3.4-2]
	// Retain is the RETAIN flag to send: the publish's flag where a matching
	// subscription has retain-as-published [MQTT-3.3.1-12/13]; 1 for retained
	// messages sent on subscribe (section 3.3.1.3).
	Retain          bool
	SubscriptionIDs []uint32 // every matching subscription's id, ascending [MQTT-3.3.4-3/4]
	// OffsetProperty: a matching subscription asked for the offset user
	// property (SubOptions.OffsetProperty), so the delivery carries it.
	OffsetProperty bool
}

// Close asks the node holding a connection to close it.
type Close struct {
	ClientID string
	Node     string
	Since    log.Offset // the connection's SessionConnect offset
	Reason   DisconnectReason
}

// Resume tells a new connection what its session owes it [MQTT-4.4.0-1].
type Resume struct {
	SessionPresent bool       // [MQTT-3.2.2-2/3]
	Inflight       []Inflight // resend, in offset order (Done markers excluded)
	Gaps           []Range    // replay these ranges through View.Owed, in order
}

// Apply folds the entry at offset off into s. It is deterministic: no I/O,
// no clock but e.Time, no randomness. Offsets below the next expected one
// are ignored (Effects.Err = ErrApplied), which makes re-applying a tail
// after Restore a no-op. e must be valid (decoded, or passed Validate).
func (s *State) Apply(off log.Offset, e *Entry) Effects {
	if off < s.next {
		return Effects{Err: ErrApplied}
	}
	s.next = off + 1
	switch e.Kind {
	case KindPublish:
		return s.applyPublish(off, e)
	case KindSubscribe:
		return s.applySubscribe(e)
	case KindUnsubscribe:
		return s.applyUnsubscribe(e)
	case KindSessionConnect:
		return s.applyConnect(off, e)
	case KindSessionDisconnect:
		return s.applyDisconnect(off, e)
	case KindSessionExpire:
		return s.applyExpire(e)
	case KindAck:
		return s.applyAck(e)
	case KindQoS2Release:
		return s.applyRelease(e)
	case KindKeyRevoke:
		return s.applyRevoke(e)
	case KindConsumerCommit:
		return s.applyConsumerCommit(e)
	case KindConsumerDelete:
		return s.applyConsumerDelete(e)
	}
	return Effects{Err: ErrInvalid}
}

// NextOffset is the offset Apply expects next.
func (v *views) NextOffset() log.Offset { return v.next }

func (s *State) applyPublish(off log.Offset, e *Entry) Effects {
	p := &e.Publish
	if p.Will {
		w, ok := s.wills.Get(PendingWill{ClientID: e.ClientID})
		if !ok || w.Due > e.Time {
			return Effects{Err: ErrStale} // cancelled, already published, or early
		}
		s.deleteWill(w)
	} else if s.duplicateQoS2(off, e) {
		return Effects{Duplicate: true}
	}
	s.retain(off, e)
	ds, matched := s.route(off, e)
	return Effects{Deliveries: ds, Unmatched: !matched}
}

// duplicateQoS2 reports whether e resends a QoS 2 packet id still awaiting
// PUBREL [MQTT-4.3.3-10]; otherwise it records the id (QoS 2 with a session).
func (s *State) duplicateQoS2(off log.Offset, e *Entry) bool {
	if e.Publish.QoS != 2 || e.PacketID == 0 {
		return false
	}
	key := awaitItem{ClientID: e.ClientID, PacketID: e.PacketID}
	if s.awaiting.Has(key) {
		return true
	}
	if _, ok := s.session(e.ClientID); ok {
		key.Offset = off
		s.awaiting.ReplaceOrInsert(key)
	}
	return false
}

// retain updates the retained view: a retained publish replaces the topic's
// message [MQTT-3.3.1-5]; an empty payload removes it and is not stored
// [MQTT-3.3.1-6/7]; a non-retained publish leaves it alone [MQTT-3.3.1-8].
func (s *State) retain(off log.Offset, e *Entry) {
	p := &e.Publish
	switch {
	case !p.Retain:
	case len(p.Payload) == 0:
		s.retained.Delete(Retained{Topic: p.Topic})
	default:
		s.retained.ReplaceOrInsert(Retained{Topic: p.Topic, Offset: off, QoS: p.QoS,
			ExpiresAt: expiresAt(e)})
	}
}

// expiresAt is when the message of publish e expires, 0 for never.
func expiresAt(e *Entry) int64 {
	pr := &e.Publish.Props
	if !pr.HasExpiry {
		return 0
	}
	return max(e.Time+int64(pr.MessageExpirySeconds)*secondNanos, 1)
}

// match accumulates one client's matching subscriptions.
type match struct {
	qos    byte
	retain bool
	offset bool // any match asked for the offset user property
	ids    []uint32
}

// merge folds o (one subscription's match, from add) into m.
func (m *match) merge(o *match) {
	m.qos = max(m.qos, o.qos)
	m.retain = m.retain || o.retain
	m.offset = m.offset || o.offset
	for _, id := range o.ids {
		if !slices.Contains(m.ids, id) {
			m.ids = append(m.ids, id)
		}
	}
}

func (m *match) add(p *Publish, o SubOptions) {
	m.qos = max(m.qos, min(p.QoS, o.QoS)) // [MQTT-3.8.4-8], [MQTT-3.3.4-2]
	m.retain = m.retain || (p.Retain && o.RetainAsPublished)
	m.offset = m.offset || o.OffsetProperty
	if o.ID != 0 && !slices.Contains(m.ids, o.ID) {
		m.ids = append(m.ids, o.ID)
	}
}

// clientMatch is one client's accumulated match in route's scratch.
type clientMatch struct {
	client string
	m      match
}

// route computes the deliveries of the publish at off: one per matching
// session (overlaps merged), one member per matching shared group; matched
// reports whether any session's subscription matched, connected or not.
// Matches go to a reused slice, sorted and merged by client, instead of a
// map of pointers: no allocation per publish or per matching client.
func (s *State) route(off log.Offset, e *Entry) (ds []Delivery, matched bool) {
	p := &e.Publish
	ms := s.matches[:0]
	s.direct.Match(p.Topic, func(_, client string, o SubOptions) {
		if o.NoLocal && client == e.ClientID {
			return // [MQTT-3.8.3-3]
		}
		ms = append(ms, clientMatch{client: client})
		ms[len(ms)-1].m.add(p, o)
	})
	ms = mergeMatches(ms)
	for _, g := range s.matchGroups(p.Topic) {
		member := s.pickMember(g)
		o, _ := s.subs.Get(subItem{ClientID: member, Filter: shareFilter(g.Name, g.Filter)})
		i, found := slices.BinarySearchFunc(ms, member, func(c clientMatch, id string) int {
			return strings.Compare(c.client, id)
		})
		if !found {
			ms = slices.Insert(ms, i, clientMatch{client: member})
		}
		ms[i].m.add(p, o.Options)
		s.queueShared(member, off, e, &ms[i].m)
	}
	ds = s.deliver(off, e, ms)
	clear(ms) // drop the client strings and ids held by the scratch
	s.matches = ms[:0]
	return ds, len(ms) > 0
}

// mergeMatches sorts ms by client and folds each client's matches into one,
// as the overlapping-subscriptions rules ask [MQTT-3.3.4-2/3]. Merging is
// order-independent (max, or, a set of ids sorted later), so the sort need
// not be stable; the trie often yields clients in order already.
func mergeMatches(ms []clientMatch) []clientMatch {
	byClient := func(a, b clientMatch) int { return strings.Compare(a.client, b.client) }
	if !slices.IsSortedFunc(ms, byClient) {
		slices.SortFunc(ms, byClient)
	}
	out := ms[:0]
	for _, c := range ms {
		if n := len(out); n > 0 && out[n-1].client == c.client {
			out[n-1].m.merge(&c.m)
			continue
		}
		out = append(out, c)
	}
	return out
}

// matchGroups returns the shared groups whose filter matches name, sorted.
func (s *State) matchGroups(name string) []*group {
	var gs []*group
	s.shared.Match(name, func(filter, name string, _ struct{}) {
		if g, ok := s.groups.Get(&group{Name: name, Filter: filter}); ok {
			gs = append(gs, g)
		}
	})
	slices.SortFunc(gs, func(a, b *group) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Filter, b.Filter))
	})
	return gs
}

func shareFilter(name, filter string) string { return "$share/" + name + "/" + filter }

// pickMember chooses the group member for one message: the first connected
// member at or after the group's position (round robin), else the member at
// the position; the position then moves past the one chosen.
func (s *State) pickMember(g *group) string {
	n := uint64(len(g.Members))
	pos := g.Next % n
	for i := range n {
		if sess, ok := s.session(g.Members[(g.Next+i)%n]); ok && sess.Connected {
			pos = (g.Next + i) % n
			break
		}
	}
	next := *g
	next.Next = pos + 1
	s.groups.ReplaceOrInsert(&next)
	return g.Members[pos]
}

// queueShared records a shared message for an offline member as an explicit
// Queued offset: replay gaps cover only non-shared subscriptions, and Owed
// skips offsets held explicitly. Expired messages and QoS 0 are not queued
// [MQTT-3.3.2-5].
func (s *State) queueShared(member string, off log.Offset, e *Entry, m *match) {
	sess, ok := s.session(member)
	if !ok || sess.Connected {
		return
	}
	exp := expiresAt(e)
	if m.qos == 0 || (exp != 0 && exp <= e.Time) {
		return
	}
	s.inflight.ReplaceOrInsert(Inflight{ClientID: member, Offset: off, QoS: m.qos,
		State: InflightQueued, ExpiresAt: exp})
}

// deliver turns matches (sorted by client) into deliveries for connected
// sessions, in client id order, and records QoS > 0 ones in flight.
func (s *State) deliver(off log.Offset, e *Entry, ms []clientMatch) []Delivery {
	var out []Delivery
	for i := range ms {
		c, m := ms[i].client, &ms[i].m
		sess, ok := s.session(c)
		if !ok || !sess.Connected {
			continue // offline: the replay gap (or queueShared) owes it
		}
		if out == nil {
			out = make([]Delivery, 0, len(ms)-i) // one allocation for every delivery
		}
		slices.Sort(m.ids)
		out = append(out, Delivery{ClientID: c, Node: sess.Node, Offset: off, QoS: m.qos,
			Retain: m.retain, SubscriptionIDs: m.ids, OffsetProperty: m.offset})
		s.markSent(c, off, m.qos, expiresAt(e))
	}
	return out
}

// markSent records a QoS > 0 delivery to a connected session in flight.
func (s *State) markSent(client string, off log.Offset, qos byte, exp int64) {
	if qos == 0 {
		return
	}
	key := Inflight{ClientID: client, Offset: off}
	if old, ok := s.inflight.Get(key); ok && old.State != InflightQueued {
		return // already owed (e.g. a retained message also delivered live)
	}
	key.QoS, key.State, key.ExpiresAt = qos, InflightSent, exp
	s.inflight.ReplaceOrInsert(key)
}

// session is views.session without allocating a key: State is used by one
// goroutine (the applier), so the key can be a field; Views keep their own.
func (s *State) session(client string) (*Session, bool) {
	s.sessionKey.ClientID = client
	sess, ok := s.sessions.Get(&s.sessionKey)
	s.sessionKey.ClientID = ""
	return sess, ok
}

func (v *views) session(client string) (*Session, bool) {
	return v.sessions.Get(&Session{ClientID: client})
}
