package mqtt_test

import (
	"slices"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// TestPahoQoS: paho.mqtt.golang (3.1.1) publishes at QoS 0, 1 and 2 and a
// subscriber receives each message once, in order, at min(pub, sub) QoS.
func TestPahoQoS(t *testing.T) {
	tb := startBroker(t, nil)
	for _, subQoS := range []byte{0, 1, 2} {
		for _, pubQoS := range []byte{0, 1, 2} {
			in := newInbox()
			sub := pahoClient(t, tb.url(), "sub", true, nil)
			wait(t, sub.Subscribe("q/+", subQoS, in.handler))
			pub := pahoClient(t, tb.url(), "pub", true, nil)
			want := seq("m", 50)
			for _, p := range want {
				wait(t, pub.Publish("q/x", pubQoS, false, p))
			}
			got := in.waitN(t, len(want), 10*time.Second)
			if !slices.Equal(in.payloads(), want) {
				t.Fatalf("sub %d pub %d: got %v", subQoS, pubQoS, in.payloads())
			}
			for _, m := range got {
				if m.Qos() != min(subQoS, pubQoS) {
					t.Fatalf("sub %d pub %d: delivered at QoS %d", subQoS, pubQoS, m.Qos())
				}
			}
			sub.Disconnect(100)
			pub.Disconnect(100)
		}
	}
}

// TestPahoRetained: a retained message reaches a later subscriber with the
// RETAIN flag; an empty retained payload clears it.
func TestPahoRetained(t *testing.T) {
	tb := startBroker(t, nil)
	pub := pahoClient(t, tb.url(), "pub", true, nil)
	wait(t, pub.Publish("r/a", 1, true, "kept"))
	in := newInbox()
	sub := pahoClient(t, tb.url(), "sub", true, nil)
	wait(t, sub.Subscribe("r/#", 1, in.handler))
	got := in.waitN(t, 1, 10*time.Second)
	if string(got[0].Payload()) != "kept" || !got[0].Retained() {
		t.Fatalf("got %q retained=%v", got[0].Payload(), got[0].Retained())
	}
	wait(t, pub.Publish("r/a", 1, true, ""))
	in2 := newInbox()
	sub2 := pahoClient(t, tb.url(), "sub2", true, nil)
	wait(t, sub2.Subscribe("r/#", 1, in2.handler))
	wait(t, pub.Publish("r/b", 1, false, "live"))
	got2 := in2.waitN(t, 1, 10*time.Second)
	if string(got2[0].Payload()) != "live" {
		t.Fatalf("cleared retained message still sent: %q", got2[0].Payload())
	}
}

// TestPahoPersistentSession: a QoS 1 subscriber with a persistent session
// misses nothing published while it was offline, read back from the log.
func TestPahoPersistentSession(t *testing.T) {
	tb := startBroker(t, nil)
	in := newInbox()
	sub := pahoClient(t, tb.url(), "durable", false, nil)
	wait(t, sub.Subscribe("p/#", 1, in.handler))
	sub.Disconnect(100)
	pub := pahoClient(t, tb.url(), "pub", true, nil)
	want := seq("off", 200)
	for _, p := range want {
		wait(t, pub.Publish("p/1", 1, false, p))
	}
	in2 := newInbox()
	pahoClient(t, tb.url(), "durable", false, func(o *paho.ClientOptions) { o.SetDefaultPublishHandler(in2.handler) })
	in2.waitN(t, len(want), 10*time.Second)
	if got := in2.payloads(); !slices.Equal(got, want) {
		t.Fatalf("offline messages: got %d %v...", len(got), got[:min(5, len(got))])
	}
}
