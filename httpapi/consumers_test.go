package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/replication"
)

// consumerNode starts a real one-voter node (as newNode does) and serves
// the API with its fsm state, counting the handlers running.
func consumerNode(t *testing.T) (*replication.Node, *httptest.Server, *atomic.Int64) {
	t.Helper()
	n, m := newNodeMachine(t)
	ao := DefaultOptions()
	ao.Views = m
	h := Handler(n, ao)
	var active atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		active.Add(1)
		defer active.Add(-1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return n, srv, &active
}

// publishN proposes count publishes to topic and returns their offsets.
func publishN(t *testing.T, n *replication.Node, topic string, count int) []uint64 {
	t.Helper()
	var offs []uint64
	for i := 0; i < count; i++ {
		e := fsm.Entry{Kind: fsm.KindPublish, ClientID: "c", Publish: fsm.Publish{Message: fsm.Message{
			Topic: topic, Payload: []byte(fmt.Sprint(i))}}}
		rec, err := e.Record()
		if err != nil {
			t.Fatal(err)
		}
		off, err := n.Propose(context.Background(), rec).Wait()
		if err != nil {
			t.Fatal(err)
		}
		offs = append(offs, uint64(off))
	}
	return offs
}

// readRows GETs url and returns the NDJSON rows' offsets and the headers.
func readRows(t *testing.T, url string) ([]uint64, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	var offs []uint64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var row histRow
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("row %q: %v", sc.Text(), err)
		}
		offs = append(offs, row.Offset)
	}
	return offs, resp.Header
}

func postJSON(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp.StatusCode, out
}

// TestConsumerPages: a consumer reads three pages, committing each, and
// sees every matching record exactly once, in order; a read without a
// commit is repeated (at-least-once); bad commits are refused.
func TestConsumerPages(t *testing.T) {
	n, srv, _ := consumerNode(t)
	var want []uint64
	for i := 0; i < 3; i++ {
		want = append(want, publishN(t, n, "s/a", 4)...)
		publishN(t, n, "other", 2) // not matched: the filter skips them
	}
	read := srv.URL + "/v1/consumers/etl/messages?filter=s/%23&limit=4"
	var got []uint64
	for page := 0; page < 3; page++ {
		offs, _ := readRows(t, read)
		again, _ := readRows(t, read) // not committed yet: the same page
		if fmt.Sprint(offs) != fmt.Sprint(again) || len(offs) != 4 {
			t.Fatalf("page %d: %v then %v", page, offs, again)
		}
		got = append(got, offs...)
		body := fmt.Sprintf(`{"offset":%d,"filter":"s/#"}`, offs[len(offs)-1])
		if code, out := postJSON(t, "POST", srv.URL+"/v1/consumers/etl/commit", body); code != 200 || out["offset"] != float64(offs[len(offs)-1]) {
			t.Fatalf("commit page %d: %d %v", page, code, out)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("read %v, want %v", got, want)
	}
	if offs, h := readRows(t, read); len(offs) != 0 || h.Get(ConsumerNextHeader) != fmt.Sprint(want[len(want)-1]+1) {
		t.Fatalf("after the last page: %v, header %q", offs, h.Get(ConsumerNextHeader))
	}
	end := uint64(n.Reader().NextOffset())
	for _, c := range []struct {
		body string
		code int
	}{
		{fmt.Sprintf(`{"offset":%d}`, end), 400},             // beyond the log's end
		{fmt.Sprintf(`{"offset":%d}`, want[0]), 409},         // backwards
		{`{"offset":1,"filter":"x/#"}`, 409},                 // another filter
		{`{"filter":"s/#"}`, 400},                            // no offset
		{`{"offset":-1}`, 400},                               // not an offset
		{fmt.Sprintf(`{"offset":%d,"bogus":1}`, end-1), 400}, // unknown field
	} {
		if code, out := postJSON(t, "POST", srv.URL+"/v1/consumers/etl/commit", c.body); code != c.code {
			t.Errorf("commit %s: %d %v, want %d", c.body, code, out, c.code)
		}
	}
	for _, c := range []struct{ url string }{
		{"/v1/consumers/new/messages"},                       // a new consumer needs a filter
		{"/v1/consumers/bad%2Fname/messages?filter=a"},       // not a consumer name
		{"/v1/consumers/etl/messages?from=0"},                // a known one resumes
		{"/v1/consumers/new/messages?filter=%24share/g/a"},   // shared
		{"/v1/consumers/new/messages?filter=a&follow=maybe"}, // bad follow
	} {
		if resp, err := http.Get(srv.URL + c.url); err != nil || resp.StatusCode != 400 {
			t.Errorf("GET %s: %v %v, want 400", c.url, resp.Status, err)
		}
	}
}

// TestConsumerResetListDelete: reset by time and by offset, the list with
// lag, delete, and a commit after a reset moving back.
func TestConsumerResetListDelete(t *testing.T) {
	n, srv, _ := consumerNode(t)
	first := publishN(t, n, "s/a", 5)
	mid := time.Now().UTC()
	waitUntil(t, func() bool { return time.Now().After(mid) })
	second := publishN(t, n, "s/a", 5)
	base := srv.URL + "/v1/consumers/c1"
	// Lag counts every offset past the committed one: here the commit's own entry.
	if code, out := postJSON(t, "POST", base+"/commit", fmt.Sprintf(`{"offset":%d,"filter":"s/a"}`, second[4])); code != 200 || out["lag"] != float64(1) {
		t.Fatalf("commit: %d %v", code, out)
	}
	code, out := postJSON(t, "POST", base+"/reset", fmt.Sprintf(`{"time":%q}`, mid.Format(time.RFC3339Nano)))
	if code != 200 || out["next"] != float64(second[0]) {
		t.Fatalf("reset to %s: %d %v, want next %d", mid, code, out, second[0])
	}
	if offs, _ := readRows(t, base+"/messages"); fmt.Sprint(offs) != fmt.Sprint(second) {
		t.Fatalf("after reset by time: %v, want %v", offs, second)
	}
	if code, out := postJSON(t, "POST", base+"/reset", fmt.Sprintf(`{"offset":%d}`, first[2])); code != 200 || out["offset"] != float64(first[2]-1) {
		t.Fatalf("reset to offset: %d %v", code, out)
	}
	if offs, _ := readRows(t, base+"/messages?limit=1"); len(offs) != 1 || offs[0] != first[2] {
		t.Fatalf("after reset by offset: %v", offs)
	}
	for _, body := range []string{`{}`, `{"offset":1,"time":"2020-01-01T00:00:00Z"}`, `{"time":"yesterday"}`, `{"offset":99999}`} {
		if code, out := postJSON(t, "POST", base+"/reset", body); code != 400 {
			t.Errorf("reset %s: %d %v, want 400", body, code, out)
		}
	}
	code, out = postJSON(t, "GET", srv.URL+"/v1/consumers", "")
	list, _ := out["consumers"].([]any)
	if code != 200 || len(list) != 1 {
		t.Fatalf("list: %d %v", code, out)
	}
	if c := list[0].(map[string]any); c["name"] != "c1" || c["filter"] != "s/a" ||
		c["lag"] != float64(uint64(n.Reader().NextOffset())-first[2]) {
		t.Fatalf("list entry %v", c)
	}
	if code, out := postJSON(t, "DELETE", base, ""); code != 200 {
		t.Fatalf("delete: %d %v", code, out)
	}
	if code, out := postJSON(t, "DELETE", base, ""); code != 404 {
		t.Fatalf("delete again: %d %v, want 404", code, out)
	}
	// Deleted: a new consumer of that name starts from the oldest again.
	if offs, _ := readRows(t, base+"/messages?filter=s/a&limit=1"); len(offs) != 1 || offs[0] != first[0] {
		t.Fatalf("after delete: %v", offs)
	}
}

func waitUntil(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond) // poll under a deadline
	}
}

// TestFollow: follow=true sends the range, then records published after
// the request started, in order, none missing or repeated, each as it
// comes (the test waits for each round before publishing the next); the
// handler returns once the client goes away.
func TestFollow(t *testing.T) {
	n, srv, active := consumerNode(t)
	before := publishN(t, n, "f/x", 3)
	for _, path := range []string{"/v1/messages?filter=f/%23&follow=true", "/v1/consumers/live/messages?filter=f/%23&follow=true"} {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %v %v", path, err, resp)
		}
		rows := make(chan uint64, 100)
		go func() {
			defer close(rows)
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				var row histRow
				if json.Unmarshal(sc.Bytes(), &row) == nil {
					rows <- row.Offset
				}
			}
		}()
		var got []uint64
		receive := func(want []uint64) {
			t.Helper()
			timeout := time.After(5 * time.Second)
			for len(got) < len(want) {
				select {
				case off := <-rows:
					got = append(got, off)
				case <-timeout:
					t.Fatalf("%s: received %v, want %v", path, got, want)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s: received %v, want %v", path, got, want)
			}
		}
		want := append([]uint64(nil), before...)
		receive(want)
		for round := 0; round < 5; round++ {
			publishN(t, n, "other", 1)
			want = append(want, publishN(t, n, "f/y", 2)...)
			receive(want)
		}
		cancel()
		resp.Body.Close()
		waitUntil(t, func() bool { return active.Load() == 0 })
		before = want
	}
}
