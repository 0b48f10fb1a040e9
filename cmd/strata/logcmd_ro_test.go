package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stratamq/strata/fsm"
	strlog "github.com/stratamq/strata/log"
)

// treeOf lists every path under dir with its size and mode, to compare
// before and after a read-only command.
func treeOf(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			fmt.Fprintf(&b, "%s %s", p, fi.Mode())
			if !fi.IsDir() {
				fmt.Fprintf(&b, " %d bytes, modified %s", fi.Size(), fi.ModTime())
			}
			b.WriteString("\n")
		}
		return nil
	})
	return b.String()
}

// TestLogToolsReadOnly: on a missing directory, one that is not a data
// directory, a data directory with a torn active segment and leftover
// temporary file, strata log inspect and dump create, cut or remove
// nothing; the first two are exit 1 with a clear message.
func TestLogToolsReadOnly(t *testing.T) {
	root := t.TempDir()
	missing := filepath.Join(root, "nosuch")
	etc := filepath.Join(root, "etc")
	os.MkdirAll(etc, 0o755)
	os.WriteFile(filepath.Join(etc, "hosts"), []byte("127.0.0.1 localhost\n"), 0o644)
	data := filepath.Join(root, "data")
	writeTestLog(t, data, 20)
	segs, _ := filepath.Glob(filepath.Join(data, "log", "*.seg"))
	f, err := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("torn frame bytes")) // a crash in the middle of an append
	f.Close()
	os.WriteFile(filepath.Join(data, "log", "00000000000000000099.seg.tmp"), []byte("x"), 0o600)
	before := treeOf(t, root)
	for _, c := range []struct {
		dir, sub string
		code     int
		msg      string
	}{
		{missing, "inspect", 1, "does not exist"},
		{missing, "dump", 1, "does not exist"},
		{etc, "inspect", 1, "is not a Strata data directory"},
		{etc, "dump", 1, "is not a Strata data directory"},
		{filepath.Join(etc, "hosts"), "inspect", 1, "is not a directory"},
		{data, "inspect", 0, "16 bytes past the last whole frame"},
		{data, "dump", 0, `"offset":19`},
	} {
		var out, errb bytes.Buffer
		code := run([]string{"log", c.sub, "--data-dir", c.dir}, &out, &errb)
		if code != c.code || !strings.Contains(out.String()+errb.String(), c.msg) {
			t.Errorf("log %s %s: exit %d, %q %q; want exit %d mentioning %q", c.sub, c.dir, code, out.String(), errb.String(), c.code, c.msg)
		}
	}
	if after := treeOf(t, root); after != before {
		t.Fatalf("the log tools changed files:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestLogDumpPayload: --payload writes each publish's payload as asked;
// the record's value stays base64.
func TestLogDumpPayload(t *testing.T) {
	dir := t.TempDir()
	l, err := strlog.Open(filepath.Join(dir, "log"), strlog.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range []string{"hello", `{"t": 1}`, "\xff\x00"} {
		e := fsm.Entry{Kind: fsm.KindPublish, ClientID: "c", Time: time.Now().UnixNano(), Publish: fsm.Publish{Message: fsm.Message{Topic: "a/b", Payload: []byte(p)}}}
		rec, err := e.Record()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append([]strlog.Record{rec}, uint64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	want := map[string][]string{
		"text":   {`"payload":"hello"`, `"payload":"{\"t\": 1}"`, `"payload":"\ufffd\u0000"`},
		"hex":    {`"payload":"68656c6c6f"`, `"payload":"7b2274223a20317d"`, `"payload":"ff00"`},
		"auto":   {`"payload":"hello","payload_encoding":"text"`, `"payload_json":{"t":1},"payload_encoding":"json"`, `"payload":"/wA=","payload_encoding":"base64"`},
		"base64": {`"payload":"aGVsbG8="`, `"payload":"eyJ0IjogMX0="`, `"payload":"/wA="`},
	}
	for mode, w := range want {
		var out, errb bytes.Buffer
		if code := run([]string{"log", "dump", "--data-dir", dir, "--payload", mode}, &out, &errb); code != 0 {
			t.Fatalf("--payload %s: exit %d %s", mode, code, errb.String())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		for i, line := range lines {
			var r dumpRecord
			if err := json.Unmarshal([]byte(line), &r); err != nil || !strings.Contains(line, w[i]) || r.Value == "" {
				t.Errorf("--payload %s line %d: %s; want %s", mode, i, line, w[i])
			}
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"log", "dump", "--data-dir", dir, "--payload", "utf8"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "want base64, text, hex, auto") {
		t.Fatalf("bad --payload: exit %d %q", code, errb.String())
	}
}

// TestLogToolsRefuseRunningNode: strata log inspect and dump on the data
// directory of a running `strata serve` are exit 1 naming its pid; after
// kill -9 (the kernel drops the node's lock) they work, and the node
// restarts on the directory.
func TestLogToolsRefuseRunningNode(t *testing.T) {
	bin := buildStrata(t)
	p := &proc{id: "n1", http: freeAddr(t), raft: freeAddr(t), dir: filepath.Join(t.TempDir(), "data")}
	startNode(t, bin, p, "")
	waitReady(t, p)
	for _, sub := range []string{"inspect", "dump"} {
		var out, errb bytes.Buffer
		code := run([]string{"log", sub, "--data-dir", p.dir}, &out, &errb)
		if code != 1 || !strings.Contains(errb.String(), "in use by a running node (pid ") {
			t.Fatalf("log %s on a running node: exit %d %q", sub, code, errb.String())
		}
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
	var out, errb bytes.Buffer
	if code := run([]string{"log", "inspect", "--data-dir", p.dir}, &out, &errb); code != 0 || !strings.Contains(out.String(), "every checksum good") {
		t.Fatalf("log inspect after kill -9: exit %d %q %q", code, out.String(), errb.String())
	}
	startNode(t, bin, p, "")
	waitReady(t, p)
}
