package httpapi

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/replication"
)

// postBatch sends recs to /v1/internal/propose over HTTP.
func postBatch(t *testing.T, url string, body []byte) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url+"/v1/internal/propose", "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("answer is not JSON: %v", err)
	}
	return resp.StatusCode, out
}

// TestProposeValidatesForwardedRecords: the leader proposes a forwarded
// batch only if every record is an fsm entry or a member record that
// decodes; otherwise it answers 400 naming the record and proposes nothing.
func TestProposeValidatesForwardedRecords(t *testing.T) {
	n := newNode(t)
	srv := httptest.NewServer(InternalHandler(n, Options{MaxPublishBytes: 1 << 10, CommitTimeout: 5 * time.Second}))
	defer srv.Close()

	pub := fsm.Entry{Kind: fsm.KindPublish, ClientID: "c", Publish: fsm.Publish{Message: fsm.Message{Topic: "a/b", Payload: []byte("x")}}}
	good, err := pub.Record()
	if err != nil {
		t.Fatal(err)
	}
	member := binary.AppendUvarint(nil, 2)
	member = append(member, "n2"...)
	member = binary.AppendUvarint(member, 14)
	member = append(member, "127.0.0.1:8081"...)
	if _, _, err := replication.DecodeMember(member); err != nil {
		t.Fatalf("the test's member record: %v", err)
	}
	memberRec := log.Record{Kind: replication.KindMember, Value: member}

	bad := []struct {
		name string
		recs []log.Record
		msg  []string
	}{
		{"forged member record", []log.Record{good, {Kind: replication.KindMember, Value: []byte{9, 'n'}}},
			[]string{"record 1", "member record"}},
		{"member record with trailing bytes", []log.Record{good, memberRec, {Kind: replication.KindMember, Value: append(member, 0)}},
			[]string{"record 2", "trailing"}},
		{"member record with a key", []log.Record{{Kind: replication.KindMember, Key: []byte("a"), Value: member}},
			[]string{"record 0", "key"}},
		{"unknown kind", []log.Record{good, {Kind: 0x42, Value: good.Value}},
			[]string{"record 1", "0x42"}},
		{"kind 0", []log.Record{{Kind: 0}}, []string{"record 0", "0x0"}},
		{"reserved kind", []log.Record{{Kind: 0xF1, Value: member}}, []string{"record 0", "0xf1"}},
		{"entry that does not decode", []log.Record{good, good, {Kind: uint8(fsm.KindPublish), Key: []byte("a/b"), Value: []byte{2, 1}}},
			[]string{"record 2", "corrupt"}},
		{"publish on a filter", []log.Record{{Kind: uint8(fsm.KindPublish), Key: []byte("a/+"), Value: good.Value}},
			[]string{"record 0"}},
	}
	for _, c := range bad {
		code, out := postBatch(t, srv.URL, replication.EncodeBatch(c.recs))
		msg, _ := out["error"].(string)
		if code != http.StatusBadRequest {
			t.Errorf("%s: %d %v, want 400", c.name, code, out)
			continue
		}
		for _, m := range c.msg {
			if !strings.Contains(msg, m) {
				t.Errorf("%s: error %q does not mention %q", c.name, msg, m)
			}
		}
	}
	if code, out := postBatch(t, srv.URL, []byte{1, 1, 4, 0x80, 0x00, 0, 0}); code != http.StatusBadRequest {
		t.Errorf("malformed batch: %d %v, want 400", code, out)
	}
	if next := n.Log().NextOffset(); next != 0 {
		t.Fatalf("refused batches left %d records in the log", next)
	}

	code, out := postBatch(t, srv.URL, replication.EncodeBatch([]log.Record{good, memberRec}))
	offs, _ := out["offsets"].([]any)
	if code != http.StatusOK || len(offs) != 2 || offs[0] != float64(0) || offs[1] != float64(1) {
		t.Fatalf("a publish and a member record: %d %v, want offsets [0 1]", code, out)
	}
	for deadline := time.Now().Add(5 * time.Second); n.MemberHTTP("n2") != "127.0.0.1:8081"; {
		if time.Now().After(deadline) {
			t.Fatalf("member n2 at %q after its record was committed", n.MemberHTTP("n2"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}
