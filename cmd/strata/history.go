package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	strlog "github.com/stratamq/strata/log"
)

// runHistory: strata history --server URL --filter F [--from X] [--to Y]
// [--format ndjson|csv] [--out FILE] — streams a range from GET
// /v1/messages; with --out, a progress line (records, bytes, rate) on stderr.
func runHistory(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("history", stderr)
	server := fs.String("server", "127.0.0.1:8080", "HTTP address of a node")
	filter := fs.String("filter", "", "MQTT topic filter (required), e.g. 'sensors/+/temp'")
	from := fs.String("from", "", "first offset or RFC 3339 time (default: the oldest retained)")
	to := fs.String("to", "", "offset or RFC 3339 time to stop before (default: the newest)")
	limit := fs.Uint64("limit", 0, "at most this many messages (0: all)")
	format := fs.String("format", "ndjson", "ndjson or csv")
	out := fs.String("out", "", "write to this file instead of stdout (shows progress)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *filter == "" {
		return fmt.Errorf("%w: --filter is required", errUsage)
	}
	for name, v := range map[string]string{"from": *from, "to": *to} {
		if _, err := strlog.ParseBound(v); err != nil {
			return fmt.Errorf("%w: --%s: %v", errUsage, name, err)
		}
	}
	if *format != "ndjson" && *format != "csv" {
		return fmt.Errorf("%w: --format must be ndjson or csv", errUsage)
	}
	q := url.Values{"filter": {*filter}}
	if *from != "" {
		q.Set("from", *from)
	}
	if *to != "" {
		q.Set("to", *to)
	}
	if *limit > 0 {
		q.Set("limit", fmt.Sprint(*limit))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	req, err := http.NewRequestWithContext(ctx, "GET", httpURL(*server)+"/v1/messages?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	if *format == "csv" {
		req.Header.Set("Accept", "text/csv")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return apiError(resp)
	}
	w := stdout
	var f *os.File
	if *out != "" {
		if f, err = os.Create(*out); err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	p := &progress{w: stderr, start: time.Now(), show: f != nil, csv: *format == "csv"}
	buf := make([]byte, 256<<10)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, err := bw.Write(buf[:n]); err != nil {
				return err
			}
			p.add(buf[:n])
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("reading the stream: %w", rerr)
		}
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
	return nil
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

func (p *progress) draw() {
	recs := p.recs
	if p.csv && recs > 0 {
		recs-- // the header
	}
	el := time.Since(p.start).Seconds()
	fmt.Fprintf(p.w, "\r%d records  %.1f MiB  %.0f records/s   ", recs, float64(p.size)/(1<<20), float64(recs)/max(el, 1e-9))
}

func (p *progress) done() {
	if p.show {
		p.draw()
		fmt.Fprintln(p.w)
	}
}
