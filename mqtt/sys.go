package mqtt

import (
	"strconv"

	"github.com/stratamq/strata/fsm"
)

// publishSys publishes the broker's statistics as retained QoS 0 messages
// under $SYS/broker/ (cluster-wide figures, from the leader) and
// $SYS/broker/nodes/<node>/ (this node's counters). They go through the log
// like any publish, so every node's subscribers see the same values; topics
// starting with '$' are never matched by a leading '#' or '+' [MQTT-4.7.2-1].
func (b *Broker) publishSys(v *fsm.View) {
	var msgs [][2]string
	if b.o.Cluster.IsLeader() {
		msgs = append(msgs,
			[2]string{"$SYS/broker/clients/connected", strconv.Itoa(v.Connected())},
			[2]string{"$SYS/broker/sessions/total", strconv.Itoa(v.SessionCount())},
			[2]string{"$SYS/broker/retained/count", strconv.Itoa(v.RetainedCount())},
		)
	}
	s := &b.stats
	node := "$SYS/broker/nodes/" + b.o.NodeID + "/"
	msgs = append(msgs,
		[2]string{node + "connections", strconv.FormatInt(s.Connections.Load(), 10)},
		[2]string{node + "messages/received", strconv.FormatUint(s.PublishReceived.Load(), 10)},
		[2]string{node + "messages/sent", strconv.FormatUint(s.PublishSent.Load(), 10)},
		[2]string{node + "messages/dropped-qos0", strconv.FormatUint(s.DroppedQoS0.Load(), 10)},
		[2]string{node + "messages/dropped-retention", strconv.FormatUint(s.DroppedRetention.Load(), 10)},
		[2]string{node + "messages/expired", strconv.FormatUint(s.Expired.Load(), 10)},
		[2]string{node + "bytes/sent", strconv.FormatUint(s.BytesSent.Load(), 10)},
	)
	last := b.sysLast // only this goroutine (background) touches it
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
