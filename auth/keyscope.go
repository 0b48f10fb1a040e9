package auth

import (
	"github.com/stratamq/strata/topic"
)

// KeyScope is the Authorizer of a broker that accepts signed keys: an
// identity a key admitted may do what the key grants and nothing else (the
// key was signed by the cluster, so it is its own ACL); any other identity
// is Base's decision (nil Base: AllowAll).
type KeyScope struct {
	Base Authorizer
}

// For returns the key's checker for key identities, Base's otherwise.
func (s KeyScope) For(id Identity) Checker {
	if id.Key != nil {
		return KeyChecker{Claims: *id.Key}
	}
	if s.Base == nil {
		return AllowAll{}.For(id)
	}
	return s.Base.For(id)
}

// KeyChecker grants a key's rights on the topics its filter matches.
type KeyChecker struct {
	Claims KeyClaims
}

// Allow reports whether the key holds right on the topic name.
func (k KeyChecker) Allow(right Right, name string) bool {
	return k.Claims.Rights&right == right && topic.Match(k.Claims.Filter, name)
}

// AllowFilter reports whether the key holds right on every topic filter can
// match: the key's filter must cover it. A shared subscription is judged by
// its inner filter.
func (k KeyChecker) AllowFilter(right Right, filter string) bool {
	if _, inner, ok, err := topic.ParseShare(filter); err == nil && ok {
		filter = inner
	}
	return k.Claims.Rights&right == right && filter != "" && Covers(k.Claims.Filter, filter)
}
