package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stratamq/strata/fsm"
	strlog "github.com/stratamq/strata/log"
)

// buildStrata compiles the binary once per test run.
func buildStrata(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "strata")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// freeAddr returns a loopback address with a port free at the moment.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type proc struct {
	id, http, raft, dir string
	mqtt, ws            string // MQTT listeners; free ports picked when empty
	cmd                 *exec.Cmd
	stderr              *syncBuffer
}

// syncBuffer is the process's stderr: written by exec's copying goroutine,
// read by the test while the process runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func startNode(t *testing.T, bin string, p *proc, join string, extra ...string) {
	t.Helper()
	if p.mqtt == "" {
		p.mqtt = freeAddr(t)
	}
	if p.ws == "" {
		p.ws = freeAddr(t)
	}
	args := []string{"serve", "--node-id", p.id, "--data-dir", p.dir, "--http", p.http, "--raft-addr", p.raft,
		"--mqtt", p.mqtt, "--ws", p.ws, "--log-level", "warn"}
	if join != "" {
		args = append(args, "--join", join)
	}
	if !slices.ContainsFunc(extra, func(a string) bool { return strings.HasPrefix(a, "--cluster-") }) {
		args = append(args, "--cluster-key", clusterKey(t, bin)) // the real, secure path
	}
	args = append(args, extra...)
	p.cmd = exec.Command(bin, args...)
	p.stderr = &syncBuffer{}
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
}

// clusterKey is the cluster key file shared by the nodes a test starts
// with bin (one build per test), made by `strata cluster keygen`.
func clusterKey(t *testing.T, bin string) string {
	t.Helper()
	path := filepath.Join(filepath.Dir(bin), "cluster.key")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if out, err := exec.Command(bin, "cluster", "keygen", path).CombinedOutput(); err != nil {
		t.Fatalf("strata cluster keygen: %v\n%s", err, out)
	}
	return path
}

func getJSON(url string, v any) error {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond) // poll interval under a deadline
	}
}

// publisher publishes unique payloads to whichever node accepts them and
// records what was acknowledged, with its offset.
type publisher struct {
	mu      sync.Mutex
	acked   map[string]uint64
	nodes   []*proc
	dead    map[string]bool
	lastErr string // why the last publish not acknowledged was not, for failures
}

func (p *publisher) fail(why string) {
	p.mu.Lock()
	p.lastErr = why
	p.mu.Unlock()
}

func (p *publisher) publishOnce(seq int) {
	payload := fmt.Sprintf("m-%d", seq)
	p.mu.Lock()
	nodes := p.nodes
	p.mu.Unlock()
	c := &http.Client{Timeout: 3 * time.Second}
	for _, n := range nodes {
		if p.isDead(n.id) {
			continue
		}
		resp, err := c.Post("http://"+n.http+"/v1/publish?topic=load/"+fmt.Sprint(seq%4), "text/plain", strings.NewReader(payload))
		var opErr *net.OpError
		if err != nil && errors.As(err, &opErr) && opErr.Op == "dial" {
			continue // not sent: another node may take it
		}
		if err != nil {
			p.fail(fmt.Sprintf("%s via %s: %v", payload, n.id, err))
			return // sent, no answer (a killed node): it may be committed, so it is not sent twice
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var out struct{ Offset *uint64 }
		json.Unmarshal(body, &out)
		if resp.StatusCode == http.StatusOK && out.Offset != nil {
			p.mu.Lock()
			p.acked[payload] = *out.Offset
			p.mu.Unlock()
			return
		}
		p.fail(fmt.Sprintf("%s via %s: %d %s", payload, n.id, resp.StatusCode, body))
	}
}

func (p *publisher) isDead(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dead[id]
}

func (p *publisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acked)
}

// TestKillLeaderUnderLoad runs three real `strata serve` processes on
// 127.0.0.1, kills the leader with SIGKILL while publishers are active, and
// checks that the survivors keep accepting and that every acknowledged
// publish is in both survivors' logs exactly once, at its offset.
func TestKillLeaderUnderLoad(t *testing.T) {
	bin := buildStrata(t)
	var nodes []*proc
	for i := 1; i <= 3; i++ {
		nodes = append(nodes, &proc{id: fmt.Sprint("n", i), http: freeAddr(t), raft: freeAddr(t), dir: filepath.Join(t.TempDir(), "data")})
	}
	startNode(t, bin, nodes[0], "")
	waitFor(t, "n1 ready", 15*time.Second, func() bool { var v any; return getJSON("http://"+nodes[0].http+"/readyz", &v) == nil })
	startNode(t, bin, nodes[1], nodes[0].http)
	waitFor(t, "n2 to join", 30*time.Second, func() bool {
		var st struct{ Servers []struct{ Voter bool } }
		return getJSON("http://"+nodes[1].http+"/v1/cluster/status", &st) == nil && len(st.Servers) == 2
	})
	startNode(t, bin, nodes[2], nodes[1].http) // through a follower: it redirects to the leader
	waitFor(t, "three voters", 30*time.Second, func() bool {
		var st struct{ Servers []struct{ Voter bool } }
		return getJSON("http://"+nodes[0].http+"/v1/cluster/status", &st) == nil && len(st.Servers) == 3
	})
	pub := &publisher{acked: map[string]uint64{}, nodes: nodes, dead: map[string]bool{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var next int
	var seqMu sync.Mutex
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				seqMu.Lock()
				next++
				seq := next
				seqMu.Unlock()
				pub.publishOnce(seq)
			}
		}()
	}
	waitFor(t, "200 acks before the kill", 30*time.Second, func() bool { return pub.count() >= 200 })
	leader := leaderOf(t, nodes)
	pub.mu.Lock()
	pub.dead[leader.id] = true
	pub.mu.Unlock()
	if err := leader.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	before := pub.count()
	waitFor(t, "200 acks after the kill", 60*time.Second, func() bool { return pub.count() >= before+200 })
	close(stop)
	wg.Wait()
	var survivors []*proc
	for _, n := range nodes {
		if n != leader {
			survivors = append(survivors, n)
		}
	}
	waitFor(t, "survivors to converge", 20*time.Second, func() bool {
		var a, b struct {
			NextOffset uint64 `json:"next_offset"`
		}
		return getJSON("http://"+survivors[0].http+"/v1/cluster/status", &a) == nil &&
			getJSON("http://"+survivors[1].http+"/v1/cluster/status", &b) == nil && a.NextOffset == b.NextOffset
	})
	var dumps [][]byte
	for _, n := range survivors {
		n.cmd.Process.Signal(syscall.SIGTERM)
		n.cmd.Wait()
		dumps = append(dumps, dumpLog(t, n.dir))
	}
	if !bytes.Equal(dumps[0], dumps[1]) {
		t.Fatal("the survivors' logs differ")
	}
	checkAckedInDump(t, pub.acked, dumps[0])
	t.Logf("%d acknowledged publishes (%d after the kill), all present exactly once", len(pub.acked), len(pub.acked)-before)
}

func leaderOf(t *testing.T, nodes []*proc) *proc {
	var st struct {
		LeaderID string `json:"leader_id"`
	}
	if err := getJSON("http://"+nodes[0].http+"/v1/cluster/status", &st); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.id == st.LeaderID {
			return n
		}
	}
	t.Fatalf("leader %q unknown", st.LeaderID)
	return nil
}

func dumpLog(t *testing.T, dataDir string) []byte {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run([]string{"log", "dump", "--data-dir", dataDir}, &out, &errb); code != 0 {
		t.Fatalf("log dump %s: %s", dataDir, errb.String())
	}
	return out.Bytes()
}

func checkAckedInDump(t *testing.T, acked map[string]uint64, dump []byte) {
	t.Helper()
	seen := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(dump))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r dumpRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		value, _ := base64.StdEncoding.DecodeString(r.Value)
		e, err := fsm.DecodeRecord(strlog.Record{Kind: r.Kind, Key: []byte(r.Key), Value: value})
		if err != nil || e.Kind != fsm.KindPublish {
			continue
		}
		p := string(e.Publish.Payload)
		if _, dup := seen[p]; dup {
			t.Fatalf("payload %q is in the log twice", p)
		}
		seen[p] = r.Offset
	}
	for p, off := range acked {
		got, ok := seen[p]
		if !ok {
			t.Fatalf("acknowledged %q (offset %d) is missing from the survivors' log", p, off)
		}
		if got != off {
			t.Fatalf("acknowledged %q at offset %d, the log has it at %d", p, off, got)
		}
	}
}

// TestBootstrapExpect starts three processes at once, each told to expect
// three founders and given the others' HTTP addresses: they form one cluster,
// and a publish sent to every node (followers forward) lands in all logs.
func TestBootstrapExpect(t *testing.T) {
	bin := buildStrata(t)
	var nodes []*proc
	for i := 1; i <= 3; i++ {
		nodes = append(nodes, &proc{id: fmt.Sprint("b", i), http: freeAddr(t), raft: freeAddr(t), dir: filepath.Join(t.TempDir(), "data")})
	}
	for i, n := range nodes {
		var peers []string
		for j, m := range nodes {
			if j != i {
				peers = append(peers, m.http)
			}
		}
		startNode(t, bin, n, strings.Join(peers, ","), "--bootstrap-expect", "3")
	}
	for _, n := range nodes {
		waitFor(t, n.id+" sees three voters and a leader", 30*time.Second, func() bool {
			var st struct {
				LeaderID string `json:"leader_id"`
				Servers  []struct{ Voter bool }
			}
			return getJSON("http://"+n.http+"/v1/cluster/status", &st) == nil && len(st.Servers) == 3 && st.LeaderID != ""
		})
	}
	pub := &publisher{acked: map[string]uint64{}, nodes: nodes, dead: map[string]bool{}}
	for i, n := range nodes {
		waitFor(t, "a publish through "+n.id, 20*time.Second, func() bool {
			pub.nodes = []*proc{n}
			pub.publishOnce(i)
			return pub.count() == i+1
		})
	}
	waitFor(t, "equal logs", 20*time.Second, func() bool {
		var a, b, c struct {
			NextOffset uint64 `json:"next_offset"`
		}
		return getJSON("http://"+nodes[0].http+"/v1/cluster/status", &a) == nil &&
			getJSON("http://"+nodes[1].http+"/v1/cluster/status", &b) == nil &&
			getJSON("http://"+nodes[2].http+"/v1/cluster/status", &c) == nil &&
			a.NextOffset == b.NextOffset && b.NextOffset == c.NextOffset
	})
	var dumps [][]byte
	for _, n := range nodes {
		n.cmd.Process.Signal(syscall.SIGTERM)
		n.cmd.Wait()
		dumps = append(dumps, dumpLog(t, n.dir))
	}
	if !bytes.Equal(dumps[0], dumps[1]) || !bytes.Equal(dumps[1], dumps[2]) {
		t.Fatal("the three logs differ")
	}
	checkAckedInDump(t, pub.acked, dumps[0])
}
