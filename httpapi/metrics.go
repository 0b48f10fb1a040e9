package httpapi

import (
	"net/http"
	"sync/atomic"
)

// Counters are what the API counts for metrics: atomics, safe for
// concurrent use, read at scrape time. A nil *Counters counts nothing.
type Counters struct {
	// AuthFailures counts requests answered 401 (missing or wrong
	// credentials where they are required, or wrong ones anywhere).
	AuthFailures atomic.Uint64
	// HistoryReaders is the GET /v1/messages reads in progress;
	// HistoryRecords the messages they sent.
	HistoryReaders atomic.Int64
	HistoryRecords atomic.Uint64
}

func (c *Counters) authFailed() {
	if c != nil {
		c.AuthFailures.Add(1)
	}
}

// reading counts one history read in progress; call the function it
// returns when the read ends, with the number of messages it sent.
func (c *Counters) reading() func(sent uint64) {
	if c == nil {
		return func(uint64) {}
	}
	c.HistoryReaders.Add(1)
	return func(sent uint64) {
		c.HistoryReaders.Add(-1)
		c.HistoryRecords.Add(sent)
	}
}

// metrics serves GET /metrics: Options.Metrics (the Prometheus exposition
// of this node's registry), 404 when the node serves none.
func (s *server) metrics(w http.ResponseWriter, r *http.Request) {
	if s.o.Metrics == nil {
		http.NotFound(w, r)
		return
	}
	s.o.Metrics.ServeHTTP(w, r)
}
