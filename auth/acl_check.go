package auth

import (
	"strings"

	"github.com/stratamq/strata/topic"
)

// compiled is an ACL resolved for one identity: its rules (the user's or
// the anonymous ones, then the patterns with %u and %c substituted) in a
// trie keyed by filter, so that Allow costs a walk of the topic's levels,
// not a scan of the rules; AllowFilter (once per SUBSCRIBE) scans them.
type compiled struct {
	admin bool
	rules []Rule
	trie  *topic.Trie[ruleSet] // built once, then only read: safe to share
}

// ruleSet is what the rules on one filter say together.
type ruleSet struct {
	grant Right
	deny  bool
}

// compile resolves a for id.
func (a *ACL) compile(id Identity) *compiled {
	own := a.Anonymous
	if !id.Anonymous && id.User != "" {
		own = a.Users[id.User]
	}
	c := &compiled{trie: topic.NewTrie[ruleSet]()}
	for _, r := range own {
		c.add(r)
	}
	for _, p := range a.Patterns {
		if r, ok := substitute(p, id); ok {
			c.add(r)
		}
	}
	return c
}

// substitute fills a pattern's %u and %c. A pattern naming a value the
// identity lacks (%u for an anonymous client, %c for an HTTP caller), or
// one holding '/', '+' or '#' (a user "a/+" must not reach other users'
// topics), does not apply.
func substitute(p Rule, id Identity) (Rule, bool) {
	user := id.User
	if id.Anonymous {
		user = ""
	}
	for _, v := range []struct{ key, val string }{{"%u", user}, {"%c", id.ClientID}} {
		if !strings.Contains(p.Topic, v.key) {
			continue
		}
		if v.val == "" || strings.ContainsAny(v.val, "/+#") {
			return Rule{}, false
		}
		p.Topic = strings.ReplaceAll(p.Topic, v.key, v.val)
	}
	return p, true
}

func (c *compiled) add(r Rule) {
	if r.Rights&Admin != 0 {
		c.admin = true
	}
	if r.Topic == "" {
		return
	}
	c.rules = append(c.rules, r)
	s, _ := c.trie.Get(r.Topic, "")
	s.grant |= r.Rights & topicRights
	s.deny = s.deny || r.Deny
	c.trie.Insert(r.Topic, "", s)
}

// allow reports whether right is granted on the topic name and no deny
// rule matches it. Matching follows MQTT's rules: a rule starting with a
// wildcard does not match "$" topics [MQTT-4.7.2-1].
func (c *compiled) allow(right Right, name string) bool {
	if right == Admin {
		return c.admin
	}
	if right&^topicRights != 0 || right == 0 {
		return false
	}
	var grant Right
	deny := false
	c.trie.Match(name, func(_, _ string, s ruleSet) {
		grant |= s.grant
		deny = deny || s.deny
	})
	return !deny && grant&right == right
}

// allowFilter reports whether one rule granting right covers every topic
// filter can match and no deny rule matches any of them.
func (c *compiled) allowFilter(right Right, filter string) bool {
	if right == Admin {
		return c.admin
	}
	if right&^topicRights != 0 || right == 0 {
		return false
	}
	covered := false
	for _, r := range c.rules {
		switch {
		case r.Deny && Intersects(r.Topic, filter):
			return false
		case r.Rights&right == right && Covers(r.Topic, filter):
			covered = true
		}
	}
	return covered
}

// Covers reports whether every topic name that filter f matches is
// matched by filter g (both valid, not shared). Names are never empty, so
// the parent level a '#' matches counts only when it is a name.
func Covers(g, f string) bool {
	if !wild(f) && !wild(g) {
		return g == f
	}
	if startsWild(g) && !startsWild(f) && strings.HasPrefix(f, "$") {
		return false // g matches no "$" topic [MQTT-4.7.2-1]
	}
	first, _, _ := strings.Cut(f, "/")
	for i := 0; ; i++ {
		gl, grest, gmore := strings.Cut(g, "/")
		fl, frest, fmore := strings.Cut(f, "/")
		switch {
		case gl == "#":
			return true
		case fl == "#":
			// f reaches the levels below, which only "+/#" covers, and
			// its parent, unless that is the empty name.
			noParent := i == 0 || (i == 1 && first == "")
			return gl == "+" && gmore && grest == "#" && noParent
		case gl != "+" && (fl == "+" || fl != gl):
			return false
		case !gmore && !fmore:
			return true
		case !fmore:
			return grest == "#" // "a/#" covers "a"
		case !gmore:
			return false
		}
		g, f = grest, frest
	}
}

// Intersects reports whether some topic name is matched by both filters.
func Intersects(a, b string) bool {
	if (startsWild(a) && strings.HasPrefix(b, "$")) || (startsWild(b) && strings.HasPrefix(a, "$")) {
		return false // [MQTT-4.7.2-1]
	}
	for i := 0; ; i++ {
		al, arest, amore := strings.Cut(a, "/")
		bl, brest, bmore := strings.Cut(b, "/")
		// The name shared so far is empty only at the first level, when
		// that level is the empty string: no name.
		empty := i == 0 && (al == "" || bl == "")
		switch {
		case al == "#" || bl == "#":
			return true
		case al != "+" && bl != "+" && al != bl:
			return false
		case !amore && !bmore:
			return !empty
		case !amore:
			return brest == "#" && !empty
		case !bmore:
			return arest == "#" && !empty
		}
		a, b = arest, brest
	}
}

func wild(f string) bool { return strings.ContainsAny(f, "+#") }

func startsWild(f string) bool { return f != "" && (f[0] == '+' || f[0] == '#') }

// For makes an ACL an Authorizer that never changes (Policy reloads).
func (a *ACL) For(id Identity) Checker { return fixedChecker{a.compile(id)} }

type fixedChecker struct{ c *compiled }

func (f fixedChecker) Allow(right Right, topic string) bool { return f.c.allow(right, topic) }

func (f fixedChecker) AllowFilter(right Right, filter string) bool {
	return f.c.allowFilter(right, filter)
}
