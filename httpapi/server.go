package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/http/pprof"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/stratamq/strata/auth"
	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/replication"
)

// Node is what the API needs of a replication node.
type Node interface {
	Propose(ctx context.Context, recs ...log.Record) *replication.Future
	Status() (replication.Status, error)
	ProposeBatch(ctx context.Context, recs []log.Record) ([]log.Offset, error)
	Join(id, raftAddr, httpAddr string) error
	Remove(id string) error
	Leader() (id, addr string)
	LeaderHTTP() string
	Reader() *replication.Reader
	TakeSnapshot() (replication.SnapshotInfo, error)
	WriteSegment(name string, w io.Writer) error
}

// Options configure the API.
type Options struct {
	// MaxPublishBytes bounds a published payload (default 1 MiB).
	MaxPublishBytes int64
	// CommitTimeout bounds a publish's wait for commit (default 10 s).
	CommitTimeout time.Duration
	// Identity is what GET /v1/cluster/identity answers: this node's ID and
	// addresses, used by peers discovering each other (--bootstrap-expect).
	Identity Identity
	Logger   zerolog.Logger
	// MaxTopicLength bounds a published topic in bytes, as the MQTT
	// listeners do (0: only MQTT's own 65535).
	MaxTopicLength int

	// RequireAuth: every endpoint but /healthz and /readyz needs
	// credentials (see the function RequireAuth for when). Otherwise callers
	// without credentials act as an anonymous identity.
	RequireAuth bool
	// Passwords checks HTTP Basic credentials (nil: Basic is refused).
	Passwords Passwords
	// Tokens checks bearer tokens (nil: bearer tokens are refused). The
	// error's text is logged and answered: it must not hold the token.
	Tokens TokenVerifier
	// Limiter bans addresses that fail authentication too often: they get
	// 429 with Retry-After before any credential is checked (nil: none).
	Limiter FailureLimiter
	// Authorizer grants rights: Publish for POST /v1/publish, Replay for GET
	// /v1/messages and a consumer's read and commit, Admin for join, remove,
	// snapshot, pprof and a consumer's reset and delete (nil: all).
	Authorizer auth.Authorizer
	// Pprof serves /debug/pprof/ (Admin right). The caller allows it only on
	// a loopback listener.
	Pprof bool
	// Metrics serves GET /metrics (the Prometheus text format) to any
	// authenticated caller, as /v1/cluster/status; nil: 404.
	Metrics http.Handler
	// Counters counts authentication failures and history reads for
	// metrics (nil: none).
	Counters *Counters

	// Views are the node's fsm views (replication.FSMMachine), read by the
	// admin routes (clients, sessions, retained) and the consumer cursors
	// (nil: they answer 503).
	Views Views
	// LocalConn describes this node's MQTT connection named name (fsm
	// Session.Node; mqtt.Broker.Connection adapted by cmd/strata), for what
	// only its node knows (remote address, keep alive); nil: none.
	LocalConn func(name string) (LocalConn, bool)
	// Stats are this node's counters for GET /v1/stats (mqtt.Stats, by
	// name); nil: none.
	Stats func() map[string]uint64
	// PeerStatus asks another member for its status (GET
	// /v1/cluster/nodes); nil: only this node's is shown.
	PeerStatus PeerStatusFunc
}

// Identity names a node and its addresses.
type Identity struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	HTTPAddr string `json:"http_addr"`
}

// DefaultOptions returns a 1 MiB publish limit and a 10 s commit timeout.
func DefaultOptions() Options {
	return Options{MaxPublishBytes: 1 << 20, CommitTimeout: 10 * time.Second, Logger: zerolog.Nop()}
}

// Handler returns the public API's routes. What only nodes call is on
// InternalHandler, served to node connections only.
func Handler(n Node, o Options) http.Handler {
	s := &server{n: n, o: o}
	mux := http.NewServeMux()
	for _, r := range []struct {
		pattern string
		a       access
		h       http.HandlerFunc
	}{
		{"GET /healthz", public, s.healthz},
		{"GET /readyz", public, s.readyz},
		{"GET /v1/cluster/status", caller, s.status},
		{"GET /v1/cluster/identity", caller, s.identity},
		{"POST /v1/cluster/join", adminOp, s.join}, // an operator's; nodes join over node connections
		{"POST /v1/cluster/remove", adminOp, s.remove},
		{"POST /v1/cluster/snapshot", adminOp, s.snapshot},
		{"POST /v1/publish", caller, s.publish},
		{"GET /v1/messages", caller, s.messages},
		{"POST /v1/keys/{id}/revoke", adminOp, s.revokeKey},
		{"GET /v1/consumers", caller, s.consumers}, // consumers.go
		{"GET /v1/consumers/{name}/messages", caller, s.consumerMessages},
		{"POST /v1/consumers/{name}/commit", caller, s.consumerCommit},
		{"POST /v1/consumers/{name}/reset", adminOp, s.consumerReset},
		{"DELETE /v1/consumers/{name}", adminOp, s.consumerDelete},
		{"GET /metrics", caller, s.metrics},
		{"GET /v1/clients", caller, s.clients},
		{"DELETE /v1/clients/{id}", adminOp, s.kickClient},
		{"GET /v1/sessions", caller, s.sessions},
		{"DELETE /v1/sessions/{id}", adminOp, s.deleteSession},
		{"GET /v1/retained", caller, s.retained},
		{"GET /v1/presence", caller, s.presence}, // presence.go
		{"GET /v1/stats", caller, s.stats},
		{"GET /v1/cluster/nodes", caller, s.nodes},
		{"GET /ui", caller, s.uiRedirect},
		{"GET /ui/", caller, uiHandler().ServeHTTP},
	} {
		mux.HandleFunc(r.pattern, s.guard(r.a, r.h))
	}
	if o.Pprof {
		mux.HandleFunc("GET /debug/pprof/", s.guard(adminOp, pprof.Index))
		mux.HandleFunc("GET /debug/pprof/profile", s.guard(adminOp, pprof.Profile))
	}
	return mux
}

type server struct {
	n Node
	o Options
}

func (s *server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz: ready once the cluster has a leader, this node applies committed
// entries (no log write failure it is retrying) and has applied everything
// it knows to be committed.
func (s *server) readyz(w http.ResponseWriter, _ *http.Request) {
	st, err := s.n.Status()
	switch {
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, err)
	case st.Degraded != "":
		writeError(w, http.StatusServiceUnavailable, errors.New(st.Degraded))
	case st.LeaderID == "":
		writeError(w, http.StatusServiceUnavailable, errors.New("no leader"))
	case st.AppliedIndex < st.CommitIndex:
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("applying: %d of %d", st.AppliedIndex, st.CommitIndex))
	default:
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "leader": st.LeaderID})
	}
}

func (s *server) identity(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.o.Identity)
}

func (s *server) status(w http.ResponseWriter, _ *http.Request) {
	st, err := s.n.Status()
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// JoinRequest asks the leader to add a voter.
type JoinRequest struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	HTTPAddr string `json:"http_addr,omitempty"`
}

func (s *server) join(w http.ResponseWriter, r *http.Request) {
	var req JoinRequest
	if err := decodeJSON(r, &req); err != nil || req.ID == "" || req.RaftAddr == "" {
		writeError(w, http.StatusBadRequest, errors.New(`body must be {"id": "...", "raft_addr": "host:port"}`))
		return
	}
	s.leaderOnly(w, s.n.Join(req.ID, req.RaftAddr, req.HTTPAddr), map[string]string{"joined": req.ID})
}

// RemoveRequest asks the leader to remove a server.
type RemoveRequest struct {
	ID string `json:"id"`
}

func (s *server) remove(w http.ResponseWriter, r *http.Request) {
	var req RemoveRequest
	if err := decodeJSON(r, &req); err != nil || req.ID == "" {
		writeError(w, http.StatusBadRequest, errors.New(`body must be {"id": "..."}`))
		return
	}
	s.leaderOnly(w, s.n.Remove(req.ID), map[string]string{"removed": req.ID})
}

// leaderOnly answers a leader-only operation: 409 with the leader's ID when
// this node is not the leader.
func (s *server) leaderOnly(w http.ResponseWriter, err error, ok any) {
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, ok)
	case errors.Is(err, replication.ErrNotLeader):
		id, _ := s.n.Leader()
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error(), "leader": id, "leader_http": s.n.LeaderHTTP()})
	case errors.Is(err, replication.ErrNotMember):
		writeError(w, http.StatusNotFound, err)
	default:
		writeError(w, http.StatusInternalServerError, err)
	}
}

// publish proposes one message: POST
// /v1/publish?topic=T[&retain=true|false][&qos=0|1|2] with the payload as
// the body, checked as an MQTT PUBLISH is (see parsePublish) and against the
// caller's Publish right. It answers {"offset": N} once committed.
func (s *server) publish(w http.ResponseWriter, r *http.Request) {
	m, code, err := parsePublish(r.URL.Query(), s.o.MaxTopicLength)
	if err != nil {
		writeError(w, code, err)
		return
	}
	if id, c := callerOf(r); !c.Allow(auth.Publish, m.Topic) {
		s.forbid(w, r, id, "no publish right on "+strconv.Quote(m.Topic))
		return
	}
	if m.Payload, err = io.ReadAll(io.LimitReader(r.Body, s.o.MaxPublishBytes+1)); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if int64(len(m.Payload)) > s.o.MaxPublishBytes {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("payload over %d bytes", s.o.MaxPublishBytes))
		return
	}
	e := fsm.Entry{Kind: fsm.KindPublish, ClientID: "$http", Publish: fsm.Publish{Message: m}}
	if off, ok := s.proposeEntry(w, r, &e); ok {
		writeJSON(w, http.StatusOK, map[string]uint64{"offset": uint64(off)})
	}
}

// commit waits for f or ctx, whichever ends first (then the publish's
// outcome is unknown).
func commit(ctx context.Context, f *replication.Future) (log.Offset, error) {
	select {
	case <-f.Done():
		return f.Wait()
	case <-ctx.Done():
		return 0, fmt.Errorf("waiting for commit: %w", ctx.Err())
	}
}

// ProposeResponse answers a forwarded batch.
type ProposeResponse struct {
	Offsets []log.Offset `json:"offsets"`
}

// propose is the leader's side of forwarding: the body is a batch in
// replication's format; the answer lists each record's offset once all are
// committed. Only nodes of the cluster call it. A batch holding a record no
// follower forwards (see checkForwarded) is refused whole with 400.
func (s *server) propose(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	recs, err := replication.DecodeBatch(body)
	if err == nil {
		err = checkForwarded(recs)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.o.CommitTimeout)
	defer cancel()
	offs, err := s.n.ProposeBatch(ctx, recs)
	if err != nil {
		s.leaderOnly(w, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, ProposeResponse{Offsets: offs})
}

// Forward is a replication.Forwarder over this API. An error before a
// connection to the leader was made wraps replication.ErrNotSent (the
// follower may then send the records to another leader).
func Forward(client *http.Client) replication.Forwarder {
	return func(ctx context.Context, leaderHTTP string, recs []log.Record) ([]log.Offset, error) {
		var connected atomic.Bool
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { connected.Store(true) }})
		req, err := http.NewRequestWithContext(ctx, "POST", "http://"+leaderHTTP+"/v1/internal/propose",
			bytes.NewReader(replication.EncodeBatch(recs)))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", replication.ErrNotSent, err)
		}
		resp, err := client.Do(req)
		if err != nil && !connected.Load() {
			return nil, fmt.Errorf("%w: %w", replication.ErrNotSent, err)
		}
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			var e map[string]string
			json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&e)
			return nil, fmt.Errorf("%s: %s", resp.Status, e["error"])
		}
		var out ProposeResponse
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return nil, err
		}
		return out.Offsets, nil
	}
}

func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

// proposeEntry commits e within CommitTimeout and returns its offset; on
// failure it has answered (400 for an entry that does not encode, else as
// leaderOnly says) and ok is false.
func (s *server) proposeEntry(w http.ResponseWriter, r *http.Request, e *fsm.Entry) (off log.Offset, ok bool) {
	rec, err := e.Record()
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return 0, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.o.CommitTimeout)
	defer cancel()
	off, err = commit(ctx, s.n.Propose(ctx, rec))
	if err != nil {
		s.leaderOnly(w, err, nil)
		return 0, false
	}
	return off, true
}
