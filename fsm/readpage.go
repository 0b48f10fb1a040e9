package fsm

import (
	"strings"

	"github.com/stratamq/strata/topic"
)

// Paged readers for the admin API: each resumes strictly after a key, so
// a caller walks a view page by page (each page from its own View) and
// sees every item present throughout the walk exactly once.

// SessionsAfter calls fn for every session whose client id sorts after
// after ("" for the first), in client id order, until fn returns false.
func (v *views) SessionsAfter(after string, fn func(Session) bool) {
	v.sessions.AscendGreaterOrEqual(&Session{ClientID: after}, func(s *Session) bool {
		if after != "" && s.ClientID == after {
			return true
		}
		return fn(*s)
	})
}

// ClientSubscriptionCount is the number of client's subscriptions.
func (v *views) ClientSubscriptionCount(client string) int {
	n := 0
	v.subs.AscendGreaterOrEqual(subItem{ClientID: client}, func(it subItem) bool {
		if it.ClientID != client {
			return false
		}
		n++
		return true
	})
	return n
}

// InflightCount is the number of offsets client's cursor holds explicitly.
func (v *views) InflightCount(client string) int {
	n := 0
	v.ascendClient(client, func(Inflight) { n++ })
	return n
}

// RetainedMatchingAfter is RetainedMatching resuming after the topic
// after ("" for the first).
func (v *views) RetainedMatchingAfter(filter, after string, now int64, fn func(Retained) bool) {
	prefix := literalPrefix(filter)
	v.retained.AscendGreaterOrEqual(Retained{Topic: max(prefix, after)}, func(r Retained) bool {
		if !strings.HasPrefix(r.Topic, prefix) {
			return false
		}
		if r.Topic == after || r.expired(now) || !topic.Match(filter, r.Topic) {
			return true
		}
		return fn(r)
	})
}
