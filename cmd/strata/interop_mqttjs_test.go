package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Interop test with mqtt.js under Node.js: testdata/mqttjs/interop.js against
// a real `strata serve` process, over TCP and WebSocket, MQTT 3.1.1 and 5.0.
// mqtt.js comes from Debian's node-mqtt (/usr/share/nodejs, installed by
// .ci/run) or from testdata/mqttjs/node_modules.

const mqttjsDebianPath = "/usr/share/nodejs"

// mqttjsEnv is the environment node runs with: NODE_PATH gains Debian's
// module directory (node from other sources does not search it).
func mqttjsEnv() []string {
	np := mqttjsDebianPath
	if cur := os.Getenv("NODE_PATH"); cur != "" {
		np = cur + string(os.PathListSeparator) + np
	}
	return append(os.Environ(), "NODE_PATH="+np)
}

// needMQTTJS skips unless node runs and can load mqtt.js; it returns the
// script's path.
func needMQTTJS(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found in PATH: install the Debian packages nodejs and node-mqtt (.ci/run does) to run the mqtt.js interop test")
	}
	script, err := filepath.Abs(filepath.Join("testdata", "mqttjs", "interop.js"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "-e", "console.log(require('mqtt/package.json').version)")
	cmd.Dir = filepath.Dir(script) // finds testdata/mqttjs/node_modules too
	cmd.Env = mqttjsEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Skipf("mqtt.js not loadable by node (%v): install the Debian package node-mqtt (.ci/run does) or run npm install mqtt in testdata/mqttjs to run the mqtt.js interop test\n%s", err, out)
	}
	t.Logf("mqtt.js %s", strings.TrimSpace(string(out)))
	return script
}

// mqttjsResult is interop.js's JSON line.
type mqttjsResult struct {
	OK         bool   `json:"ok"`
	URL        string `json:"url"`
	Version    int    `json:"version"`
	Connected  bool   `json:"connected"`
	Subscribed bool   `json:"subscribed"`
	GrantedQoS *int   `json:"granted_qos"`
	Sent       int    `json:"sent"`
	PubAck     int    `json:"puback"`
	Received   []struct {
		Topic   string  `json:"topic"`
		Payload string  `json:"payload"`
		QoS     int     `json:"qos"`
		Retain  bool    `json:"retain"`
		Offset  *string `json:"offset"`
		K       *string `json:"k"`
	} `json:"received"`
	WireOrder []string `json:"wire_order"`
	Errors    []string `json:"errors"`
}

func TestInteropMQTTJS(t *testing.T) {
	script := needMQTTJS(t)
	bin := buildStrata(t)
	node := startInteropNode(t, bin)
	const count = 30 // QoS 0, 1, 2 in turn
	for _, tc := range []struct{ name, url string }{
		{"tcp", "mqtt://" + node.mqtt},
		{"ws", "ws://" + node.ws + "/mqtt"},
	} {
		for _, version := range []int{4, 5} {
			tc, version := tc, version
			name := tc.name + "/" + map[int]string{4: "mqttv311", 5: "mqttv5"}[version]
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				c := startClientWith(t, func(cmd *exec.Cmd) {
					cmd.Dir = filepath.Dir(script)
					cmd.Env = mqttjsEnv()
				}, "node", script, tc.url, strconv.Itoa(version), strconv.Itoa(count))
				err := c.wait(t, 40*time.Second) // the script gives up after 20 s
				out := c.out.String()
				var r mqttjsResult
				lines := c.out.lines()
				for i := len(lines) - 1; i >= 0; i-- { // the JSON line is the last one starting with {
					if strings.HasPrefix(lines[i], "{") {
						if jerr := json.Unmarshal([]byte(lines[i]), &r); jerr != nil {
							t.Fatalf("interop.js printed bad JSON (%v):\n%s", jerr, out)
						}
						break
					}
				}
				if r.URL == "" {
					t.Fatalf("interop.js printed no result (exit: %v):\n%s", err, out)
				}
				if len(r.Errors) > 0 || !r.OK || err != nil {
					t.Fatalf("mqtt.js %s MQTT %d: exit %v, errors:\n  %s\nfull output:\n%s", tc.url, version, err, strings.Join(r.Errors, "\n  "), out)
				}
				// The script checks these too; asserted here so that a
				// script that checks nothing cannot pass.
				if !r.Connected || !r.Subscribed || r.GrantedQoS == nil || *r.GrantedQoS != 2 {
					t.Fatalf("connected %v, subscribed %v, granted QoS %v: want true, true, 2", r.Connected, r.Subscribed, r.GrantedQoS)
				}
				if r.Version != version || r.Sent != count || r.PubAck != 2*count/3 || len(r.Received) != count || len(r.WireOrder) != count {
					t.Fatalf("version %d, sent %d, acknowledged %d, received %d, on the wire %d: want %d, %d, %d, %d, %d",
						r.Version, r.Sent, r.PubAck, len(r.Received), len(r.WireOrder), version, count, 2*count/3, count, count)
				}
				for i, p := range r.WireOrder {
					if want := "m-" + strconv.Itoa(i); p != want {
						t.Fatalf("PUBLISH %d on the wire carries %q, want %q (publish order)", i, p, want)
					}
				}
				perQoS := map[int]int{}
				var prevOffset int64 = -1
				byPayload := map[string]int64{}
				for _, m := range r.Received {
					i, err := strconv.Atoi(strings.TrimPrefix(m.Payload, "m-"))
					if err != nil || i < 0 || i >= count {
						t.Fatalf("unexpected payload %q", m.Payload)
					}
					if m.QoS != i%3 || m.Retain {
						t.Errorf("%s: QoS %d retain %v, want QoS %d, no retain", m.Payload, m.QoS, m.Retain, i%3)
					}
					if last, ok := perQoS[m.QoS]; ok && i <= last {
						t.Errorf("QoS %d: %s delivered after m-%d", m.QoS, m.Payload, last)
					}
					perQoS[m.QoS] = i
					if version == 4 {
						continue
					}
					if m.Offset == nil || m.K == nil || *m.K != "v"+strconv.Itoa(i) {
						t.Fatalf("%s: user properties offset=%v k=%v, want an offset and k=v%d", m.Payload, m.Offset, m.K, i)
					}
					off, err := strconv.ParseInt(*m.Offset, 10, 64)
					if err != nil {
						t.Fatalf("%s: offset user property %q: %v", m.Payload, *m.Offset, err)
					}
					byPayload[m.Payload] = off
				}
				if version == 5 {
					for i := 0; i < count; i++ {
						off := byPayload["m-"+strconv.Itoa(i)]
						if off <= prevOffset {
							t.Fatalf("m-%d at offset %d, not after the previous message's %d", i, off, prevOffset)
						}
						prevOffset = off
					}
				}
			})
		}
	}
}
