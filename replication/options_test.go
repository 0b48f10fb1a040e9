package replication

import (
	"net"
	"strings"
	"testing"
	"time"
)

// TestValidateRaftKnobs: Raft's append and pipelining bounds are checked
// against the batcher's, with a message naming the field.
func TestValidateRaftKnobs(t *testing.T) {
	base := storeTestOptions(t.TempDir(), "v")
	if err := base.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"append below inflight", func(o *Options) { o.MaxInflight, o.RaftMaxAppendEntries = 8, 4 }, "RaftMaxAppendEntries 4"},
		{"append above raft's limit", func(o *Options) { o.RaftMaxAppendEntries = 1025 }, "RaftMaxAppendEntries 1025"},
		{"no RPCs in flight", func(o *Options) { o.RaftMaxRPCsInFlight = 0 }, "RaftMaxRPCsInFlight"},
		{"a Raft dialer without a listener", func(o *Options) {
			o.RaftDial = func(string, time.Duration) (net.Conn, error) { return nil, nil }
		}, "RaftListener and RaftDial go together"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.edit(&o)
			err := o.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}
