package replication

import (
	"github.com/hashicorp/go-hclog"
	"github.com/rs/zerolog"
)

// raftLogger routes raft's hclog output into zerolog at raft's own levels
// (raft logs a great deal at info; warn and above is kept by default).
func raftLogger(l zerolog.Logger, level hclog.Level) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       "raft",
		Level:      level,
		Output:     zerologWriter{l.With().Str("component", "raft").Logger()},
		JSONFormat: true,
	})
}

// zerologWriter re-emits hclog's JSON lines as zerolog events.
type zerologWriter struct{ l zerolog.Logger }

func (w zerologWriter) Write(p []byte) (int, error) {
	w.l.Log().RawJSON("raft", trimNewline(p)).Send()
	return len(p), nil
}

func trimNewline(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}
