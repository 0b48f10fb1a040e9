package mqtt

import (
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/stratamq/strata/auth"
	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/mqtt/packet"
	"github.com/stratamq/strata/presence"
)

// A presence subscription ($presence/<filter>, docs/mqtt.md#presence) is
// the connection's own: it is not proposed to the log nor kept in the
// session. It sends the presence snapshot of the filter, then the events
// each applied entry makes for it (join, leave, online, offline), as QoS 0
// PUBLISHes on presence.TopicName(filter).
//
// No gap, no duplicate: the watch is registered (under presenceWatches'
// lock, with its snapshot item queued) before the writer takes the View
// the snapshot is built from. Every entry Apply hands over after the
// registration queues its events; every entry it handed over before is
// folded in that View (the fold runs before Apply). The writer drops the
// queued events below the View's next offset: the snapshot has them.

// maxPresenceWatches bounds a connection's presence subscriptions, each a
// snapshot to build and a queue to keep. Past it, SUBACK 0x97 Quota
// exceeded.
const maxPresenceWatches = 32

// maxPresenceQueued bounds the events queued for one watch (or
// Options.QueueLength if smaller); past it they are dropped and a fresh
// snapshot is queued in their place (the client sees a snapshot again,
// then events from there: still no gap).
const maxPresenceQueued = 1024

// presenceWatch is one presence subscription of one connection.
type presenceWatch struct {
	c      *conn
	name   string // as subscribed: $presence/<filter>
	filter string
	topic  string // presence.TopicName(filter)
	subID  uint32 // the SUBSCRIBE's subscription identifier, 0 none [MQTT-3.3.4-3]
	queued int    // events queued, under c.mu
	// Writer only. from: events below it are dropped (the last snapshot
	// has them); silenced: messages were dropped for want of the right,
	// so the next one is a fresh snapshot.
	from     log.Offset
	silenced bool
}

// presenceItem is one queued presence message: a snapshot to build, or
// an event.
type presenceItem struct {
	w        *presenceWatch
	snapshot bool
	ev       presence.Event
}

// presenceWatches are the broker's presence subscriptions, by filter:
// an applied change is compared with each distinct filter once, and its
// events are shared by the watches of that filter (a chat's members
// watching their room cost one comparison per room, not per member).
type presenceWatches struct {
	mu       sync.Mutex
	byFilter map[string]map[*presenceWatch]struct{}
	n        atomic.Int32 // how many watches: Apply's fast path
}

func (ws *presenceWatches) addLocked(w *presenceWatch) {
	if ws.byFilter == nil {
		ws.byFilter = map[string]map[*presenceWatch]struct{}{}
	}
	set := ws.byFilter[w.filter]
	if set == nil {
		set = map[*presenceWatch]struct{}{}
		ws.byFilter[w.filter] = set
	}
	set[w] = struct{}{}
	ws.n.Add(1)
}

func (ws *presenceWatches) removeLocked(w *presenceWatch) {
	set := ws.byFilter[w.filter]
	if _, ok := set[w]; !ok {
		return
	}
	delete(set, w)
	if len(set) == 0 {
		delete(ws.byFilter, w.filter)
	}
	ws.n.Add(-1)
}

// PresenceWatches is how many $presence/ subscriptions this node's
// connections hold (metrics).
func (b *Broker) PresenceWatches() int { return int(b.watches.n.Load()) }

// presenceRequest is a SUBSCRIBE's presence filter once checked.
type presenceRequest struct {
	name, filter string
	subID        uint32
}

// checkPresence checks a $presence/ filter of a SUBSCRIBE: the code to
// grant (QoS 0: presence messages are not in the log to resend) or refuse.
func (c *conn) checkPresence(inner string, err error, count int) (packet.ReasonCode, string) {
	switch {
	case err != nil:
		return packet.CodeTopicFilterInvalid, err.Error()
	case count >= maxPresenceWatches:
		return packet.CodeQuotaExceeded, "too many presence subscriptions on one connection"
	case !auth.MayObserve(c.acl, inner):
		return packet.CodeNotAuthorized, "the ACL grants neither subscribe nor replay on every topic of " + inner
	}
	return packet.CodeSuccess, "" // granted QoS 0
}

// presenceCount is how many presence subscriptions c holds.
func (c *conn) presenceCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.mu.watches)
}

// watchPresence starts the presence subscriptions of a SUBSCRIBE, once
// its SUBACK is queued (the snapshot follows it). One with the name of an
// existing one replaces it [MQTT-3.8.4-3]: a new snapshot, then events.
func (c *conn) watchPresence(reqs []presenceRequest) {
	if len(reqs) == 0 {
		return
	}
	ws := &c.b.watches
	ws.mu.Lock()
	defer ws.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closing {
		return
	}
	if c.mu.watches == nil {
		c.mu.watches = map[string]*presenceWatch{}
	}
	for _, r := range reqs {
		if old := c.mu.watches[r.name]; old != nil {
			c.dropWatchLocked(old)
		}
		w := &presenceWatch{c: c, name: r.name, filter: r.filter, topic: presence.TopicName(r.filter), subID: r.subID}
		c.mu.watches[r.name] = w
		c.mu.presence = append(c.mu.presence, presenceItem{w: w, snapshot: true})
		ws.addLocked(w)
	}
	c.signal()
}

// unwatchPresence ends the presence subscription named name (an
// UNSUBSCRIBE's filter); false when there is none.
func (c *conn) unwatchPresence(name string) bool {
	ws := &c.b.watches
	ws.mu.Lock()
	defer ws.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.mu.watches[name]
	if w == nil {
		return false
	}
	c.dropWatchLocked(w)
	return true
}

// unwatchAll ends c's presence subscriptions (the connection ended).
func (c *conn) unwatchAll() {
	ws := &c.b.watches
	ws.mu.Lock()
	defer ws.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.mu.watches {
		c.dropWatchLocked(w)
	}
}

// dropWatchLocked removes w and its queued items; under the watches' lock
// and c.mu.
func (c *conn) dropWatchLocked(w *presenceWatch) {
	c.b.watches.removeLocked(w)
	delete(c.mu.watches, w.name)
	c.mu.presence = removeItems(c.mu.presence, w)
	w.queued = 0
}

// removeItems drops w's items from q, keeping the others' order.
func removeItems(q []presenceItem, w *presenceWatch) []presenceItem {
	out := q[:0]
	for _, it := range q {
		if it.w != w {
			out = append(out, it)
		}
	}
	clear(q[len(out):])
	return out
}

// presenceEvents queues the events of one applied entry to the watches it
// touches (from Apply: it only queues).
func (b *Broker) presenceEvents(off log.Offset, e *fsm.Entry, ch *fsm.PresenceChange) {
	ws := &b.watches
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for filter, set := range ws.byFilter {
		evs := presence.Events(filter, off, e.Time, ch)
		if len(evs) == 0 {
			continue
		}
		for w := range set { // the events are read-only: shared
			w.c.queuePresence(w, evs)
		}
	}
}

// queuePresence queues evs for w; past its bound (maxPresenceQueued), w's queued
// events give way to one snapshot. Under the watches' lock.
func (c *conn) queuePresence(w *presenceWatch, evs []presence.Event) {
	c.mu.Lock()
	switch {
	case c.mu.closing || c.mu.watches[w.name] != w:
	case w.queued+len(evs) > min(c.b.o.QueueLength, maxPresenceQueued):
		c.mu.presence = removeItems(c.mu.presence, w)
		c.mu.presence = append(c.mu.presence, presenceItem{w: w, snapshot: true})
		w.queued = 0
		c.b.stats.PresenceResyncs.Add(1)
	default:
		for _, ev := range evs {
			c.mu.presence = append(c.mu.presence, presenceItem{w: w, ev: ev})
		}
		w.queued += len(evs)
	}
	c.mu.Unlock()
	c.signal()
}

// takePresenceLocked takes the next presence item; under c.mu.
func (c *conn) takePresenceLocked() presenceItem {
	it := c.mu.presence[0]
	c.mu.presence[0] = presenceItem{}
	c.mu.presence = c.mu.presence[1:]
	if !it.snapshot {
		it.w.queued--
	}
	return it
}

// sendPresence writes one presence item: a snapshot built from a View
// taken now, or an event the last snapshot does not already have. The
// rights are asked again at each message, as for deliveries: an ACL
// reloaded without them silences the watch; once they are back, its next
// message is a fresh snapshot (the events meanwhile were dropped).
func (c *conn) sendPresence(it presenceItem) error {
	w := it.w
	if !auth.MayObserve(c.acl, w.filter) {
		w.silenced = true
		return nil
	}
	var msg any = it.ev
	if w.silenced {
		if !it.snapshot && log.Offset(it.ev.Offset) < w.from {
			return nil // the last snapshot has it: wait for a newer change
		}
		it.snapshot, w.silenced = true, false
	}
	if it.snapshot {
		v := c.b.o.Views.View()
		w.from = v.NextOffset()
		msg = presence.SnapshotEvent(presence.Of(v, w.filter), w.from-1)
	} else if log.Offset(it.ev.Offset) < w.from {
		return nil
	}
	payload, err := json.Marshal(msg)
	if err != nil {
		c.logger.Error().Err(err).Msg("presence event cannot be encoded")
		return nil
	}
	p := &packet.Publish{Topic: w.topic, Payload: payload}
	if c.version == packet.Version5 {
		p.Properties.PayloadFormat = 1 // UTF-8
		p.Properties.ContentType = "application/json"
		if w.subID != 0 {
			p.Properties.SubscriptionIDs = []uint32{w.subID} // [MQTT-3.3.4-3]
		}
	}
	if c.cliMaxPacket > 0 {
		if n, err := packet.Size(p, c.version); err == nil && uint32(n) > c.cliMaxPacket {
			// [MQTT-3.1.2-25]: dropped; a snapshot this large reaches the
			// client over GET /v1/presence.
			c.b.stats.DroppedTooLarge.Add(1)
			c.logger.Warn().Str("filter", w.filter).Int("bytes", n).
				Msg("presence message larger than the client's maximum packet size: dropped")
			return nil
		}
	}
	c.b.stats.SentByQoS[0].Add(1)
	return c.writePublish(p)
}
