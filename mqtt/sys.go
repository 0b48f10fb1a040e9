package mqtt

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stratamq/strata/fsm"
)

// publishSys publishes the broker's statistics as retained QoS 0 messages
// under $SYS/broker/ (cluster-wide figures, from the leader) and
// $SYS/broker/nodes/<node>/ (this node's counters). They go through the log
// like any publish, so every node's subscribers see the same values; topics
// starting with '$' are never matched by a leading '#' or '+' [MQTT-4.7.2-1].
func (b *Broker) publishSys(v *fsm.View, now time.Time) {
	var msgs [][2]string
	s := &b.stats
	node := "$SYS/broker/nodes/" + b.o.NodeID + "/"
	msgs = append(msgs,
		[2]string{node + "connections", strconv.FormatInt(s.Connections.Load(), 10)},
		[2]string{node + "messages/received", strconv.FormatUint(s.PublishReceived(), 10)},
		[2]string{node + "messages/sent", strconv.FormatUint(s.PublishSent(), 10)},
		[2]string{node + "messages/dropped-qos0", strconv.FormatUint(s.DroppedQoS0.Load(), 10)},
		[2]string{node + "messages/dropped-retention", strconv.FormatUint(s.DroppedRetention.Load(), 10)},
		[2]string{node + "messages/expired", strconv.FormatUint(s.Expired.Load(), 10)},
		[2]string{node + "bytes/received", strconv.FormatUint(s.BytesReceived.Load(), 10)},
		[2]string{node + "bytes/sent", strconv.FormatUint(s.BytesSent.Load(), 10)},
		[2]string{node + "uptime", uptime(b.started, now)},
	)
	msgs = b.sysLoad.update(msgs, node+"load/", s, now)
	if b.o.Cluster.IsLeader() {
		msgs = append(msgs,
			[2]string{"$SYS/broker/clients/connected", strconv.Itoa(v.Connected())},
			[2]string{"$SYS/broker/sessions/total", strconv.Itoa(v.SessionCount())},
			[2]string{"$SYS/broker/retained/count", strconv.Itoa(v.RetainedCount())},
			[2]string{"$SYS/broker/uptime", uptime(b.started, now)},
			[2]string{"$SYS/broker/version", "strata version " + cmp.Or(b.o.Version, "dev")},
		)
		msgs = append(msgs, b.clusterLoad(v, msgs)...)
	}
	b.proposeSys(msgs)
}

// proposeSys proposes the values that changed since they were last
// published; only the background goroutine calls it.
func (b *Broker) proposeSys(msgs [][2]string) {
	last := b.sysLast
	var es []*fsm.Entry
	for _, m := range msgs {
		if last[m[0]] == m[1] {
			continue // unchanged: no need to grow the log
		}
		last[m[0]] = m[1]
		es = append(es, &fsm.Entry{Kind: fsm.KindPublish, ClientID: "$SYS",
			Publish: fsm.Publish{Message: fsm.Message{Topic: m[0], Payload: []byte(m[1]), Retain: true}}})
	}
	if len(es) > 0 {
		b.await("$SYS", b.propose(es...))
	}
}

// uptime is mosquitto's format: whole seconds, then " seconds".
func uptime(started, now time.Time) string {
	return strconv.FormatInt(int64(now.Sub(started)/time.Second), 10) + " seconds"
}

// loadWindows are mosquitto's load averages: 1, 5 and 15 minutes.
var loadWindows = [3]struct {
	name    string
	seconds float64
}{{"1min", 60}, {"5min", 300}, {"15min", 900}}

// loadSeries names the counters whose rates are published under load/, as
// mosquitto names them.
var loadSeries = [5]string{"messages/received", "messages/sent", "bytes/received", "bytes/sent", "connections"}

// sysLoad holds the load averages of loadSeries: per-minute rates smoothed
// as mosquitto smooths them, an exponentially weighted moving average
// load = rate + e^(-Δt/window) × (load - rate), where rate is the counter's
// increase since the last update scaled to one minute. Owned by the
// background goroutine.
type sysLoad struct {
	last   time.Time
	prev   [len(loadSeries)]uint64
	values [len(loadSeries)][len(loadWindows)]float64
}

func (l *sysLoad) counters(s *Stats) [len(loadSeries)]uint64 {
	return [...]uint64{s.PublishReceived(), s.PublishSent(), s.BytesReceived.Load(), s.BytesSent.Load(), s.ConnectsTotal.Load()}
}

// update folds the counters' increase since the last call (the first
// time: since the broker started, with every counter at 0) into the
// averages and appends them under prefix.
func (l *sysLoad) update(msgs [][2]string, prefix string, s *Stats, now time.Time) [][2]string {
	cur := l.counters(s)
	dt := now.Sub(l.last).Seconds()
	if dt <= 0 {
		return msgs
	}
	for i, name := range loadSeries {
		rate := float64(cur[i]-l.prev[i]) * 60 / dt
		for j, w := range loadWindows {
			v := &l.values[i][j]
			*v = rate + math.Exp(-dt/w.seconds)*(*v-rate)
			msgs = append(msgs, [2]string{prefix + name + "/" + w.name, strconv.FormatFloat(*v, 'f', 2, 64)})
		}
	}
	l.last, l.prev = now, cur
	return msgs
}

// members is an optional capability of a Cluster (replication.Node): the
// IDs of the cluster's members, so that the cluster's load sums only the
// nodes that are still in it.
type members interface{ Members() []string }

// clusterLoad is $SYS/broker/load/...: the sum of the nodes' own load
// figures, this node's from msgs (not committed yet) and the others' from
// their last retained values.
func (b *Broker) clusterLoad(v *fsm.View, msgs [][2]string) [][2]string {
	own := "$SYS/broker/nodes/" + b.o.NodeID + "/load/"
	sums := map[string]float64{}
	for _, m := range msgs {
		if suffix, ok := strings.CutPrefix(m[0], own); ok {
			f, _ := strconv.ParseFloat(m[1], 64)
			sums[suffix] += f
		}
	}
	if len(sums) == 0 {
		return nil // no rates: a clock that did not move
	}
	for _, id := range b.otherMembers() {
		b.addRetainedLoad(v, "$SYS/broker/nodes/"+id+"/load/", sums)
	}
	out := make([][2]string, 0, len(sums))
	for _, name := range loadSeries {
		for _, w := range loadWindows {
			suffix := name + "/" + w.name
			out = append(out, [2]string{"$SYS/broker/load/" + suffix, strconv.FormatFloat(sums[suffix], 'f', 2, 64)})
		}
	}
	return out
}

// otherMembers is the cluster's other members, none if the Cluster cannot
// tell.
func (b *Broker) otherMembers() []string {
	m, ok := b.o.Cluster.(members)
	if !ok {
		return nil
	}
	var out []string
	for _, id := range m.Members() {
		if id != b.o.NodeID {
			out = append(out, id)
		}
	}
	return out
}

// addRetainedLoad adds the load figures retained under prefix to sums. A
// figure the log no longer holds counts as 0, and so does one that cannot
// be read, with an error logged: the sums are statistics, and the next
// interval reads them again.
func (b *Broker) addRetainedLoad(v *fsm.View, prefix string, sums map[string]float64) {
	r := newOffsetReader(b.o.Log)
	defer r.close()
	var found []fsm.Retained
	v.RetainedMatching(prefix+"#", 0, func(ret fsm.Retained) bool {
		found = append(found, ret)
		return true
	})
	slices.SortFunc(found, func(a, b fsm.Retained) int { return cmp.Compare(a.Offset, b.Offset) }) // one pass of the reader
	for _, ret := range found {
		e, err := r.at(ret.Offset)
		if err != nil {
			b.logger.Error().Err(err).Uint64("offset", uint64(ret.Offset)).Str("topic", ret.Topic).
				Msg("$SYS load: reading a node's figure from the log failed; counted as 0")
			return
		}
		if e != nil {
			f, _ := strconv.ParseFloat(string(e.Publish.Payload), 64)
			sums[strings.TrimPrefix(ret.Topic, prefix)] += f
		}
	}
}
