package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestHistoryLastAndPayload: strata history --from last-N (and last:N)
// gets the N most recent matches, --payload text|hex|auto writes payloads
// as asked, and an inverted range is the server's 400.
func TestHistoryLastAndPayload(t *testing.T) {
	url := historyServer(t, 40) // payloads "0".."39" on h/(i%4)
	type row struct {
		Offset   uint64          `json:"offset"`
		Payload  string          `json:"payload"`
		JSON     json.RawMessage `json:"payload_json"`
		Encoding string          `json:"payload_encoding"`
	}
	read := func(args ...string) []row {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if err := runHistory(append([]string{"--server", url, "--filter", "h/1"}, args...), &stdout, &stderr); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		var rows []row
		for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
			var r row
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatalf("%v: line %q: %v", args, l, err)
			}
			rows = append(rows, r)
		}
		return rows
	}
	for _, from := range []string{"last-3", "last:3"} {
		rows := read("--from", from, "--payload", "text")
		if len(rows) != 3 || rows[0].Payload != "29" || rows[2].Payload != "37" {
			t.Fatalf("--from %s --payload text: %+v", from, rows)
		}
	}
	if rows := read("--from", "last-1", "--payload", "hex"); len(rows) != 1 || rows[0].Payload != "3337" {
		t.Fatalf("--payload hex: %+v", rows)
	}
	if rows := read("--from", "last-1", "--payload", "auto"); len(rows) != 1 || string(rows[0].JSON) != "37" || rows[0].Encoding != "json" {
		t.Fatalf("--payload auto: %+v", rows)
	}
	if rows := read("--from", "last-1"); len(rows) != 1 || rows[0].Payload != "Mzc=" {
		t.Fatalf("default base64: %+v", rows)
	}
	var stdout, stderr bytes.Buffer
	err := runHistory([]string{"--server", url, "--filter", "h/1", "--from", "20", "--to", "10"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "inverted") {
		t.Fatalf("inverted range: %v", err)
	}
	for _, args := range [][]string{{"--from", "last-0"}, {"--payload", "utf8"}} {
		if err := runHistory(append([]string{"--server", url, "--filter", "h/1"}, args...), &stdout, &stderr); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}
