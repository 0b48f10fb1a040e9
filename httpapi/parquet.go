package httpapi

import (
	"bufio"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/topic"
)

// ParquetContentType is the media type of a Parquet export: GET
// /v1/messages answers it for format=parquet or an Accept header naming it.
const ParquetContentType = "application/vnd.apache.parquet"

// ParquetRowGroupRows is the number of rows in each row group of a Parquet
// export (the last one holds the rest). A row group is the unit a scan
// reads or skips and the unit the export holds in memory and then streams:
// 64Ki rows keeps both columnar scans efficient and the server's memory
// bounded by one group whatever the range.
const ParquetRowGroupRows = 64 << 10

// parquetGroupRows is ParquetRowGroupRows; tests lower it to see several
// row groups in a small log.
var parquetGroupRows = ParquetRowGroupRows

// parquetBatch is how many rows go to the writer per call: enough to
// amortise the call, small next to a row group.
const parquetBatch = 256

// ParquetRow is one message of a Parquet export. The struct tags are the
// file's schema: time is a UTC timestamp in nanoseconds (as exact as the
// log), topic is dictionary-encoded (a range repeats few topics), payload
// is raw binary, and properties is the MQTT 5 properties as the NDJSON
// object (empty when the message has none).
type ParquetRow struct {
	Offset     int64  `parquet:"offset"`
	Time       int64  `parquet:"time,timestamp(nanosecond:utc)"`
	Topic      string `parquet:"topic,dict"`
	QoS        int32  `parquet:"qos"`
	Retain     bool   `parquet:"retain"`
	Payload    []byte `parquet:"payload"`
	Properties string `parquet:"properties"`
}

// parquetRowOf is the export row of a decoded publish; scratch is reused
// for the properties' JSON (most messages have none: no allocation).
func parquetRowOf(off log.Offset, e *fsm.Entry, scratch *[]byte) ParquetRow {
	m := &e.Publish.Message
	props := ""
	if *scratch = appendProps((*scratch)[:0], &m.Props); len(*scratch) > 2 { // "{}": none
		props = string(*scratch)
	}
	return ParquetRow{Offset: int64(off), Time: e.Time, Topic: m.Topic, QoS: int32(m.QoS),
		Retain: m.Retain, Payload: m.Payload, Properties: props}
}

// wantsParquet says whether a GET /v1/messages asks for Parquet: format=
// when given, else the Accept header.
func wantsParquet(q historyQuery, r *http.Request) bool {
	if q.format != "" {
		return q.format == "parquet"
	}
	return strings.Contains(r.Header.Get("Accept"), ParquetContentType)
}

// parquetMessages answers GET /v1/messages as one Parquet file. Rows are
// buffered one row group at a time; each full group is encoded and sent
// (flushed) at once, and the footer that makes the file readable goes out
// at the end. A read that fails before the first group was sent is 500;
// after that the response just ends without a footer (an unreadable file:
// Parquet has no in-band error) and the node logs the error. follow=true
// (or a bad follow parameter, followErr) is 400: a Parquet file needs an
// end. The caller has checked q and the caller's rights.
func (s *server) parquetMessages(w http.ResponseWriter, r *http.Request, q historyQuery, follow bool, followErr error) {
	if follow {
		followErr = errors.New("follow=true cannot be combined with Parquet: a Parquet file needs an end (its footer)")
	}
	if followErr != nil {
		writeError(w, http.StatusBadRequest, followErr)
		return
	}
	ps := newParquetStream(w, r)
	st := &historyStream{w: w} // for historyFailed's 500 before any byte
	done := s.o.Counters.reading()
	defer func() { done(ps.sent) }()
	it, err := s.n.Reader().Read(q.filter, q.from, q.to)
	if err != nil {
		if errors.Is(err, topic.ErrInvalid) {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		s.historyFailed(st, q, q.start(s.n.Reader()), err)
		return
	}
	defer it.Close()
	next, err := ps.copy(it, q.limit, q.start(s.n.Reader()))
	if err == nil {
		err = ps.close()
	}
	if err != nil && !ps.gone() {
		st.started = ps.out.started
		s.parquetFailed(st, q, next, err)
	}
}

// parquetFailed reports a failed export: as historyFailed before any byte
// was sent; after, the response ends without a footer, so it is only logged.
func (s *server) parquetFailed(st *historyStream, q historyQuery, next log.Offset, err error) {
	if !st.started {
		s.historyFailed(st, q, next, err)
		return
	}
	s.o.Logger.Error().Err(err).Str("filter", q.filter).Uint64("offset", uint64(next)).
		Msg("parquet export failed; the response ends without a footer")
}

// parquetStream writes the rows of one Parquet export. Not safe for
// concurrent use.
type parquetStream struct {
	r     *http.Request
	out   *lazyResponse
	pw    *parquet.GenericWriter[ParquetRow]
	batch []ParquetRow
	props []byte // parquetRowOf's scratch
	group int    // rows in the current row group, written or batched
	sent  uint64 // rows written, for metrics
}

func newParquetStream(w http.ResponseWriter, r *http.Request) *parquetStream {
	out := &lazyResponse{w: w}
	out.bw = bufio.NewWriterSize(writerFunc(out.send), 256<<10)
	pw := parquet.NewGenericWriter[ParquetRow](out.bw,
		parquet.Compression(&parquet.Zstd),
		parquet.MaxRowsPerRowGroup(int64(parquetGroupRows)),
		parquet.WriteBufferSize(0), // out.bw buffers
		parquet.CreatedBy("strata", moduleVersion()+" ", ""))
	return &parquetStream{r: r, out: out, pw: pw, batch: make([]ParquetRow, 0, parquetBatch)}
}

// copy adds the iterator's publishes (records the fold cannot decode are
// skipped, as Apply skips them) until the end, limit, or the client going
// away. It returns the first offset not yet read and the first error of
// the read or the writer.
func (ps *parquetStream) copy(it log.Cursor, limit uint64, next log.Offset) (log.Offset, error) {
	return eachPublish(it, limit, next, func(off log.Offset, e *fsm.Entry, n uint64) (bool, error) {
		if err := ps.add(parquetRowOf(off, e, &ps.props)); err != nil {
			return false, err
		}
		if n%1024 == 0 && ps.gone() {
			return false, errors.New("httpapi: the client went away")
		}
		return true, nil
	})
}

// add buffers one row; a full batch goes to the writer, a full row group
// is encoded and sent.
func (ps *parquetStream) add(row ParquetRow) error {
	ps.batch = append(ps.batch, row)
	ps.group++
	if len(ps.batch) == cap(ps.batch) || ps.group == parquetGroupRows {
		if err := ps.writeBatch(); err != nil {
			return err
		}
	}
	if ps.group < parquetGroupRows {
		return nil
	}
	ps.group = 0
	if err := ps.pw.Flush(); err != nil {
		return fmt.Errorf("httpapi: parquet row group: %w", err)
	}
	return ps.out.flush()
}

func (ps *parquetStream) writeBatch() error {
	if _, err := ps.pw.Write(ps.batch); err != nil {
		return fmt.Errorf("httpapi: parquet rows: %w", err)
	}
	ps.sent += uint64(len(ps.batch))
	clear(ps.batch) // drop the payloads
	ps.batch = ps.batch[:0]
	return nil
}

// close writes the last rows, the last row group and the footer.
func (ps *parquetStream) close() error {
	if err := ps.writeBatch(); err != nil {
		return err
	}
	if err := ps.pw.Close(); err != nil {
		return fmt.Errorf("httpapi: parquet footer: %w", err)
	}
	return ps.out.flush()
}

// gone says whether the client went away.
func (ps *parquetStream) gone() bool { return ps.r.Context().Err() != nil }

// lazyResponse sends the status and headers with the first bytes of the
// body, so an export that fails before its first row group can still be
// answered 500. Not safe for concurrent use.
type lazyResponse struct {
	w       http.ResponseWriter
	bw      *bufio.Writer
	started bool
}

func (l *lazyResponse) send(b []byte) (int, error) {
	if !l.started {
		l.started = true
		l.w.Header().Set("Content-Type", ParquetContentType)
		l.w.WriteHeader(http.StatusOK)
	}
	return l.w.Write(b)
}

// flush sends what is buffered to the client now.
func (l *lazyResponse) flush() error {
	if err := l.bw.Flush(); err != nil {
		return fmt.Errorf("httpapi: sending parquet: %w", err)
	}
	if f, ok := l.w.(http.Flusher); ok {
		f.Flush()
	}
	return nil
}

// moduleVersion is the binary's main module version ("(devel)" for a build
// from a work tree), for a Parquet file's created_by.
func moduleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "unknown"
}

// writerFunc adapts a function to io.Writer.
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
