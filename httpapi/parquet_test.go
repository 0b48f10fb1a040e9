package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/replication"
)

// hyparquetPath is where .ci/run installs the npm packages hyparquet and
// hyparquet-compressors (an independent Parquet reader) for the Parquet
// tests: a NODE_PATH entry. Under CI=true a missing reader fails the test;
// elsewhere it skips with the command that installs it.
func hyparquetPath(t *testing.T) string {
	t.Helper()
	home, _ := os.UserHomeDir()
	dir := filepath.Join(home, ".cache", "strata-npm", "node_modules")
	_, err1 := os.Stat(filepath.Join(dir, "hyparquet", "package.json"))
	_, err2 := os.Stat(filepath.Join(dir, "hyparquet-compressors", "package.json"))
	_, err3 := exec.LookPath("node")
	if err1 == nil && err2 == nil && err3 == nil {
		return dir
	}
	msg := "the Parquet reader is missing (node and `npm install --prefix ~/.cache/strata-npm hyparquet hyparquet-compressors`, as .ci/run does)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// fillMixed proposes count publishes of every kind an export must carry:
// QoS 0, 1 and 2, retained or not, text, JSON, empty and binary payloads
// (invalid UTF-8, NUL bytes), and MQTT 5 properties on some.
func fillMixed(t *testing.T, n *replication.Node, count int) {
	t.Helper()
	recs := make([]log.Record, 0, 64)
	for i := range count {
		e := fsm.Entry{Kind: fsm.KindPublish, ClientID: "c", Publish: fsm.Publish{Message: fsm.Message{
			Topic: fmt.Sprintf("plant/%d/sensor-é/%d", i%5, i%3), Payload: mixedPayload(i),
			QoS: byte(i % 3), Retain: i%4 == 1}}}
		if i%3 == 0 {
			e.Publish.Props = fsm.Properties{PayloadFormat: 1, ContentType: "application/json",
				ResponseTopic: "reply/" + strconv.Itoa(i), CorrelationData: []byte{0, 0xff, byte(i)},
				HasExpiry: true, MessageExpirySeconds: 3600,
				User: []fsm.UserProperty{{Name: "k", Value: "v\u2028\"x\""}, {Name: "k", Value: "w"}}}
		}
		if e.Publish.QoS > 0 {
			e.PacketID = uint16(i%60000 + 1)
		}
		rec, err := e.Record()
		if err != nil {
			t.Fatal(err)
		}
		if recs = append(recs, rec); len(recs) == cap(recs) || i == count-1 {
			if _, err := n.Propose(context.Background(), recs...).Wait(); err != nil {
				t.Fatal(err)
			}
			recs = recs[:0]
		}
	}
}

func mixedPayload(i int) []byte {
	switch i % 4 {
	case 0:
		return []byte(fmt.Sprintf(`{"t": %d.5, "unit": "°C"}`, i))
	case 1:
		return []byte{0xff, 0xfe, 0, byte(i), byte(i >> 8), 0x80}
	case 2:
		return nil
	}
	return []byte(fmt.Sprintf("line %d\r\n,\"quoted\"", i))
}

// exportRow is a row as testdata/parquet_rows.mjs prints it, and an NDJSON
// record brought to the same form.
type exportRow struct {
	Offset     string `json:"offset"`
	Time       string `json:"time"` // Unix nanoseconds
	Topic      string `json:"topic"`
	QoS        int    `json:"qos"`
	Retain     bool   `json:"retain"`
	Payload    string `json:"payload"` // base64
	Properties any    `json:"properties"`
}

// parquetMeta is the file layout testdata/parquet_rows.mjs prints first.
type parquetMeta struct {
	Rows      string   `json:"rows"`
	RowGroups []string `json:"row_groups"`
	Codecs    []string `json:"codecs"`
	Schema    []struct {
		Name, Type, Repetition, Logical string
	} `json:"schema"`
}

// readParquet reads file with hyparquet.
func readParquet(t *testing.T, nodePath, file string) (parquetMeta, []exportRow) {
	t.Helper()
	cmd := exec.Command("node", filepath.Join("testdata", "parquet_rows.mjs"), file)
	cmd.Env = append(os.Environ(), "NODE_PATH="+nodePath)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("hyparquet could not read %s: %v\n%s", file, err, stderr)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	var head struct{ Meta parquetMeta }
	if !sc.Scan() || json.Unmarshal(sc.Bytes(), &head) != nil {
		t.Fatalf("no layout line in %q", out)
	}
	var rows []exportRow
	for sc.Scan() {
		var r exportRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("row %q: %v", sc.Text(), err)
		}
		if s, ok := r.Properties.(string); ok && s != "" {
			json.Unmarshal([]byte(s), &r.Properties)
		}
		rows = append(rows, r)
	}
	return head.Meta, rows
}

// ndjsonRows fetches a range as NDJSON and brings it to exportRow's form:
// time in Unix nanoseconds, properties decoded ("" when there are none).
func ndjsonRows(t *testing.T, url string) []exportRow {
	t.Helper()
	body, _ := get(t, url, "")
	var rows []exportRow
	for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
		var h histRow
		if err := json.Unmarshal([]byte(line), &h); err != nil {
			t.Fatalf("NDJSON %q: %v", line, err)
		}
		ts, err := time.Parse(time.RFC3339Nano, h.Time)
		if err != nil {
			t.Fatal(err)
		}
		r := exportRow{Offset: strconv.FormatUint(h.Offset, 10), Time: strconv.FormatInt(ts.UnixNano(), 10),
			Topic: h.Topic, QoS: h.QoS, Retain: h.Retain, Payload: h.Payload, Properties: ""}
		if string(h.Properties) != "{}" {
			json.Unmarshal(h.Properties, &r.Properties)
		}
		rows = append(rows, r)
	}
	return rows
}

// get fetches url with an Accept header; the body and the response.
func get(t *testing.T, url, accept string) ([]byte, *http.Response) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return body, resp
}

// lowerGroups makes exports use row groups of n rows for one test.
func lowerGroups(t *testing.T, n int) {
	old := parquetGroupRows
	parquetGroupRows = n
	t.Cleanup(func() { parquetGroupRows = old })
}

// TestParquetEqualsNDJSON: a range exported as Parquet, read back by
// hyparquet (not the writer's library), holds exactly the NDJSON of the same
// range, row for row, in zstd-compressed row groups of the configured size
// with the documented schema; format=parquet and the Accept header give the
// same file, and limit applies.
func TestParquetEqualsNDJSON(t *testing.T) {
	nodePath := hyparquetPath(t)
	lowerGroups(t, 100)
	n := newNode(t)
	fillMixed(t, n, 420)
	srv := httptest.NewServer(Handler(n, DefaultOptions()))
	defer srv.Close()
	first := bruteForce(t, n.Log(), "#", 0, ^uint64(0))[7]
	rng := fmt.Sprintf("%s/v1/messages?filter=plant/%%2B/%%23&from=%d", srv.URL, first)
	want := ndjsonRows(t, rng)
	if len(want) != 413 {
		t.Fatalf("NDJSON has %d records, want 413", len(want))
	}
	body, resp := get(t, rng+"&format=parquet", "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != ParquetContentType {
		t.Fatalf("%s, Content-Type %q: %s", resp.Status, resp.Header.Get("Content-Type"), body)
	}
	if byAccept, _ := get(t, rng, ParquetContentType); !bytes.Equal(byAccept, body) {
		t.Fatal("Accept: application/vnd.apache.parquet gave another file than format=parquet")
	}
	file := filepath.Join(t.TempDir(), "range.parquet")
	os.WriteFile(file, body, 0o600)
	meta, got := readParquet(t, nodePath, file)
	checkLayout(t, meta, []string{"100", "100", "100", "100", "13"})
	if !reflect.DeepEqual(got, want) {
		for i := range min(len(got), len(want)) {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("row %d:\nparquet %+v\nndjson  %+v", i, got[i], want[i])
			}
		}
		t.Fatalf("parquet has %d rows, NDJSON %d", len(got), len(want))
	}
	body, _ = get(t, rng+"&format=parquet&limit=150", "")
	os.WriteFile(file, body, 0o600)
	if meta, got = readParquet(t, nodePath, file); !reflect.DeepEqual(got, want[:150]) {
		t.Fatalf("limit=150: %d rows, groups %v", len(got), meta.RowGroups)
	}
}

// checkLayout checks the row groups, the codec and the schema.
func checkLayout(t *testing.T, m parquetMeta, groups []string) {
	t.Helper()
	if !reflect.DeepEqual(m.RowGroups, groups) || !reflect.DeepEqual(m.Codecs, []string{"ZSTD"}) {
		t.Fatalf("row groups %v (want %v), codecs %v (want ZSTD)", m.RowGroups, groups, m.Codecs)
	}
	want := []string{
		`offset INT64 REQUIRED {"type":"INTEGER","bitWidth":64,"isSigned":true}`,
		`time INT64 REQUIRED {"type":"TIMESTAMP","isAdjustedToUTC":true,"unit":"NANOS"}`,
		`topic BYTE_ARRAY REQUIRED {"type":"STRING"}`,
		`qos INT32 REQUIRED {"type":"INTEGER","bitWidth":32,"isSigned":true}`,
		"retain BOOLEAN REQUIRED ",
		"payload BYTE_ARRAY REQUIRED ",
		`properties BYTE_ARRAY REQUIRED {"type":"STRING"}`,
	}
	var got []string
	for _, c := range m.Schema {
		got = append(got, strings.Join([]string{c.Name, c.Type, c.Repetition, c.Logical}, " "))
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("schema:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestParquetBadRequests: follow has no end, so it cannot be Parquet; an
// unknown format names the ones there are.
func TestParquetBadRequests(t *testing.T) {
	n := newNode(t)
	fillMixed(t, n, 3)
	srv := httptest.NewServer(Handler(n, DefaultOptions()))
	defer srv.Close()
	for _, c := range []struct{ query, accept, want string }{
		{"filter=%23&format=parquet&follow=true", "", "needs an end"},
		{"filter=%23&follow=true", ParquetContentType, "needs an end"},
		{"filter=%23&format=parquet&follow=yes", "", "want true or false"},
		{"filter=%23&format=arrow", "", "ndjson, csv or parquet"},
	} {
		body, resp := get(t, srv.URL+"/v1/messages?"+c.query, c.accept)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), c.want) {
			t.Errorf("%s (Accept %q): %s %s, want 400 with %q", c.query, c.accept, resp.Status, body, c.want)
		}
	}
}

// TestParquetReadError: a damaged frame before any row group was sent is a
// 500 with a JSON error; after row groups were sent, the response ends
// without a footer (no reader accepts it) and the node logs the failure.
func TestParquetReadError(t *testing.T) {
	nodePath := hyparquetPath(t)
	lowerGroups(t, 10)
	n := newNode(t)
	fillLog(t, n, 40)
	bad := log.Offset(bruteForce(t, n.Log(), "#", 0, ^uint64(0))[30])
	damageFrame(t, n.Log(), bad)
	logged := &syncBuffer{}
	o := DefaultOptions()
	o.Logger = zerolog.New(logged)
	srv := httptest.NewServer(Handler(n, o))
	defer srv.Close()

	body, resp := get(t, fmt.Sprintf("%s/v1/messages?filter=%%23&format=parquet&from=%d", srv.URL, bad), "")
	var e map[string]string
	if resp.StatusCode != http.StatusInternalServerError || json.Unmarshal(body, &e) != nil {
		t.Fatalf("at the start: %s %q, want 500 with a JSON error", resp.Status, body)
	}
	checkReadError(t, e["error"], n.Log().Dir(), bad)
	checkLogged(t, logged, bad)

	logged.Reset()
	body, resp = get(t, srv.URL+"/v1/messages?filter=%23&format=parquet", "")
	if resp.StatusCode != http.StatusOK || len(body) == 0 || bytes.HasSuffix(body, []byte("PAR1")) {
		t.Fatalf("after row groups: %s, %d bytes, want 200 and no footer", resp.Status, len(body))
	}
	checkLogged(t, logged, bad)
	file := filepath.Join(t.TempDir(), "cut.parquet")
	os.WriteFile(file, body, 0o600)
	cmd := exec.Command("node", filepath.Join("testdata", "parquet_rows.mjs"), file)
	cmd.Env = append(os.Environ(), "NODE_PATH="+nodePath)
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("hyparquet read a cut file: %s", out)
	}
}
