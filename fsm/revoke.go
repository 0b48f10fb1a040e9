package fsm

// applyRevoke records a revoked signed key. Revoking a key twice is stale.
// Revocations are kept for good: a key's expiry is not in the entry (the
// revoking operator names only its id), and they are rare and small.
func (s *State) applyRevoke(e *Entry) Effects {
	if s.revoked.Has(e.KeyID) {
		return Effects{Err: ErrStale}
	}
	s.revoked.ReplaceOrInsert(e.KeyID)
	return Effects{}
}

// KeyRevoked reports whether the signed key with this id was revoked.
func (v *views) KeyRevoked(id string) bool { return v.revoked.Has(id) }

// RevokedKeys returns the revoked key ids in order.
func (v *views) RevokedKeys() []string {
	ids := make([]string, 0, v.revoked.Len())
	v.revoked.Ascend(func(id string) bool { ids = append(ids, id); return true })
	return ids
}

// encodeRevoked appends the revoked key ids, a section present only when
// there are some or a consumers section follows (then its count may be 0):
// a state without revocations and consumers encodes (and digests) as it did
// before either existed, so older snapshots restore unchanged.
func (v *views) encodeRevoked(s *sink) {
	if v.revoked.Len() == 0 && v.consumers.Len() == 0 {
		return
	}
	s.buf = appendUvarint(s.buf, uint64(v.revoked.Len()))
	v.revoked.Ascend(func(id string) bool {
		s.buf = appendString(s.buf, id)
		s.maybeFlush()
		return true
	})
}

// decodeRevoked reads the optional section of ascending key ids: a
// non-zero count, or zero when a consumers section follows.
func (s *State) decodeRevoked(d *decoder) {
	if d.err != nil || len(d.b) == 0 {
		return
	}
	n := d.count()
	if d.err == nil && n == 0 && len(d.b) == 0 {
		d.fail("empty revoked keys section")
	}
	ord := ordered[string]{less: func(a, b string) bool { return a < b }}
	for i := 0; i < n && d.err == nil; i++ {
		id := d.string(MaxKeyIDLen)
		ord.check(d, id, "revoked key")
		if d.err == nil && id == "" {
			d.fail("empty revoked key id")
		}
		s.revoked.ReplaceOrInsert(id)
	}
}
