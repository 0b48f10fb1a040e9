package fsm

import (
	"cmp"
	"strings"

	"github.com/google/btree"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/topic"
)

// State is the fold of the log into views. Apply and View must be called
// from one goroutine (the applier); State is not safe for concurrent use.
// Readers use a *View.
type State struct {
	views
	direct *topic.Trie[SubOptions] // (filter, client id) → options, non-shared only
	shared *topic.Trie[struct{}]   // (inner filter, group) for shared groups
	// matches is route's scratch, reused so a publish allocates no map or
	// per-client match (not state: empty between Applies).
	matches []clientMatch
	// sessionKey is the search key of State.session, reused because a key
	// passed to the B-tree escapes (one allocation per lookup otherwise).
	sessionKey Session
}

// View is a read-only, consistent copy of a State at one offset. It is
// safe for concurrent use; it costs O(1) to take (copy-on-write B-trees).
type View struct {
	views
}

// views holds every view as a copy-on-write B-tree of immutable items:
// changing an item replaces it, so a cloned tree never sees the change.
type views struct {
	next      log.Offset // the offset after the last applied entry
	connected int
	sessions  *btree.BTreeG[*Session]    // by client id
	subs      *btree.BTreeG[subItem]     // by (client id, filter)
	byFilter  *btree.BTreeG[subItem]     // the same, by (filter, client id): presence
	groups    *btree.BTreeG[*group]      // by (group, inner filter)
	inflight  *btree.BTreeG[Inflight]    // by (client id, offset)
	awaiting  *btree.BTreeG[awaitItem]   // by (client id, packet id)
	retained  *btree.BTreeG[Retained]    // by topic
	wills     *btree.BTreeG[PendingWill] // by client id
	deadlines *btree.BTreeG[Deadline]    // by (due, kind, client id)
	filters   *btree.BTreeG[filterCount] // by filter
	revoked   *btree.BTreeG[string]      // revoked signed key ids
	consumers *btree.BTreeG[Consumer]    // by name
}

// Session is one client's session. Values returned by readers are copies;
// Gaps must not be modified.
type Session struct {
	ClientID  string
	Connected bool
	Node      string // node holding the connection, "" while offline
	// ConnectOffset is the offset of the SessionConnect that opened the
	// current (or last) connection; Disconnect.Since must equal it.
	ConnectOffset   log.Offset
	CleanStart      bool
	ExpirySeconds   uint32 // NeverExpire: never
	ProtocolVersion byte
	ConnectTime     int64 // entry time of the SessionConnect
	DisconnectTime  int64 // entry time of the last disconnect, 0 while never disconnected
	Will            *Will // the will of the current connection; nil while offline
	// Gaps are the offset ranges during which the session was offline and
	// whose matching messages it has not yet acknowledged through (AckThrough).
	// The last one is open (To = ^0) while offline. See doc.go (cursors).
	Gaps []Range
}

// Range is the half-open offset range [From, To).
type Range struct{ From, To log.Offset }

// Open reports whether the range is still growing (the session is offline).
func (r Range) Open() bool { return r.To == openGap }

func (r Range) contains(off log.Offset) bool { return off >= r.From && off < r.To }

type subItem struct {
	ClientID, Filter string
	Options          SubOptions
}

// group is a shared subscription: the members of "$share/Name/Filter" in
// client id order and the round-robin counter.
type group struct {
	Name, Filter string
	Members      []string
	Next         uint64
}

// InflightState says what a session is owed for one offset.
type InflightState uint8

// Inflight states; part of the snapshot format.
const (
	InflightQueued   InflightState = 0 // owed, never sent (a shared message while offline)
	InflightSent     InflightState = 1 // sent, awaiting PUBACK / PUBREC: resend PUBLISH with DUP
	InflightReceived InflightState = 2 // PUBREC seen: resend PUBREL [MQTT-4.4.0-1]
	InflightDone     InflightState = 3 // acknowledged inside a replay gap: skip on replay
	maxInflightState               = InflightDone
)

var inflightNames = [...]string{"queued", "sent", "received", "done"}

func (s InflightState) String() string {
	if s > maxInflightState {
		return "state(?)"
	}
	return inflightNames[s]
}

// Inflight is one offset a session's cursor holds explicitly.
type Inflight struct {
	ClientID  string
	Offset    log.Offset
	QoS       byte
	State     InflightState
	ExpiresAt int64 // unix ns after which a queued message is dropped; 0 never
}

type awaitItem struct {
	ClientID string
	PacketID uint16
	Offset   log.Offset // the publish that registered the id
}

// Retained is the latest retained message of a topic.
type Retained struct {
	Topic     string
	Offset    log.Offset
	QoS       byte
	ExpiresAt int64 // unix ns; 0 never [MQTT-3.3.2-5]
}

func (r Retained) expired(now int64) bool { return r.ExpiresAt != 0 && r.ExpiresAt <= now }

// PendingWill is a will waiting to be published at Due (unix ns).
type PendingWill struct {
	ClientID string
	Will     Will
	Due      int64
}

// Entry returns the publish the leader proposes for w at time now.
func (w PendingWill) Entry(now int64) Entry {
	return Entry{Kind: KindPublish, Time: now, ClientID: w.ClientID,
		Publish: Publish{Message: w.Will.Message, Will: true}}
}

// DeadlineKind says what happens at a deadline.
type DeadlineKind uint8

// Deadline kinds. Wills sort before expiries at the same instant.
const (
	DeadlineWill   DeadlineKind = 0 // publish the pending will
	DeadlineExpire DeadlineKind = 1 // propose SessionExpire
)

// Deadline is a future event only time can trigger.
type Deadline struct {
	Due      int64
	Kind     DeadlineKind
	ClientID string
}

type filterCount struct {
	Filter string
	Count  int
}

const btreeDegree = 16

// New returns an empty State expecting offset 0 next.
func New() *State {
	return &State{
		views:  newViews(),
		direct: topic.NewTrie[SubOptions](),
		shared: topic.NewTrie[struct{}](),
	}
}

func newViews() views {
	return views{
		sessions:  btree.NewG(btreeDegree, func(a, b *Session) bool { return a.ClientID < b.ClientID }),
		subs:      btree.NewG(btreeDegree, lessSub),
		byFilter:  btree.NewG(btreeDegree, lessSubByFilter),
		groups:    btree.NewG(btreeDegree, lessGroup),
		inflight:  btree.NewG(btreeDegree, lessInflight),
		awaiting:  btree.NewG(btreeDegree, lessAwait),
		retained:  btree.NewG(btreeDegree, lessRetained),
		wills:     btree.NewG(btreeDegree, func(a, b PendingWill) bool { return a.ClientID < b.ClientID }),
		deadlines: btree.NewG(btreeDegree, lessDeadline),
		filters:   btree.NewG(btreeDegree, func(a, b filterCount) bool { return a.Filter < b.Filter }),
		revoked:   btree.NewG(btreeDegree, func(a, b string) bool { return a < b }),
		consumers: btree.NewG(btreeDegree, func(a, b Consumer) bool { return a.Name < b.Name }),
	}
}

func lessSub(a, b subItem) bool {
	return cmp.Or(strings.Compare(a.ClientID, b.ClientID), strings.Compare(a.Filter, b.Filter)) < 0
}

func lessSubByFilter(a, b subItem) bool {
	return cmp.Or(strings.Compare(a.Filter, b.Filter), strings.Compare(a.ClientID, b.ClientID)) < 0
}

func lessGroup(a, b *group) bool {
	return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Filter, b.Filter)) < 0
}

func lessInflight(a, b Inflight) bool {
	return cmp.Or(strings.Compare(a.ClientID, b.ClientID), cmp.Compare(a.Offset, b.Offset)) < 0
}

func lessAwait(a, b awaitItem) bool {
	return cmp.Or(strings.Compare(a.ClientID, b.ClientID), cmp.Compare(a.PacketID, b.PacketID)) < 0
}

func lessRetained(a, b Retained) bool { return a.Topic < b.Topic }

func lessDeadline(a, b Deadline) bool {
	return cmp.Or(cmp.Compare(a.Due, b.Due), cmp.Compare(a.Kind, b.Kind),
		strings.Compare(a.ClientID, b.ClientID)) < 0
}

// View returns a read-only copy of s in O(1). Call it from the applier
// goroutine; the View may then be read from any goroutine while s moves on.
//
// The subscription tries are not copied: they are an index only Apply uses.
// A View answers per-client and per-filter questions from the B-trees.
func (s *State) View() *View {
	v := s.views
	v.sessions = s.sessions.Clone()
	v.subs = s.subs.Clone()
	v.byFilter = s.byFilter.Clone()
	v.groups = s.groups.Clone()
	v.inflight = s.inflight.Clone()
	v.awaiting = s.awaiting.Clone()
	v.retained = s.retained.Clone()
	v.wills = s.wills.Clone()
	v.deadlines = s.deadlines.Clone()
	v.filters = s.filters.Clone()
	v.revoked = s.revoked.Clone()
	v.consumers = s.consumers.Clone()
	return &View{views: v}
}
