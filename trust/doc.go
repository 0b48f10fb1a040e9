// Package trust is what lets the nodes of a cluster recognise each other:
// the cluster key file (strata cluster keygen, serve --cluster-key), the
// mutual TLS 1.3 configurations derived from it or loaded from an
// operator's own PKI, and the node-to-node channel on the HTTP port (a
// first byte sets node connections apart from the public API's). It knows
// nothing of Raft or MQTT. docs/security.md, "Cluster trust", says why the
// construction is sound.
package trust
