// Package httpapi serves Strata's HTTP API on a node: health and readiness,
// cluster administration (status, join, remove) and publishing through the
// replicated log, and history reads (GET /v1/messages). Errors are JSON bodies
// {"error": "..."} with a status that says whose fault it is (400 bad input,
// 409/503 not the leader or no leader, 500 the node could not read its log);
// a history stream whose read fails after records were sent ends with such
// an object as its last line instead. Failed reads are logged at error level.
// What only nodes call (forwarding, segment copies, a node's join and
// identity) is on InternalHandler, which cmd/strata serves to node
// connections only (package trust). A Server is safe for concurrent use.
package httpapi
