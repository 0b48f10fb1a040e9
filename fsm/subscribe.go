package fsm

import (
	"slices"
	"strings"

	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/topic"
)

// applySubscribe adds or replaces subscriptions [MQTT-3.8.4-3] and sends
// the matching retained messages as retain handling says [MQTT-3.3.1-9..11].
// Only a connected session subscribes; otherwise the entry is stale.
func (s *State) applySubscribe(e *Entry) Effects {
	sess, ok := s.session(e.ClientID)
	switch {
	case !ok:
		return Effects{Err: ErrNoSession}
	case !sess.Connected:
		return Effects{Err: ErrStale}
	}
	var ds []retainedCopy
	for _, sub := range e.Subscriptions {
		existed := s.subscribe(e.ClientID, sub)
		if sendRetained(sub, existed) {
			ds = append(ds, s.retainedFor(sess, sub, e.Time)...)
		}
	}
	fx := Effects{Presence: &PresenceChange{ClientID: e.ClientID, Node: sess.Node, Added: e.Subscriptions}}
	for _, r := range mergeRetained(ds) {
		s.markSent(sess.ClientID, r.d.Offset, r.d.QoS, r.expiresAt)
		fx.Deliveries = append(fx.Deliveries, r.d)
	}
	return fx
}

// retainedCopy is a retained message sent on subscribe, with its expiry
// for the in-flight record.
type retainedCopy struct {
	d         Delivery
	expiresAt int64
}

// mergeRetained merges the copies of one retained message that several
// filters of one SUBSCRIBE asked for: it is sent once, at the highest QoS
// granted, with every one of those subscriptions' identifiers, as live
// deliveries are [MQTT-3.3.4-3/4]. Order stays that of first appearance.
func mergeRetained(rs []retainedCopy) []retainedCopy {
	at := map[log.Offset]int{}
	out := rs[:0]
	for _, r := range rs {
		d := r.d
		i, seen := at[d.Offset]
		if !seen {
			at[d.Offset] = len(out)
			out = append(out, r)
			continue
		}
		m := &out[i].d
		m.QoS = max(m.QoS, d.QoS)
		for _, id := range d.SubscriptionIDs {
			if !slices.Contains(m.SubscriptionIDs, id) {
				m.SubscriptionIDs = append(m.SubscriptionIDs, id)
			}
		}
		slices.Sort(m.SubscriptionIDs)
	}
	return out
}

// sendRetained applies retain handling: 0 always, 1 only for a new
// subscription, 2 never [MQTT-3.3.1-9..11]. Shared subscriptions get no
// retained messages (section 4.8.2).
func sendRetained(sub Subscription, existed bool) bool {
	if strings.HasPrefix(sub.Filter, "$share/") {
		return false
	}
	rh := sub.Options.RetainHandling
	return rh == 0 || rh == 1 && !existed
}

// retainedFor lists the unexpired retained messages matching sub's filter,
// in topic order, with the RETAIN flag set (section 3.3.1.3); the caller
// merges overlaps and records them in flight. Expired ones
// are not sent [MQTT-3.3.2-5]. A '#' or '+' first level skips '$' topics
// [MQTT-4.7.2-1] (topic.Match).
func (s *State) retainedFor(sess *Session, sub Subscription, now int64) []retainedCopy {
	var out []retainedCopy
	prefix := literalPrefix(sub.Filter)
	s.retained.AscendGreaterOrEqual(Retained{Topic: prefix}, func(r Retained) bool {
		if !strings.HasPrefix(r.Topic, prefix) {
			return false
		}
		if r.expired(now) || !topic.Match(sub.Filter, r.Topic) {
			return true
		}
		d := Delivery{ClientID: sess.ClientID, Node: sess.Node, Offset: r.Offset,
			QoS: min(r.QoS, sub.Options.QoS), Retain: true, OffsetProperty: sub.Options.OffsetProperty}
		if sub.Options.ID != 0 {
			d.SubscriptionIDs = []uint32{sub.Options.ID}
		}
		out = append(out, retainedCopy{d, r.ExpiresAt})
		return true
	})
	return out
}

// literalPrefix is the part of a filter before its first wildcard level:
// every matching topic starts with it.
func literalPrefix(filter string) string {
	if i := strings.IndexAny(filter, "+#"); i >= 0 {
		return filter[:i]
	}
	return filter
}

// subscribe stores one subscription and indexes it; it reports whether
// the (client, filter) pair existed already.
func (s *State) subscribe(client string, sub Subscription) bool {
	it := subItem{ClientID: client, Filter: sub.Filter, Options: sub.Options}
	_, existed := s.subs.ReplaceOrInsert(it)
	s.byFilter.ReplaceOrInsert(it)
	if name, inner, ok, _ := topic.ParseShare(sub.Filter); ok {
		s.join(name, inner, client)
	} else {
		s.direct.Insert(sub.Filter, client, sub.Options)
	}
	if !existed {
		s.addFilterCount(sub.Filter, 1)
	}
	return existed
}

func (s *State) applyUnsubscribe(e *Entry) Effects {
	sess, ok := s.session(e.ClientID)
	if !ok {
		return Effects{Err: ErrNoSession}
	}
	var removed []string
	for _, f := range e.Filters {
		if s.unsubscribe(e.ClientID, f) {
			removed = append(removed, f)
		}
	}
	if len(removed) == 0 {
		return Effects{}
	}
	slices.Sort(removed)
	removed = slices.Compact(removed)
	return Effects{Presence: &PresenceChange{ClientID: e.ClientID, Node: sess.Node, Removed: removed}}
}

// unsubscribe removes one subscription, reporting whether there was one;
// messages already owed stay owed.
func (s *State) unsubscribe(client, filter string) bool {
	if _, ok := s.subs.Delete(subItem{ClientID: client, Filter: filter}); !ok {
		return false
	}
	s.byFilter.Delete(subItem{ClientID: client, Filter: filter})
	if name, inner, ok, _ := topic.ParseShare(filter); ok {
		s.leave(name, inner, client)
	} else {
		s.direct.Remove(filter, client)
	}
	s.addFilterCount(filter, -1)
	return true
}

// join adds client to a shared group; members stay sorted. The group value
// is replaced, never changed, so Views keep theirs.
func (s *State) join(name, filter, client string) {
	g := &group{Name: name, Filter: filter}
	if old, ok := s.groups.Get(g); ok {
		*g = *old
	} else {
		s.shared.Insert(filter, name, struct{}{})
	}
	g.Members = insertSorted(g.Members, client)
	s.groups.ReplaceOrInsert(g)
}

func (s *State) leave(name, filter, client string) {
	old, ok := s.groups.Get(&group{Name: name, Filter: filter})
	if !ok {
		return
	}
	g := *old
	g.Members = removeSorted(g.Members, client)
	if len(g.Members) == 0 {
		s.groups.Delete(old)
		s.shared.Remove(filter, name)
		return
	}
	s.groups.ReplaceOrInsert(&g)
}

// insertSorted returns a new sorted slice with v added (once).
func insertSorted(xs []string, v string) []string {
	i, found := slices.BinarySearch(xs, v)
	if found {
		return xs
	}
	out := make([]string, 0, len(xs)+1)
	out = append(append(append(out, xs[:i]...), v), xs[i:]...)
	return out
}

func removeSorted(xs []string, v string) []string {
	i, found := slices.BinarySearch(xs, v)
	if !found {
		return xs
	}
	out := make([]string, 0, len(xs)-1)
	return append(append(out, xs[:i]...), xs[i+1:]...)
}

func (s *State) addFilterCount(filter string, delta int) {
	fc, _ := s.filters.Get(filterCount{Filter: filter})
	fc.Filter, fc.Count = filter, fc.Count+delta
	if fc.Count <= 0 {
		s.filters.Delete(fc)
		return
	}
	s.filters.ReplaceOrInsert(fc)
}

// hasDirectSubs reports whether client has a non-shared subscription.
func (v *views) hasDirectSubs(client string) bool {
	found := false
	v.subs.AscendGreaterOrEqual(subItem{ClientID: client}, func(it subItem) bool {
		if it.ClientID != client {
			return false
		}
		found = !strings.HasPrefix(it.Filter, "$share/")
		return !found
	})
	return found
}
