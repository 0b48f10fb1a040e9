package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/httpapi"
)

// consumerFlags are history's durable-consumer and follow flags: with
// --consumer NAME the read resumes from NAME's committed position (GET
// /v1/consumers/NAME/messages) and, once the output is written (and
// synced, with --out), commits what it printed; --follow keeps reading
// live until Ctrl-C.
type consumerFlags struct {
	name     string
	noCommit bool
	follow   bool
	track    *offsetTracker
}

func addConsumerFlags(fs *flag.FlagSet) *consumerFlags {
	cf := &consumerFlags{}
	fs.StringVar(&cf.name, "consumer", "", "durable consumer name: resume from its committed position and commit what was printed once it is written")
	fs.BoolVar(&cf.noCommit, "no-commit", false, "with --consumer: read from the committed position without committing")
	fs.BoolVar(&cf.follow, "follow", false, "after the range, keep printing messages as they are published, until Ctrl-C")
	return cf
}

// check refuses flag combinations that cannot mean anything.
func (cf *consumerFlags) check(to string) error {
	switch {
	case cf.noCommit && cf.name == "":
		return fmt.Errorf("%w: --no-commit needs --consumer", errUsage)
	case cf.name != "" && to != "":
		return fmt.Errorf("%w: --consumer reads on from its position: --to is not allowed", errUsage)
	case cf.follow && to != "":
		return fmt.Errorf("%w: --follow has no end: --to is not allowed", errUsage)
	case cf.name != "":
		if err := fsm.ValidateConsumerName(cf.name); err != nil {
			return fmt.Errorf("%w: --consumer: %w", errUsage, err)
		}
	}
	return nil
}

// path is the request's path and query for q.
func (cf *consumerFlags) path(q url.Values) string {
	if cf.follow {
		q.Set("follow", "true")
	}
	if cf.name != "" {
		return "/v1/consumers/" + cf.name + "/messages?" + q.Encode()
	}
	return "/v1/messages?" + q.Encode()
}

// writer wraps the output: it notes the offset of each record written (to
// commit them) and, when following, flushes each chunk at once.
func (cf *consumerFlags) writer(bw *bufio.Writer) io.Writer {
	cf.track = &offsetTracker{bw: bw, flush: cf.follow}
	return cf.track
}

// ended says whether err ends the stream: an interrupt ends a followed
// stream normally (what was printed is then committed).
func (cf *consumerFlags) ended(ctx context.Context, err error) error {
	if err != nil && cf.follow && ctx.Err() != nil {
		return nil
	}
	return err
}

// offsetTracker passes complete lines on and remembers the offset of the
// last record (NDJSON {"offset":N,...} or a CSV row N,...). Not safe for
// concurrent use.
type offsetTracker struct {
	bw    *bufio.Writer
	flush bool
	n     uint64
	last  uint64
}

func (t *offsetTracker) Write(b []byte) (int, error) {
	for line := range bytes.Lines(b) {
		if off, ok := lineOffset(line); ok {
			t.n, t.last = t.n+1, off
		}
	}
	n, err := t.bw.Write(b)
	if err == nil && t.flush {
		err = t.bw.Flush()
	}
	return n, err
}

func lineOffset(line []byte) (uint64, bool) {
	line = bytes.TrimPrefix(line, []byte(`{"offset":`))
	end := bytes.IndexAny(line, ",}")
	if end <= 0 {
		return 0, false
	}
	off, err := strconv.ParseUint(string(line[:end]), 10, 64)
	return off, err == nil
}

// commit commits what was printed: the last record's offset, or, when the
// read got fewer records than its limit (so it saw the whole range), the
// range's last offset, so that records the filter skips are not scanned
// again. Nothing to commit (an empty read of an unknown consumer) is fine.
func (cf *consumerFlags) commit(client *apiClient, filter string, limit uint64, resp *http.Response, stderr io.Writer) error {
	if cf.name == "" || cf.noCommit {
		return nil
	}
	off, ok := cf.track.last, cf.track.n > 0
	if end, err := strconv.ParseUint(resp.Header.Get(httpapi.RangeEndHeader), 10, 64); err == nil && end > 0 &&
		(limit == 0 || cf.track.n < limit) {
		off, ok = end-1, true
	}
	if next, err := strconv.ParseUint(resp.Header.Get(httpapi.ConsumerNextHeader), 10, 64); err == nil && off+1 <= next {
		ok = false // the cursor is there already: no entry for nothing
	}
	if !ok {
		return nil
	}
	body, _ := json.Marshal(httpapi.CommitRequest{Offset: &off, Filter: filter})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel() // a fresh context: an interrupt ended the read, not the commit
	req, err := http.NewRequestWithContext(ctx, "POST", client.base+"/v1/consumers/"+cf.name+"/commit", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	r, err := client.do(req)
	if err != nil {
		return fmt.Errorf("commit offset %d of consumer %s: %w (the records were written; the next read repeats them)", off, cf.name, err)
	}
	defer r.Body.Close()
	if r.StatusCode != http.StatusOK {
		return errors.Join(fmt.Errorf("commit offset %d of consumer %s failed (the records were written; the next read repeats them)", off, cf.name), apiError(r))
	}
	fmt.Fprintf(stderr, "consumer %s: committed offset %d\n", cf.name, off)
	return nil
}
