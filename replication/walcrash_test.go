package replication

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratamq/strata/log"
)

// crashChildEnv names the data directory to the child process of
// TestWALKillMidLoad; the child runs TestWALCrashChild.
const crashChildEnv = "STRATA_WAL_CRASH_CHILD_DIR"

// TestWALKillMidLoad runs a node in a child process (this test binary),
// kills it with SIGKILL while 32 proposers are committing, then tears the
// tail of raft-wal's last segment (a half-written next append) and removes
// the segment log (a crash may lose its unsynced tail; here all of it, and
// no snapshot was taken), so that everything must come back from raft-wal.
// On reopen raft starts, elects itself, and every proposal the child
// acknowledged is in the rebuilt log at its acknowledged offset.
func TestWALKillMidLoad(t *testing.T) {
	dir := t.TempDir()
	acked := runAndKillChild(t, dir, 1000)
	tearWALTail(t, dir)
	if err := os.RemoveAll(filepath.Join(dir, "log")); err != nil {
		t.Fatal(err)
	}

	n, err := New(storeTestOptions(dir, "crash"))
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.WaitLeader(ctx); err != nil {
		t.Fatalf("raft after kill: %v", err)
	}
	if _, err := n.Propose(ctx, publish("c/after", "after-restart")).Wait(); err != nil {
		t.Fatalf("propose after restart: %v", err)
	}
	checkAcked(t, acked, payloads(t, readAll(t, n.Log())))
	t.Logf("%d acknowledged proposals survived the kill", len(acked))
}

// TestWALCrashChild is the child half of TestWALKillMidLoad: it proposes
// until killed, printing "payload offset" for each acknowledgement. It does
// nothing unless run by TestWALKillMidLoad.
func TestWALCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("run by TestWALKillMidLoad")
	}
	n, err := New(storeTestOptions(dir, "crash"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex // one acknowledgement per write(2), whole lines only
	var wg sync.WaitGroup
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				p := fmt.Sprintf("g%d-%d", g, k)
				off, err := n.Propose(context.Background(), publish("c/t", p)).Wait()
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "%s %d\n", p, off)
				mu.Unlock()
			}
		}()
	}
	wg.Wait() // until killed, or a proposal fails
}

// runAndKillChild starts the child on dir, reads its acknowledgements until
// it has want of them, kills it with SIGKILL, and returns what it acked.
func runAndKillChild(t *testing.T, dir string, want int) map[string]log.Offset {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestWALCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Killed on every way out (a failed one included), and at a deadline
	// (not a pause: normally the kill below comes first).
	defer cmd.Process.Kill()
	timer := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	acked := map[string]log.Offset{}
	sc := bufio.NewScanner(out)
	for len(acked) < want && sc.Scan() {
		p, off, err := parseAck(sc.Text())
		if err != nil {
			t.Fatalf("child printed %q: %v", sc.Text(), err)
		}
		acked[p] = off
	}
	cmd.Process.Kill()
	for sc.Scan() { // acknowledgements already in the pipe count too
		if p, off, err := parseAck(sc.Text()); err == nil {
			acked[p] = off
		}
	}
	cmd.Wait()
	if len(acked) < want {
		t.Fatalf("child acknowledged %d proposals before it ended, want %d; stderr:\n%s", len(acked), want, stderr.String())
	}
	return acked
}

// parseAck reads "payload offset"; a line cut by the kill fails.
func parseAck(line string) (string, log.Offset, error) {
	p, o, ok := strings.Cut(line, " ")
	if !ok {
		return "", 0, fmt.Errorf("no offset")
	}
	off, err := strconv.ParseUint(o, 10, 64)
	return p, log.Offset(off), err
}

// tearWALTail writes a torn frame after the last written byte of the last
// raft-wal segment (the files are preallocated with zeros): what a crash in
// the middle of the next append leaves.
func tearWALTail(t *testing.T, dir string) {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "raft", "wal", "*.wal"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no raft-wal segments (%v)", err)
	}
	sort.Strings(segs)
	last := segs[len(segs)-1]
	data, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	// Frames start 8-byte aligned with a non-zero type byte: the next
	// append would start at the first aligned offset after the data.
	end := (len(bytes.TrimRight(data, "\x00")) + 7) &^ 7
	torn := bytes.Repeat([]byte{0x01, 0xAB, 0x37}, 13) // a frame header's type byte and garbage
	f, err := os.OpenFile(last, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(torn, int64(end)); err != nil {
		t.Fatal(err)
	}
}
