package replication

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/rs/zerolog"
)

// raftLogger routes raft's hclog output into zerolog (raft logs a great
// deal at info; warn and above is kept by default). Each line becomes one
// zerolog event at raft's level, mapped to ours: the level is the event's
// "level", raft's message its "message", raft's key-value pairs its fields,
// so raft's lines filter and read like every other line.
func raftLogger(l zerolog.Logger, level hclog.Level) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       "raft",
		Level:      level,
		Output:     zerologWriter{l.With().Str("component", "raft").Logger()},
		JSONFormat: true,
	})
}

// zerologWriter re-emits hclog's JSON lines as zerolog events. Safe for
// concurrent use (hclog serializes its writes anyway).
type zerologWriter struct{ l zerolog.Logger }

func (w zerologWriter) Write(p []byte) (int, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(p, &fields); err != nil {
		w.l.Warn().Str("line", string(trimNewline(p))).Msg("raft log line that is not JSON")
		return len(p), nil
	}
	var level, msg, module string
	json.Unmarshal(fields["@level"], &level)
	json.Unmarshal(fields["@message"], &msg)
	json.Unmarshal(fields["@module"], &module)
	ev := w.l.WithLevel(raftLevel(level, msg, fields))
	if module != "" && module != "raft" {
		ev = ev.Str("module", module)
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		if !strings.HasPrefix(k, "@") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		ev = ev.RawJSON(raftFieldName(k), fields[k])
	}
	ev.Msg(msg)
	return len(p), nil
}

// raftLevel maps hclog's level names to zerolog's, and lowers to info the
// warnings raft gives on every normal start: the first election (no leader
// known yet), on a node waiting to join having no peers, and a new or
// restarted follower catching up (the leader "sending older logs", the
// follower not having them yet), which nobody need act on.
func raftLevel(level, msg string, fields map[string]json.RawMessage) zerolog.Level {
	switch {
	case msg == "heartbeat timeout reached, starting election" && isEmptyJSONString(fields["last-leader-id"]),
		msg == "no known peers, aborting election",
		msg == "appendEntries rejected, sending older logs",
		msg == "failed to get previous log":
		return zerolog.InfoLevel
	}
	switch level {
	case "trace":
		return zerolog.TraceLevel
	case "debug":
		return zerolog.DebugLevel
	case "info":
		return zerolog.InfoLevel
	case "warn":
		return zerolog.WarnLevel
	}
	return zerolog.ErrorLevel // "error", and anything unknown is not hidden
}

func isEmptyJSONString(v json.RawMessage) bool {
	var s string
	return v == nil || json.Unmarshal(v, &s) == nil && s == ""
}

// raftFieldName keeps raft's keys but for those our lines already carry.
func raftFieldName(k string) string {
	switch k {
	case zerolog.LevelFieldName, zerolog.MessageFieldName, zerolog.TimestampFieldName, "node", "component", "module":
		return "raft_" + k
	}
	return k
}

func trimNewline(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}
