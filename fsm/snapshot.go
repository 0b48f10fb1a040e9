package fsm

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"io"

	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/topic"
)

// Snapshot format (see doc.go): magic | version | body | crc32c(all before).
// The body is the canonical encoding of the views, also hashed by Digest.
const (
	snapshotMagic   = "STFS"
	snapshotVersion = 1
	flushBytes      = 64 << 10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// sink receives the canonical encoding in chunks.
type sink struct {
	buf  []byte
	w    io.Writer // nil for Digest
	crc  uint32
	hash hash.Hash
	err  error
}

func (s *sink) flush() {
	if s.err != nil || len(s.buf) == 0 {
		return
	}
	s.crc = crc32.Update(s.crc, castagnoli, s.buf)
	if s.hash != nil {
		s.hash.Write(s.buf)
	}
	if s.w != nil {
		_, s.err = s.w.Write(s.buf)
	}
	s.buf = s.buf[:0]
}

func (s *sink) maybeFlush() {
	if len(s.buf) >= flushBytes {
		s.flush()
	}
}

// Digest is the SHA-256 of the canonical encoding of every view: equal on
// every replica that applied the same entries.
func (v *views) Digest() [32]byte {
	s := &sink{hash: sha256.New(), buf: make([]byte, 0, flushBytes)}
	s.buf = append(s.buf, snapshotVersion)
	v.encode(s)
	s.flush()
	var d [32]byte
	s.hash.Sum(d[:0])
	return d
}

// Snapshot writes the views to w in the checksummed snapshot format.
func (v *views) Snapshot(w io.Writer) error {
	s := &sink{w: w, buf: make([]byte, 0, flushBytes)}
	s.buf = append(append(s.buf, snapshotMagic...), snapshotVersion)
	v.encode(s)
	s.flush()
	if s.err != nil {
		return fmt.Errorf("fsm: write snapshot: %w", s.err)
	}
	if _, err := w.Write(binary.BigEndian.AppendUint32(nil, s.crc)); err != nil {
		return fmt.Errorf("fsm: write snapshot: %w", err)
	}
	return nil
}

func (v *views) encode(s *sink) {
	s.buf = appendUvarint(s.buf, uint64(v.next))
	s.buf = appendUvarint(s.buf, uint64(v.sessions.Len()))
	v.sessions.Ascend(func(x *Session) bool { s.buf = x.append(s.buf); s.maybeFlush(); return true })
	s.buf = appendUvarint(s.buf, uint64(v.subs.Len()))
	v.subs.Ascend(func(x subItem) bool {
		b := appendString(appendString(s.buf, x.ClientID), x.Filter)
		s.buf = appendUvarint(append(b, x.Options.flags()), uint64(x.Options.ID))
		s.maybeFlush()
		return true
	})
	s.buf = appendUvarint(s.buf, uint64(v.groups.Len()))
	v.groups.Ascend(func(x *group) bool {
		s.buf = appendUvarint(appendString(appendString(s.buf, x.Name), x.Filter), x.Next)
		s.maybeFlush()
		return true
	})
	v.encodeCursors(s)
	v.encodeRevoked(s)
	v.encodeConsumers(s)
}

func (v *views) encodeCursors(s *sink) {
	s.buf = appendUvarint(s.buf, uint64(v.inflight.Len()))
	v.inflight.Ascend(func(x Inflight) bool {
		b := appendUvarint(appendString(s.buf, x.ClientID), uint64(x.Offset))
		s.buf = appendVarint(append(b, x.QoS, byte(x.State)), x.ExpiresAt)
		s.maybeFlush()
		return true
	})
	s.buf = appendUvarint(s.buf, uint64(v.awaiting.Len()))
	v.awaiting.Ascend(func(x awaitItem) bool {
		b := appendUvarint(appendString(s.buf, x.ClientID), uint64(x.PacketID))
		s.buf = appendUvarint(b, uint64(x.Offset))
		s.maybeFlush()
		return true
	})
	s.buf = appendUvarint(s.buf, uint64(v.retained.Len()))
	v.retained.Ascend(func(x Retained) bool {
		b := appendUvarint(appendString(s.buf, x.Topic), uint64(x.Offset))
		s.buf = appendVarint(append(b, x.QoS), x.ExpiresAt)
		s.maybeFlush()
		return true
	})
	s.buf = appendUvarint(s.buf, uint64(v.wills.Len()))
	v.wills.Ascend(func(x PendingWill) bool {
		s.buf = appendVarint(appendWill(appendString(s.buf, x.ClientID), &x.Will), x.Due)
		s.maybeFlush()
		return true
	})
}

// Session flag bits in snapshots.
const (
	sessConnected = 1 << 0
	sessClean     = 1 << 1
	sessWill      = 1 << 2
)

func (x *Session) append(b []byte) []byte {
	var flags byte
	for bit, set := range [...]bool{x.Connected, x.CleanStart, x.Will != nil} {
		if set {
			flags |= 1 << bit
		}
	}
	b = append(appendString(b, x.ClientID), flags)
	b = appendUvarint(appendString(b, x.Node), uint64(x.ConnectOffset))
	b = append(appendUvarint(b, uint64(x.ExpirySeconds)), x.ProtocolVersion)
	b = appendVarint(appendVarint(b, x.ConnectTime), x.DisconnectTime)
	if x.Will != nil {
		b = appendWill(b, x.Will)
	}
	b = appendUvarint(b, uint64(len(x.Gaps)))
	for _, g := range x.Gaps {
		b = appendUvarint(appendUvarint(b, uint64(g.From)), uint64(g.To))
	}
	return b
}

func appendWill(b []byte, w *Will) []byte {
	b = append(b, w.QoS, boolByte(w.Retain))
	b = appendBytes(appendString(b, w.Topic), w.Payload)
	return appendUvarint(w.Props.append(b), uint64(w.DelaySeconds))
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func decodeWill(d *decoder) *Will {
	w := &Will{}
	w.QoS, w.Retain = d.byte(), d.bool()
	w.Topic = d.string(MaxStringLen)
	w.Payload = d.bytes(maxPayloadLen)
	w.Props.decode(d)
	w.DelaySeconds = uint32(d.uvarintMax(maxUint32, "will delay"))
	if d.err == nil {
		if err := w.Message.validate(); err != nil {
			d.fail("will: %w", err)
		}
	}
	return w
}

// Restore reads a snapshot written by Snapshot. It checks the checksum, the
// version, the canonical order of every view and their cross-references,
// then rebuilds the indexes. Errors wrap ErrCorrupt (or the reader's error).
func Restore(r io.Reader) (*State, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("fsm: read snapshot: %w", err)
	}
	head := len(snapshotMagic) + 1
	if len(data) < head+4 || !bytes.Equal(data[:len(snapshotMagic)], []byte(snapshotMagic)) {
		return nil, fmt.Errorf("%w: not a snapshot", ErrCorrupt)
	}
	body, sum := data[:len(data)-4], binary.BigEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("%w: snapshot checksum mismatch", ErrCorrupt)
	}
	if v := body[head-1]; v != snapshotVersion {
		return nil, fmt.Errorf("%w: unknown snapshot version %d", ErrCorrupt, v)
	}
	return decodeState(body[head:])
}

// decodeState decodes a canonical body (without header and checksum).
func decodeState(body []byte) (*State, error) {
	s := New()
	d := &decoder{b: body}
	s.next = log.Offset(d.uvarint())
	steps := []func(*decoder){s.decodeSessions, s.decodeSubs, s.decodeGroups, s.decodeInflight,
		s.decodeAwaiting, s.decodeRetained, s.decodeWills, s.decodeRevoked, s.decodeConsumers}
	for _, step := range steps {
		step(d)
	}
	d.end()
	if d.err != nil {
		return nil, fmt.Errorf("restore: %w", d.err)
	}
	return s, nil
}

// ordered fails unless each key sorts strictly after the previous one.
type ordered[T any] struct {
	prev T
	has  bool
	less func(a, b T) bool
}

func (o *ordered[T]) check(d *decoder, x T, what string) {
	if o.has && !o.less(o.prev, x) {
		d.fail("%s out of order", what)
	}
	o.prev, o.has = x, true
}

func (s *State) decodeSessions(d *decoder) {
	n := d.count()
	ord := ordered[string]{less: func(a, b string) bool { return a < b }}
	for i := 0; i < n && d.err == nil; i++ {
		x := decodeSession(d)
		ord.check(d, x.ClientID, "session")
		s.sessions.ReplaceOrInsert(x)
		if x.Connected {
			s.connected++
		} else if dl, ok := expireDeadline(x); ok {
			s.deadlines.ReplaceOrInsert(dl)
		}
	}
}

func decodeSession(d *decoder) *Session {
	x := &Session{ClientID: d.string(MaxStringLen)}
	flags := d.byte()
	if flags&^(sessConnected|sessClean|sessWill) != 0 {
		d.fail("unknown session flags %#x", flags)
	}
	x.Connected, x.CleanStart = flags&sessConnected != 0, flags&sessClean != 0
	x.Node = d.string(MaxStringLen)
	x.ConnectOffset = log.Offset(d.uvarint())
	x.ExpirySeconds = uint32(d.uvarintMax(maxUint32, "session expiry"))
	x.ProtocolVersion = d.byte()
	x.ConnectTime, x.DisconnectTime = d.varint(), d.varint()
	if flags&sessWill != 0 {
		x.Will = decodeWill(d)
	}
	x.Gaps = decodeGaps(d)
	if d.err == nil && (!x.Connected && (x.Will != nil || x.Node != "") || x.ProtocolVersion > maxProtocolVersion) {
		d.fail("inconsistent session %q", x.ClientID)
	}
	return x
}

// decodeGaps reads ascending, disjoint, non-empty ranges; only the last may be open.
func decodeGaps(d *decoder) []Range {
	n := d.count()
	var gaps []Range
	for i := 0; i < n && d.err == nil; i++ {
		g := Range{From: log.Offset(d.uvarint()), To: log.Offset(d.uvarint())}
		if g.From >= g.To || (i > 0 && g.From < gaps[i-1].To) || (g.Open() && i != n-1) {
			d.fail("bad gap [%d, %d)", g.From, g.To)
		}
		gaps = append(gaps, g)
	}
	return gaps
}

func (s *State) decodeSubs(d *decoder) {
	n := d.count()
	ord := ordered[subItem]{less: lessSub}
	for i := 0; i < n && d.err == nil; i++ {
		x := subItem{ClientID: d.string(MaxStringLen), Filter: d.string(MaxStringLen)}
		x.Options = decodeSubOptions(d)
		ord.check(d, x, "subscription")
		if d.err != nil {
			return
		}
		if err := topic.ValidateFilter(x.Filter); err != nil || x.Options.validate() != nil {
			d.fail("bad subscription %q", x.Filter)
			return
		}
		if _, ok := s.session(x.ClientID); !ok {
			d.fail("subscription of unknown session %q", x.ClientID)
			return
		}
		s.subscribe(x.ClientID, Subscription{Filter: x.Filter, Options: x.Options})
	}
}

// decodeGroups restores the round-robin counters; the groups themselves
// were rebuilt from the subscriptions and must match one for one.
func (s *State) decodeGroups(d *decoder) {
	n := d.count()
	if d.err == nil && n != s.groups.Len() {
		d.fail("%d groups for %d shared filters", n, s.groups.Len())
	}
	ord := ordered[*group]{less: lessGroup}
	for i := 0; i < n && d.err == nil; i++ {
		x := &group{Name: d.string(MaxStringLen), Filter: d.string(MaxStringLen)}
		next := d.uvarint()
		ord.check(d, x, "group")
		g, ok := s.groups.Get(x)
		if !ok {
			d.fail("group %q without members", x.Name)
			return
		}
		g.Next = next // g was built by this decoder and is not shared yet
	}
}

func (s *State) decodeInflight(d *decoder) {
	n := d.count()
	ord := ordered[Inflight]{less: lessInflight}
	for i := 0; i < n && d.err == nil; i++ {
		x := Inflight{ClientID: d.string(MaxStringLen), Offset: log.Offset(d.uvarint())}
		x.QoS, x.State, x.ExpiresAt = d.byte(), InflightState(d.byte()), d.varint()
		ord.check(d, x, "inflight")
		if _, ok := s.session(x.ClientID); d.err == nil && (!ok || x.QoS > maxQoS || x.State > maxInflightState) {
			d.fail("bad inflight %q %d", x.ClientID, x.Offset)
		}
		s.inflight.ReplaceOrInsert(x)
	}
}

func (s *State) decodeAwaiting(d *decoder) {
	n := d.count()
	ord := ordered[awaitItem]{less: lessAwait}
	for i := 0; i < n && d.err == nil; i++ {
		x := awaitItem{ClientID: d.string(MaxStringLen)}
		x.PacketID = uint16(d.uvarintMax(0xFFFF, "packet id"))
		x.Offset = log.Offset(d.uvarint())
		ord.check(d, x, "packet id")
		if _, ok := s.session(x.ClientID); d.err == nil && (!ok || x.PacketID == 0) {
			d.fail("bad packet id %q %d", x.ClientID, x.PacketID)
		}
		s.awaiting.ReplaceOrInsert(x)
	}
}

func (s *State) decodeRetained(d *decoder) {
	n := d.count()
	ord := ordered[Retained]{less: lessRetained}
	for i := 0; i < n && d.err == nil; i++ {
		x := Retained{Topic: d.string(MaxStringLen), Offset: log.Offset(d.uvarint())}
		x.QoS, x.ExpiresAt = d.byte(), d.varint()
		ord.check(d, x, "retained")
		if d.err == nil && (x.QoS > maxQoS || topic.ValidateName(x.Topic) != nil) {
			d.fail("bad retained %q", x.Topic)
		}
		s.retained.ReplaceOrInsert(x)
	}
}

func (s *State) decodeWills(d *decoder) {
	n := d.count()
	ord := ordered[string]{less: func(a, b string) bool { return a < b }}
	for i := 0; i < n && d.err == nil; i++ {
		client := d.string(MaxStringLen)
		w := decodeWill(d)
		due := d.varint()
		ord.check(d, client, "will")
		if d.err != nil {
			return
		}
		s.wills.ReplaceOrInsert(PendingWill{ClientID: client, Will: *w, Due: due})
		s.deadlines.ReplaceOrInsert(Deadline{Due: due, Kind: DeadlineWill, ClientID: client})
	}
}
