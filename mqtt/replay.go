package mqtt

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/mqtt/packet"
	"github.com/stratamq/strata/replication"
)

// Replay: a subscription that first receives the log's matching messages
// from a point, then continues live. Asked for with the MQTT 5 user property
// "replay-from" on SUBSCRIBE, or, for any client, with the filter
// "$replay/<from>/<filter>". The subscription is proposed as usual (with the
// inner filter): live deliveries start after its offset S, and the replay
// reads [from, S) from the log, so the seam has no gap and no duplicate.
const (
	replayPrefix       = "$replay/"
	replayPropertyName = "replay-from"
)

// replayFrom is a parsed starting point.
type replayFrom struct {
	bound log.Bound
	last  int // the N most recent matching messages (0: use bound)
}

// parseReplayFrom reads an offset, an RFC 3339 time, or last-N / last:N
// (both spellings in both forms, as in GET /v1/messages' from=; last-N is
// the one documented, since a topic filter cannot hold every ':' well in
// every client's command line).
func parseReplayFrom(s string, _ bool) (replayFrom, error) { // the bool: topic form (kept for callers; both forms read alike)
	for _, prefix := range []string{"last-", "last:"} {
		if rest, ok := strings.CutPrefix(s, prefix); ok {
			n, err := strconv.Atoi(rest)
			if err != nil || n <= 0 {
				return replayFrom{}, fmt.Errorf("%q: last-N needs a positive count", s)
			}
			return replayFrom{last: n}, nil
		}
	}
	if b, err := log.ParseBound(s); err == nil && s != "" {
		return replayFrom{bound: b}, nil
	}
	return replayFrom{}, fmt.Errorf("%q is not an offset, an RFC 3339 time or last-N", s)
}

// splitReplayFilter splits "$replay/<from>/<filter>"; ok is false for
// other filters.
func splitReplayFilter(f string) (from, inner string, ok bool) {
	rest, found := strings.CutPrefix(f, replayPrefix)
	if !found {
		return "", "", false
	}
	from, inner, _ = strings.Cut(rest, "/")
	return from, inner, true
}

// replayReq is one subscription's replay, queued in the connection's
// delivery stream at the position of its subscribe's offset.
type replayReq struct {
	from   replayFrom
	filter string
	opts   fsm.SubOptions
	upTo   log.Offset // the Subscribe entry's offset: live deliveries follow it
}

// pendingReplay is a SUBSCRIBE with replays, proposed and not yet placed
// in the delivery stream. Apply queues a mark for each Subscribe entry of
// this client that applies while one waits (markSubscribe); the writer,
// on reaching a mark, places the replays there if the mark is their
// subscribe's (placeReplays). So the replay sits exactly between the
// deliveries applied before the subscription and those after it, on every
// node, and the match is by offset, not by content.
type pendingReplay struct {
	subs     []fsm.Subscription
	reqs     []*replayReq
	f        *replication.Future // set once proposed (closes proposed)
	proposed chan struct{}
}

// markSubscribe is called by Apply for each Subscribe entry of this
// connection's client, in offset order.
func (c *conn) markSubscribe(off log.Offset, e *fsm.Entry) {
	c.mu.Lock()
	c.subscribedLagging(off, e.Subscriptions)
	if len(c.mu.replays) == 0 || c.mu.closing {
		c.mu.Unlock()
		return
	}
	c.mu.queue = append(c.mu.queue, delivery{applyOff: off, mark: e.Subscriptions})
	c.mu.Unlock()
	c.signal()
}

// placeReplays handles a subscribe mark at off (writer goroutine): the
// oldest pending replay whose subscribe is the marked entry is sent here.
// A mark for another subscribe of the client passes; a pending replay
// whose subscribe failed is dropped.
func (c *conn) placeReplays(off log.Offset, subs []fsm.Subscription) error {
	for {
		c.mu.Lock()
		if len(c.mu.replays) == 0 {
			c.mu.Unlock()
			return nil
		}
		pr := c.mu.replays[0]
		c.mu.Unlock()
		if !slices.Equal(pr.subs, subs) {
			return nil // not the subscribe it waits for
		}
		first, err, stop := c.awaitReplay(pr)
		switch {
		case stop != nil:
			return stop
		case err != nil:
			c.dropPendingReplay(pr) // never committed
			continue
		case first > off:
			return nil // an equal subscribe of the client, not ours
		}
		c.dropPendingReplay(pr)
		for _, r := range pr.reqs {
			r.upTo = first // live deliveries of the subscription follow it
			if err := c.sendReplay(r); err != nil {
				return err
			}
		}
		return nil
	}
}

// awaitReplay waits for a pending replay's subscribe to resolve, answering
// proposals and sending control packets meanwhile. stop is set when the
// writer must stop (closing, a failed write).
func (c *conn) awaitReplay(pr *pendingReplay) (first log.Offset, err, stop error) {
	for {
		if c.isClosing() {
			return 0, nil, errClosed
		}
		var wait <-chan struct{} = pr.proposed
		select {
		case <-pr.proposed:
			if first, err, ok := pr.f.Result(); ok {
				return first, err, nil
			}
			wait = pr.f.Done()
		default:
		}
		if err := c.idleFlush(wait); err != nil {
			return 0, nil, err
		}
	}
}

// dropPendingReplay forgets a pending replay (placed, or never committed).
func (c *conn) dropPendingReplay(p *pendingReplay) {
	if p == nil {
		return
	}
	c.mu.Lock()
	if i := slices.Index(c.mu.replays, p); i >= 0 {
		c.mu.replays = slices.Delete(c.mu.replays, i, i+1)
	}
	c.mu.Unlock()
}

// sendReplay sends the log's messages matching r.filter from r.from up to
// the subscription's offset, in offset order. A starting point older than
// retention starts at the earliest message; for MQTT 5 the first message
// then carries the user property replay-truncated with that offset. A read
// that fails ends the connection (a *logReadError), never the replay alone
// in silence.
func (c *conn) sendReplay(r *replayReq) error {
	c.b.stats.ReplayReaders.Add(1)
	defer c.b.stats.ReplayReaders.Add(-1)
	l := c.b.o.Log
	first := l.FirstOffset()
	from := r.from.bound
	truncated := false
	if r.from.last > 0 {
		offs, err := lastMatching(l, r.filter, r.upTo, r.from.last)
		if err != nil || len(offs) == 0 {
			return err
		}
		from = log.AtOffset(offs[0])
	} else if first > 0 {
		var err error
		if truncated, err = boundBefore(l, from, first); err != nil {
			return err
		}
	}
	start, _ := from.Offset()
	it, err := l.Read(r.filter, from, log.AtOffset(r.upTo))
	if err != nil { // the filter was checked on SUBSCRIBE: a time seek failed
		return readFailure(max(start, first), err)
	}
	defer it.Close()
	next := max(start, first) // the first offset not yet read
	for it.Next() {
		rec := it.Record()
		next = rec.Offset + 1
		d, ok := c.replayed(r, rec)
		if !ok {
			continue
		}
		if truncated && c.version == packet.Version5 {
			d.extra = []packet.UserProperty{{Key: "replay-truncated", Value: strconv.FormatUint(uint64(first), 10)}}
		}
		truncated = false
		if err := c.send(d); err != nil {
			return err
		}
		c.b.stats.ReplayRecords.Add(1)
	}
	return readFailure(next, it.Err())
}

// replayed turns a record read by a replay into its delivery; ok is false
// for records not sent (not a publish, not decodable as Apply skips them,
// or excluded by no-local).
func (c *conn) replayed(r *replayReq, rec log.Record) (delivery, bool) {
	if rec.Kind != uint8(fsm.KindPublish) {
		return delivery{}, false
	}
	e, err := entryOf(rec)
	if err != nil {
		return delivery{}, false
	}
	if r.opts.NoLocal && e.ClientID == c.clientID {
		return delivery{}, false // [MQTT-3.8.3-3]
	}
	d := delivery{off: rec.Offset, e: e, qos: min(e.Publish.QoS, r.opts.QoS), retain: r.opts.RetainAsPublished && e.Publish.Retain,
		past: true, offsetProp: r.opts.OffsetProperty}
	if r.opts.ID != 0 {
		d.subIDs = []uint32{r.opts.ID}
	}
	return d, true
}

// boundBefore reports whether b starts before offset first (the earliest
// retained): an offset below it, or a time before that record's time.
func boundBefore(l LogReader, b log.Bound, first log.Offset) (bool, error) {
	if o, ok := b.Offset(); ok {
		return o < first, nil
	}
	t, ok := b.Time()
	if !ok {
		return true, nil // unbounded: from the beginning, which retention cut
	}
	it := l.Iter(first)
	defer it.Close()
	if it.Next() {
		return t.UnixNano() < it.Record().Time, nil
	}
	return false, readFailure(first, it.Err())
}

// lastMatching returns the offsets of the n most recent messages matching
// filter below upTo, oldest first.
func lastMatching(l LogReader, filter string, upTo log.Offset, n int) ([]log.Offset, error) {
	it, err := l.Read(filter, log.Unbounded(), log.AtOffset(upTo))
	if err != nil {
		return nil, fmt.Errorf("mqtt: replay last:N: %w", err)
	}
	defer it.Close()
	ring := make([]log.Offset, 0, min(n, 1<<16))
	start, next := 0, l.FirstOffset() // next: the first offset not yet read
	for it.Next() {
		rec := it.Record()
		next = rec.Offset + 1
		if rec.Kind != uint8(fsm.KindPublish) {
			continue
		}
		if len(ring) < n {
			ring = append(ring, rec.Offset)
			continue
		}
		ring[start] = rec.Offset
		start = (start + 1) % n
	}
	if err := it.Err(); err != nil {
		return nil, readFailure(next, err)
	}
	return append(ring[start:], ring[:start]...), nil
}
