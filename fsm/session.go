package fsm

import (
	"slices"

	"github.com/stratamq/strata/log"
)

func (s *State) applyConnect(off log.Offset, e *Entry) Effects {
	var fx Effects
	c := &e.Connect
	old, had := s.session(e.ClientID)
	ended := !had || c.CleanStart // [MQTT-3.1.2-4]
	if had && old.Connected {
		ended = s.takeover(old, e, ended, &fx)
	}
	if w, ok := s.wills.Get(PendingWill{ClientID: e.ClientID}); ok && w.Due > e.Time {
		s.deleteWill(w) // reconnected within the will delay [MQTT-3.1.3-9]
	}
	if had {
		if d, ok := expireDeadline(old); ok {
			s.deadlines.Delete(d)
		}
	}
	sess := &Session{ClientID: e.ClientID, Connected: true, Node: c.Node, ConnectOffset: off,
		CleanStart: c.CleanStart, ExpirySeconds: c.ExpirySeconds, ProtocolVersion: c.ProtocolVersion,
		ConnectTime: e.Time, Will: cloneWill(c.Will)}
	pc := &PresenceChange{ClientID: e.ClientID, Node: c.Node, Online: +1}
	if ended {
		if had {
			pc.Removed = s.dropSessionState(e.ClientID)
		}
		fx.Resume = &Resume{}
	} else {
		sess.DisconnectTime = old.DisconnectTime
		sess.Gaps = closeGaps(old.Gaps, off)
		fx.Resume = s.resume(sess, e.Time)
		pc.Held = s.filtersOf(e.ClientID)
	}
	s.sessions.ReplaceOrInsert(sess)
	s.connected++
	fx.Presence = pc
	return fx
}

// takeover closes the old connection of a connected client [MQTT-3.1.4-3].
// Its will follows the usual rules: due now if its delay is 0 or its session
// ends now, otherwise cancelled by the new connection [MQTT-3.1.3-9]. It
// reports whether the old session ends.
func (s *State) takeover(old *Session, e *Entry, ended bool, fx *Effects) bool {
	fx.Close = []Close{{ClientID: e.ClientID, Node: old.Node, Since: old.ConnectOffset, Reason: ReasonTakeover}}
	s.connected--
	ended = ended || old.ExpirySeconds == 0
	if w := old.Will; w != nil && (w.DelaySeconds == 0 || ended) {
		fx.Wills = s.addWill(e.ClientID, w, e.Time, e.Time)
	}
	return ended
}

// cloneWill copies w so the state shares no memory with the entry.
func cloneWill(w *Will) *Will {
	if w == nil {
		return nil
	}
	c := *w
	c.Payload = slices.Clone(w.Payload)
	c.Props.CorrelationData = slices.Clone(w.Props.CorrelationData)
	c.Props.User = slices.Clone(w.Props.User)
	return &c
}

// closeGaps ends the open gap at off (the reconnect) and drops empty ones.
func closeGaps(gaps []Range, off log.Offset) []Range {
	out := make([]Range, 0, len(gaps))
	for _, g := range gaps {
		if g.Open() {
			g.To = off
		}
		if g.From < g.To {
			out = append(out, g)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// resume lists what a resumed session owes: queued messages whose expiry
// elapsed are dropped first [MQTT-3.3.2-5].
func (s *State) resume(sess *Session, now int64) *Resume {
	r := &Resume{SessionPresent: true, Gaps: sess.Gaps} // [MQTT-3.2.2-3]
	var expired []Inflight
	s.ascendClient(sess.ClientID, func(in Inflight) {
		switch {
		case in.State == InflightQueued && in.ExpiresAt != 0 && in.ExpiresAt <= now:
			expired = append(expired, in)
		case in.State != InflightDone:
			r.Inflight = append(r.Inflight, in)
		}
	})
	for _, in := range expired {
		s.inflight.Delete(in)
	}
	return r
}

func (v *views) ascendClient(client string, fn func(Inflight)) {
	v.inflight.AscendGreaterOrEqual(Inflight{ClientID: client}, func(in Inflight) bool {
		if in.ClientID != client {
			return false
		}
		fn(in)
		return true
	})
}

func (s *State) applyDisconnect(off log.Offset, e *Entry) Effects {
	d := &e.Disconnect
	old, ok := s.session(e.ClientID)
	switch {
	case !ok:
		return Effects{Err: ErrNoSession}
	case !old.Connected || old.ConnectOffset != d.Since:
		return Effects{Err: ErrStale} // an older connection, already replaced
	}
	s.connected--
	expiry := old.ExpirySeconds
	if d.HasExpiry {
		expiry = d.ExpirySeconds // [MQTT-3.14.2.2.2]
	}
	var fx Effects
	if old.Will != nil && d.Reason != ReasonNormal { // [MQTT-3.14.4-3], [MQTT-3.1.2-8]
		due := e.Time + int64(min(old.Will.DelaySeconds, expiry))*secondNanos
		fx.Wills = s.addWill(e.ClientID, old.Will, due, e.Time)
	}
	fx.Presence = &PresenceChange{ClientID: e.ClientID, Node: old.Node, Online: -1}
	if expiry == 0 { // the session ends with the connection (section 3.1.2.11.2)
		s.sessions.Delete(old)
		fx.Presence.Removed = s.dropSessionState(e.ClientID)
		return fx
	}
	fx.Presence.Held = s.filtersOf(e.ClientID)
	sess := *old
	sess.Connected, sess.Node, sess.Will = false, "", nil
	sess.ExpirySeconds, sess.DisconnectTime = expiry, e.Time
	if s.hasDirectSubs(e.ClientID) {
		sess.Gaps = append(append([]Range(nil), old.Gaps...), Range{From: off + 1, To: openGap})
	}
	s.sessions.ReplaceOrInsert(&sess)
	if d, ok := expireDeadline(&sess); ok {
		s.deadlines.ReplaceOrInsert(d)
	}
	return fx
}

// expireDeadline is when a disconnected session expires, if it does.
func expireDeadline(sess *Session) (Deadline, bool) {
	if sess.Connected || sess.ExpirySeconds == NeverExpire {
		return Deadline{}, false
	}
	due := sess.DisconnectTime + int64(sess.ExpirySeconds)*secondNanos
	return Deadline{Due: due, Kind: DeadlineExpire, ClientID: sess.ClientID}, true
}

// addWill makes w pending until due; it returns it if it is due at now.
func (s *State) addWill(client string, w *Will, due, now int64) []PendingWill {
	if old, ok := s.wills.Get(PendingWill{ClientID: client}); ok {
		s.deleteWill(old)
	}
	pw := PendingWill{ClientID: client, Will: *w, Due: due}
	s.wills.ReplaceOrInsert(pw)
	s.deadlines.ReplaceOrInsert(Deadline{Due: due, Kind: DeadlineWill, ClientID: client})
	if due <= now {
		return []PendingWill{pw}
	}
	return nil
}

func (s *State) deleteWill(w PendingWill) {
	s.wills.Delete(w)
	s.deadlines.Delete(Deadline{Due: w.Due, Kind: DeadlineWill, ClientID: w.ClientID})
}

// applyExpire ends a disconnected session whose expiry elapsed at e.Time;
// anything else (reconnected, not yet due) is stale.
func (s *State) applyExpire(e *Entry) Effects {
	sess, ok := s.session(e.ClientID)
	if !ok {
		return Effects{Err: ErrNoSession}
	}
	d, ok := expireDeadline(sess)
	if !ok || d.Due > e.Time {
		return Effects{Err: ErrStale}
	}
	s.deadlines.Delete(d)
	s.sessions.Delete(sess)
	if removed := s.dropSessionState(e.ClientID); len(removed) > 0 {
		return Effects{Presence: &PresenceChange{ClientID: e.ClientID, Removed: removed}}
	}
	return Effects{}
}

// filtersOf lists the filters client subscribes, in filter order.
func (v *views) filtersOf(client string) []string {
	var out []string
	v.subs.AscendGreaterOrEqual(subItem{ClientID: client}, func(it subItem) bool {
		if it.ClientID != client {
			return false
		}
		out = append(out, it.Filter)
		return true
	})
	return out
}

// dropSessionState deletes a session's subscriptions, cursor and QoS 2
// packet ids (not its pending will, which outlives it [MQTT-3.1.2-8]); it
// returns the filters it unsubscribed, in filter order.
func (s *State) dropSessionState(client string) []string {
	filters := s.filtersOf(client)
	for _, f := range filters {
		s.unsubscribe(client, f)
	}
	var owed []Inflight
	s.ascendClient(client, func(in Inflight) { owed = append(owed, in) })
	for _, in := range owed {
		s.inflight.Delete(in)
	}
	for _, a := range s.awaitingOf(client) {
		s.awaiting.Delete(a)
	}
	return filters
}

func (v *views) awaitingOf(client string) []awaitItem {
	var out []awaitItem
	v.awaiting.AscendGreaterOrEqual(awaitItem{ClientID: client}, func(a awaitItem) bool {
		if a.ClientID != client {
			return false
		}
		out = append(out, a)
		return true
	})
	return out
}

func (s *State) applyAck(e *Entry) Effects {
	sess, ok := s.session(e.ClientID)
	if !ok {
		return Effects{Err: ErrNoSession}
	}
	for _, a := range e.Acks {
		switch a.Kind {
		case AckComplete:
			s.ackComplete(sess, a.Offset)
		case AckReceived:
			s.ackReceived(sess, a.Offset)
		case AckThrough:
			sess = s.ackThrough(sess, a.Offset)
		}
	}
	return Effects{}
}

// ackComplete ends a delivery; inside a replay gap it leaves a Done marker
// so a later replay does not send the message again.
func (s *State) ackComplete(sess *Session, off log.Offset) {
	key := Inflight{ClientID: sess.ClientID, Offset: off}
	if _, ok := s.inflight.Get(key); ok && !inGaps(sess.Gaps, off) {
		s.inflight.Delete(key)
		return
	}
	if inGaps(sess.Gaps, off) {
		key.State = InflightDone
		s.inflight.ReplaceOrInsert(key)
	}
}

// ackReceived records a PUBREC: from now on PUBREL is owed, not PUBLISH.
func (s *State) ackReceived(sess *Session, off log.Offset) {
	in, ok := s.inflight.Get(Inflight{ClientID: sess.ClientID, Offset: off})
	switch {
	case ok && in.State != InflightDone:
		in.State = InflightReceived
		s.inflight.ReplaceOrInsert(in)
	case !ok && inGaps(sess.Gaps, off):
		s.inflight.ReplaceOrInsert(Inflight{ClientID: sess.ClientID, Offset: off, QoS: 2,
			State: InflightReceived})
	}
}

// ackThrough trims the replay gaps below off and their Done markers.
func (s *State) ackThrough(sess *Session, off log.Offset) *Session {
	var gaps []Range
	for _, g := range sess.Gaps {
		if g.To <= off {
			continue
		}
		g.From = max(g.From, off)
		gaps = append(gaps, g)
	}
	var done []Inflight
	s.inflight.AscendRange(Inflight{ClientID: sess.ClientID}, Inflight{ClientID: sess.ClientID, Offset: off},
		func(in Inflight) bool {
			if in.State == InflightDone {
				done = append(done, in)
			}
			return true
		})
	for _, in := range done {
		s.inflight.Delete(in)
	}
	if len(gaps) == len(sess.Gaps) && (len(gaps) == 0 || gaps[0] == sess.Gaps[0]) {
		return sess
	}
	next := *sess
	next.Gaps = gaps
	s.sessions.ReplaceOrInsert(&next)
	return &next
}

func inGaps(gaps []Range, off log.Offset) bool {
	for _, g := range gaps {
		if g.contains(off) {
			return true
		}
	}
	return false
}

// applyRelease frees a QoS 2 packet id on PUBREL (section 4.3.3); an
// unknown id is stale (the proposer still answers PUBCOMP).
func (s *State) applyRelease(e *Entry) Effects {
	a := awaitItem{ClientID: e.ClientID, PacketID: e.PacketID}
	if _, ok := s.awaiting.Delete(a); !ok {
		return Effects{Err: ErrStale}
	}
	return Effects{}
}
