package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/httpapi"
	"github.com/stratamq/strata/replication"
)

// historyServer is a real node (in-memory Raft) with the HTTP API holding
// count publishes on topics h/0 .. h/3.
func historyServer(t *testing.T, count int) string {
	t.Helper()
	srv := httptest.NewServer(httpapi.Handler(historyNode(t, count), httpapi.DefaultOptions()))
	t.Cleanup(srv.Close)
	return srv.URL
}

// historyNode is a real node (in-memory Raft, segment files) holding count
// publishes on topics h/0 .. h/3, with payloads 0 .. count-1.
func historyNode(t *testing.T, count int) *replication.Node {
	t.Helper()
	o := replication.DefaultOptions()
	o.NodeID, o.DataDir, o.Bootstrap = "h", t.TempDir(), true
	_, o.Transport = raft.NewInmemTransport("h")
	store := raft.NewInmemStore()
	o.LogStore, o.StableStore, o.Snapshots = store, store, raft.NewInmemSnapshotStore()
	o.Machine = replication.NewFSMMachine()
	o.RaftConfig = func(c *raft.Config) {
		c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout = 50*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond
	}
	n, err := replication.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < count; i++ {
		e := fsm.Entry{Kind: fsm.KindPublish, ClientID: "c", Publish: fsm.Publish{Message: fsm.Message{
			Topic: fmt.Sprintf("h/%d", i%4), Payload: []byte(fmt.Sprint(i))}}}
		rec, _ := e.Record()
		if _, err := n.Propose(ctx, rec).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func TestHistoryCommand(t *testing.T) {
	url := historyServer(t, 200)
	out := filepath.Join(t.TempDir(), "h.ndjson")
	var stdout, stderr bytes.Buffer
	if err := runHistory([]string{"--server", url, "--filter", "h/1", "--out", out}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(out)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 50 {
		t.Fatalf("%d lines, want 50", len(lines))
	}
	for _, l := range lines {
		var row struct {
			Topic string `json:"topic"`
		}
		if err := json.Unmarshal([]byte(l), &row); err != nil || row.Topic != "h/1" {
			t.Fatalf("line %q: %v", l, err)
		}
	}
	if !strings.Contains(stderr.String(), "50 records") {
		t.Fatalf("progress %q", stderr.String())
	}
	// CSV to stdout, bounded by offsets and a limit.
	stdout.Reset()
	if err := runHistory([]string{"--server", url, "--filter", "h/#", "--format", "csv", "--from", "10", "--limit", "5"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(strings.TrimSpace(stdout.String()), "\r\n")
	var first int
	fmt.Sscanf(rows[min(1, len(rows)-1)], "%d,", &first)
	if len(rows) != 6 || first < 10 || first > 11 {
		t.Fatalf("csv %q", stdout.String())
	}
	// Bad usage and server-side errors are clear.
	for _, args := range [][]string{
		{"--server", url},
		{"--server", url, "--filter", "a", "--from", "yesterday"},
		{"--server", url, "--filter", "a", "--format", "xml"},
	} {
		if err := runHistory(args, &stdout, &stderr); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	if err := runHistory([]string{"--server", url, "--filter", "a/#/b"}, &stdout, &stderr); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("bad filter: %v", err)
	}
}

// TestHistoryReadError: when the node cannot read its log, strata history
// exits 1 with a clear message, whether the server answered an error status
// (nothing read yet) or ended the stream with an error object (after
// records, which are still written, without the error object).
func TestHistoryReadError(t *testing.T) {
	n := historyNode(t, 40)
	segs, _ := filepath.Glob(filepath.Join(n.Log().Dir(), "*.seg"))
	if len(segs) != 1 {
		t.Fatalf("segments %v", segs)
	}
	f, err := os.OpenFile(segs[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	// The last byte of the file is in the body of the last frame: the last publish's.
	if _, err := f.WriteAt([]byte{0xA5}, st.Size()-1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	last := n.Log().NextOffset() - 1
	srv := httptest.NewServer(httpapi.Handler(n, httpapi.DefaultOptions()))
	defer srv.Close()

	out := filepath.Join(t.TempDir(), "h.ndjson")
	var stdout, stderr bytes.Buffer
	code := run([]string{"history", "--server", srv.URL, "--filter", "h/#", "--out", out}, &stdout, &stderr)
	data, _ := os.ReadFile(out)
	if code != 1 || !strings.Contains(stderr.String(), "ended the stream with an error after 39 records") ||
		!strings.Contains(stderr.String(), "corrupt") || strings.Count(string(data), "\n") != 39 || strings.Contains(string(data), "error") {
		t.Fatalf("exit %d, stderr %q, %d lines written", code, stderr.String(), strings.Count(string(data), "\n"))
	}

	stderr.Reset()
	code = run([]string{"history", "--server", srv.URL, "--filter", "h/#", "--from", fmt.Sprint(last)}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "500") || !strings.Contains(stderr.String(), "corrupt") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}
