package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// logLines parses a node's stderr: one JSON object per line.
func logLines(t *testing.T, p *proc) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(p.stderr.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%s: log line %q is not JSON: %v", p.id, l, err)
		}
		out = append(out, m)
	}
	return out
}

func findLog(lines []map[string]any, msg string) (map[string]any, int) {
	for i, m := range lines {
		if m["message"] == msg {
			return m, i
		}
	}
	return nil, -1
}

// TestLogsOfAStart: two real nodes at info, the second started first with
// --join (the first not up yet), then an MQTT client connecting and
// disconnecting. Neither node logs a warning for this normal start; raft's
// lines carry "level" (not nested); timestamps have milliseconds; "strata
// node started" follows every listener; the join's early refusals are
// info; connects and disconnects are info with client, node, remote,
// protocol and why; a refused connect names its client once.
func TestLogsOfAStart(t *testing.T) {
	bin := buildStrata(t)
	root := t.TempDir()
	n1 := &proc{id: "n1", http: freeAddr(t), raft: freeAddr(t), dir: filepath.Join(root, "n1")}
	n2 := &proc{id: "n2", http: freeAddr(t), raft: freeAddr(t), dir: filepath.Join(root, "n2")}
	startNode(t, bin, n2, n1.http, "--log-level", "info")
	waitFor(t, "n2's first join attempt", 10*time.Second, func() bool { return strings.Contains(n2.stderr.String(), "join refused") })
	startNode(t, bin, n1, "", "--log-level", "info")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("n1:\n%s\nn2:\n%s", n1.stderr, n2.stderr)
		}
	})
	waitReady(t, n1)
	waitReady(t, n2)
	waitFor(t, "n2 started", 20*time.Second, func() bool { return strings.Contains(n2.stderr.String(), "strata node started") })

	o := paho.NewClientOptions().AddBroker("tcp://" + n2.mqtt).SetClientID("dev-1").SetAutoReconnect(false).SetProtocolVersion(4)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	c.Disconnect(100)
	bad := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://"+n2.mqtt).SetClientID("dev-2").SetWill("$SYS/x", "x", 0, false).SetAutoReconnect(false).SetProtocolVersion(4))
	bad.Connect().WaitTimeout(5 * time.Second)
	waitFor(t, "the disconnect and refusal logged", 10*time.Second, func() bool {
		s := n2.stderr.String()
		return strings.Contains(s, `"disconnected"`) && strings.Contains(s, `"connection refused"`)
	})

	ms := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
	for _, p := range []*proc{n1, n2} {
		lines := logLines(t, p)
		for _, m := range lines {
			if m["level"] != "info" && m["level"] != "debug" {
				t.Errorf("%s: a normal start logged %v", p.id, m)
			}
			if _, nested := m["raft"].(map[string]any); nested {
				t.Errorf("%s: raft's line nested: %v", p.id, m)
			}
			if ts, _ := m["time"].(string); !ms.MatchString(ts) {
				t.Errorf("%s: time %q lacks milliseconds", p.id, ts)
			}
		}
		_, started := findLog(lines, "strata node started")
		_, listening := findLog(lines, "MQTT listening")
		if started < 0 || listening < 0 || started < listening {
			t.Errorf("%s: started at line %d, listening at %d", p.id, started, listening)
		}
	}
	lines := logLines(t, n2)
	if m, _ := findLog(lines, "join refused or failed; retrying"); m == nil || m["level"] != "info" {
		t.Errorf("n2's first join refusal: %v", m)
	}
	for _, msg := range []string{"connected", "disconnected"} {
		m, _ := findLog(lines, msg)
		if m == nil || m["level"] != "info" || m["client"] != "dev-1" || m["node"] != "n2" || m["protocol"] != "3.1.1" ||
			!strings.HasPrefix(m["remote"].(string), "127.0.0.1:") {
			t.Errorf("%q: %v", msg, m)
		}
		if msg == "disconnected" && !strings.Contains(m["why"].(string), "DISCONNECT") {
			t.Errorf("disconnect reason: %v", m)
		}
	}
	for _, l := range strings.Split(n2.stderr.String(), "\n") {
		if strings.Contains(l, `"connection refused"`) && (strings.Count(l, `"client":`) != 1 || !strings.Contains(l, `"client":"dev-2"`) || !strings.Contains(l, `"protocol":"3.1.1"`)) {
			t.Errorf("refusal line %s", l)
		}
	}
}
