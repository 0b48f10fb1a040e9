package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/stratamq/strata/auth"
)

// scrape is one parsed GET /metrics: sample name with labels as written
// (`strata_sessions{state="online"}`) to value, and the text itself.
type scrape struct {
	samples map[string]float64
	text    string
}

func (s scrape) get(t *testing.T, name string) float64 {
	t.Helper()
	v, ok := s.samples[name]
	if !ok {
		t.Fatalf("no %s in the scrape:\n%s", name, s.text)
	}
	return v
}

// getMetrics fetches /metrics as user (no credentials when empty); the
// status is returned with the parsed body.
func getMetrics(t *testing.T, httpAddr, user, password string) (int, scrape) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+httpAddr+"/metrics", nil)
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	s := scrape{samples: map[string]float64{}, text: string(body)}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, s
	}
	sc := bufio.NewScanner(strings.NewReader(s.text))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		s.samples[line[:i]] = v
	}
	return resp.StatusCode, s
}

// TestMetricsProcess runs `strata serve --password-file` (credentials are
// then required on loopback too, as everywhere off loopback), publishes
// over MQTT at QoS 0, 1 and 2 to a subscriber, reads the messages back
// through GET /v1/messages and scrapes /metrics: the counters moved by
// exactly what was done, the Raft figures are those of a one-node leader,
// the histograms counted, and promtool accepts the text.
func TestMetricsProcess(t *testing.T) {
	bin := buildStrata(t)
	dir := t.TempDir()
	pw := filepath.Join(dir, "strata.passwd")
	if err := auth.SetPassword(pw, "ops", []byte("ops-pw")); err != nil {
		t.Fatal(err)
	}
	p := &proc{id: "m1", http: freeAddr(t), raft: freeAddr(t), dir: filepath.Join(dir, "data")}
	startNode(t, bin, p, "", "--password-file", pw)
	waitFor(t, "the MQTT listener", 20*time.Second, func() bool { return canDial(p.mqtt) })

	for _, c := range []struct{ user, password string }{{"", ""}, {"ops", "wrong"}} {
		if code, s := getMetrics(t, p.http, c.user, c.password); code != http.StatusUnauthorized {
			t.Fatalf("GET /metrics as %q/%q: %d, want 401\n%s", c.user, c.password, code, s.text)
		}
	}
	if _, err := mqttClient(p.mqtt, "intruder", "ops", "wrong"); err == nil {
		t.Fatal("a wrong MQTT password was admitted")
	}
	_, before := getMetrics(t, p.http, "ops", "ops-pw")

	const perQoS = 5
	var got atomic.Int64
	sub, err := mqttClient(p.mqtt, "sub", "ops", "ops-pw")
	if err != nil {
		t.Fatal(err)
	}
	if tok := sub.Subscribe("m/#", 2, func(paho.Client, paho.Message) { got.Add(1) }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	pub, err := mqttClient(p.mqtt, "pub", "ops", "ops-pw")
	if err != nil {
		t.Fatal(err)
	}
	for qos := range byte(3) {
		for i := range perQoS {
			tok := pub.Publish(fmt.Sprintf("m/%d", qos), qos, false, fmt.Sprintf("payload %d/%d", qos, i))
			if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				t.Fatalf("publish qos %d: %v", qos, tok.Error())
			}
		}
	}
	waitFor(t, "every message delivered", 15*time.Second, func() bool { return got.Load() == 3*perQoS })
	readHistory(t, p.http, "m/%23", 3*perQoS)

	var after scrape
	waitFor(t, "the deliveries counted and the refused connection gone", 10*time.Second, func() bool {
		_, after = getMetrics(t, p.http, "ops", "ops-pw")
		return after.get(t, `strata_mqtt_publishes_sent_total{qos="2"}`)-before.get(t, `strata_mqtt_publishes_sent_total{qos="2"}`) >= perQoS &&
			after.get(t, "strata_mqtt_connections") == 2
	})
	delta := func(name string) float64 { return after.get(t, name) - before.get(t, name) }
	for qos := range 3 {
		for _, dir := range []string{"received", "sent"} {
			name := fmt.Sprintf(`strata_mqtt_publishes_%s_total{qos="%d"}`, dir, qos)
			if d := delta(name); d != perQoS {
				t.Errorf("%s moved by %v, want %d", name, d, perQoS)
			}
		}
	}
	checkMoved(t, delta, map[string]float64{
		`strata_mqtt_received_bytes_total`:                            3 * perQoS * float64(len("m/0payload 0/0")),
		`strata_mqtt_sent_bytes_total`:                                3 * perQoS * float64(len("m/0payload 0/0")),
		`strata_mqtt_connects_total`:                                  2,
		`strata_history_records_served_total{api="http"}`:             3 * perQoS,
		`strata_commit_latency_seconds_count`:                         2*perQoS + 1, // QoS 1 and 2 publishes, the subscribe
		`strata_fsync_duration_seconds_count{store="raft_wal"}`:       1,
		`strata_batch_records_count`:                                  1,
		`strata_batch_entries_per_fsync_count`:                        1,
		`strata_raft_commit_index`:                                    1,
		`strata_log_next_offset`:                                      3 * perQoS,
		`strata_auth_failures_total{protocol="http"}`:                 0,
		`strata_auth_failures_total{protocol="mqtt"}`:                 0,
		`strata_mqtt_dropped_messages_total{reason="retention"}`:      0,
		`strata_mqtt_dropped_messages_total{reason="lagging_shared"}`: 0,
	})
	checkGauges(t, after)
	for name, want := range map[string]float64{`strata_auth_failures_total{protocol="http"}`: 2, `strata_auth_failures_total{protocol="mqtt"}`: 1} {
		if v := before.get(t, name); v != want {
			t.Errorf("%s = %v before the traffic, want %v", name, v, want)
		}
	}
	promtoolCheck(t, after.text)

	// A presence subscription is counted while it is open.
	watcher, err := mqttClient(p.mqtt, "watcher", "ops", "ops-pw")
	if err != nil {
		t.Fatal(err)
	}
	if tok := watcher.Subscribe("$presence/m/#", 0, func(paho.Client, paho.Message) {}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe $presence/m/#: %v", tok.Error())
	}
	waitFor(t, "the presence subscription counted", 10*time.Second, func() bool {
		_, s := getMetrics(t, p.http, "ops", "ops-pw")
		return s.get(t, "strata_mqtt_presence_subscriptions") == 1 && s.get(t, "strata_mqtt_presence_resyncs_total") == 0
	})
}

// checkMoved checks that each counter moved by at least its minimum (and
// not at all for a minimum of 0).
func checkMoved(t *testing.T, delta func(string) float64, min map[string]float64) {
	t.Helper()
	for name, want := range min {
		d := delta(name)
		if d < want || (want == 0 && d != 0) {
			t.Errorf("%s moved by %v, want at least %v (exactly 0 for 0)", name, d, want)
		}
	}
}

// checkGauges checks the gauges of a one-node cluster with two clients
// connected and one subscription.
func checkGauges(t *testing.T, s scrape) {
	t.Helper()
	for name, want := range map[string]float64{
		`strata_raft_state{state="Leader"}`:            1,
		`strata_raft_state{state="Follower"}`:          0,
		`strata_mqtt_connections`:                      2,
		`strata_sessions{state="online"}`:              2,
		`strata_subscriptions`:                         1,
		`strata_node_info{node_id="m1",version="dev"}`: 1,
		`strata_history_readers{api="http"}`:           0,
	} {
		if v := s.get(t, name); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
	commit, applied, last := s.get(t, "strata_raft_commit_index"), s.get(t, "strata_raft_applied_index"), s.get(t, "strata_raft_last_index")
	if s.get(t, "strata_raft_term") < 1 || applied > commit || commit > last || applied < 1 {
		t.Errorf("raft term %v, applied %v, commit %v, last %v: want term >= 1, 1 <= applied <= commit <= last",
			s.get(t, "strata_raft_term"), applied, commit, last)
	}
	if s.get(t, "strata_log_segments") < 1 || s.get(t, "strata_log_bytes") <= 0 {
		t.Errorf("log: %v segments, %v bytes", s.get(t, "strata_log_segments"), s.get(t, "strata_log_bytes"))
	}
}

// readHistory reads GET /v1/messages?filter=... and checks the number of
// messages.
func readHistory(t *testing.T, httpAddr, filter string, want int) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+httpAddr+"/v1/messages?filter="+filter, nil)
	req.SetBasicAuth("ops", "ops-pw")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if n := strings.Count(string(body), "\n"); resp.StatusCode != 200 || n != want {
		t.Fatalf("history: %s, %d lines, want %d:\n%s", resp.Status, n, want, body)
	}
}

// mqttClient connects a paho client (MQTT 3.1.1) with a user name.
func mqttClient(addr, id, user, password string) (paho.Client, error) {
	o := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetAutoReconnect(false).
		SetProtocolVersion(4).SetUsername(user).SetPassword(password)
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, fmt.Errorf("%s: no CONNACK", id)
	}
	return c, tok.Error()
}

// promtoolCheck runs `promtool check metrics` (Debian's prometheus
// package) on a scrape. Without promtool the check fails under CI=true,
// where .ci/run installs it, and is skipped elsewhere.
func promtoolCheck(t *testing.T, text string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found: .ci/run installs Debian's prometheus package")
		}
		t.Skip("promtool not found (apt-get install prometheus): the scrape's format is not checked")
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
