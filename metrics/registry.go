package metrics

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stratamq/strata/httpapi"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/mqtt"
	"github.com/stratamq/strata/replication"
)

// Registry holds one node's metrics. Safe for concurrent use.
type Registry struct {
	reg    *prometheus.Registry
	http   *httpapi.Counters
	broker atomic.Pointer[mqtt.Broker] // set by AddBroker, for accessCollector

	commit       prometheus.Histogram
	fsync        *prometheus.HistogramVec // by store: raft_wal, segment
	entryRecords prometheus.Histogram
	fsyncEntries prometheus.Histogram
	retained     prometheus.Counter // retention: segments deleted
	retainedB    prometheus.Counter // retention: bytes deleted
}

// New returns a registry holding the Go runtime's and the process's
// metrics, strata_node_info{node_id, version}, the histograms and the
// retention counters; Add* register the rest once the parts exist.
func New(nodeID, version string) *Registry {
	r := &Registry{reg: prometheus.NewRegistry(), http: &httpapi.Counters{}}
	r.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	r.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "strata_node_info",
		Help:        "Always 1: this node's ID and the release it runs.",
		ConstLabels: prometheus.Labels{"node_id": nodeID, "version": version}}, func() float64 { return 1 }))
	r.newHistograms()
	r.retained = r.counter("strata_retention_deleted_segments_total", "Segments deleted by retention (age or size).")
	r.retainedB = r.counter("strata_retention_deleted_bytes_total", "Bytes of the segments deleted by retention.")
	r.reg.MustRegister(accessCollector{r.http, &r.broker})
	return r
}

func (r *Registry) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	r.reg.MustRegister(c)
	return c
}

// latencyBuckets span 100 µs to about 13 s: an fsync on fast flash is
// ~100 µs, a commit in a cluster across hosts a few ms, a stalled disk
// seconds.
var latencyBuckets = prometheus.ExponentialBuckets(0.0001, 2, 18)

func (r *Registry) newHistograms() {
	r.commit = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "strata_commit_latency_seconds",
		Help:    "From a proposal (a publish, a subscribe, a session change) to its commit and apply on this node.",
		Buckets: latencyBuckets})
	r.fsync = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "strata_fsync_duration_seconds",
		Help:    "One durable write: store=raft_wal is an append to Raft's log (write and fsync), store=segment an fsync of the active segment.",
		Buckets: latencyBuckets}, []string{"store"})
	r.entryRecords = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "strata_batch_records",
		Help:    "Records in one Raft entry made by this node's group commit.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 13)})
	r.fsyncEntries = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "strata_batch_entries_per_fsync",
		Help:    "Raft entries stored by one append to Raft's log (one fsync).",
		Buckets: prometheus.ExponentialBuckets(1, 2, 11)})
	r.reg.MustRegister(r.commit, r.fsync, r.entryRecords, r.fsyncEntries)
}

// Replication is what the node observes on its commit path
// (replication.Options.Observe).
func (r *Registry) Replication() replication.Observers {
	wal := r.fsync.WithLabelValues("raft_wal")
	return replication.Observers{
		Commit:       func(d time.Duration) { r.commit.Observe(d.Seconds()) },
		EntryRecords: func(n int) { r.entryRecords.Observe(float64(n)) },
		RaftAppend: func(n int, d time.Duration) {
			wal.Observe(d.Seconds())
			r.fsyncEntries.Observe(float64(n))
		},
	}
}

// ObserveLog sets the log's hooks in o: segment fsyncs and retention.
func (r *Registry) ObserveLog(o *log.Options) {
	seg := r.fsync.WithLabelValues("segment")
	o.ObserveSync = func(d time.Duration) { seg.Observe(d.Seconds()) }
	o.OnRetention = func(size int64) {
		r.retained.Inc()
		r.retainedB.Add(float64(size))
	}
}

// HTTP is the counters the HTTP API keeps (httpapi.Options.Counters).
func (r *Registry) HTTP() *httpapi.Counters { return r.http }

// Handler serves the registry in the Prometheus text format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg})
}
