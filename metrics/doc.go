// Package metrics exposes one node's figures in the Prometheus text format
// (GET /metrics on the HTTP API). Each node has its own Registry, never the
// process-wide default one: tests run several nodes in one process.
//
// Most figures are read at scrape time from counters the broker keeps
// anyway (mqtt.Stats, httpapi.Counters, the views, raft's indexes, the
// log's segments), so scraping costs the hot paths nothing. Histograms are
// observed where the work happens, through the small function hooks of
// replication.Observers and log.Options: one Observe call each.
//
// A Registry is safe for concurrent use. docs/operations.md ("Metrics")
// lists every metric.
package metrics
