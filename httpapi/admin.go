package httpapi

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/stratamq/strata/auth"
	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/presence"
	"github.com/stratamq/strata/topic"
)

// The admin routes: clients, sessions and retained messages, read from
// this node's fsm views (every node folds the same log, so any node answers
// for the whole cluster), and a client's disconnect or a session's deletion,
// proposed to the log so that every node agrees (docs/operations.md, client
// administration). Lists are paginated: limit (1..1000, default 100) items
// in key order, and "next", an opaque token for after=, while more remain.

// Views is what the admin routes need of the node's state machine
// (replication.FSMMachine). Implementations are safe for concurrent use.
type Views interface {
	View() *fsm.View
}

// LocalConn is one of this node's MQTT connections: what only the node
// holding it knows.
type LocalConn struct {
	ClientID  string
	Name      string // its name in the log (fsm Session.Node)
	Remote    string
	Listener  string
	User      string
	KeepAlive time.Duration
}

// ClientInfo is one connected client of GET /v1/clients. Remote, listener,
// user and keep alive are known only by the node holding the connection:
// they are empty when another node answers.
type ClientInfo struct {
	ClientID         string `json:"client_id"`
	Node             string `json:"node"`
	Connection       string `json:"connection"`
	ProtocolVersion  byte   `json:"protocol_version"`
	ConnectedAt      string `json:"connected_at"`
	Subscriptions    int    `json:"subscriptions"`
	CleanStart       bool   `json:"clean_start"`
	ExpirySeconds    *int64 `json:"session_expiry_seconds"` // null: never expires
	Remote           string `json:"remote,omitempty"`
	Listener         string `json:"listener,omitempty"`
	User             string `json:"user,omitempty"`
	KeepAliveSeconds *int   `json:"keep_alive_seconds,omitempty"`
}

// ClientList is GET /v1/clients's answer.
type ClientList struct {
	Clients []ClientInfo `json:"clients"`
	Next    string       `json:"next,omitempty"`
}

// SessionInfo is one session of GET /v1/sessions.
type SessionInfo struct {
	ClientID        string             `json:"client_id"`
	Online          bool               `json:"online"`
	Node            string             `json:"node,omitempty"`
	ProtocolVersion byte               `json:"protocol_version"`
	CleanStart      bool               `json:"clean_start"`
	ConnectedAt     string             `json:"connected_at"`
	DisconnectedAt  string             `json:"disconnected_at,omitempty"`
	ExpirySeconds   *int64             `json:"expiry_seconds"`       // null: never expires
	ExpiresAt       string             `json:"expires_at,omitempty"` // while offline
	Will            bool               `json:"will"`
	Subscriptions   []SubscriptionInfo `json:"subscriptions"`
	// Cursor is the oldest offset from which the session may still be owed
	// messages (its first replay gap's start); absent when it owes nothing
	// from the log but its in-flight offsets.
	Cursor          *uint64   `json:"cursor,omitempty"`
	Gaps            []GapInfo `json:"gaps,omitempty"`
	Inflight        int       `json:"inflight"`
	AwaitingRelease int       `json:"awaiting_release"`
}

// SubscriptionInfo is one subscription and its options.
type SubscriptionInfo = presence.Subscription

// GapInfo is a replay gap [from, to); to is null while the session is
// offline (the gap still grows).
type GapInfo struct {
	From uint64  `json:"from"`
	To   *uint64 `json:"to"`
}

// SessionList is GET /v1/sessions's answer.
type SessionList struct {
	Sessions []SessionInfo `json:"sessions"`
	Next     string        `json:"next,omitempty"`
}

// RetainedInfo is one retained message of GET /v1/retained. Time and
// PayloadSize come from its record in the log; Missing is set when
// retention removed the record (the view still names its offset).
type RetainedInfo struct {
	Topic           string `json:"topic"`
	Offset          uint64 `json:"offset"`
	QoS             byte   `json:"qos"`
	Time            string `json:"time,omitempty"`
	PayloadSize     int    `json:"payload_size"`
	ExpiresAt       string `json:"expires_at,omitempty"`
	Payload         string `json:"payload,omitempty"`
	PayloadEncoding string `json:"payload_encoding,omitempty"`
	Missing         bool   `json:"missing,omitempty"`
}

// RetainedList is GET /v1/retained's answer.
type RetainedList struct {
	Retained []RetainedInfo `json:"retained"`
	Next     string         `json:"next,omitempty"`
}

const (
	defaultPageLimit = 100
	maxPageLimit     = 1000
)

// page is a list request's limit and resume point.
type page struct {
	limit int
	after string // the last key of the previous page; "" for the first
}

func parsePage(q url.Values) (page, error) {
	p := page{limit: defaultPageLimit}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageLimit {
			return p, fmt.Errorf("limit %q: want an integer from 1 to %d", v, maxPageLimit)
		}
		p.limit = n
	}
	if v := q.Get("after"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || len(b) == 0 {
			return p, fmt.Errorf("after %q: not a token from a previous page's \"next\"", v)
		}
		p.after = string(b)
	}
	return p, nil
}

// pageToken is the after= token resuming after key. It is the key itself,
// encoded: a page never depends on state kept between requests.
func pageToken(key string) string { return base64.RawURLEncoding.EncodeToString([]byte(key)) }

// view answers 503 when the node serves no views.
func (s *server) view(w http.ResponseWriter) (*fsm.View, bool) {
	if s.o.Views == nil {
		writeError(w, http.StatusServiceUnavailable, errors.New("httpapi: this node serves no session views"))
		return nil, false
	}
	return s.o.Views.View(), true
}

// readsAll answers 403 unless the caller may read every topic (the
// subscribe or the replay right on #): client ids, subscriptions and
// cursors of every client are what such a caller could observe anyway,
// and what a caller confined to some topics must not.
func (s *server) readsAll(w http.ResponseWriter, r *http.Request) bool {
	id, c := callerOf(r)
	if auth.MayObserve(c, "#") {
		return true
	}
	s.forbid(w, r, id, "listing clients and sessions needs the subscribe or replay right on #")
	return false
}

// listPage checks the caller reads all, parses the page and takes a view;
// it answers 403, 400 or 503 itself.
func (s *server) listPage(w http.ResponseWriter, r *http.Request) (*fsm.View, page, bool) {
	if !s.readsAll(w, r) {
		return nil, page{}, false
	}
	p, err := parsePage(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return nil, p, false
	}
	v, ok := s.view(w)
	return v, p, ok
}

// clients: GET /v1/clients?limit=N&after=T, the connected clients of the
// whole cluster in client id order.
func (s *server) clients(w http.ResponseWriter, r *http.Request) {
	v, p, ok := s.listPage(w, r)
	if !ok {
		return
	}
	out := ClientList{Clients: []ClientInfo{}}
	v.SessionsAfter(p.after, func(se fsm.Session) bool {
		if !se.Connected {
			return true
		}
		if len(out.Clients) == p.limit {
			out.Next = pageToken(out.Clients[p.limit-1].ClientID)
			return false
		}
		out.Clients = append(out.Clients, clientInfo(v, se, s.localConn(se.Node)))
		return true
	})
	writeJSON(w, http.StatusOK, out)
}

// localConn is this node's connection named name, if it holds it.
func (s *server) localConn(name string) LocalConn {
	if s.o.LocalConn == nil {
		return LocalConn{}
	}
	lc, _ := s.o.LocalConn(name)
	return lc
}

func clientInfo(v *fsm.View, se fsm.Session, lc LocalConn) ClientInfo {
	ci := ClientInfo{ClientID: se.ClientID, Node: presence.NodeOf(se.Node), Connection: se.Node,
		ProtocolVersion: se.ProtocolVersion, ConnectedAt: timeString(se.ConnectTime),
		Subscriptions: v.ClientSubscriptionCount(se.ClientID), CleanStart: se.CleanStart,
		ExpirySeconds: expirySeconds(se.ExpirySeconds)}
	if lc.Name != "" && lc.ClientID == se.ClientID {
		ka := int(lc.KeepAlive / time.Second)
		ci.Remote, ci.Listener, ci.User, ci.KeepAliveSeconds = lc.Remote, lc.Listener, lc.User, &ka
	}
	return ci
}

// nodeOf is the node id of a connection name (mqtt names connections
// NodeID/boot-sequence).
func expirySeconds(e uint32) *int64 {
	if e == fsm.NeverExpire {
		return nil
	}
	n := int64(e)
	return &n
}

// timeString is a unix-ns time in RFC 3339 with nanoseconds, "" for 0.
func timeString(ns int64) string {
	if ns == 0 {
		return ""
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

// sessions: GET /v1/sessions?limit=N&after=T, every session (online or
// not) in client id order.
func (s *server) sessions(w http.ResponseWriter, r *http.Request) {
	v, p, ok := s.listPage(w, r)
	if !ok {
		return
	}
	out := SessionList{Sessions: []SessionInfo{}}
	v.SessionsAfter(p.after, func(se fsm.Session) bool {
		if len(out.Sessions) == p.limit {
			out.Next = pageToken(out.Sessions[p.limit-1].ClientID)
			return false
		}
		out.Sessions = append(out.Sessions, sessionInfo(v, se))
		return true
	})
	writeJSON(w, http.StatusOK, out)
}

func sessionInfo(v *fsm.View, se fsm.Session) SessionInfo {
	si := SessionInfo{ClientID: se.ClientID, Online: se.Connected, Node: presence.NodeOf(se.Node),
		ProtocolVersion: se.ProtocolVersion, CleanStart: se.CleanStart,
		ConnectedAt: timeString(se.ConnectTime), DisconnectedAt: timeString(se.DisconnectTime),
		ExpirySeconds: expirySeconds(se.ExpirySeconds), Will: se.Will != nil,
		Subscriptions: []SubscriptionInfo{}, Inflight: v.InflightCount(se.ClientID),
		AwaitingRelease: len(v.AwaitingRelease(se.ClientID))}
	if !se.Connected && se.ExpirySeconds != fsm.NeverExpire && se.DisconnectTime != 0 {
		si.ExpiresAt = timeString(se.DisconnectTime + int64(se.ExpirySeconds)*int64(time.Second))
	}
	for _, sub := range v.Subscriptions(se.ClientID) {
		si.Subscriptions = append(si.Subscriptions, presence.SubscriptionOf(sub))
	}
	for _, g := range se.Gaps {
		gi := GapInfo{From: uint64(g.From)}
		if !g.Open() {
			to := uint64(g.To)
			gi.To = &to
		}
		si.Gaps = append(si.Gaps, gi)
	}
	if len(si.Gaps) > 0 {
		si.Cursor = &si.Gaps[0].From
	}
	return si
}

// retained: GET /v1/retained?filter=F&limit=N&after=T[&payload=E], the
// unexpired retained messages matching F (default #) in topic order; E
// (base64, hex, text or auto: text when valid UTF-8, else base64) adds each
// payload. The caller needs the subscribe or the replay right on F.
func (s *server) retained(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	filter, enc, err := parseRetainedQuery(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if id, c := callerOf(r); !auth.MayObserve(c, filter) {
		s.forbid(w, r, id, "no subscribe or replay right on "+strconv.Quote(filter))
		return
	}
	p, err := parsePage(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	v, ok := s.view(w)
	if !ok {
		return
	}
	out := RetainedList{Retained: []RetainedInfo{}}
	var readErr error
	v.RetainedMatchingAfter(filter, p.after, time.Now().UnixNano(), func(rt fsm.Retained) bool {
		if len(out.Retained) == p.limit {
			out.Next = pageToken(out.Retained[p.limit-1].Topic)
			return false
		}
		var ri RetainedInfo
		ri, readErr = s.retainedInfo(rt, enc)
		out.Retained = append(out.Retained, ri)
		return readErr == nil
	})
	if readErr != nil { // a damaged frame is an error, never "missing"
		s.o.Logger.Error().Err(readErr).Str("filter", filter).Msg("retained list: reading the log failed")
		writeError(w, http.StatusInternalServerError, readErr)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func parseRetainedQuery(q url.Values) (filter, enc string, err error) {
	filter = q.Get("filter")
	if filter == "" {
		filter = "#"
	}
	if _, _, shared, _ := topic.ParseShare(filter); shared {
		return "", "", errors.New("filter: a shared subscription filter ($share/...) holds no retained messages")
	}
	if err := topic.ValidateFilter(filter); err != nil {
		return "", "", fmt.Errorf("filter: %w", err)
	}
	switch enc = q.Get("payload"); enc {
	case "", "base64", "hex", "text", "auto":
	case "true", "1":
		enc = "auto"
	default:
		return "", "", fmt.Errorf("payload %q: want base64, hex, text or auto", enc)
	}
	return filter, enc, nil
}

// retainedInfo reads rt's record for its time, size and payload; Missing
// when retention deleted it, an error when the log cannot be read there.
func (s *server) retainedInfo(rt fsm.Retained, enc string) (RetainedInfo, error) {
	ri := RetainedInfo{Topic: rt.Topic, Offset: uint64(rt.Offset), QoS: rt.QoS, ExpiresAt: timeString(rt.ExpiresAt)}
	rec, e, ok, err := s.readEntry(rt.Offset)
	if err != nil || !ok {
		ri.Missing = err == nil
		return ri, err
	}
	ri.Time, ri.PayloadSize = timeString(rec.Time), len(e.Publish.Payload)
	if enc != "" {
		ri.Payload, ri.PayloadEncoding = encodePayload(e.Publish.Payload, enc)
	}
	return ri, nil
}

// readEntry reads the entry at off; false when the log no longer holds it
// or it does not decode (as Apply skips it); an error when the read fails.
func (s *server) readEntry(off log.Offset) (log.Record, fsm.Entry, bool, error) {
	it := s.n.Reader().Iter(off)
	defer it.Close()
	if !it.Next() {
		return log.Record{}, fsm.Entry{}, false, it.Err()
	}
	rec := it.Record()
	if rec.Offset != off {
		return log.Record{}, fsm.Entry{}, false, nil
	}
	e, err := fsm.DecodeRecord(rec)
	return rec, e, err == nil, nil
}

func encodePayload(p []byte, enc string) (string, string) {
	if enc == "auto" {
		enc = "base64"
		if utf8.Valid(p) {
			enc = "text"
		}
	}
	switch enc {
	case "text":
		if utf8.Valid(p) {
			return string(p), "text"
		}
		return base64.StdEncoding.EncodeToString(p), "base64"
	case "hex":
		return hex.EncodeToString(p), "hex"
	default:
		return base64.StdEncoding.EncodeToString(p), "base64"
	}
}
