package auth

import (
	"fmt"
	"sync/atomic"
)

// Policy is the Authorizer of an ACL file: it holds the current ACL and
// reloads it on demand (SIGHUP). Checkers it handed out follow a reload:
// each compares the policy's generation with the one it compiled and
// compiles again when they differ, so connections opened before a reload
// obey the new ACL from their next check on. Safe for concurrent use.
type Policy struct {
	path string
	cur  atomic.Pointer[generation]
}

// generation is one loaded ACL.
type generation struct {
	acl *ACL
	n   uint64
}

// LoadPolicy reads the ACL at path (LoadACL) into a Policy.
func LoadPolicy(path string) (*Policy, error) {
	a, err := LoadACL(path)
	if err != nil {
		return nil, err
	}
	p := &Policy{path: path}
	p.cur.Store(&generation{acl: a, n: 1})
	return p, nil
}

// NewPolicy returns a Policy of a parsed ACL; Reload then has no file to
// read and fails.
func NewPolicy(a *ACL) *Policy {
	p := &Policy{}
	p.cur.Store(&generation{acl: a, n: 1})
	return p
}

// Reload reads the file again. On an error (a missing file, a parse
// error naming file:line) the old ACL stays in force.
func (p *Policy) Reload() error {
	if p.path == "" {
		return fmt.Errorf("auth: this policy was not loaded from a file")
	}
	a, err := LoadACL(p.path)
	if err != nil {
		return fmt.Errorf("ACL not reloaded, the previous one stays in force: %w", err)
	}
	p.Set(a)
	return nil
}

// Set replaces the ACL; every Checker follows it.
func (p *Policy) Set(a *ACL) {
	for {
		old := p.cur.Load()
		if p.cur.CompareAndSwap(old, &generation{acl: a, n: old.n + 1}) {
			return
		}
	}
}

// ACL returns the ACL in force.
func (p *Policy) ACL() *ACL { return p.cur.Load().acl }

// For returns id's Checker: the ACL resolved for id once, again after a
// reload.
func (p *Policy) For(id Identity) Checker {
	ch := &policyChecker{p: p, id: id}
	ch.current()
	return ch
}

// policyChecker is one identity's view of a Policy.
type policyChecker struct {
	p  *Policy
	id Identity
	c  atomic.Pointer[checkerState]
}

type checkerState struct {
	gen uint64
	c   *compiled
}

// current returns the compilation of the ACL in force. Two goroutines
// (a connection's reader and writer) may both compile after a reload;
// either result is right.
func (ch *policyChecker) current() *compiled {
	g := ch.p.cur.Load()
	if s := ch.c.Load(); s != nil && s.gen == g.n {
		return s.c
	}
	c := g.acl.compile(ch.id)
	ch.c.Store(&checkerState{gen: g.n, c: c})
	return c
}

func (ch *policyChecker) Allow(right Right, topic string) bool {
	return ch.current().allow(right, topic)
}

func (ch *policyChecker) AllowFilter(right Right, filter string) bool {
	return ch.current().allowFilter(right, filter)
}
