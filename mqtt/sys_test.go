package mqtt_test

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stratamq/strata/mqtt"
	"github.com/stratamq/strata/mqtt/packet"
)

// TestSysUptimeVersionLoad: a subscriber to $SYS/broker/load/#, uptime and
// version on a real node receives mosquitto's topics; the load of
// messages received rises once messages are published, and every load
// value is a rate with two decimals.
func TestSysUptimeVersionLoad(t *testing.T) {
	tb := startRealBroker(t, func(o *mqtt.Options) {
		o.SysInterval, o.Version = 100*time.Millisecond, "1.2.3-test"
	})
	sys, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "sys", CleanStart: true})
	sys.subscribe(0, packet.Subscription{Filter: "$SYS/broker/load/#"},
		packet.Subscription{Filter: "$SYS/broker/uptime"}, packet.Subscription{Filter: "$SYS/broker/version"})
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	for i := range 50 {
		if code := pub.publish(&packet.Publish{Topic: "load/t", QoS: 1, Payload: []byte(strconv.Itoa(i))}); code.IsError() {
			t.Fatalf("publish %d: %v", i, code)
		}
	}
	rate := regexp.MustCompile(`^[0-9]+\.[0-9]{2}$`)
	seen := map[string]string{}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		p, topic := sys.recvPublish(time.Until(deadline))
		value := string(p.Payload)
		seen[topic] = value
		switch {
		case topic == "$SYS/broker/version" && value != "strata version 1.2.3-test":
			t.Fatalf("version %q", value)
		case topic == "$SYS/broker/uptime" && !regexp.MustCompile(`^[0-9]+ seconds$`).MatchString(value):
			t.Fatalf("uptime %q", value)
		case topic != "$SYS/broker/version" && topic != "$SYS/broker/uptime" && !rate.MatchString(value):
			t.Fatalf("%s = %q, want a rate", topic, value)
		}
		if f, _ := strconv.ParseFloat(seen["$SYS/broker/load/messages/received/1min"], 64); f > 0 && len(seen) >= 17 {
			break
		}
	}
	for _, topic := range []string{"$SYS/broker/version", "$SYS/broker/uptime",
		"$SYS/broker/load/messages/received/1min", "$SYS/broker/load/messages/sent/5min",
		"$SYS/broker/load/bytes/received/15min", "$SYS/broker/load/bytes/sent/1min", "$SYS/broker/load/connections/1min"} {
		if _, ok := seen[topic]; !ok {
			t.Errorf("no %s in %v", topic, seen)
		}
	}
	if f, _ := strconv.ParseFloat(seen["$SYS/broker/load/messages/received/1min"], 64); f <= 0 {
		t.Errorf("messages received 1min load %v after 50 publishes", seen["$SYS/broker/load/messages/received/1min"])
	}
}
