package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Interop tests with the Eclipse Mosquitto command-line clients (Debian
// package mosquitto-clients, installed by .ci/run) against a real
// `strata serve` process.

func needMosquitto(t *testing.T) {
	t.Helper()
	for _, name := range []string{"mosquitto_sub", "mosquitto_pub"} {
		if _, err := exec.LookPath(name); err != nil {
			t.Skipf("%s not found in PATH: install the Debian package mosquitto-clients (.ci/run does) to run the mosquitto interop tests", name)
		}
	}
}

// mosqMsg is one message printed by mosquitto_sub with msgFormat.
type mosqMsg struct {
	qos, retain           string
	topic, payload, props string
	ctype, respTopic      string
}

// msgFormat makes mosquitto_sub print each message on one line starting with
// "MSG|": QoS, retain flag, topic, payload, then (MQTT 5) user properties as
// "k:v k:v", content type and response topic. Payloads here never contain '|'.
const msgFormat = "MSG|%q|%r|%t|%p|%P|%C|%R"

func parseMsgs(c *extClient) []mosqMsg {
	var out []mosqMsg
	for _, l := range c.out.lines() {
		if !strings.HasPrefix(l, "MSG|") {
			continue
		}
		f := strings.SplitN(l, "|", 8)
		for len(f) < 8 {
			f = append(f, "")
		}
		out = append(out, mosqMsg{qos: f[1], retain: f[2], topic: f[3], payload: f[4], props: f[5], ctype: f[6], respTopic: f[7]})
	}
	return out
}

// offsetProp returns the "offset" user property, which must be the last one.
func offsetProp(t *testing.T, m mosqMsg) uint64 {
	t.Helper()
	f := strings.Fields(m.props)
	if len(f) == 0 || !strings.HasPrefix(f[len(f)-1], "offset:") {
		t.Fatalf("message %s %q: user properties %q do not end with offset:N", m.topic, m.payload, m.props)
	}
	off, err := strconv.ParseUint(strings.TrimPrefix(f[len(f)-1], "offset:"), 10, 64)
	if err != nil {
		t.Fatalf("message %s %q: offset user property %q: %v", m.topic, m.payload, f[len(f)-1], err)
	}
	return off
}

// askOffset is mosquitto_sub's way to ask for the offset user property on
// an MQTT 5 subscription (SUBSCRIBE user property offset=true); the broker
// adds it only where asked, so that user properties otherwise arrive
// unaltered [MQTT-3.3.2-17/18].
func askOffset(v5 bool) []string {
	if !v5 {
		return nil
	}
	return []string{"-D", "subscribe", "user-property", "offset", "true"}
}

func mosqHostPort(addr string) []string {
	host, port, _ := strings.Cut(addr, ":")
	return []string{"-h", host, "-p", port}
}

// mosqSub starts mosquitto_sub in debug mode (-d, so the test sees SUBACK)
// with msgFormat output and waits until it is subscribed.
func mosqSub(t *testing.T, addr string, args ...string) *extClient {
	t.Helper()
	c := mosqSubNoWait(t, addr, args...)
	c.waitOutput(t, "SUBACK", 15*time.Second, func(l string) bool { return strings.Contains(l, "received SUBACK") })
	return c
}

// mosqSubNoWait starts mosquitto_sub like mosqSub without waiting for
// SUBACK: for subscriptions that get messages at once (retained, queued in a
// session), which the broker may send before SUBACK [MQTT-3.8.4] and after
// which mosquitto_sub -C may exit before SUBACK arrives.
func mosqSubNoWait(t *testing.T, addr string, args ...string) *extClient {
	t.Helper()
	all := append(mosqHostPort(addr), "-d", "-F", msgFormat)
	return startClient(t, "mosquitto_sub", append(all, args...)...)
}

// mosqPub runs mosquitto_pub to completion and fails the test unless it exits
// 0 (for QoS 1/2: the broker acknowledged the message).
func mosqPub(t *testing.T, addr string, args ...string) {
	t.Helper()
	c := startClient(t, "mosquitto_pub", append(mosqHostPort(addr), args...)...)
	if err := c.wait(t, 15*time.Second); err != nil {
		t.Fatalf("mosquitto_pub %s: %v\n%s", strings.Join(args, " "), err, c.out.String())
	}
}

// waitMsgs waits for mosquitto_sub (started with -C n) to exit after n
// messages and returns them.
func waitMsgs(t *testing.T, c *extClient, n int) []mosqMsg {
	t.Helper()
	if err := c.wait(t, 20*time.Second); err != nil {
		t.Fatalf("mosquitto_sub: %v (want exit 0 after %d messages)\n%s", err, n, c.out.String())
	}
	msgs := parseMsgs(c)
	if len(msgs) != n {
		t.Fatalf("mosquitto_sub printed %d messages, want %d\n%s", len(msgs), n, c.out.String())
	}
	return msgs
}

func TestInteropMosquitto(t *testing.T) {
	needMosquitto(t)
	bin := buildStrata(t)
	node := startInteropNode(t, bin)
	addr := node.mqtt

	for _, v := range []string{"mqttv311", "mqttv5"} {
		v := v
		v5 := v == "mqttv5"

		// Subscribers at QoS 0, 1 and 2 each receive messages published at
		// QoS 0, 1 and 2, at min(publish QoS, subscription QoS); MQTT 5
		// deliveries carry an "offset" user property, the same on every
		// subscriber for the same message, distinct across messages.
		t.Run("qos/"+v, func(t *testing.T) {
			t.Parallel()
			base := "interop/mosq/qos/" + v
			var subs []*extClient
			for sq := 0; sq <= 2; sq++ {
				args := []string{"-V", v, "-q", fmt.Sprint(sq), "-t", base + "/#", "-C", "3", "-W", "30"}
				subs = append(subs, mosqSub(t, addr, append(args, askOffset(v5)...)...))
			}
			for pq := 0; pq <= 2; pq++ {
				mosqPub(t, addr, "-V", v, "-q", fmt.Sprint(pq), "-t", fmt.Sprintf("%s/q%d", base, pq), "-m", fmt.Sprintf("payload-q%d", pq))
			}
			offsets := map[string]uint64{}
			for sq, sub := range subs {
				msgs := waitMsgs(t, sub, 3)
				sort.Slice(msgs, func(i, j int) bool { return msgs[i].topic < msgs[j].topic })
				for pq, m := range msgs {
					if want := fmt.Sprintf("%s/q%d", base, pq); m.topic != want || m.payload != fmt.Sprintf("payload-q%d", pq) {
						t.Fatalf("subscriber q%d: got %s %q, want %s payload-q%d\n%s", sq, m.topic, m.payload, want, pq, sub.out.String())
					}
					if want := fmt.Sprint(min(pq, sq)); m.qos != want {
						t.Errorf("subscriber q%d: %s delivered at QoS %s, want %s", sq, m.topic, m.qos, want)
					}
					if m.retain != "0" {
						t.Errorf("subscriber q%d: %s has the retain flag on a live delivery", sq, m.topic)
					}
					if !v5 {
						if m.props != "" {
							t.Errorf("MQTT 3.1.1 delivery with user properties %q", m.props)
						}
						continue
					}
					if !strings.HasPrefix(m.props, "offset:") || strings.Contains(m.props, " ") {
						t.Errorf("subscriber q%d: %s user properties %q, want only offset:N", sq, m.topic, m.props)
					}
					off := offsetProp(t, m)
					if prev, ok := offsets[m.topic]; ok && prev != off {
						t.Errorf("%s has offset %d on one subscriber and %d on another", m.topic, prev, off)
					}
					offsets[m.topic] = off
				}
			}
			if v5 {
				seen := map[uint64]string{}
				for topic, off := range offsets {
					if other, dup := seen[off]; dup {
						t.Errorf("%s and %s share offset %d", topic, other, off)
					}
					seen[off] = topic
				}
			}
		})

		// A retained message reaches a subscriber that connects afterwards,
		// with the retain flag set.
		t.Run("retained/"+v, func(t *testing.T) {
			t.Parallel()
			topic := "interop/mosq/retained/" + v
			mosqPub(t, addr, "-V", v, "-q", "1", "-r", "-t", topic, "-m", "kept-"+v)
			sub := mosqSubNoWait(t, addr, append([]string{"-V", v, "-q", "1", "-t", topic, "-C", "1", "-W", "30"}, askOffset(v5)...)...)
			m := waitMsgs(t, sub, 1)[0]
			if m.topic != topic || m.payload != "kept-"+v || m.retain != "1" {
				t.Fatalf("got topic %s payload %q retain %s, want %s %q retain 1", m.topic, m.payload, m.retain, topic, "kept-"+v)
			}
			if v5 {
				offsetProp(t, m)
			}
		})

		// A persistent session (-c -i ID -q 1) survives its client being
		// killed: QoS 1 messages published while it is away are delivered,
		// in order, when it reconnects with the same client id.
		t.Run("persistent-session/"+v, func(t *testing.T) {
			t.Parallel()
			topic := "interop/mosq/session/" + v
			id := fmt.Sprintf("interop-persist-%s-%d", v, time.Now().UnixNano())
			args := append([]string{"-V", v, "-c", "-i", id, "-q", "1", "-t", topic}, askOffset(v5)...)
			if v5 {
				args = append(args, "-x", "300")
			}
			first := mosqSub(t, addr, args...)
			first.kill9(t)
			for i := 1; i <= 3; i++ {
				mosqPub(t, addr, "-V", v, "-q", "1", "-t", topic, "-m", fmt.Sprint("while-away-", i))
			}
			again := mosqSubNoWait(t, addr, append(args, "-C", "3", "-W", "30")...)
			msgs := waitMsgs(t, again, 3)
			var prev uint64
			for i, m := range msgs {
				if want := fmt.Sprint("while-away-", i+1); m.topic != topic || m.payload != want || m.qos != "1" {
					t.Fatalf("message %d: %s %q QoS %s, want %s %q QoS 1\n%s", i, m.topic, m.payload, m.qos, topic, want, again.out.String())
				}
				if v5 {
					off := offsetProp(t, m)
					if i > 0 && off <= prev {
						t.Errorf("offsets not increasing: %d then %d", prev, off)
					}
					prev = off
				}
			}
		})

		// A will is not published when its client disconnects normally
		// (mosquitto_pub sends DISCONNECT, reason 0x00), and is published
		// when its client dies without DISCONNECT (mosquitto_sub, SIGKILL)
		// and, in MQTT 5, on DISCONNECT with reason 0x04 "Disconnect with
		// Will Message" (what mosquitto_sub sends on SIGTERM). The watcher
		// sees exactly those wills, in that order.
		t.Run("will/"+v, func(t *testing.T) {
			t.Parallel()
			willTopic := "interop/mosq/will/" + v
			idle := "interop/mosq/will-idle/" + v
			want := []string{"killed-" + v}
			if v5 {
				want = append(want, "disconnect-0x04-"+v)
			}
			watcher := mosqSub(t, addr, "-V", v, "-q", "1", "-t", willTopic, "-C", fmt.Sprint(len(want)), "-W", "30")
			mosqPub(t, addr, "-V", v, "-q", "1", "-t", idle, "-m", "x", "--will-topic", willTopic, "--will-payload", "clean-"+v, "--will-qos", "1")
			killed := mosqSub(t, addr, "-V", v, "-t", idle, "--will-topic", willTopic, "--will-payload", "killed-"+v, "--will-qos", "1")
			killed.kill9(t)
			if v5 {
				// Only after the first will arrived, so the order is known.
				watcher.waitOutput(t, "the first will", 15*time.Second, func(l string) bool { return strings.HasPrefix(l, "MSG|") })
				termed := mosqSub(t, addr, "-V", v, "-t", idle, "--will-topic", willTopic, "--will-payload", "disconnect-0x04-"+v, "--will-qos", "1")
				if err := termed.cmd.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
				termed.wait(t, 10*time.Second)
			}
			for i, m := range waitMsgs(t, watcher, len(want)) {
				if m.topic != willTopic || m.payload != want[i] || m.qos != "1" {
					t.Fatalf("will %d: %s %q QoS %s, want %s %q QoS 1 (all: %q)\n%s", i, m.topic, m.payload, m.qos, willTopic, want[i], want, watcher.out.String())
				}
			}
		})
	}

	// MQTT 5 user properties (in order, duplicate keys kept), content type
	// and response topic pass through unaltered [MQTT-3.3.2-17/18]; for a
	// subscription that asked for it, the delivery's last user property is
	// "offset". An MQTT 3.1.1 subscriber gets the same message without
	// properties, and an MQTT 3.1.1 publish reaches an MQTT 5 subscriber with
	// only the offset property (asked) or none.
	t.Run("user-properties", func(t *testing.T) {
		t.Parallel()
		topic := "interop/mosq/props"
		sub5 := mosqSub(t, addr, append([]string{"-V", "mqttv5", "-q", "1", "-t", topic, "-C", "2", "-W", "30"}, askOffset(true)...)...)
		plain5 := mosqSub(t, addr, "-V", "mqttv5", "-q", "1", "-t", topic, "-C", "2", "-W", "30")
		sub3 := mosqSub(t, addr, "-V", "mqttv311", "-q", "1", "-t", topic, "-C", "2", "-W", "30")
		mosqPub(t, addr, "-V", "mqttv5", "-q", "1", "-t", topic, "-m", "with-props",
			"-D", "publish", "user-property", "k", "v",
			"-D", "publish", "user-property", "k", "v2",
			"-D", "publish", "user-property", "region", "eu-west",
			"-D", "publish", "content-type", "text/plain",
			"-D", "publish", "response-topic", "interop/mosq/reply")
		mosqPub(t, addr, "-V", "mqttv311", "-q", "1", "-t", topic, "-m", "from-311")
		got5 := waitMsgs(t, sub5, 2)
		m := got5[0]
		off := offsetProp(t, m)
		if want := fmt.Sprintf("k:v k:v2 region:eu-west offset:%d", off); m.payload != "with-props" || m.props != want {
			t.Fatalf("MQTT 5 subscriber: payload %q user properties %q, want \"with-props\" %q", m.payload, m.props, want)
		}
		if m.ctype != "text/plain" || m.respTopic != "interop/mosq/reply" {
			t.Errorf("content type %q, response topic %q: want text/plain, interop/mosq/reply", m.ctype, m.respTopic)
		}
		m2 := got5[1]
		off2 := offsetProp(t, m2)
		if m2.payload != "from-311" || m2.props != fmt.Sprintf("offset:%d", off2) || off2 <= off {
			t.Errorf("MQTT 3.1.1 publish at MQTT 5 subscriber: payload %q user properties %q, want \"from-311\" offset:N with N > %d", m2.payload, m2.props, off)
		}
		for i, m := range waitMsgs(t, plain5, 2) {
			if want := []string{"k:v k:v2 region:eu-west", ""}[i]; m.props != want {
				t.Errorf("MQTT 5 subscriber not asking for offset, message %d: user properties %q, want exactly %q [MQTT-3.3.2-17/18]", i, m.props, want)
			}
		}
		for i, m := range waitMsgs(t, sub3, 2) {
			if want := []string{"with-props", "from-311"}[i]; m.payload != want || m.props != "" || m.ctype != "" {
				t.Errorf("MQTT 3.1.1 subscriber message %d: payload %q properties %q %q, want %q and none", i, m.payload, m.props, m.ctype, want)
			}
		}
	})

	// README: `mosquitto_sub -t '$presence/chat/+'` prints the presence
	// snapshot, then a join when a client subscribes there, on a topic that
	// matches the subscription ("+" written %2B), as JSON.
	t.Run("presence", func(t *testing.T) {
		t.Parallel()
		w := mosqSub(t, addr, "-V", "mqttv5", "-t", "$presence/interop/presence/+", "-C", "2", "-W", "30")
		mosqSub(t, addr, "-V", "mqttv311", "-i", "presence-member", "-q", "1", "-t", "interop/presence/room", "-W", "30")
		msgs := waitMsgs(t, w, 2)
		var evs [2]struct {
			Event    string `json:"event"`
			ClientID string `json:"client_id"`
		}
		for i := range evs {
			if msgs[i].topic != "$presence/interop/presence/%2B" || msgs[i].qos != "0" || msgs[i].ctype != "application/json" {
				t.Fatalf("presence message %d: %+v", i, msgs[i])
			}
			if err := json.Unmarshal([]byte(msgs[i].payload), &evs[i]); err != nil {
				t.Fatalf("presence message %d: %q: %v", i, msgs[i].payload, err)
			}
		}
		if evs[0].Event != "snapshot" || evs[1].Event != "join" || evs[1].ClientID != "presence-member" {
			t.Fatalf("presence messages %q, %q: want a snapshot, then presence-member's join", msgs[0].payload, msgs[1].payload)
		}
	})
}

// TestInteropMakeRunDefaults checks the README's promise: after `make run`
// (`strata serve --data-dir ./data`, here with free ports instead of the
// default ones) the README's mosquitto commands work at once: as soon as the
// MQTT port accepts connections (serve opens it once a leader exists), each
// command succeeds on its first attempt, with no readiness wait and no
// retry; an HTTP publish then reaches the MQTT 5 subscriber with its offset.
func TestInteropMakeRunDefaults(t *testing.T) {
	needMosquitto(t)
	bin := buildStrata(t)
	dir := t.TempDir()
	mqttAddr, wsAddr, httpAddr, raftAddr := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	cmd := exec.Command(bin, "serve", "--data-dir", "./data", "--mqtt", mqttAddr, "--ws", wsAddr, "--http", httpAddr, "--raft-addr", raftAddr)
	cmd.Dir = dir
	logs := &interopBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	alive := func() {
		select {
		case <-exited:
			t.Fatalf("strata serve exited:\n%s", logs.String())
		default:
		}
	}
	waitFor(t, "the MQTT port to accept connections", 20*time.Second, func() bool { alive(); return canDial(mqttAddr) })
	t.Logf("MQTT port open %v after start", time.Since(started).Round(time.Millisecond))

	// The README's commands, plus -p (free port), -d (to see SUBACK) and
	// -C (to exit).
	sub3 := mosqSubPlain(t, mqttAddr, "-t", "sensors/#", "-v", "-q", "1", "-C", "2", "-W", "30")
	sub5 := mosqSubPlain(t, mqttAddr, "-t", "sensors/#", "-V", "mqttv5", "-D", "subscribe", "user-property", "offset", "true", "-F", "%t %p %P", "-C", "2", "-W", "30")
	pub := startClient(t, "mosquitto_pub", append(mosqHostPort(mqttAddr), "-t", "sensors/1/temp", "-m", "21.5", "-q", "1")...)
	if err := pub.wait(t, 15*time.Second); err != nil {
		t.Fatalf("mosquitto_pub -q 1 right after start: %v\n%s\nserver log:\n%s", err, pub.out.String(), logs.String())
	}
	resp, err := http.Post("http://"+httpAddr+"/v1/publish?topic=sensors/1/temp", "text/plain", strings.NewReader("21.6"))
	if err != nil {
		t.Fatal(err)
	}
	var ack struct{ Offset *uint64 }
	json.NewDecoder(resp.Body).Decode(&ack)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || ack.Offset == nil {
		t.Fatalf("HTTP publish: %s, offset %v", resp.Status, ack.Offset)
	}

	if err := sub3.wait(t, 20*time.Second); err != nil {
		t.Fatalf("mosquitto_sub (3.1.1): %v\n%s", err, sub3.out.String())
	}
	if got := dataLines(sub3); strings.Join(got, "\n") != "sensors/1/temp 21.5\nsensors/1/temp 21.6" {
		t.Errorf("mosquitto_sub -v printed %q, want the MQTT and the HTTP publish", got)
	}
	if err := sub5.wait(t, 20*time.Second); err != nil {
		t.Fatalf("mosquitto_sub (5): %v\n%s", err, sub5.out.String())
	}
	got := dataLines(sub5)
	if len(got) != 2 || !strings.HasPrefix(got[0], "sensors/1/temp 21.5 offset:") || got[1] != fmt.Sprintf("sensors/1/temp 21.6 offset:%d", *ack.Offset) {
		t.Errorf("mosquitto_sub -V mqttv5 -D subscribe user-property offset true -F '%%t %%p %%P' printed %q, want the two messages with their offsets (HTTP publish at %d)", got, *ack.Offset)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err != nil {
		t.Errorf("--data-dir ./data is not under the working directory: %v", err)
	}
}

// mosqSubPlain starts mosquitto_sub with the given output options and -d,
// and waits until it is subscribed.
func mosqSubPlain(t *testing.T, addr string, args ...string) *extClient {
	t.Helper()
	c := startClient(t, "mosquitto_sub", append(append(mosqHostPort(addr), "-d"), args...)...)
	c.waitOutput(t, "SUBACK", 15*time.Second, func(l string) bool { return strings.Contains(l, "received SUBACK") })
	return c
}

// dataLines drops mosquitto_sub's -d debug lines.
func dataLines(c *extClient) []string {
	var out []string
	for _, l := range c.out.lines() {
		if strings.HasPrefix(l, "Client ") || strings.HasPrefix(l, "Subscribed (mid") {
			continue
		}
		out = append(out, l)
	}
	return out
}
