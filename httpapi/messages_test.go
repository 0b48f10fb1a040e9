package httpapi

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/replication"
	"github.com/stratamq/strata/topic"
)

type histRow struct {
	Offset     uint64          `json:"offset"`
	Time       string          `json:"time"`
	Topic      string          `json:"topic"`
	QoS        int             `json:"qos"`
	Retain     bool            `json:"retain"`
	Payload    string          `json:"payload"`
	Properties json.RawMessage `json:"properties"`
}

// fillLog proposes n publishes over a few topics, with properties on some.
func fillLog(t *testing.T, n *replication.Node, count int) {
	t.Helper()
	for i := 0; i < count; i++ {
		e := fsm.Entry{Kind: fsm.KindPublish, ClientID: "c", Publish: fsm.Publish{Message: fsm.Message{
			Topic: fmt.Sprintf("site/%d/temp", i%7), Payload: []byte(fmt.Sprintf("v\"%d\n,", i)), QoS: byte(i % 3), Retain: i%5 == 0}}}
		if i%3 == 0 {
			e.Publish.Props = fsm.Properties{ContentType: "text/plain", HasExpiry: true, MessageExpirySeconds: 60,
				User: []fsm.UserProperty{{Name: "k", Value: "v\u2028"}, {Name: "k", Value: "w"}}}
		}
		if e.Publish.QoS > 0 {
			e.PacketID = uint16(i%60000 + 1)
		}
		rec, err := e.Record()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.Propose(context.Background(), rec).Wait(); err != nil {
			t.Fatal(err)
		}
	}
}

// bruteForce filters the whole log record by record.
func bruteForce(t *testing.T, l *log.Log, filter string, from, to uint64) []uint64 {
	t.Helper()
	it := l.Iter(0)
	defer it.Close()
	var out []uint64
	for it.Next() {
		r := it.Record()
		if r.Kind == uint8(fsm.KindPublish) && uint64(r.Offset) >= from && uint64(r.Offset) < to && topic.Match(filter, string(r.Key)) {
			out = append(out, uint64(r.Offset))
		}
	}
	return out
}

func TestMessagesEqualBruteForce(t *testing.T) {
	n := newNode(t)
	fillLog(t, n, 300)
	srv := httptest.NewServer(Handler(n, DefaultOptions()))
	defer srv.Close()
	end := uint64(n.Log().NextOffset())
	for _, c := range []struct {
		filter   string
		from, to uint64
	}{{"#", 0, end}, {"site/3/temp", 0, end}, {"site/+/temp", 50, 200}, {"nothing/#", 0, end}} {
		u := fmt.Sprintf("%s/v1/messages?filter=%s&from=%d&to=%d", srv.URL, url.QueryEscape(c.filter), c.from, c.to)
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		var got []uint64
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			var row histRow
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			if _, err := time.Parse(time.RFC3339Nano, row.Time); err != nil {
				t.Fatal(err)
			}
			payload, err := base64.StdEncoding.DecodeString(row.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(payload), "v\"") || !topic.Match(c.filter, row.Topic) {
				t.Fatalf("row %+v", row)
			}
			got = append(got, row.Offset)
		}
		resp.Body.Close()
		if want := bruteForce(t, n.Log(), c.filter, c.from, c.to); !slices.Equal(got, want) {
			t.Fatalf("%s [%d,%d): got %d offsets, want %d", c.filter, c.from, c.to, len(got), len(want))
		}
	}
	// A time bound starts at the first record at or after that time.
	it := n.Log().Iter(120)
	it.Next()
	t0 := time.Unix(0, it.Record().Time).UTC()
	it.Close()
	var wantT []uint64
	it = n.Log().Iter(0)
	for it.Next() {
		if r := it.Record(); r.Kind == uint8(fsm.KindPublish) && r.Time >= t0.UnixNano() {
			wantT = append(wantT, uint64(r.Offset))
		}
	}
	it.Close()
	resp0, err := http.Get(srv.URL + "/v1/messages?filter=%23&from=" + url.QueryEscape(t0.Format(time.RFC3339Nano)))
	if err != nil {
		t.Fatal(err)
	}
	var gotT []uint64
	for sc := bufio.NewScanner(resp0.Body); sc.Scan(); {
		var row histRow
		json.Unmarshal(sc.Bytes(), &row)
		gotT = append(gotT, row.Offset)
	}
	resp0.Body.Close()
	if !slices.Equal(gotT, wantT) || len(gotT) == 0 {
		t.Fatalf("from %s: got %d offsets, want %d", t0, len(gotT), len(wantT))
	}
	// Properties round-trip as JSON: user properties in order, duplicates kept.
	resp, err := http.Get(srv.URL + "/v1/messages?filter=site/0/temp&limit=1")
	if err != nil {
		t.Fatal(err)
	}
	var row histRow
	json.NewDecoder(resp.Body).Decode(&row)
	resp.Body.Close()
	var props struct {
		ContentType string      `json:"content_type"`
		Expiry      int         `json:"message_expiry"`
		User        [][2]string `json:"user"`
	}
	if err := json.Unmarshal(row.Properties, &props); err != nil {
		t.Fatal(err)
	}
	if props.ContentType != "text/plain" || props.Expiry != 60 || len(props.User) != 2 || props.User[0] != [2]string{"k", "v\u2028"} {
		t.Fatalf("properties %s", row.Properties)
	}
}

func TestMessagesCSVAndLimit(t *testing.T) {
	n := newNode(t)
	fillLog(t, n, 50)
	srv := httptest.NewServer(Handler(n, DefaultOptions()))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/v1/messages?filter=%23&limit=10", nil)
	req.Header.Set("Accept", "text/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 11 || rows[0][0] != "offset" {
		t.Fatalf("%d rows, header %v", len(rows), rows[0])
	}
	want := bruteForce(t, n.Log(), "#", 0, ^uint64(0))[:10]
	for i, r := range rows[1:] {
		if off, _ := strconv.ParseUint(r[0], 10, 64); off != want[i] || len(r) != 7 {
			t.Fatalf("row %d: %v", i, r)
		}
	}
}

func TestMessagesBadInput(t *testing.T) {
	h := Handler(newNode(t), DefaultOptions())
	for _, url := range []string{
		"/v1/messages",
		"/v1/messages?filter=a/%23/b",
		"/v1/messages?filter=%24share/g/a",
		"/v1/messages?filter=a&from=yesterday",
		"/v1/messages?filter=a&to=-1",
		"/v1/messages?filter=a&limit=0",
		"/v1/messages?filter=a&limit=x",
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", url, nil))
		var body map[string]string
		if rec.Code != http.StatusBadRequest || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body["error"] == "" {
			t.Errorf("%s: %d %q", url, rec.Code, rec.Body.String())
		}
	}
}

// FuzzAppendJSONString: every string becomes valid JSON that decodes to it
// (invalid UTF-8 as U+FFFD).
func FuzzAppendJSONString(f *testing.F) {
	f.Add("plain")
	f.Add("quote\" back\\ nl\n \x00 \u2028 \xff")
	f.Fuzz(func(t *testing.T, s string) {
		var got string
		if err := json.Unmarshal(appendJSONString(nil, s), &got); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if want := string([]rune(s)); got != want { // each invalid byte is one U+FFFD
			t.Fatalf("%q decoded as %q", s, got)
		}
	})
}
