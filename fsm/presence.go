package fsm

import "github.com/stratamq/strata/topic"

// Presence calls fn, in (client id, filter) order, for every subscription
// whose filter overlaps filter (topic.Overlap: some topic name matches
// both; a shared subscription is compared by its inner filter), with its
// session, until fn returns false. filter must be valid and non-shared.
// It walks every subscription once: O(subscriptions), for the admin API
// and presence queries, not for the publish path.
func (v *views) Presence(filter string, fn func(Session, Subscription) bool) {
	var se *Session
	v.subs.Ascend(func(it subItem) bool {
		inner := it.Filter
		if _, in, ok, _ := topic.ParseShare(inner); ok {
			inner = in
		}
		if !topic.Overlap(filter, inner) {
			return true
		}
		if se == nil || se.ClientID != it.ClientID {
			var ok bool
			if se, ok = v.session(it.ClientID); !ok {
				return true
			}
		}
		return fn(*se, Subscription{Filter: it.Filter, Options: it.Options})
	})
}
