package httpapi

import (
	"bufio"
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stratamq/strata/auth"
	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/replication"
	"github.com/stratamq/strata/segment"
	"github.com/stratamq/strata/topic"
)

// messages streams GET /v1/messages?filter=F&from=X&to=Y&limit=N as NDJSON
// (or CSV with format=csv or Accept: text/csv; the query wins; or Parquet
// with format=parquet or Accept: application/vnd.apache.parquet), one record
// at a time: memory stays constant whatever the range, and a client that
// goes away ends the read. from=last-N (or last:N) starts at the N most
// recent matches before to. payload= chooses the payload's form (Payload).
// A read of the log that fails is logged at error level and answered with
// 500 if no record was sent yet, else with a trailing {"error": ...} line.
func (s *server) messages(w http.ResponseWriter, r *http.Request) {
	q, err := parseHistoryQuery(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if id, c := callerOf(r); !c.AllowFilter(auth.Replay, q.filter) {
		s.forbid(w, r, id, "no replay right on "+strconv.Quote(q.filter))
		return
	}
	if q.last > 0 {
		if q.from, err = lastN(s.n.Reader(), q.filter, q.to, q.last); err != nil {
			s.historyFailed(newHistoryStream(w, r, q), q, s.n.Reader().FirstOffset(), err)
			return
		}
	}
	follow, err := parseFollow(r.URL.Query())
	if wantsParquet(q, r) {
		s.parquetMessages(w, r, q, follow, err) // parquet.go
		return
	}
	if err != nil || follow {
		s.followMessages(w, r, q, err) // follow.go
		return
	}
	st := newHistoryStream(w, r, q)
	done := s.o.Counters.reading()
	defer func() { done(st.sent) }()
	it, err := s.n.Reader().Read(q.filter, q.from, q.to)
	if err != nil {
		if errors.Is(err, topic.ErrInvalid) {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		s.historyFailed(st, q, q.start(s.n.Reader()), err) // a time bound's seek failed
		return
	}
	defer it.Close()
	next, err := st.copy(it, q.limit, q.start(s.n.Reader()))
	if err != nil {
		s.historyFailed(st, q, next, err)
		return
	}
	st.begin()
	st.bw.Flush()
}

// lastN is the bound where the n most recent messages matching filter
// before to begin (unbounded when fewer match). It reads the matches once,
// keeping the last n offsets.
func lastN(r *replication.Reader, filter string, to log.Bound, n int) (log.Bound, error) {
	it, err := r.Read(filter, log.Unbounded(), to)
	if err != nil {
		return log.Bound{}, err
	}
	defer it.Close()
	ring := make([]log.Offset, 0, min(n, 1<<16))
	pos := 0 // the oldest kept once ring is full
	for it.Next() {
		rec := it.Record()
		switch {
		case rec.Kind != uint8(fsm.KindPublish):
		case len(ring) < n:
			ring = append(ring, rec.Offset)
		default:
			ring[pos] = rec.Offset
			pos = (pos + 1) % n
		}
	}
	if err := it.Err(); err != nil {
		return log.Bound{}, err
	}
	if len(ring) < n {
		return log.Unbounded(), nil
	}
	return log.AtOffset(ring[pos]), nil
}

// historyQuery is a parsed GET /v1/messages request.
type historyQuery struct {
	filter   string
	from, to log.Bound
	last     int    // from=last-N: N (from is then resolved by lastN)
	limit    uint64 // 0: no limit
	format   string // "ndjson", "csv", "parquet", or "" (the Accept header decides)
	payload  Payload
}

// parseHistoryQuery checks the query parameters; every error is the client's.
func parseHistoryQuery(q url.Values) (historyQuery, error) {
	h := historyQuery{filter: q.Get("filter")}
	if h.filter == "" {
		return h, errors.New("filter is required (e.g. filter=sensors/%23)")
	}
	if _, _, shared, _ := topic.ParseShare(h.filter); shared {
		return h, errors.New("a shared subscription filter ($share/...) cannot be read")
	}
	if err := topic.ValidateFilter(h.filter); err != nil {
		return h, fmt.Errorf("filter: %w", err)
	}
	var err error
	if h.from, h.last, err = ParseFrom(q.Get("from")); err != nil {
		return h, fmt.Errorf("from: %w", err)
	}
	if h.to, err = log.ParseBound(q.Get("to")); err != nil {
		return h, fmt.Errorf("to: %w", err)
	}
	if err := checkRange(h.from, h.to); err != nil {
		return h, err
	}
	if v := q.Get("limit"); v != "" {
		if h.limit, err = strconv.ParseUint(v, 10, 64); err != nil || h.limit == 0 {
			return h, fmt.Errorf("limit %q: want a positive integer", v)
		}
	}
	switch h.format = q.Get("format"); h.format {
	case "", "ndjson", "csv", "parquet":
	default:
		return h, fmt.Errorf("format %q: want ndjson, csv or parquet", h.format)
	}
	h.payload, err = ParsePayload(q.Get("payload"))
	return h, err
}

// ParseFrom reads a history range's start as users write it: an offset, an
// RFC 3339 time, last-N or last:N (the N most recent matches: last > 0,
// the bound is then unbounded), or "" (the oldest retained). The same
// syntax as $replay/ and replay-from.
func ParseFrom(s string) (b log.Bound, last int, err error) {
	for _, prefix := range []string{"last-", "last:"} {
		if rest, ok := strings.CutPrefix(s, prefix); ok {
			n, err := strconv.Atoi(rest)
			if err != nil || n <= 0 {
				return b, 0, fmt.Errorf("%q: last-N needs a positive count N", s)
			}
			return log.Unbounded(), n, nil
		}
	}
	if b, err = log.ParseBound(s); err != nil {
		return b, 0, fmt.Errorf("%w (or last-N)", err)
	}
	return b, 0, nil
}

// checkRange refuses a range that is empty or inverted by its bounds
// alone: both offsets, or both times.
func checkRange(from, to log.Bound) error {
	c, ok := compareBounds(from, to)
	switch {
	case !ok:
		return nil
	case c == 0:
		return fmt.Errorf("the range is empty: from (%s) equals to (%s), which is exclusive", from, to)
	case c > 0:
		return fmt.Errorf("the range is inverted: from (%s) is after to (%s)", from, to)
	}
	return nil
}

// compareBounds compares two offsets or two times; ok is false for any
// other pair.
func compareBounds(a, b log.Bound) (c int, ok bool) {
	ao, aok := a.Offset()
	bo, bok := b.Offset()
	if aok && bok {
		return cmp.Compare(ao, bo), true
	}
	at, atok := a.Time()
	bt, btok := b.Time()
	if atok && btok {
		return at.Compare(bt), true
	}
	return 0, false
}

// start is the first offset the read may return: from if it is an offset,
// else the first retained one (a lower bound for error messages).
func (h historyQuery) start(l *replication.Reader) log.Offset {
	o, _ := h.from.Offset()
	return max(o, l.FirstOffset())
}

// historyFailed reports a failed read: logged at error level with the
// offset and the error; the client gets 500 when nothing was sent yet,
// else a trailing error object ending the stream. The client's message
// names the offset and the kind of failure, not the node's files.
func (s *server) historyFailed(st *historyStream, q historyQuery, next log.Offset, err error) {
	s.o.Logger.Error().Err(err).Str("filter", q.filter).Uint64("offset", uint64(next)).
		Bool("streaming", st.started).Msg("history read failed")
	what := "I/O error"
	if errors.Is(err, segment.ErrCorrupt) {
		what = "corrupt data"
	}
	msg := fmt.Errorf("httpapi: reading the log failed at or after offset %d (%s); the node's log has the details", next, what)
	if !st.started {
		writeError(st.w, http.StatusInternalServerError, msg)
		return
	}
	st.bw.WriteString(`{"error":`)
	st.bw.Write(appendJSONString(nil, msg.Error()))
	st.bw.WriteString("}\n")
	st.bw.Flush()
}

// historyStream writes the records of one GET /v1/messages. The status
// and headers go out with the first record (or at the end), so a read that
// fails before any record can still answer 500. Not safe for concurrent use.
type historyStream struct {
	w         http.ResponseWriter
	ctx       context.Context
	csv       bool
	payload   Payload
	started   bool
	bw        *bufio.Writer
	flusher   http.Flusher
	buf       []byte
	lastFlush time.Time
	sent      uint64 // messages written, for metrics
}

func newHistoryStream(w http.ResponseWriter, r *http.Request, q historyQuery) *historyStream {
	csv := q.format == "csv" || q.format == "" && strings.Contains(r.Header.Get("Accept"), "text/csv")
	st := &historyStream{w: w, ctx: r.Context(), csv: csv, payload: q.payload,
		bw: bufio.NewWriterSize(w, 64<<10), lastFlush: time.Now()}
	st.flusher, _ = w.(http.Flusher)
	return st
}

// begin sends the status and headers (and the CSV header row) once.
func (st *historyStream) begin() {
	if st.started {
		return
	}
	st.started = true
	if st.csv {
		st.w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	} else {
		st.w.Header().Set("Content-Type", "application/x-ndjson")
	}
	st.w.WriteHeader(http.StatusOK)
	if st.csv {
		st.bw.WriteString("offset,time,topic,qos,retain,payload,properties")
		if st.payload == PayloadAuto {
			st.bw.WriteString(",payload_encoding")
		}
		st.bw.WriteString("\r\n")
	}
}

// copy writes the iterator's publishes until the end, limit, or the client
// going away. On a read error it returns the first offset not yet read.
func (st *historyStream) copy(it log.Cursor, limit uint64, next log.Offset) (log.Offset, error) {
	return eachPublish(it, limit, next, func(off log.Offset, e *fsm.Entry, n uint64) (bool, error) {
		if !st.write(off, e) {
			return false, nil // the client went away
		}
		st.sent++
		return n%1024 != 0 || st.tick(), nil
	})
}

// eachPublish calls fn with each publish the cursor reads (records the fold
// cannot decode are skipped, as Apply skips them) and how many so far,
// until the end, limit publishes, or fn returns false or an error. It
// returns the first offset not yet read.
func eachPublish(it log.Cursor, limit uint64, next log.Offset, fn func(off log.Offset, e *fsm.Entry, n uint64) (bool, error)) (log.Offset, error) {
	var n uint64
	for it.Next() {
		rec := it.Record()
		next = rec.Offset + 1
		e, err := fsm.DecodeRecord(rec)
		if err != nil || e.Kind != fsm.KindPublish {
			continue
		}
		n++
		if more, err := fn(rec.Offset, &e, n); !more || err != nil {
			return next, err
		}
		if limit > 0 && n >= limit {
			return next, nil
		}
	}
	return next, it.Err()
}

// write writes one record; false once the client went away.
func (st *historyStream) write(off log.Offset, e *fsm.Entry) bool {
	st.begin()
	if st.csv {
		st.buf = appendCSV(st.buf[:0], off, e, st.payload)
	} else {
		st.buf = appendNDJSON(st.buf[:0], off, e, st.payload)
	}
	_, err := st.bw.Write(st.buf)
	return err == nil
}

// tick checks the client is still there and flushes a slow trickle of
// matches at most every 200 ms; false once the client went away.
func (st *historyStream) tick() bool {
	if st.ctx.Err() != nil {
		return false
	}
	if st.flusher != nil && time.Since(st.lastFlush) > 200*time.Millisecond {
		st.bw.Flush()
		st.flusher.Flush()
		st.lastFlush = time.Now()
	}
	return true
}

// AppendNDJSON appends one message as a JSON object and a newline:
// {"offset","time","topic","qos","retain","payload"(base64),"properties"}.
func AppendNDJSON(b []byte, off log.Offset, e *fsm.Entry) []byte {
	return appendNDJSON(b, off, e, PayloadBase64)
}

// appendNDJSON is AppendNDJSON with the payload written as mode says.
func appendNDJSON(b []byte, off log.Offset, e *fsm.Entry, mode Payload) []byte {
	m := &e.Publish.Message
	b = append(b, `{"offset":`...)
	b = strconv.AppendUint(b, uint64(off), 10)
	b = append(b, `,"time":"`...)
	b = time.Unix(0, e.Time).UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","topic":`...)
	b = appendJSONString(b, m.Topic)
	b = append(b, `,"qos":`...)
	b = strconv.AppendUint(b, uint64(m.QoS), 10)
	b = append(b, `,"retain":`...)
	b = strconv.AppendBool(b, m.Retain)
	b = appendNDJSONPayload(b, m.Payload, mode)
	b = append(b, `,"properties":`...)
	b = appendProps(b, &m.Props)
	return append(b, "}\n"...)
}

// AppendCSV appends one message as a CSV row (RFC 4180): offset, time,
// topic, qos, retain, base64 payload, properties as JSON.
func AppendCSV(b []byte, off log.Offset, e *fsm.Entry) []byte {
	return appendCSV(b, off, e, PayloadBase64)
}

// appendCSV is AppendCSV with the payload written as mode says, and in
// auto mode a last column payload_encoding.
func appendCSV(b []byte, off log.Offset, e *fsm.Entry, mode Payload) []byte {
	m := &e.Publish.Message
	b = strconv.AppendUint(b, uint64(off), 10)
	b = append(b, ',')
	b = time.Unix(0, e.Time).UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, ',')
	b = appendCSVField(b, m.Topic)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(m.QoS), 10)
	b = append(b, ',')
	b = strconv.AppendBool(b, m.Retain)
	b = append(b, ',')
	b = appendCSVPayload(b, m.Payload, mode)
	b = append(b, ',')
	b = appendCSVField(b, string(appendProps(nil, &m.Props)))
	if mode == PayloadAuto {
		b = append(b, ',')
		b = append(b, csvPayloadEncoding(m.Payload)...)
	}
	return append(b, "\r\n"...)
}

func appendCSVField(b []byte, s string) []byte {
	if !strings.ContainsAny(s, ",\"\r\n") {
		return append(b, s...)
	}
	b = append(b, '"')
	b = append(b, strings.ReplaceAll(s, `"`, `""`)...)
	return append(b, '"')
}

// appendProps writes the MQTT 5 properties that travel with a message;
// absent ones are omitted. User properties are [name, value] pairs in order.
func appendProps(b []byte, p *fsm.Properties) []byte {
	b = append(b, '{')
	sep := func() {
		if b[len(b)-1] != '{' {
			b = append(b, ',')
		}
	}
	if p.PayloadFormat != 0 {
		sep()
		b = append(b, `"payload_format":`...)
		b = strconv.AppendUint(b, uint64(p.PayloadFormat), 10)
	}
	if p.HasExpiry {
		sep()
		b = append(b, `"message_expiry":`...)
		b = strconv.AppendUint(b, uint64(p.MessageExpirySeconds), 10)
	}
	if p.ContentType != "" {
		sep()
		b = append(b, `"content_type":`...)
		b = appendJSONString(b, p.ContentType)
	}
	if p.ResponseTopic != "" {
		sep()
		b = append(b, `"response_topic":`...)
		b = appendJSONString(b, p.ResponseTopic)
	}
	if p.CorrelationData != nil {
		sep()
		b = append(b, `"correlation_data":"`...)
		b = base64.StdEncoding.AppendEncode(b, p.CorrelationData)
		b = append(b, '"')
	}
	if len(p.User) > 0 {
		sep()
		b = append(b, `"user":[`...)
		for i, u := range p.User {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			b = appendJSONString(b, u.Name)
			b = append(b, ',')
			b = appendJSONString(b, u.Value)
			b = append(b, ']')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				switch c {
				case '\n':
					b = append(b, '\\', 'n')
				case '\r':
					b = append(b, '\\', 'r')
				case '\t':
					b = append(b, '\\', 't')
				default:
					b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
				}
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
