package fsm

import (
	"cmp"
	"slices"
	"strings"

	"github.com/stratamq/strata/topic"
)

// Presence calls fn, in (client id, filter) order, for every subscription
// whose filter overlaps filter (topic.Overlap: some topic name matches
// both; a shared subscription is compared by its inner filter), with its
// session, until fn returns false. filter must be valid and non-shared.
//
// It compares filter with each distinct subscribed filter once, then reads
// the subscriptions of those that overlap from the (filter, client id)
// index: O(distinct filters + subscriptions listed), not O(subscriptions).
func (v *views) Presence(filter string, fn func(Session, Subscription) bool) {
	var hits []subItem
	v.filters.Ascend(func(fc filterCount) bool {
		inner := fc.Filter
		if _, in, ok, _ := topic.ParseShare(inner); ok {
			inner = in
		}
		if topic.Overlap(filter, inner) {
			v.byFilter.AscendGreaterOrEqual(subItem{Filter: fc.Filter}, func(it subItem) bool {
				if it.Filter != fc.Filter {
					return false
				}
				hits = append(hits, it)
				return true
			})
		}
		return true
	})
	slices.SortFunc(hits, func(a, b subItem) int {
		return cmp.Or(strings.Compare(a.ClientID, b.ClientID), strings.Compare(a.Filter, b.Filter))
	})
	var se *Session
	for _, it := range hits {
		if se == nil || se.ClientID != it.ClientID {
			var ok bool
			if se, ok = v.session(it.ClientID); !ok {
				continue
			}
		}
		if !fn(*se, Subscription{Filter: it.Filter, Options: it.Options}) {
			return
		}
	}
}
