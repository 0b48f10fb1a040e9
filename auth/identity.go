package auth

// Identity is who a request acts for.
type Identity struct {
	// User is the authenticated user name; empty for an anonymous client.
	User string
	// ClientID is the MQTT client identifier; empty for HTTP callers.
	ClientID string
	// Anonymous is set for clients admitted without credentials.
	Anonymous bool
	// Key is set when a signed key admitted the caller: its claims, not the
	// ACL, bound what it may do (KeyScope).
	Key *KeyClaims
}

// Right is one thing an identity may be granted on topics.
type Right uint8

const (
	// Publish: send messages to a topic (MQTT PUBLISH, wills, HTTP publish).
	Publish Right = 1 << iota
	// Subscribe: receive a topic's messages live (SUBSCRIBE, retained).
	Subscribe
	// Replay: read a topic's past ($replay/, replay-from, GET /v1/messages,
	// strata history). Reading the past is its own right.
	Replay
	// Admin: cluster operations (join, remove, snapshot, kick); topics do not
	// apply.
	Admin
)

// Authorizer decides what identities may do. Implementations are safe for
// concurrent use.
type Authorizer interface {
	// For returns the checker of one identity: a connection asks it for
	// every packet and delivery, so it is resolved once per identity.
	For(id Identity) Checker
}

// Checker answers for one identity.
type Checker interface {
	// Allow reports whether the identity holds right on the topic name.
	Allow(right Right, topic string) bool
	// AllowFilter reports whether the identity holds right on every topic
	// the filter can match (a subscription or a range read).
	AllowFilter(right Right, filter string) bool
}

// MayObserve reports whether c may learn what happens on every topic of
// filter: the subscribe or the replay right there. Listings of retained
// messages, sessions and presence ask it: they reveal no more than such a
// caller could read.
func MayObserve(c Checker, filter string) bool {
	return c.AllowFilter(Subscribe, filter) || c.AllowFilter(Replay, filter)
}

// AllowAll is the Authorizer of a broker without an ACL: everything is
// granted (who may connect at all is the password file's and the
// listeners' decision).
type AllowAll struct{}

func (AllowAll) For(Identity) Checker { return allowAll{} }

type allowAll struct{}

func (allowAll) Allow(Right, string) bool       { return true }
func (allowAll) AllowFilter(Right, string) bool { return true }
