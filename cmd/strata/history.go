package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/stratamq/strata/httpapi"
	strlog "github.com/stratamq/strata/log"
)

// runHistory: strata history --server URL --filter F [--from X] [--to Y]
// [--format ndjson|csv|parquet] [--payload base64|text|hex|auto] [--out FILE]
// [--consumer NAME [--no-commit]] [--follow] — streams a range from GET
// /v1/messages (a durable consumer's from its position, then commits:
// consumer.go); with --out, a progress line (records, bytes, rate) on stderr.
// Parquet is a binary file: it needs --out (parquet.go).
// An error status, or a stream the server ended with an error object, is an
// error (exit 1): the records before it are still written.
func runHistory(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("history", stderr)
	api := addAPIFlags(fs, "a node's HTTP API (the replay right on --filter is needed)")
	filter := fs.String("filter", "", "MQTT topic filter (required), e.g. 'sensors/+/temp'")
	from := fs.String("from", "", "first offset, RFC 3339 time, or last-N for the N most recent matches (default: the oldest retained)")
	to := fs.String("to", "", "offset or RFC 3339 time to stop before (default: the newest)")
	limit := fs.Uint64("limit", 0, "at most this many messages (0: all)")
	format := fs.String("format", "ndjson", "ndjson, csv, or parquet (a binary file: needs --out)")
	payload := fs.String("payload", "base64", "how payloads are written: base64, text (lossy for binary), hex, or auto (JSON as payload_json, else text, else base64; docs/mqtt.md)")
	out := fs.String("out", "", "write to this file instead of stdout (shows progress)")
	cf := addConsumerFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *filter == "" {
		return fmt.Errorf("%w: --filter is required", errUsage)
	}
	if _, _, err := httpapi.ParseFrom(*from); err != nil {
		return fmt.Errorf("%w: --from: %w", errUsage, err)
	}
	if _, err := strlog.ParseBound(*to); err != nil {
		return fmt.Errorf("%w: --to: %w", errUsage, err)
	}
	if *format != "ndjson" && *format != "csv" && *format != "parquet" {
		return fmt.Errorf("%w: --format must be ndjson, csv or parquet", errUsage)
	}
	if err := checkParquetFlags(*format, *out, cf); err != nil {
		return err
	}
	if err := cf.check(*to); err != nil {
		return err
	}
	if _, err := httpapi.ParsePayload(*payload); err != nil {
		return fmt.Errorf("%w: --payload: %w", errUsage, err)
	}
	q := url.Values{"filter": {*filter}, "format": {*format}}
	if *payload != "base64" {
		q.Set("payload", *payload)
	}
	if *from != "" {
		q.Set("from", *from)
	}
	if *to != "" {
		q.Set("to", *to)
	}
	if *limit > 0 {
		q.Set("limit", fmt.Sprint(*limit))
	}
	client, err := api.client(0, os.Stdin, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	req, err := http.NewRequestWithContext(ctx, "GET", client.base+cf.path(q), nil)
	if err != nil {
		return err
	}
	if *format == "csv" {
		req.Header.Set("Accept", "text/csv")
	}
	if *format == "parquet" {
		req.Header.Set("Accept", httpapi.ParquetContentType)
	}
	resp, err := client.send(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if *format == "parquet" {
		return saveParquet(resp.Body, *out, stderr)
	}
	w := stdout
	var f *os.File
	if *out != "" {
		// Messages are private by default, as in the data directory.
		if f, err = os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	p := &progress{w: stderr, start: time.Now(), show: f != nil, csv: *format == "csv"}
	if err := cf.ended(ctx, copyHistory(resp.Body, cf.writer(bw), p)); err != nil {
		bw.Flush() // keep what came before the failure
		p.done()
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if f != nil {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	p.done()
	return cf.commit(client, *filter, *limit, resp, stderr)
}

// copyHistory copies a GET /v1/messages stream to w, counting it in p. A
// stream the server ended with an error object (a read of its log failed
// after records were sent) is an error, and the object is not output.
func copyHistory(body io.Reader, w io.Writer, p *progress) error {
	t := &errorTail{w: w, p: p}
	buf := make([]byte, 256<<10)
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if err := t.write(buf[:n]); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			return t.finish()
		}
		if rerr != nil {
			return fmt.Errorf("reading the stream: %w", rerr)
		}
	}
}

// errorTail passes a history stream on, holding back its last line, which
// may be the {"error": ...} object that ends a failed stream (NDJSON and CSV
// alike: no record line starts with it). Not safe for concurrent use.
type errorTail struct {
	w    io.Writer
	p    *progress
	held []byte // the stream's last line so far, complete or not
}

func (t *errorTail) write(b []byte) error {
	t.held = append(t.held, b...)
	cut := bytes.LastIndexByte(t.held[:len(t.held)-1], '\n') + 1
	if t.held[len(t.held)-1] == '\n' && !bytes.HasPrefix(t.held[cut:], []byte(`{"error":`)) {
		cut = len(t.held) // a complete record line goes now: a followed stream shows it at once
	}
	if cut == 0 {
		return nil
	}
	if err := t.pass(t.held[:cut]); err != nil {
		return err
	}
	t.held = append(t.held[:0], t.held[cut:]...)
	return nil
}

func (t *errorTail) pass(b []byte) error {
	if _, err := t.w.Write(b); err != nil {
		return err
	}
	t.p.add(b)
	return nil
}

// finish writes the last line, or returns the error it carries.
func (t *errorTail) finish() error {
	var e struct {
		Error string `json:"error"`
	}
	if bytes.HasPrefix(t.held, []byte(`{"error":`)) && json.Unmarshal(t.held, &e) == nil && e.Error != "" {
		return fmt.Errorf("the server ended the stream with an error after %d records (those were written): %s", t.p.records(), e.Error)
	}
	return t.pass(t.held)
}

// progress counts records (lines) and bytes and redraws a status line at
// most every 200 ms.
type progress struct {
	w          io.Writer
	start      time.Time
	last       time.Time
	show, csv  bool
	recs, size int64
}

func (p *progress) add(b []byte) {
	p.recs += int64(bytes.Count(b, []byte{'\n'}))
	p.size += int64(len(b))
	if p.show && time.Since(p.last) > 200*time.Millisecond {
		p.last = time.Now()
		p.draw()
	}
}

// records is the number of records passed so far.
func (p *progress) records() int64 {
	if p.csv && p.recs > 0 {
		return p.recs - 1 // the header
	}
	return p.recs
}

func (p *progress) draw() {
	recs := p.records()
	el := time.Since(p.start).Seconds()
	fmt.Fprintf(p.w, "\r%d records  %.1f MiB  %.0f records/s   ", recs, float64(p.size)/(1<<20), float64(recs)/max(el, 1e-9))
}

func (p *progress) done() {
	if p.show {
		p.draw()
		fmt.Fprintln(p.w)
	}
}
