package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// publishHTTP publishes count messages to topic through node p and
// returns their offsets.
func publishHTTP(t *testing.T, p *proc, topic string, count int) []uint64 {
	t.Helper()
	var offs []uint64
	for i := 0; i < count; i++ {
		resp, err := http.Post("http://"+p.http+"/v1/publish?topic="+topic, "text/plain", strings.NewReader(fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		var out struct{ Offset uint64 }
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("publish through %s: %s %v", p.id, resp.Status, err)
		}
		offs = append(offs, out.Offset)
	}
	return offs
}

// historyOffsets runs `strata history` (in process) and returns the
// offsets it printed.
func historyOffsets(t *testing.T, args ...string) []uint64 {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(append([]string{"history"}, args...), &out, &errb); code != 0 {
		t.Fatalf("strata history %v: exit %d: %s", args, code, errb.String())
	}
	return ndjsonOffsets(t, out.Bytes())
}

func ndjsonOffsets(t *testing.T, b []byte) []uint64 {
	t.Helper()
	var offs []uint64
	for line := range bytes.Lines(b) {
		var row struct{ Offset uint64 }
		if err := json.Unmarshal(line, &row); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		offs = append(offs, row.Offset)
	}
	return offs
}

// committed is the consumer's committed offset as node p's state holds
// it; ok is false while p does not answer or does not know the consumer.
func committed(p *proc, name string) (int64, bool) {
	var out struct {
		Consumers []struct {
			Name   string
			Offset int64
		}
	}
	if getJSON("http://"+p.http+"/v1/consumers", &out) != nil {
		return 0, false
	}
	for _, c := range out.Consumers {
		if c.Name == name {
			return c.Offset, true
		}
	}
	return 0, false
}

func waitCommitted(t *testing.T, nodes []*proc, name string, want uint64) {
	t.Helper()
	for _, p := range nodes {
		waitFor(t, fmt.Sprintf("%s's cursor at %d on %s", name, want, p.id), 30*time.Second, func() bool {
			off, ok := committed(p, name)
			return ok && off == int64(want)
		})
	}
}

// TestConsumerCluster: on three real nodes, `strata history --consumer`
// reads pages and commits them; the cursor is the same on every node; a
// page read but not committed when its node is killed (SIGKILL) is read
// again from another node; the cursor survives the leader's failover, a
// restart of the killed node, and a snapshot and restart.
func TestConsumerCluster(t *testing.T) {
	bin := buildStrata(t)
	nodes := startCluster(t, bin, "n")
	offs := publishHTTP(t, nodes[0], "t/x", 30)
	page := func(p *proc) []uint64 {
		return historyOffsets(t, "--server", p.http, "--consumer", "etl", "--filter", "t/#", "--limit", "10")
	}
	if got := page(nodes[1]); fmt.Sprint(got) != fmt.Sprint(offs[:10]) {
		t.Fatalf("page 1: %v, want %v", got, offs[:10])
	}
	waitCommitted(t, nodes, "etl", offs[9])

	// Read page 2 from the leader without committing, then kill it.
	leader := leaderOf(t, nodes)
	resp, err := http.Get("http://" + leader.http + "/v1/consumers/etl/messages?limit=10")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got := ndjsonOffsets(t, body); fmt.Sprint(got) != fmt.Sprint(offs[10:20]) {
		t.Fatalf("page 2 from the leader: %v", got)
	}
	if err := leader.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	leader.cmd.Wait()
	var survivors []*proc
	for _, p := range nodes {
		if p != leader {
			survivors = append(survivors, p)
		}
	}
	waitFor(t, "a new leader", 30*time.Second, func() bool { return newLeaderSeen(nodes, leader) != "" })
	if got := page(survivors[0]); fmt.Sprint(got) != fmt.Sprint(offs[10:20]) {
		t.Fatalf("page 2 again after the kill: %v, want %v", got, offs[10:20])
	}
	waitCommitted(t, survivors, "etl", offs[19])

	// The killed node comes back and catches up.
	startNode(t, bin, leader, "")
	waitReady(t, leader)
	waitCommitted(t, nodes, "etl", offs[19])

	// A snapshot (the leader takes it), then a restart from it.
	p := leaderOf(t, nodes)
	if resp, err := http.Post("http://"+p.http+"/v1/cluster/snapshot", "", nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("snapshot: %v %v", err, resp)
	}
	stopNode(t, p)
	startNode(t, bin, p, "")
	waitReady(t, p)
	waitCommitted(t, []*proc{p}, "etl", offs[19])
	peek := historyOffsets(t, "--server", p.http, "--consumer", "etl", "--filter", "t/#", "--limit", "10", "--no-commit")
	if fmt.Sprint(peek) != fmt.Sprint(offs[20:30]) {
		t.Fatalf("page 3 with --no-commit: %v, want %v", peek, offs[20:30])
	}
	waitCommitted(t, []*proc{p}, "etl", offs[19]) // --no-commit moved nothing
	if got := page(p); fmt.Sprint(got) != fmt.Sprint(offs[20:30]) {
		t.Fatalf("page 3 after the restart: %v, want %v", got, offs[20:30])
	}
	waitCommitted(t, nodes, "etl", offs[29])
	checkFollow(t, bin, nodes)
}

// checkFollow: `strata history --follow --consumer` prints what is
// published after it started, in order, and on SIGINT exits 0 having
// committed what it printed.
func checkFollow(t *testing.T, bin string, nodes []*proc) {
	t.Helper()
	cmd := exec.Command(bin, "history", "--server", nodes[0].http, "--filter", "live/#", "--consumer", "tail", "--follow")
	var errb syncBuffer
	cmd.Stderr = &errb
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan uint64, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var row struct{ Offset uint64 }
			if json.Unmarshal(sc.Bytes(), &row) == nil {
				lines <- row.Offset
			}
		}
	}()
	var want []uint64
	for round := 0; round < 3; round++ {
		offs := publishHTTP(t, nodes[round], "live/a", 2)
		want = append(want, offs...)
		for _, w := range offs {
			select {
			case got := <-lines:
				if got != w {
					t.Fatalf("follow printed %d, want %d (stderr %s)", got, w, errb.String())
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("follow: offset %d not printed (stderr %s)", w, errb.String())
			}
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("history --follow after SIGINT: %v (stderr %s)", err, errb.String())
	}
	waitCommitted(t, nodes, "tail", want[len(want)-1])
}

// TestConsumerFlagsUsage: meaningless combinations are usage errors (exit
// 2) before any request.
func TestConsumerFlagsUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--filter", "a", "--no-commit"},
		{"--filter", "a", "--consumer", "c", "--to", "5"},
		{"--filter", "a", "--follow", "--to", "5"},
		{"--filter", "a", "--consumer", "bad/name"},
	} {
		var out, errb bytes.Buffer
		if code := run(append([]string{"history", "--server", "127.0.0.1:1"}, args...), &out, &errb); code != 2 {
			t.Errorf("history %v: exit %d (%s), want 2", args, code, errb.String())
		}
	}
}

// TestLineOffset: the offsets history commits are read from NDJSON and
// CSV lines; a CSV header or an error line is not a record.
func TestLineOffset(t *testing.T) {
	for line, want := range map[string]int64{
		`{"offset":42,"time":"x"}` + "\n":          42,
		"7,2026-01-01T00:00:00Z,a,0,false,,{}\r\n": 7,
		"offset,time,topic\r\n":                    -1,
		`{"error":"boom"}` + "\n":                  -1,
	} {
		off, ok := lineOffset([]byte(line))
		if got := map[bool]int64{true: int64(off), false: -1}[ok]; got != want {
			t.Errorf("lineOffset(%q) = %d, want %d", line, got, want)
		}
	}
}
