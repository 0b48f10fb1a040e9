package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratamq/strata/httpapi"
	"github.com/stratamq/strata/mqtt"
)

var (
	authFailures = newDesc("strata_auth_failures_total",
		"Authentications refused: MQTT CONNECTs refused for their credentials, HTTP requests answered 401.", counter, "protocol")
	historyReaders = newDesc("strata_history_readers",
		"Reads of the log in progress: MQTT $replay/ subscriptions (api=mqtt) and GET /v1/messages (api=http).", gauge, "api")
	historyRecords = newDesc("strata_history_records_served_total",
		"Messages sent by replays (api=mqtt) and history reads (api=http).", counter, "api")
)

// accessCollector reads, at scrape time, what both APIs count: the HTTP
// API's counters and, once AddBroker has run, the broker's. One collector
// for both, as a registry takes each metric name from one collector only.
type accessCollector struct {
	http   *httpapi.Counters
	broker *atomic.Pointer[mqtt.Broker]
}

func (a accessCollector) Describe(ch chan<- *prometheus.Desc) {
	describeAll(ch, authFailures, historyReaders, historyRecords)
}

func (a accessCollector) Collect(ch chan<- prometheus.Metric) {
	authFailures.emit(ch, float64(a.http.AuthFailures.Load()), "http")
	historyReaders.emit(ch, float64(a.http.HistoryReaders.Load()), "http")
	historyRecords.emit(ch, float64(a.http.HistoryRecords.Load()), "http")
	b := a.broker.Load()
	if b == nil {
		return
	}
	s := b.Stats()
	authFailures.emit(ch, float64(s.AuthFailures.Load()), "mqtt")
	historyReaders.emit(ch, float64(s.ReplayReaders.Load()), "mqtt")
	historyRecords.emit(ch, float64(s.ReplayRecords.Load()), "mqtt")
}
