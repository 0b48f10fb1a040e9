package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stratamq/strata/mqtt/packet"
)

// chromium finds the browser; without it the test fails under CI=true
// (.ci/run installs Debian's chromium) and is skipped elsewhere.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (apt-get install chromium)")
	}
	t.Skip("chromium is not installed (apt-get install chromium)")
	return ""
}

// loadView loads url in headless Chromium, lets its scripts run for 5 s of
// virtual time (fetches complete within it), saves a screenshot as shot
// and returns the DOM.
func loadView(t *testing.T, browser, url, shot string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=5000", "--window-size=1280,900",
		"--screenshot="+shot, "--dump-dom", url)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %s: %v\n%s", url, err, stderr.String())
	}
	if st, err := os.Stat(shot); err != nil || st.Size() == 0 {
		t.Errorf("chromium %s: no screenshot %s (%v)", url, shot, err)
	}
	return string(out)
}

// publishQoS1 publishes one message and waits for its PUBACK.
func (s *mqttSession) publishQoS1(t *testing.T, id uint16, topic string, payload []byte, retain bool) {
	t.Helper()
	s.send(t, &packet.Publish{PacketID: id, QoS: 1, Topic: topic, Payload: payload, Retain: retain})
	if ack, ok := s.read(t).(*packet.Puback); !ok || ack.PacketID != id {
		t.Fatalf("publish %s: no PUBACK", topic)
	}
}

// TestDashboardInChromium loads each view of /ui/ from a real three-node
// cluster in headless Chromium and checks the DOM holds what the cluster
// holds: the node ids, the connected clients, the retained topics with
// their payloads, and the published messages with payloads as text, JSON
// and hex, the last ones read by the live tail. Screenshots go to $STRATA_SCREENSHOTS when set.
func TestDashboardInChromium(t *testing.T) {
	browser := chromium(t)
	bin := buildStrata(t)
	nodes := startCluster(t, bin, "ui")
	shots := os.Getenv("STRATA_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	sub := connectPersistent(t, nodes[1].mqtt, "ui-subscriber", 0) // no keep alive: the views may take minutes on a loaded machine
	sub.subscribe(t, "plant/#")
	pub := connectPersistent(t, nodes[2].mqtt, "ui-publisher", 0)
	pub.publishQoS1(t, 1, "plant/line1/temp", []byte(`{"celsius":21.5}`), true)
	pub.publishQoS1(t, 2, "plant/line2/state", []byte("running"), true)
	pub.publishQoS1(t, 3, "plant/raw", []byte{0x00, 0xff, 0x10}, false)
	waitFor(t, "node 1 to list both clients", 10*time.Second, func() bool {
		return len(walk(t, nodes[0].http, "/v1/clients", 100)) == 2
	})
	base := "http://" + nodes[2].http + "/ui/"
	for _, v := range []struct {
		hash string
		want []string
	}{
		{"cluster", []string{`data-node="ui1"`, `data-node="ui2"`, `data-node="ui3"`, "Leader: ui"}},
		{"rates", []string{`data-counter="publish_received"`, "node ui3"}},
		{"clients", []string{`data-client="ui-subscriber"`, `data-client="ui-publisher"`,
			`data-session="ui-subscriber"`, "plant/# (QoS 1)", ">ui2<", ">ui3<", "Disconnect"}},
		{"topics", []string{`data-topic="plant/line1/temp"`, `data-topic="plant/line2/state"`,
			`{"celsius":21.5}`, ">running<"}},
		// The first read stops after one message; the live tail's polls
		// read the other two from the offset after it.
		{"history?filter=plant/%23&from=0&limit=1&tail=1", []string{">plant/raw<", ">00 ff 10<",
			`{"celsius":21.5}`, ">running<", "3 messages · tailing from offset"}},
	} {
		name, _, _ := strings.Cut(v.hash, "?")
		t0 := time.Now()
		dom := loadView(t, browser, base+"#"+v.hash, filepath.Join(shots, "ui-"+name+".png"))
		t.Logf("view %s loaded in %v", name, time.Since(t0).Round(time.Millisecond)) // Chromium's start dominates
		checkDOM(t, name, dom, v.want)
	}
}

var perSecond = regexp.MustCompile(`data-counter="next_offset"><td>[^<]*</td><td class="num">\d+</td><td class="num">\d+\.\d</td>`)

func checkDOM(t *testing.T, view, dom string, want []string) {
	t.Helper()
	if !strings.Contains(dom, `id="view-`+view+`" data-state="ready"`) {
		t.Errorf("view %s is not ready (an API call failed?):\n%s", view, dom)
		return
	}
	for _, w := range want {
		if !strings.Contains(dom, w) {
			t.Errorf("view %s: the DOM lacks %q:\n%s", view, w, dom)
		}
	}
	if view == "rates" && !perSecond.MatchString(dom) {
		t.Errorf("view rates: no per-second rate computed from two polls:\n%s", dom)
	}
}
