package httpapi

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/topic"
)

// messages streams GET /v1/messages?filter=F&from=X&to=Y&limit=N as NDJSON
// (or CSV with Accept: text/csv), one record at a time: memory stays
// constant whatever the range, and a client that goes away ends the read.
func (s *server) messages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	filter := q.Get("filter")
	if filter == "" {
		writeError(w, http.StatusBadRequest, errors.New("filter is required (e.g. filter=sensors/%23)"))
		return
	}
	if _, _, shared, _ := topic.ParseShare(filter); shared {
		writeError(w, http.StatusBadRequest, errors.New("a shared subscription filter ($share/...) cannot be read"))
		return
	}
	if err := topic.ValidateFilter(filter); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("filter: %w", err))
		return
	}
	from, err := log.ParseBound(q.Get("from"))
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("from: %w", err))
		return
	}
	to, err := log.ParseBound(q.Get("to"))
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("to: %w", err))
		return
	}
	limit := uint64(0)
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.ParseUint(v, 10, 64); err != nil || limit == 0 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("limit %q: want a positive integer", v))
			return
		}
	}
	it, err := s.n.Log().Read(filter, from, to)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	defer it.Close()
	csv := strings.Contains(r.Header.Get("Accept"), "text/csv")
	if csv {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/x-ndjson")
	}
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	flusher, _ := w.(http.Flusher)
	var buf []byte
	if csv {
		bw.WriteString("offset,time,topic,qos,retain,payload,properties\r\n")
	}
	var n uint64
	ctx := r.Context()
	lastFlush := time.Now()
	for it.Next() {
		rec := it.Record()
		e, err := fsm.DecodeRecord(rec)
		if err != nil || e.Kind != fsm.KindPublish {
			continue
		}
		if csv {
			buf = AppendCSV(buf[:0], rec.Offset, &e)
		} else {
			buf = AppendNDJSON(buf[:0], rec.Offset, &e)
		}
		if _, err := bw.Write(buf); err != nil {
			return // the client went away
		}
		if n++; limit > 0 && n >= limit {
			break
		}
		if n%1024 == 0 {
			if ctx.Err() != nil {
				return
			}
			if flusher != nil && time.Since(lastFlush) > 200*time.Millisecond {
				bw.Flush() // a slow trickle of matches still reaches the client
				flusher.Flush()
				lastFlush = time.Now()
			}
		}
	}
	if err := it.Err(); err != nil {
		// The status is sent; end the stream with an error object the client can see.
		s.o.Logger.Error().Err(err).Str("filter", filter).Msg("history read failed")
		bw.WriteString(`{"error":`)
		bw.Write(appendJSONString(nil, err.Error()))
		bw.WriteString("}\n")
	}
	bw.Flush()
}

// AppendNDJSON appends one message as a JSON object and a newline:
// {"offset","time","topic","qos","retain","payload"(base64),"properties"}.
func AppendNDJSON(b []byte, off log.Offset, e *fsm.Entry) []byte {
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
	b = append(b, `,"payload":"`...)
	b = base64.StdEncoding.AppendEncode(b, m.Payload)
	b = append(b, `","properties":`...)
	b = appendProps(b, &m.Props)
	return append(b, "}\n"...)
}

// AppendCSV appends one message as a CSV row (RFC 4180): offset, time,
// topic, qos, retain, base64 payload, properties as JSON.
func AppendCSV(b []byte, off log.Offset, e *fsm.Entry) []byte {
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
	b = base64.StdEncoding.AppendEncode(b, m.Payload)
	b = append(b, ',')
	b = appendCSVField(b, string(appendProps(nil, &m.Props)))
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
