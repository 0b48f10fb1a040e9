package mqtt

import (
	"maps"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/topic"
)

// Catch-up after a queue overflow. Past Options.QueueLength a connection
// stops queueing live deliveries (deliver) and its writer reads the log
// instead, by position, from the first offset it did not queue (lagFrom):
// each publish read goes to the client as live delivery would have sent it,
// QoS 0 included, so a slow reader loses nothing the log still holds and
// memory stays one chunk of records whatever the backlog. Once the writer
// reaches the view's next offset it returns to live delivery from there
// (liveFrom): the view covers every offset below it, so the seam has no
// gap and no duplicate.
//
// What a record owes the client is decided from the view when the record
// is read (a view does not keep past subscriptions): QoS 1/2 deliveries are
// the session's in-flight offsets (the fold recorded each, shared groups
// included, so a shared message another member got is never taken), QoS 0
// ones are what the client's non-shared subscriptions match at QoS 0
// (fsm View.Matching), but a filter subscribed during the lag matches only
// records after its SUBSCRIBE (subscribedLagging). A QoS 0 delivery the
// catch-up cannot rebuild (a shared group's, one retention removed before
// the writer read it, one of a subscription removed meanwhile) is dropped
// and counted once the episode ends (countLagDrops).

// catchUpChunk bounds the records one catch-up step reads before the writer
// answers resolved proposals and control packets (PINGRESP) again.
const catchUpChunk = 4096

// lagWriter is the writer's record of the current lag episode.
type lagWriter struct {
	sent0    uint64     // QoS 0 deliveries rebuilt from the log
	cutFrom  log.Offset // retention removed [cutFrom, cutTo) before it was read
	cutTo    log.Offset
	inflight []fsm.Inflight        // the session's unsent in-flight items, from the step's view
	subs     map[string]log.Offset // the lag's Subscribes (lagSubs), copied for the step
	at       log.Offset            // the record being matched (skipNewer)
	skip     func(string) bool     // skipNewer, made once per episode
	filters  []string              // the client's non-shared filters, from the step's view
}

// directFilters lists client's non-shared subscription filters in v.
func (c *conn) directFilters(v *fsm.View) []string {
	var out []string
	for _, s := range v.Subscriptions(c.clientID) {
		if _, _, shared, _ := topic.ParseShare(s.Filter); !shared {
			out = append(out, s.Filter)
		}
	}
	return out
}

// mayMatch reports whether a non-shared filter matches the topic name:
// records it rules out are not decoded (a lagging subscriber of a few
// topics in a busy log reads many more records than it sends).
func (l *lagWriter) mayMatch(name []byte) bool {
	t := string(name)
	for _, f := range l.filters {
		if topic.Match(f, t) {
			return true
		}
	}
	return false
}

// lagSubscribes copies the offsets of the Subscribes applied during the lag.
func (c *conn) lagSubscribes() map[string]log.Offset {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.mu.lagSubs) == 0 {
		return nil
	}
	return maps.Clone(c.mu.lagSubs)
}

// skipNewer reports whether filter was subscribed after the record being
// matched (fsm View.Matching's skip).
func (l *lagWriter) skipNewer(filter string) bool {
	s, ok := l.subs[filter]
	return ok && l.at < s
}

// lag starts, or continues, a lag episode for one delivery past the queue
// bound (under c.mu, from deliver).
func (c *conn) lag(off log.Offset, qos byte) {
	if !c.mu.lagging {
		c.mu.lagging, c.mu.lagFrom = true, off
		c.b.stats.CatchUps.Add(1)
	}
	if qos == 0 {
		c.mu.lagOwed0++
	}
}

// subscribedLagging notes the offset of a Subscribe of the client applied
// while the connection lags (under c.mu, from Apply): the catch-up does not
// match its filters to records before it, so a subscription made during the
// lag (a replay's included, which sends those records itself) starts where
// live delivery would have started it. Bounded by the client's filters.
func (c *conn) subscribedLagging(off log.Offset, subs []fsm.Subscription) {
	if !c.mu.lagging {
		return
	}
	if c.mu.lagSubs == nil {
		c.mu.lagSubs = map[string]log.Offset{}
	}
	for _, s := range subs {
		c.mu.lagSubs[s.Filter] = off
	}
}

// catchUp sends one chunk of the backlog from the log, or ends the episode
// when nothing is left. The drain loop calls it while the queue is empty
// and the connection lags.
func (c *conn) catchUp() error {
	c.mu.Lock()
	from := c.mu.lagFrom
	c.mu.Unlock()
	v := c.b.o.Views.View()
	if from >= v.NextOffset() || !c.following(v, from) {
		c.endLag()
		return nil
	}
	next, err := c.catchUpRange(v, from, min(v.NextOffset(), from+catchUpChunk))
	c.mu.Lock()
	c.mu.lagFrom = next
	c.mu.Unlock()
	return err
}

// following reports whether anything from offset from on may be owed to
// the client: a subscription, or an in-flight item not yet sent. A clean
// session whose subscriptions are all gone stops catching up.
func (c *conn) following(v *fsm.View, from log.Offset) bool {
	if len(v.Subscriptions(c.clientID)) > 0 {
		return true
	}
	return len(c.unsent(v, from, ^log.Offset(0))) > 0
}

// endLag returns the connection to live delivery from the view's next
// offset, unless more was applied since the last step (under c.mu, so
// deliver, which also takes it, sees the new liveFrom for every delivery
// the view does not cover).
func (c *conn) endLag() {
	c.mu.Lock()
	v := c.b.o.Views.View()
	if v.NextOffset() > c.mu.lagFrom && c.following(v, c.mu.lagFrom) {
		c.mu.Unlock()
		return // more to read: the next drain step goes on
	}
	c.mu.lagging = false
	c.mu.liveFrom = v.NextOffset()
	owed := c.mu.lagOwed0
	c.mu.lagOwed0, c.mu.lagSubs = 0, nil
	c.mu.Unlock()
	c.countLagDrops(owed)
}

// catchUpRange sends what the log holds in [from, to) for the client, in
// offset order, and returns the first offset not handled.
func (c *conn) catchUpRange(v *fsm.View, from, to log.Offset) (log.Offset, error) {
	c.w.lag.inflight = c.unsent(v, from, to)
	c.w.lag.subs = c.lagSubscribes()
	c.w.lag.filters = c.directFilters(v)
	defer func() { c.w.lag.inflight, c.w.lag.subs, c.w.lag.filters = nil, nil, nil }()
	it := c.b.o.Log.Iter(from)
	defer it.Close()
	next := from // the first offset not yet read
	for it.Next() {
		rec := it.Record()
		if rec.Offset > next {
			c.lostToRetention(next, min(rec.Offset, to))
		}
		if rec.Offset >= to {
			return to, c.completeInflight(to)
		}
		next = rec.Offset + 1
		if err := c.catchUpRecord(v, rec); err != nil {
			return next, err
		}
	}
	if err := it.Err(); err != nil {
		return next, readFailure(max(next, c.b.o.Log.FirstOffset()), err)
	}
	if first := c.b.o.Log.FirstOffset(); next < first {
		c.lostToRetention(next, min(first, to)) // removed since the iterator opened
		next = min(first, to)
	}
	// The log holds every offset the view folded (appended first), so an
	// iterator that stops early met retention; the next step goes on.
	return next, c.completeInflight(next)
}

// catchUpRecord sends rec if the client is owed it: an unsent in-flight
// offset at its QoS, else a QoS 0 match of its subscriptions.
func (c *conn) catchUpRecord(v *fsm.View, rec log.Record) error {
	if err := c.completeInflight(rec.Offset); err != nil {
		return err
	}
	in, held := c.takeInflight(rec.Offset)
	if !held && !c.w.lag.mayMatch(rec.Key) {
		return nil
	}
	var e *fsm.Entry
	if rec.Kind == uint8(fsm.KindPublish) {
		e, _ = entryOf(rec) // nil: undecodable, skipped alike by Apply
	}
	switch {
	case held && e == nil:
		c.ackOffset(rec.Offset)
		return nil
	case held:
		d := v.Redeliver(in, e)
		return c.send(delivery{off: rec.Offset, e: e, qos: d.QoS, retain: d.Retain, subIDs: d.SubscriptionIDs,
			offsetProp: d.OffsetProperty})
	case e == nil:
		return nil
	}
	return c.sendQoS0(v, rec.Offset, e)
}

// sendQoS0 sends the publish e at off at QoS 0 if the client's
// subscriptions, but those made after it, match it at QoS 0; a QoS 1/2
// match not in flight was never owed at that QoS.
func (c *conn) sendQoS0(v *fsm.View, off log.Offset, e *fsm.Entry) error {
	if c.w.lag.skip == nil {
		c.w.lag.skip = c.w.lag.skipNewer // one closure for the episode
	}
	c.w.lag.at = off
	d, ok := v.Matching(c.clientID, off, e, c.w.lag.skip)
	if !ok || d.QoS != 0 {
		return nil
	}
	c.w.lag.sent0++
	return c.send(delivery{off: off, e: e, retain: d.Retain, subIDs: d.SubscriptionIDs, offsetProp: d.OffsetProperty})
}

// completeInflight completes the unsent in-flight items below off that the
// log no longer has (retention removed them): nothing to send.
func (c *conn) completeInflight(off log.Offset) error {
	for len(c.w.lag.inflight) > 0 && c.w.lag.inflight[0].Offset < off {
		in := c.w.lag.inflight[0]
		c.w.lag.inflight = c.w.lag.inflight[1:]
		c.logger.Warn().Uint64("offset", uint64(in.Offset)).Msg("in-flight message no longer in the log")
		c.ackOffset(in.Offset)
	}
	return nil
}

// takeInflight removes and returns the unsent in-flight item at off.
func (c *conn) takeInflight(off log.Offset) (fsm.Inflight, bool) {
	if len(c.w.lag.inflight) == 0 || c.w.lag.inflight[0].Offset != off {
		return fsm.Inflight{}, false
	}
	in := c.w.lag.inflight[0]
	c.w.lag.inflight = c.w.lag.inflight[1:]
	return in, true
}

// lostToRetention notes that retention removed [from, to) before the
// writer read it.
func (c *conn) lostToRetention(from, to log.Offset) {
	if to <= from {
		return
	}
	l := &c.w.lag
	if l.cutTo == l.cutFrom {
		l.cutFrom = from
	}
	l.cutTo = to
}

// countLagDrops counts, at the end of an episode, the QoS 0 deliveries the
// fold made while the connection lagged that the catch-up did not rebuild,
// and logs them once. owed is how many the fold made.
func (c *conn) countLagDrops(owed uint64) {
	l := c.w.lag
	c.w.lag = lagWriter{}
	if owed <= l.sent0 {
		return
	}
	n := owed - l.sent0
	c.b.stats.DroppedQoS0.Add(n)
	if l.cutTo > l.cutFrom {
		c.b.stats.DroppedRetention.Add(n)
		c.logger.Warn().Uint64("from", uint64(l.cutFrom)).Uint64("to", uint64(l.cutTo)).Uint64("dropped", n).
			Msg("retention removed QoS 0 messages this connection had not read yet; dropped")
		return
	}
	c.logger.Warn().Uint64("dropped", n).
		Msg("QoS 0 messages of shared subscriptions (or of subscriptions changed meanwhile) dropped while the connection lagged")
}

// unsent lists the session's in-flight items in [from, to) that this
// connection has not sent, in offset order. Retained messages it sent on
// subscribe are not unsent, whatever their offset (send bounds that set).
func (c *conn) unsent(v *fsm.View, from, to log.Offset) []fsm.Inflight {
	var out []fsm.Inflight
	for _, in := range v.InflightRange(c.clientID, from, to) {
		if _, sent := c.w.sentRetained[in.Offset]; !sent && in.State == fsm.InflightSent {
			out = append(out, in)
		}
	}
	return out
}

// pruneSentRetained forgets the retained offsets the cursor has completed:
// one lookup each, so a subscribe owed many retained messages costs no
// pass over its whole in-flight list per message sent.
func (c *conn) pruneSentRetained(v *fsm.View) {
	for off := range c.w.sentRetained {
		if !v.HasInflight(c.clientID, off) {
			delete(c.w.sentRetained, off)
		}
	}
	c.w.pruneAt = max(2*c.window+64, 2*len(c.w.sentRetained))
}
