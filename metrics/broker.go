package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratamq/strata/mqtt"
)

var (
	publishesReceived = newDesc("strata_mqtt_publishes_received_total", "PUBLISH packets accepted from this node's clients, by QoS.", counter, "qos")
	publishesSent     = newDesc("strata_mqtt_publishes_sent_total", "PUBLISH packets written to this node's clients (deliveries), by QoS.", counter, "qos")
	bytesReceived     = newDesc("strata_mqtt_received_bytes_total", "Bytes read from this node's MQTT clients.", counter)
	bytesSent         = newDesc("strata_mqtt_sent_bytes_total", "Bytes written to this node's MQTT clients.", counter)
	connections       = newDesc("strata_mqtt_connections", "Open MQTT network connections on this node.", gauge)
	connects          = newDesc("strata_mqtt_connects_total", "MQTT sessions established on this node (CONNACK success).", counter)
	dropped           = newDesc("strata_mqtt_dropped_messages_total",
		"Deliveries not sent, by reason: retention (QoS 0 a lagging connection had not read when retention deleted it), lagging_shared (QoS 0 of a shared subscription given to a lagging member), too_large (over the client's Maximum Packet Size), expired (Message Expiry elapsed).", counter, "reason")
	queued  = newDesc("strata_mqtt_delivery_queue_messages", "Deliveries queued in memory on this node's connections.", gauge)
	lagging = newDesc("strata_mqtt_lagging_connections", "Connections whose queue overflowed: they read their backlog back from the log (every QoS).", gauge)
	// Presence subscriptions ($presence/<filter>, docs/mqtt.md#presence).
	presenceWatches = newDesc("strata_mqtt_presence_subscriptions", "$presence/ subscriptions open on this node's connections.", gauge)
	presenceResyncs = newDesc("strata_mqtt_presence_resyncs_total", "Presence subscriptions sent a fresh snapshot because their client read events slower than they came.", counter)
)

// brokerCollector reads an MQTT broker's counters at scrape time.
type brokerCollector struct{ b *mqtt.Broker }

func (c brokerCollector) Describe(ch chan<- *prometheus.Desc) {
	describeAll(ch, publishesReceived, publishesSent, bytesReceived, bytesSent, connections, connects,
		dropped, queued, lagging, presenceWatches, presenceResyncs)
}

func (c brokerCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.b.Stats()
	for q := range 3 {
		publishesReceived.emit(ch, float64(s.ReceivedByQoS[q].Load()), strconv.Itoa(q))
		publishesSent.emit(ch, float64(s.SentByQoS[q].Load()), strconv.Itoa(q))
	}
	bytesReceived.emit(ch, float64(s.BytesReceived.Load()))
	bytesSent.emit(ch, float64(s.BytesSent.Load()))
	connections.emit(ch, float64(s.Connections.Load()))
	connects.emit(ch, float64(s.ConnectsTotal.Load()))
	// DroppedQoS0 is every QoS 0 drop; DroppedRetention the part retention caused.
	all0, ret := s.DroppedQoS0.Load(), s.DroppedRetention.Load()
	dropped.emit(ch, float64(ret), "retention")
	dropped.emit(ch, float64(all0-min(ret, all0)), "lagging_shared")
	dropped.emit(ch, float64(s.DroppedTooLarge.Load()), "too_large")
	dropped.emit(ch, float64(s.Expired.Load()), "expired")
	q, l := c.b.QueueDepth()
	queued.emit(ch, float64(q))
	lagging.emit(ch, float64(l))
	presenceWatches.emit(ch, float64(c.b.PresenceWatches()))
	presenceResyncs.emit(ch, float64(s.PresenceResyncs.Load()))
}

var (
	sessions      = newDesc("strata_sessions", "MQTT sessions in the cluster, by state: online (connected to some node) or offline (persistent, disconnected).", gauge, "state")
	subscriptions = newDesc("strata_subscriptions", "Subscriptions of all sessions in the cluster.", gauge)
	retainedCount = newDesc("strata_retained_messages", "Retained messages in the cluster.", gauge)
)

// viewsCollector reads the folded views (the same on every node once
// applied) at scrape time.
type viewsCollector struct{ v mqtt.Views }

func (c viewsCollector) Describe(ch chan<- *prometheus.Desc) {
	describeAll(ch, sessions, subscriptions, retainedCount)
}

func (c viewsCollector) Collect(ch chan<- prometheus.Metric) {
	v := c.v.View()
	online := v.Connected()
	sessions.emit(ch, float64(online), "online")
	sessions.emit(ch, float64(v.SessionCount()-online), "offline")
	subscriptions.emit(ch, float64(v.SubscriptionCount()))
	retainedCount.emit(ch, float64(v.RetainedCount()))
}

// AddBroker registers the broker's counters and the cluster's views.
func (r *Registry) AddBroker(b *mqtt.Broker, views mqtt.Views) {
	r.reg.MustRegister(brokerCollector{b}, viewsCollector{views})
	r.broker.Store(b)
}
