package httpapi

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/replication"
)

// payloadSamples are a text, a JSON (pretty-printed over lines), a binary
// and an empty payload, published in that order to t/0..t/3.
var payloadSamples = [][]byte{[]byte("21.5 °C"), []byte("{\n  \"t\": 21.5,\n  \"u\": \"C\"\n}"), {0xff, 0x00, 0xfe}, {}}

func publishSamples(t *testing.T, n *replication.Node) {
	t.Helper()
	for i, p := range payloadSamples {
		e := fsm.Entry{Kind: fsm.KindPublish, ClientID: "c", Publish: fsm.Publish{Message: fsm.Message{Topic: fmt.Sprintf("t/%d", i), Payload: p}}}
		rec, err := e.Record()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.Propose(context.Background(), rec).Wait(); err != nil {
			t.Fatal(err)
		}
	}
}

func getBody(t *testing.T, url, accept string) (int, string) {
	t.Helper()
	body, resp := get(t, url, accept)
	return resp.StatusCode, string(body)
}

// TestMessagesPayloadModes reads the same four messages in each payload
// mode over a real node and checks each decodes back to the bytes
// published (text: the valid UTF-8 ones; auto: JSON as a value).
func TestMessagesPayloadModes(t *testing.T) {
	n := newNode(t)
	publishSamples(t, n)
	srv := httptest.NewServer(Handler(n, DefaultOptions()))
	defer srv.Close()
	decode := map[string]func(rec map[string]json.RawMessage) ([]byte, error){
		"": func(r map[string]json.RawMessage) ([]byte, error) {
			return base64.StdEncoding.DecodeString(str(r["payload"]))
		},
		"base64": func(r map[string]json.RawMessage) ([]byte, error) {
			return base64.StdEncoding.DecodeString(str(r["payload"]))
		},
		"hex":  func(r map[string]json.RawMessage) ([]byte, error) { return hex.DecodeString(str(r["payload"])) },
		"auto": decodeAuto,
	}
	for mode, dec := range decode {
		code, body := getBody(t, srv.URL+"/v1/messages?filter=t/%2B&payload="+mode, "")
		recs := ndjson(t, body)
		if code != 200 || len(recs) != len(payloadSamples) {
			t.Fatalf("payload=%s: %d, %d records: %s", mode, code, len(recs), body)
		}
		for i, r := range recs {
			if got, err := dec(r); err != nil || string(got) != string(payloadSamples[i]) && !(mode == "auto" && i == 1) {
				t.Errorf("payload=%s record %d: %s decodes to %q, %v", mode, i, r["payload"], got, err)
			}
		}
		if mode == "auto" {
			want := []string{`"text"`, `"json"`, `"base64"`, `"text"`}
			for i, r := range recs {
				if string(r["payload_encoding"]) != want[i] {
					t.Errorf("auto record %d: payload_encoding %s, want %s", i, r["payload_encoding"], want[i])
				}
			}
			if string(recs[1]["payload_json"]) != `{"t":21.5,"u":"C"}` {
				t.Errorf("auto JSON payload as %s", recs[1]["payload_json"])
			}
		}
	}
	_, body := getBody(t, srv.URL+"/v1/messages?filter=t/0&payload=text", "")
	if r := ndjson(t, body); len(r) != 1 || str(r[0]["payload"]) != "21.5 °C" {
		t.Fatalf("payload=text: %s", body)
	}
}

func decodeAuto(r map[string]json.RawMessage) ([]byte, error) {
	switch str(r["payload_encoding"]) {
	case "json":
		return r["payload_json"], nil
	case "text":
		return []byte(str(r["payload"])), nil
	}
	return base64.StdEncoding.DecodeString(str(r["payload"]))
}

func str(v json.RawMessage) string {
	var s string
	json.Unmarshal(v, &s)
	return s
}

func ndjson(t *testing.T, body string) []map[string]json.RawMessage {
	t.Helper()
	var out []map[string]json.RawMessage
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// TestMessagesFormatQuery: format=csv wins over an Accept header asking for
// NDJSON and the reverse; auto mode adds the payload_encoding column.
func TestMessagesFormatQuery(t *testing.T) {
	n := newNode(t)
	publishSamples(t, n)
	srv := httptest.NewServer(Handler(n, DefaultOptions()))
	defer srv.Close()
	_, body := getBody(t, srv.URL+"/v1/messages?filter=t/%2B&format=csv&payload=auto", "application/x-ndjson")
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(rows) != 5 || strings.Join(rows[0], ",") != "offset,time,topic,qos,retain,payload,properties,payload_encoding" {
		t.Fatalf("format=csv: %v %q", err, body)
	}
	if rows[1][5] != "21.5 °C" || rows[2][5] != string(payloadSamples[1]) || rows[3][5] != "/wD+" || rows[3][7] != "base64" || rows[1][7] != "text" {
		t.Fatalf("csv rows %q", rows[1:])
	}
	_, body = getBody(t, srv.URL+"/v1/messages?filter=t/%2B&format=ndjson", "text/csv")
	if len(ndjson(t, body)) != 4 {
		t.Fatalf("format=ndjson with Accept: text/csv: %q", body)
	}
	_, body = getBody(t, srv.URL+"/v1/messages?filter=t/%2B", "text/csv")
	if !strings.HasPrefix(body, "offset,time,topic,qos,retain,payload,properties\r\n") {
		t.Fatalf("Accept: text/csv alone: %q", body)
	}
}

// TestMessagesFromLast: from=last-N and last:N start at the N most recent
// matches (before to, when given); more than there are gives them all.
func TestMessagesFromLast(t *testing.T) {
	n := newNode(t)
	fillLog(t, n, 60)
	srv := httptest.NewServer(Handler(n, DefaultOptions()))
	defer srv.Close()
	all := bruteForce(t, n.Log(), "site/3/temp", 0, ^uint64(0))
	for _, c := range []struct {
		q    string
		want []uint64
	}{
		{"from=last-3", all[len(all)-3:]},
		{"from=last:3", all[len(all)-3:]},
		{fmt.Sprintf("from=last-2&to=%d", all[4]), all[2:4]},
		{"from=last-1000", all},
	} {
		code, body := getBody(t, srv.URL+"/v1/messages?filter=site/3/temp&"+c.q, "")
		var got []uint64
		for _, r := range ndjson(t, body) {
			var o uint64
			json.Unmarshal(r["offset"], &o)
			got = append(got, o)
		}
		if code != 200 || fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: %d %v, want %v", c.q, code, got, c.want)
		}
	}
}

// TestMessagesBadRange: an empty or inverted range, a bad format, payload
// or last-N is 400 with a message saying so.
func TestMessagesBadRange(t *testing.T) {
	h := Handler(newNode(t), DefaultOptions())
	for url, msg := range map[string]string{
		"/v1/messages?filter=a&from=10&to=5":                                      "inverted",
		"/v1/messages?filter=a&from=5&to=5":                                       "empty",
		"/v1/messages?filter=a&from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z": "inverted",
		"/v1/messages?filter=a&format=xml":                                        "want ndjson, csv or parquet",
		"/v1/messages?filter=a&payload=utf8":                                      "want base64, text, hex, auto",
		"/v1/messages?filter=a&from=last-0":                                       "positive count",
		"/v1/messages?filter=a&from=last-x":                                       "positive count",
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", url, nil))
		var body map[string]string
		if rec.Code != http.StatusBadRequest || json.Unmarshal(rec.Body.Bytes(), &body) != nil || !strings.Contains(body["error"], msg) {
			t.Errorf("%s: %d %q, want 400 mentioning %q", url, rec.Code, rec.Body.String(), msg)
		}
	}
}

// BenchmarkAppendNDJSONPayload: the cost of each payload mode per record
// against the default base64, for a 64-byte text payload and a small JSON
// one (go test -run '^$' -bench AppendNDJSONPayload ./httpapi/).
func BenchmarkAppendNDJSONPayload(b *testing.B) {
	for _, p := range []struct{ name, payload string }{
		{"text64", strings.Repeat("x", 64)},
		{"json", `{"site":7,"dev":42,"temp":21.5,"unit":"C","ok":true}`},
	} {
		e := &fsm.Entry{Kind: fsm.KindPublish, Publish: fsm.Publish{Message: fsm.Message{Topic: "site/7/dev/42/temp", Payload: []byte(p.payload), QoS: 1}}}
		for _, mode := range []Payload{PayloadBase64, PayloadText, PayloadHex, PayloadAuto} {
			b.Run(p.name+"/"+mode.String(), func(b *testing.B) {
				var buf []byte
				for i := 0; i < b.N; i++ {
					buf = appendNDJSON(buf[:0], 42, e, mode)
				}
			})
		}
	}
}
