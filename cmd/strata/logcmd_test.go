package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	strlog "github.com/stratamq/strata/log"
)

func writeTestLog(t *testing.T, dir string, n int) {
	t.Helper()
	l, err := strlog.Open(filepath.Join(dir, "log"), strlog.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		rec := strlog.Record{Time: int64(1_763_800_000_000_000_000 + i*1_000_000), Kind: 1,
			Key: fmt.Appendf(nil, "sensors/%d/temp", i%3), Value: fmt.Appendf(nil, "%d", i)}
		if _, err := l.Append([]strlog.Record{rec}, uint64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestLogDump(t *testing.T) {
	dir := t.TempDir()
	writeTestLog(t, dir, 30)
	var out, errb bytes.Buffer
	code := run([]string{"log", "dump", "--data-dir", dir, "--filter", "sensors/1/+", "--from", "5", "--to", "2025-11-22T08:26:40.020Z"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var offsets []uint64
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var r dumpRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("bad NDJSON line %q: %v", sc.Text(), err)
		}
		if r.Key != "sensors/1/temp" {
			t.Fatalf("record %d has topic %q", r.Offset, r.Key)
		}
		offsets = append(offsets, r.Offset)
	}
	// Offsets 5..19 (time 08:26:40.020 is offset 20, exclusive), topic 1 = offsets ≡ 1 mod 3.
	if fmt.Sprint(offsets) != "[7 10 13 16 19]" {
		t.Fatalf("offsets %v", offsets)
	}
}

func TestLogCommandErrors(t *testing.T) {
	dir := t.TempDir()
	writeTestLog(t, dir, 3)
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"log", "dump", "--data-dir", dir, "--filter", "a/#/b"}, 2, "MQTT-4.7.1-2"},
		{[]string{"log", "dump", "--data-dir", dir, "--from", "yesterday"}, 2, "neither a decimal offset nor an RFC 3339 time"},
		{[]string{"log", "frobnicate"}, 2, "unknown subcommand"},
		{[]string{"nosuch"}, 2, "unknown command"},
		{[]string{"log", "inspect", "--data-dir", dir}, 0, ""},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		if code := run(c.args, &out, &errb); code != c.code || !strings.Contains(errb.String(), c.msg) {
			t.Errorf("%v: exit %d stderr %q; want exit %d mentioning %q", c.args, code, errb.String(), c.code, c.msg)
		}
	}
	var out, errb bytes.Buffer
	run([]string{"log", "inspect", "--data-dir", dir}, &out, &errb)
	if !strings.Contains(out.String(), "verified 3 records") {
		t.Fatalf("inspect output: %s", out.String())
	}
}
