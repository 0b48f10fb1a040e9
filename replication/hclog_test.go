package replication

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/rs/zerolog"
)

// TestRaftLoggerLevels logs through the real hclog bridge and checks each
// line's zerolog level, message and fields: raft's level is "level" (not
// nested under raft.@level), keys are fields, colliding keys are renamed,
// and the start-up election is info, a later one warn.
func TestRaftLoggerLevels(t *testing.T) {
	var buf bytes.Buffer
	zl := zerolog.New(&buf).With().Str("node", "n1").Logger()
	h := raftLogger(zl, hclog.Debug)
	h.Warn("heartbeat timeout reached, starting election", "last-leader-addr", "", "last-leader-id", "")
	h.Warn("heartbeat timeout reached, starting election", "last-leader-addr", "127.0.0.1:7001", "last-leader-id", "n2")
	h.Error("failed to appendEntries to", "peer", "n3", "error", errors.New("dial tcp: connection refused"))
	h.Debug("entering candidate state", "node", "Node at 127.0.0.1:7000", "term", 4)
	h.Named("wal").Info("opened")
	var got []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", line, err)
		}
		if _, nested := m["raft"]; nested {
			t.Fatalf("line %q nests raft's JSON", line)
		}
		got = append(got, m)
	}
	want := []struct{ level, msg, key, val string }{
		{"info", "heartbeat timeout reached, starting election", "last-leader-id", ""},
		{"warn", "heartbeat timeout reached, starting election", "last-leader-id", "n2"},
		{"error", "failed to appendEntries to", "error", "dial tcp: connection refused"},
		{"debug", "entering candidate state", "raft_node", "Node at 127.0.0.1:7000"},
		{"info", "opened", "module", "raft.wal"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(got), len(want), buf.String())
	}
	for i, w := range want {
		g := got[i]
		if g["level"] != w.level || g["message"] != w.msg || g[w.key] != w.val || g["node"] != "n1" || g["component"] != "raft" {
			t.Errorf("line %d: %v; want level %s message %q %s=%q node n1 component raft", i, g, w.level, w.msg, w.key, w.val)
		}
	}
}
