package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
)

// A caught-up follow stream looks for newly applied records first every
// followPollMin, doubling up to followPoll while nothing comes: the log's
// next offset is one cheap read, so a busy stream adds little latency and
// an idle one costs one look every 5 ms.
const (
	followPollMin = 100 * time.Microsecond
	followPoll    = 5 * time.Millisecond
)

// RangeEndHeader carries the exclusive end offset of the range a read
// without follow covers: every record below it was considered. A consumer
// that got fewer records than its limit has processed everything below it
// and may commit RangeEnd-1 (cmd/strata does), so a filter that matches
// rarely does not make it rescan the same records on every read.
const RangeEndHeader = "Strata-Range-End"

// ConsumerNextHeader carries, on a known consumer's read, the offset it
// resumed from: a commit below it would change nothing.
const ConsumerNextHeader = "Strata-Consumer-Next"

// parseFollow reads follow=true|false (default false). A followed stream
// has no end, so it takes no to= bound.
func parseFollow(q url.Values) (bool, error) {
	switch v := q.Get("follow"); v {
	case "", "false":
		return false, nil
	case "true":
		if q.Get("to") != "" {
			return false, errors.New("to cannot be combined with follow=true")
		}
		return true, nil
	default:
		return false, fmt.Errorf("follow %q: want true or false", v)
	}
}

// followMessages answers GET /v1/messages with follow=true, or 400 for a
// bad follow parameter.
func (s *server) followMessages(w http.ResponseWriter, r *http.Request, q historyQuery, err error) {
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	s.streamRange(w, r, q, true)
}

// streamRange answers a history read from q.from (an offset or a time)
// in chunks up to the log's end as it is when each chunk starts, so no
// record is read twice or skipped between chunks. Without follow it stops
// at the end the first chunk saw (sent in RangeEndHeader); with follow it
// then waits for records applied later and writes each chunk as it comes,
// flushed, until limit records, the client going away, or a failed read.
// The caller has checked q and the caller's rights.
func (s *server) streamRange(w http.ResponseWriter, r *http.Request, q historyQuery, follow bool) {
	rd := s.n.Reader()
	end := rd.NextOffset()
	st := newHistoryStream(w, r, q)
	if !follow {
		w.Header().Set(RangeEndHeader, strconv.FormatUint(uint64(end), 10))
	}
	cur := chunkCursor{filter: q.filter, from: q.from, limited: q.limit > 0, left: q.limit}
	for {
		if err := s.chunk(st, &cur, end); err != nil {
			s.historyFailed(st, q, cur.next, err)
			return
		}
		if !follow || cur.done || !st.flushNow() {
			break
		}
		if end = s.waitPast(r, cur.next); end == 0 {
			break // the client went away
		}
	}
	st.begin()
	st.bw.Flush()
}

// chunkCursor is where a chunked read stands. Not safe for concurrent use.
type chunkCursor struct {
	filter  string
	from    log.Bound // the first chunk's lower bound (offset or time)
	started bool
	next    log.Offset // after the first chunk: the next offset to read
	limited bool
	left    uint64 // records still allowed when limited
	done    bool   // limit reached or client gone
}

// chunk writes the matching publishes of [cursor, end).
func (s *server) chunk(st *historyStream, c *chunkCursor, end log.Offset) error {
	from := c.from
	if c.started {
		from = log.AtOffset(c.next)
	}
	if o, ok := from.Offset(); ok && o >= end {
		c.next, c.started = max(c.next, o), true
		return nil // nothing there yet (from beyond the end)
	}
	it, err := s.n.Reader().Read(c.filter, from, log.AtOffset(end))
	if err != nil {
		return err
	}
	defer it.Close()
	c.started = true
	var limit, sent uint64
	if c.limited {
		limit = c.left
	}
	_, err = eachPublish(it, limit, 0, func(off log.Offset, e *fsm.Entry, n uint64) (bool, error) {
		if !st.write(off, e) || n%1024 == 0 && !st.tick() {
			c.done = true // the client went away
			return false, nil
		}
		sent = n
		return true, nil
	})
	if c.limited {
		c.left -= sent
		c.done = c.done || c.left == 0
	}
	if err != nil || c.done {
		return err
	}
	c.next = max(c.next, end)
	return nil
}

// waitPast waits until the log holds records at or after next and returns
// its new end; 0 when the client went away first.
func (s *server) waitPast(r *http.Request, next log.Offset) log.Offset {
	d := followPollMin
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		if end := s.n.Reader().NextOffset(); end > next {
			return end
		}
		select {
		case <-r.Context().Done():
			return 0
		case <-t.C:
		}
		d = min(2*d, followPoll)
		t.Reset(d)
	}
}

// flushNow sends the status, headers and everything buffered to the client
// at once (a followed stream is read live); false once the client went away.
func (st *historyStream) flushNow() bool {
	st.begin()
	if err := st.bw.Flush(); err != nil || st.ctx.Err() != nil {
		return false
	}
	if st.flusher != nil {
		st.flusher.Flush()
	}
	return true
}
