package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/stratamq/strata/auth"
	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/topic"
)

// Durable consumers (docs/operations.md, Consumers): a named cursor in the
// log (fsm.KindConsumerCommit), the same on every node. Reading never
// commits; a commit is a proposal answered once applied on this node, so
// the next read here starts after it. Rights: reading and committing need
// the replay right on the consumer's filter (a reader records its own
// progress); reset and delete need the admin right (they move or drop a
// position other readers may rely on); the list shows the consumers whose
// filter the caller may replay.

// ConsumerInfo describes one consumer in answers.
type ConsumerInfo struct {
	Name   string `json:"name"`
	Filter string `json:"filter"`
	// Offset is the last committed offset, -1 when none is.
	Offset int64 `json:"offset"`
	// Next is the offset the consumer reads from next (Offset+1).
	Next uint64 `json:"next"`
	// Lag is how many offsets the log holds past the committed one
	// (the log's next offset - Offset - 1), records of other topics included.
	Lag     uint64 `json:"lag"`
	Updated string `json:"updated"`
}

func (s *server) consumerInfo(c fsm.Consumer) ConsumerInfo {
	end := s.n.Reader().NextOffset()
	return ConsumerInfo{Name: c.Name, Filter: c.Filter, Offset: int64(c.Next) - 1, Next: uint64(c.Next),
		Lag: uint64(end - min(c.Next, end)), Updated: time.Unix(0, c.Updated).UTC().Format(time.RFC3339Nano)}
}

// consumerOf validates the {name} path value and looks the consumer up.
func (s *server) consumerOf(w http.ResponseWriter, r *http.Request) (name string, c fsm.Consumer, found, ok bool) {
	name = r.PathValue("name")
	if err := fsm.ValidateConsumerName(name); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return name, c, false, false
	}
	v, ok := s.view(w)
	if !ok {
		return name, c, false, false
	}
	c, found = v.Consumer(name)
	return name, c, found, true
}

// consumerFilter is the filter a request acts on: the consumer's, which a
// request may repeat but not change (409: reset or delete it first), or
// for a new consumer the request's, which is then required.
func consumerFilter(c fsm.Consumer, found bool, asked string) (string, int, error) {
	switch {
	case found && asked != "" && asked != c.Filter:
		return "", http.StatusConflict, fmt.Errorf("consumer %q reads %q, not %q: reset it with that filter or delete it first", c.Name, c.Filter, asked)
	case found:
		return c.Filter, 0, nil
	case asked == "":
		return "", http.StatusBadRequest, errors.New("a new consumer needs a filter")
	}
	if _, _, shared, _ := topic.ParseShare(asked); shared {
		return "", http.StatusBadRequest, errors.New("a shared subscription filter ($share/...) cannot be read")
	}
	if err := topic.ValidateFilter(asked); err != nil {
		return "", http.StatusBadRequest, fmt.Errorf("filter: %w", err)
	}
	return asked, 0, nil
}

// consumerMessages streams GET /v1/consumers/{name}/messages?filter=F&
// limit=N[&from=X][&follow=true] as GET /v1/messages does, from the
// consumer's next offset (a new consumer: from, default the oldest
// retained). It commits nothing.
func (s *server) consumerMessages(w http.ResponseWriter, r *http.Request) {
	_, c, found, ok := s.consumerOf(w, r)
	if !ok {
		return
	}
	qv := r.URL.Query()
	filter, code, err := consumerFilter(c, found, qv.Get("filter"))
	if err != nil {
		writeError(w, code, err)
		return
	}
	q, follow, err := parseConsumerRead(qv, filter, c, found)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if id, ch := callerOf(r); !ch.AllowFilter(auth.Replay, filter) {
		s.forbid(w, r, id, "no replay right on "+strconv.Quote(filter))
		return
	}
	if found {
		w.Header().Set(ConsumerNextHeader, strconv.FormatUint(uint64(c.Next), 10))
	}
	s.streamRange(w, r, q, follow)
}

// parseConsumerRead checks a consumer read's parameters: limit, follow,
// and from, which only a new consumer takes (a known one resumes).
func parseConsumerRead(qv url.Values, filter string, c fsm.Consumer, found bool) (historyQuery, bool, error) {
	if qv.Get("to") != "" {
		return historyQuery{}, false, errors.New("a consumer reads on from its position: to is not allowed")
	}
	if found && qv.Get("from") != "" {
		return historyQuery{}, false, errors.New("from applies to a new consumer only; a known one resumes (reset moves it)")
	}
	q := url.Values{"filter": {filter}, "from": {qv.Get("from")}, "limit": {qv.Get("limit")}}
	h, err := parseHistoryQuery(q)
	if err != nil {
		return h, false, err
	}
	if found {
		h.from = log.AtOffset(c.Next)
	}
	follow, err := parseFollow(qv)
	return h, follow, err
}

// CommitRequest is POST /v1/consumers/{name}/commit's body: the last
// offset processed, and the filter (required for a new consumer).
type CommitRequest struct {
	Offset *uint64 `json:"offset"`
	Filter string  `json:"filter,omitempty"`
}

// consumerCommit records that the consumer processed everything through
// the offset: answered with the cursor once applied on this node. An
// offset at or past the log's end is 400; one behind the committed offset
// is 409 (only reset moves a cursor back).
func (s *server) consumerCommit(w http.ResponseWriter, r *http.Request) {
	name, c, found, ok := s.consumerOf(w, r)
	if !ok {
		return
	}
	var req CommitRequest
	if err := decodeJSON(r, &req); err != nil || req.Offset == nil {
		writeError(w, http.StatusBadRequest, errors.New(`body must be {"offset": N} (and "filter" for a new consumer)`))
		return
	}
	filter, code, err := consumerFilter(c, found, req.Filter)
	if err != nil {
		writeError(w, code, err)
		return
	}
	if id, ch := callerOf(r); !ch.AllowFilter(auth.Replay, filter) {
		s.forbid(w, r, id, "no replay right on "+strconv.Quote(filter))
		return
	}
	off := *req.Offset
	if end := s.n.Reader().NextOffset(); off >= uint64(end) {
		writeError(w, http.StatusBadRequest, fmt.Errorf("offset %d is beyond the log's end (its last offset is %d)", off, int64(end)-1))
		return
	}
	if found && log.Offset(off+1) < c.Next {
		writeError(w, http.StatusConflict, fmt.Errorf("offset %d is behind the committed offset %d: use reset to move back", off, int64(c.Next)-1))
		return
	}
	s.proposeCursor(w, r, fsm.ConsumerCommit{Name: name, Filter: filter, Next: log.Offset(off + 1)})
}

// proposeCursor commits a cursor entry and answers the consumer as this
// node's state holds it once the entry applied (a concurrent commit
// further on wins: its cursor is the answer).
func (s *server) proposeCursor(w http.ResponseWriter, r *http.Request, cc fsm.ConsumerCommit) {
	if _, ok := s.proposeEntry(w, r, &fsm.Entry{Kind: fsm.KindConsumerCommit, Consumer: cc}); !ok {
		return
	}
	v, ok := s.view(w)
	if !ok {
		return
	}
	c, found := v.Consumer(cc.Name)
	if !found {
		writeError(w, http.StatusConflict, fmt.Errorf("consumer %q was deleted meanwhile", cc.Name))
		return
	}
	writeJSON(w, http.StatusOK, s.consumerInfo(c))
}

// ResetRequest is POST /v1/consumers/{name}/reset's body: the offset to
// read next, or a time (RFC 3339) whose first record is read next; the
// filter for a new consumer, or to change a consumer's filter.
type ResetRequest struct {
	Offset *uint64 `json:"offset,omitempty"`
	Time   string  `json:"time,omitempty"`
	Filter string  `json:"filter,omitempty"`
}

// consumerReset moves a cursor anywhere up to the log's end (admin).
func (s *server) consumerReset(w http.ResponseWriter, r *http.Request) {
	name, c, found, ok := s.consumerOf(w, r)
	if !ok {
		return
	}
	var req ResetRequest
	if err := decodeJSON(r, &req); err != nil || (req.Offset == nil) == (req.Time == "") {
		writeError(w, http.StatusBadRequest, errors.New(`body must be {"offset": N} or {"time": "RFC 3339"}, with "filter" for a new consumer`))
		return
	}
	if found && req.Filter != "" {
		c.Filter = req.Filter // a reset may change the filter
	}
	filter, code, err := consumerFilter(c, found, req.Filter)
	if err != nil {
		writeError(w, code, err)
		return
	}
	next, err := s.resetTarget(req, filter)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	s.proposeCursor(w, r, fsm.ConsumerCommit{Name: name, Filter: filter, Next: next, Reset: true})
}

// resetTarget is the offset a reset makes the consumer read next: the
// given offset (at most the log's end), or the first record of the filter
// at or after the given time (the log's end if none is yet).
func (s *server) resetTarget(req ResetRequest, filter string) (log.Offset, error) {
	rd := s.n.Reader()
	end := rd.NextOffset()
	if req.Offset != nil {
		if *req.Offset > uint64(end) {
			return 0, fmt.Errorf("offset %d is beyond the log's end (next offset %d)", *req.Offset, end)
		}
		return log.Offset(*req.Offset), nil
	}
	t, err := time.Parse(time.RFC3339Nano, req.Time)
	if err != nil {
		return 0, fmt.Errorf("time %q: want RFC 3339", req.Time)
	}
	it, err := rd.Read(filter, log.AtTime(t), log.AtOffset(end))
	if err != nil {
		return 0, fmt.Errorf("httpapi: seek %s: %w", req.Time, err)
	}
	defer it.Close()
	if it.Next() {
		return it.Record().Offset, nil
	}
	return end, it.Err()
}

// consumerDelete forgets a consumer (admin); 404 for an unknown one.
func (s *server) consumerDelete(w http.ResponseWriter, r *http.Request) {
	name, _, found, ok := s.consumerOf(w, r)
	if !ok {
		return
	}
	if !found {
		writeError(w, http.StatusNotFound, fmt.Errorf("no consumer %q", name))
		return
	}
	e := fsm.Entry{Kind: fsm.KindConsumerDelete, Consumer: fsm.ConsumerCommit{Name: name}}
	if off, ok := s.proposeEntry(w, r, &e); ok {
		writeJSON(w, http.StatusOK, map[string]any{"deleted": name, "offset": uint64(off)})
	}
}

// consumers lists the consumers whose filter the caller may replay.
func (s *server) consumers(w http.ResponseWriter, r *http.Request) {
	v, ok := s.view(w)
	if !ok {
		return
	}
	_, ch := callerOf(r)
	out := []ConsumerInfo{}
	for _, c := range v.Consumers() {
		if ch.AllowFilter(auth.Replay, c.Filter) {
			out = append(out, s.consumerInfo(c))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"consumers": out})
}
