// Package httpapi serves Strata's HTTP API on a node: health and readiness,
// cluster administration (status, join, remove) and publishing through the
// replicated log. Errors are JSON bodies {"error": "..."} with a status that
// says whose fault it is (400 bad input, 409/503 not the leader or no leader).
// A Server is safe for concurrent use.
package httpapi
