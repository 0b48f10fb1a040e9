package httpapi

import (
	"net/http"
)

// InternalHandler returns the routes only nodes of the cluster call:
// forwarding (propose), segment copies, a starting node's own join,
// identity discovery (--bootstrap-expect), a peer's status (for GET
// /v1/cluster/nodes) and the leader telling a node it removed it.
// cmd/strata serves it only on
// node-to-node connections (trust.Split), which, with a cluster key or
// cluster TLS files, passed a mutual TLS handshake with the cluster's
// certificate; the public Handler has none of these routes.
func InternalHandler(n Node, o Options) http.Handler {
	s := &server{n: n, o: o}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/internal/propose", s.propose)
	mux.HandleFunc("GET /v1/internal/segments/{name}", s.segment)
	mux.HandleFunc("POST /v1/internal/join", s.join)
	mux.HandleFunc("GET /v1/internal/identity", s.identity)
	mux.HandleFunc("GET /v1/internal/status", s.status) // a peer's GET /v1/cluster/nodes
	mux.HandleFunc("POST /v1/internal/removed", s.removed)
	return mux
}
