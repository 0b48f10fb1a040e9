package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stratamq/strata/replication"
)

// TestSnapshotBackupRestore follows docs/operations.md with the real
// binary: publish, `strata cluster snapshot`, copy the directory it names,
// publish more, stop the node, `strata restore` into a new data directory,
// and start a node on it: it serves exactly the backed-up messages and
// accepts new ones.
func TestSnapshotBackupRestore(t *testing.T) {
	bin := buildStrata(t)
	p := &proc{id: "n1", http: freeAddr(t), raft: freeAddr(t), dir: t.TempDir()}
	startNode(t, bin, p, "")
	waitReady(t, p)
	pub := &publisher{acked: map[string]uint64{}, nodes: []*proc{p}, dead: map[string]bool{}}
	for i := 0; i < 300; i++ {
		pub.publishOnce(i)
	}
	if pub.count() != 300 {
		t.Fatalf("%d of 300 publishes acknowledged", pub.count())
	}
	var out, errb bytes.Buffer
	if code := run([]string{"cluster", "snapshot", "--server", p.http}, &out, &errb); code != 0 {
		t.Fatalf("cluster snapshot: exit %d: %s", code, errb.String())
	}
	var info replication.SnapshotInfo
	if err := json.Unmarshal(out.Bytes(), &info); err != nil || info.Dir == "" {
		t.Fatalf("cluster snapshot printed %q (%v)", out.String(), err)
	}
	backup := filepath.Join(t.TempDir(), info.ID)
	if b, err := exec.Command("cp", "-a", info.Dir, backup).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, b)
	}
	for i := 300; i < 350; i++ {
		pub.publishOnce(i)
	}
	stopNode(t, p)

	restored := &proc{id: "n1", http: freeAddr(t), raft: p.raft, dir: filepath.Join(t.TempDir(), "data")}
	out.Reset()
	if code := run([]string{"restore", "--from", backup, "--data-dir", restored.dir}, &out, &errb); code != 0 {
		t.Fatalf("restore: exit %d: %s", code, errb.String())
	}
	startNode(t, bin, restored, "")
	waitReady(t, restored)
	got := historyPayloads(t, restored)
	if len(got) != 300 {
		t.Fatalf("restored node serves %d messages, the backup held 300", len(got))
	}
	for i := 0; i < 300; i++ {
		if !got["m-"+itoa(i)] {
			t.Fatalf("m-%d missing after restore", i)
		}
	}
	pub.nodes = []*proc{restored}
	before := pub.count()
	pub.publishOnce(1000)
	if pub.count() != before+1 {
		t.Fatal("the restored node does not accept publishes")
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// historyPayloads reads every message over GET /v1/messages.
func historyPayloads(t *testing.T, p *proc) map[string]bool {
	t.Helper()
	resp, err := http.Get("http://" + p.http + "/v1/messages?filter=%23")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var m struct {
			Payload []byte `json:"payload"`
			Error   string `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil || m.Error != "" {
			t.Fatalf("history line %q: %v", sc.Text(), err)
		}
		out[string(m.Payload)] = true
	}
	return out
}
