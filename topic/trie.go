package topic

import (
	"slices"
	"sort"
	"strings"
	"sync/atomic"
)

// Trie maps filters to subscribers. Every (filter, id) pair holds one value.
//
// Filters are stored literally, level by level, and are not validated:
// Insert accepts any string and Match treats every level equal to "+" or
// "#" as a wildcard. In particular a "$share/g/f" filter is not unwrapped;
// it is indexed under its literal levels, so (like Match) it matches only
// names that start with "$share/g/", never the names f matches. A caller
// that keeps shared subscriptions inserts the inner filter (see ParseShare)
// under an id that names the group, as fsm does.
//
// The zero value is an empty trie. Not safe for concurrent use.
type Trie[V any] struct {
	root node[V]
	size int
}

type node[V any] struct {
	children map[string]*node[V]
	subs     map[string]V // id -> value, for the filter ending at this node
	filter   string       // the full filter of subs, set when subs is non-empty
	// sorted is subs in id order, for Match: built by the first Match after
	// a change (Insert and Remove clear it). An atomic pointer, so that
	// concurrent Matches of a trie nobody changes (the ACL's) stay safe.
	sorted atomic.Pointer[[]entry[V]]
}

type entry[V any] struct {
	id string
	v  V
}

// NewTrie returns an empty trie.
func NewTrie[V any]() *Trie[V] { return &Trie[V]{} }

// Len is the number of (filter, id) pairs.
func (t *Trie[V]) Len() int { return t.size }

// Insert adds or replaces the value of (filter, id). It reports whether the
// pair is new.
func (t *Trie[V]) Insert(filter, id string, v V) bool {
	n := &t.root
	for level := range strings.SplitSeq(filter, "/") {
		child := n.children[level]
		if child == nil {
			if n.children == nil {
				n.children = make(map[string]*node[V])
			}
			child = &node[V]{}
			n.children[level] = child
		}
		n = child
	}
	if n.subs == nil {
		n.subs = make(map[string]V)
		n.filter = filter
	}
	_, existed := n.subs[id]
	n.subs[id] = v
	n.sorted.Store(nil)
	if !existed {
		t.size++
	}
	return !existed
}

// Get returns the value of (filter, id).
func (t *Trie[V]) Get(filter, id string) (V, bool) {
	n := &t.root
	for level := range strings.SplitSeq(filter, "/") {
		if n = n.children[level]; n == nil {
			var zero V
			return zero, false
		}
	}
	v, ok := n.subs[id]
	return v, ok
}

// Remove deletes (filter, id) and prunes nodes left empty. It reports whether
// the pair was present.
func (t *Trie[V]) Remove(filter, id string) bool {
	if !t.root.remove(filter, id) {
		return false
	}
	t.size--
	return true
}

func (n *node[V]) remove(rest, id string) bool {
	level, tail, more := strings.Cut(rest, "/")
	child := n.children[level]
	if child == nil {
		return false
	}
	var removed bool
	if more {
		removed = child.remove(tail, id)
	} else if _, removed = child.subs[id]; removed {
		delete(child.subs, id)
		child.sorted.Store(nil)
		if len(child.subs) == 0 {
			child.subs, child.filter = nil, ""
		}
	}
	if removed && len(child.subs) == 0 && len(child.children) == 0 {
		delete(n.children, level)
	}
	return removed
}

// Match calls fn for every (filter, id, value) whose filter matches name:
// each matching filter's ids in ascending order (a caller merging the
// matches of one filter needs no sort), the filters in no given order.
func (t *Trie[V]) Match(name string, fn func(filter, id string, v V)) {
	dollar := strings.HasPrefix(name, "$")
	t.root.match(name, true, dollar, fn)
}

func (n *node[V]) match(rest string, first, dollar bool, fn func(string, string, V)) {
	level, tail, more := strings.Cut(rest, "/")
	// A leading wildcard never matches a '$' topic [MQTT-4.7.2-1].
	wild := !(first && dollar)
	if c := n.children["#"]; c != nil && wild {
		c.emit(fn) // '#' also matches the parent level [MQTT-4.7.1-2]
	}
	if c := n.children["+"]; c != nil && wild {
		c.descend(tail, more, dollar, fn)
	}
	if c := n.children[level]; c != nil {
		c.descend(tail, more, dollar, fn)
	}
}

func (n *node[V]) descend(tail string, more, dollar bool, fn func(string, string, V)) {
	if more {
		n.match(tail, false, dollar, fn)
		return
	}
	n.emit(fn)
	if c := n.children["#"]; c != nil {
		c.emit(fn) // "a/#" matches "a"
	}
}

func (n *node[V]) emit(fn func(string, string, V)) {
	if len(n.subs) == 0 {
		return
	}
	es := n.sorted.Load()
	if es == nil {
		s := make([]entry[V], 0, len(n.subs))
		for id, v := range n.subs {
			s = append(s, entry[V]{id, v})
		}
		slices.SortFunc(s, func(a, b entry[V]) int { return strings.Compare(a.id, b.id) })
		n.sorted.Store(&s)
		es = &s
	}
	for _, e := range *es {
		fn(n.filter, e.id, e.v)
	}
}

// Walk visits every (filter, id, value), stopping when fn returns false. The
// order is deterministic, for digests and snapshots: depth first by level,
// a node's own entries (ids ascending) before its children (levels
// ascending, compared bytewise). Thus "a" < "a/+" < "a/b" < "a-x" < "b".
// fn must not modify the trie.
func (t *Trie[V]) Walk(fn func(filter, id string, v V) bool) {
	t.root.walk(fn)
}

func (n *node[V]) walk(fn func(string, string, V) bool) bool {
	for _, id := range sortedKeys(n.subs) {
		if !fn(n.filter, id, n.subs[id]) {
			return false
		}
	}
	for _, level := range sortedKeys(n.children) {
		if !n.children[level].walk(fn) {
			return false
		}
	}
	return true
}

func sortedKeys[M ~map[string]E, E any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
