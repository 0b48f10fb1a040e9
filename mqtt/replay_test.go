package mqtt_test

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/stratamq/strata/mqtt/packet"
	"github.com/stratamq/strata/replication"
)

// TestReplaySeamUnderLoad: a 3.1.1 client subscribing to $replay/0/... while
// a publisher is busy gets every message once, in publish order: the replay
// hands over to live delivery with no gap and no duplicate.
func TestReplaySeamUnderLoad(t *testing.T) {
	tb := startBroker(t, nil)
	pub := pahoClient(t, tb.url(), "pub", true, nil)
	const total = 600
	want := seq("s", total)
	started := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i, p := range want {
			if i == total/3 {
				close(started)
			}
			pub.Publish("seam/"+strconv.Itoa(i%3), 1, false, p).Wait()
		}
	}()
	<-started
	// paho routes by subscription filter: messages arrive under their
	// original topics, so they reach the default handler.
	in := newInbox()
	sub := pahoClient(t, tb.url(), "replayer", true, defaultHandler(in))
	wait(t, sub.Subscribe("$replay/0/seam/+", 1, nil))
	wg.Wait()
	got := in.waitN(t, total, 20*time.Second)
	if gotP := in.payloads(); !slices.Equal(gotP, want) {
		for i := range gotP {
			if gotP[i] != want[i] {
				t.Fatalf("replay+live: %d messages; at %d got %v, want %v", len(gotP), i, gotP[i:min(i+5, len(gotP))], want[i:i+5])
			}
		}
	}
	for _, m := range got[:3] {
		if m.Topic() == "" || m.Topic()[:5] != "seam/" {
			t.Fatalf("replayed with topic %q, want the original", m.Topic())
		}
	}
}

// TestReplayForms: offsets, times and last-N (with a wildcard) select what a
// brute-force reading of the publish order says; bad forms are refused.
func TestReplayForms(t *testing.T) {
	tb := startBroker(t, nil)
	pub := pahoClient(t, tb.url(), "pub", true, nil)
	for i := 0; i < 30; i++ {
		wait(t, pub.Publish(fmt.Sprintf("f/%d", i%3), 1, false, fmt.Sprint(i)))
	}
	// last-5 across f/+ is the five most recent, in order.
	in := newInbox()
	sub := pahoClient(t, tb.url(), "last", true, defaultHandler(in))
	wait(t, sub.Subscribe("$replay/last-5/f/+", 1, nil))
	in.waitN(t, 5, 10*time.Second)
	if got := in.payloads(); !slices.Equal(got, []string{"25", "26", "27", "28", "29"}) {
		t.Fatalf("last-5: %v", got)
	}
	// An offset starts there: subscribe from the 10th message's offset (MQTT
	// 5 clients see offsets; here, read them with a raw client).
	rc, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "raw", CleanStart: true})
	s := &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "f/1", QoS: 1}}}
	s.Properties.UserProperties = []packet.UserProperty{{Key: "replay-from", Value: "0"}}
	rc.mustSend(s)
	if ack := await[*packet.Suback](t, rc, 10*time.Second); ack.ReasonCodes[0] != packet.CodeGrantedQoS1 {
		t.Fatalf("suback %v", ack.ReasonCodes)
	}
	var offsets []string
	for i := 0; i < 10; i++ {
		p, topic := rc.recvPublish(10 * time.Second)
		if topic != "f/1" {
			t.Fatalf("topic %q", topic)
		}
		for _, u := range p.Properties.UserProperties {
			if u.Key == "offset" {
				offsets = append(offsets, u.Value)
			}
		}
	}
	if len(offsets) != 10 {
		t.Fatalf("%d offsets", len(offsets))
	}
	// Resume from the 5th message's offset: exactly the last six f/1 messages.
	in2 := newInbox()
	sub2 := pahoClient(t, tb.url(), "resume", true, defaultHandler(in2))
	wait(t, sub2.Subscribe("$replay/"+offsets[4]+"/f/1", 1, nil))
	in2.waitN(t, 6, 10*time.Second)
	if got := in2.payloads(); !slices.Equal(got, []string{"13", "16", "19", "22", "25", "28"}) {
		t.Fatalf("from offset %s: %v", offsets[4], got)
	}
	// A time after everything replays nothing, then live messages arrive.
	in3 := newInbox()
	sub3 := pahoClient(t, tb.url(), "time", true, defaultHandler(in3))
	wait(t, sub3.Subscribe("$replay/"+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+"/f/#", 1, nil))
	wait(t, pub.Publish("f/0", 1, false, "live"))
	in3.waitN(t, 1, 10*time.Second)
	if got := in3.payloads(); !slices.Equal(got, []string{"live"}) {
		t.Fatalf("future time: %v", got)
	}
	// Bad forms: 3.1.1 SUBACK 0x80; 5.0 0x8F for the topic form, 0x83 with a
	// reason string for the property.
	tok := sub.Subscribe("$replay/yesterday/f/#", 1, nil)
	tok.Wait()
	if st, ok := tok.(*paho.SubscribeToken); !ok || st.Result()["$replay/yesterday/f/#"] != 0x80 {
		t.Fatalf("3.1.1 bad replay: %v", tok.(*paho.SubscribeToken).Result())
	}
	rc.mustSend(&packet.Subscribe{PacketID: 2, Subscriptions: []packet.Subscription{{Filter: "$replay/last-0/f/#", QoS: 1}}})
	if ack := await[*packet.Suback](t, rc, 10*time.Second); ack.ReasonCodes[0] != packet.CodeTopicFilterInvalid {
		t.Fatalf("5.0 bad topic form: %v", ack.ReasonCodes)
	}
	bad := &packet.Subscribe{PacketID: 3, Subscriptions: []packet.Subscription{{Filter: "f/#", QoS: 1}}}
	bad.Properties.UserProperties = []packet.UserProperty{{Key: "replay-from", Value: "soon"}}
	rc.mustSend(bad)
	if ack := await[*packet.Suback](t, rc, 10*time.Second); ack.ReasonCodes[0] != packet.CodeImplementationSpecificError || ack.Properties.ReasonString == "" {
		t.Fatalf("5.0 bad property: %v %q", ack.ReasonCodes, ack.Properties.ReasonString)
	}
}

func defaultHandler(in *inbox) func(*paho.ClientOptions) {
	return func(o *paho.ClientOptions) { o.SetDefaultPublishHandler(in.handler) }
}

// TestReplayEqualsLive: an MQTT 5 replay delivers the same topics, payloads
// and properties (offset included) that a live subscriber asking for the
// offset property received.
func TestReplayEqualsLive(t *testing.T) {
	tb := startBroker(t, nil)
	live, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "live", CleanStart: true})
	subscribeOK(live, askOffset, packet.Subscription{Filter: "eq/#", QoS: 2})
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	for i := 0; i < 20; i++ {
		p := &packet.Publish{Topic: fmt.Sprintf("eq/%d", i%4), QoS: byte(i % 3), Payload: []byte{byte(i), 0, 0xff, '\n'}}
		p.Properties.ContentType = "application/octet-stream"
		p.Properties.ResponseTopic = "reply/" + strconv.Itoa(i)
		p.Properties.CorrelationData = []byte{1, 2, byte(i)}
		p.Properties.PayloadFormat = 0
		p.Properties.UserProperties = []packet.UserProperty{{Key: "a", Value: "1"}, {Key: "a", Value: strconv.Itoa(i)}}
		pub.publish(p)
	}
	type msg struct {
		topic string
		p     *packet.Publish
	}
	var got []msg
	for i := 0; i < 20; i++ {
		p, topic := live.recvPublish(10 * time.Second)
		got = append(got, msg{topic, p})
	}
	rp, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "replay", CleanStart: true})
	s := &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "eq/#", QoS: 2}}}
	s.Properties.UserProperties = []packet.UserProperty{{Key: "replay-from", Value: "0"}}
	rp.mustSend(s)
	await[*packet.Suback](t, rp, 10*time.Second)
	for i := 0; i < 20; i++ {
		p, topic := rp.recvPublish(10 * time.Second)
		w := got[i]
		if topic != w.topic || !bytes.Equal(p.Payload, w.p.Payload) || p.QoS != w.p.QoS ||
			p.Properties.ContentType != w.p.Properties.ContentType || p.Properties.ResponseTopic != w.p.Properties.ResponseTopic ||
			!bytes.Equal(p.Properties.CorrelationData, w.p.Properties.CorrelationData) ||
			!slices.Equal(p.Properties.UserProperties, w.p.Properties.UserProperties) {
			t.Fatalf("message %d: replay %s %+v, live %s %+v", i, topic, p, w.topic, w.p)
		}
	}
}

// TestReplayTruncatedByRetention: a replay from before what retention kept
// starts at the earliest message, and its first message (MQTT 5) carries
// replay-truncated with that offset.
func TestReplayTruncatedByRetention(t *testing.T) {
	tb := startBrokerOpts(t, t.TempDir(), func(o *replication.Options) {
		o.Log.SegmentBytes = 16 << 10
		o.Log.RetentionBytes = 48 << 10
		o.Log.Cluster = false
	}, nil)
	pub, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "pub", CleanStart: true})
	payload := bytes.Repeat([]byte("p"), 1000)
	for i := 0; tb.node.Log().FirstOffset() == 0; i++ {
		if i > 2000 {
			t.Fatal("retention never deleted a segment")
		}
		pub.publish(&packet.Publish{Topic: "old/x", QoS: 1, Payload: payload})
	}
	first := tb.node.Log().FirstOffset()
	rc, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "late", CleanStart: true})
	s := &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "old/#", QoS: 1}}}
	s.Properties.UserProperties = []packet.UserProperty{{Key: "replay-from", Value: "0"}}
	rc.mustSend(s)
	await[*packet.Suback](t, rc, 10*time.Second)
	p, _ := rc.recvPublish(10 * time.Second)
	var truncated, offset string
	for _, u := range p.Properties.UserProperties {
		switch u.Key {
		case "replay-truncated":
			truncated = u.Value
		case "offset":
			offset = u.Value
		}
	}
	off, _ := strconv.ParseUint(offset, 10, 64)
	if truncated != strconv.FormatUint(uint64(first), 10) && truncated != strconv.FormatUint(uint64(tb.node.Log().FirstOffset()), 10) || off < uint64(first) {
		t.Fatalf("first replayed message: offset %s, replay-truncated %q; the log starts at %d", offset, truncated, first)
	}
	p2, _ := rc.recvPublish(10 * time.Second)
	for _, u := range p2.Properties.UserProperties {
		if u.Key == "replay-truncated" {
			t.Fatal("replay-truncated on a second message")
		}
	}
}
