package mqtt_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/mqtt/packet"
	"github.com/stratamq/strata/replication"
	"github.com/stratamq/strata/segment"
)

// TestConnectRefusedWhileNodeCannotApply: while the node cannot write its
// log (a full disk) it could neither record a session nor deliver, so a
// CONNECT gets "server unavailable" (0x88 in MQTT 5, return code 3 in
// 3.1.1) with the reason; once the disk has room the node resumes by itself
// and accepts connections again.
func TestConnectRefusedWhileNodeCannotApply(t *testing.T) {
	mem := segment.NewMemFS()
	tb := startBrokerOpts(t, t.TempDir(), func(o *replication.Options) {
		o.Log.FS = mem
		o.RecoverInterval = 50 * time.Millisecond
	}, nil)
	mem.SetFault(".", &segment.Fault{WriteErr: syscall.ENOSPC})
	e := fsm.Entry{Kind: fsm.KindPublish, ClientID: "t", Publish: fsm.Publish{Message: fsm.Message{Topic: "d/x", Payload: []byte("x")}}}
	rec, err := e.Record()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	f := tb.node.Propose(ctx, rec)
	select {
	case <-f.Done():
		if _, err := f.Wait(); err == nil {
			t.Fatal("a publish was committed and applied on a full disk")
		}
	case <-ctx.Done(): // not applied here: the node cannot write its log
	}
	cancel()
	waitFor(t, 10*time.Second, "the node to report it cannot apply", func() bool { return tb.node.Applying() != nil })

	v5 := dialRaw(t, tb.addr, packet.Version5)
	ack := v5.connect(&packet.Connect{ClientID: "d5", CleanStart: true})
	if ack.ReasonCode != packet.CodeServerUnavailable || ack.Properties.ReasonString == "" {
		t.Fatalf("MQTT 5 CONNACK %v %q, want server unavailable with a reason", ack.ReasonCode, ack.Properties.ReasonString)
	}
	v5.waitClose(5 * time.Second) // a refused CONNACK closes the connection [MQTT-3.2.2-7]
	v3 := dialRaw(t, tb.addr, packet.Version311)
	if ack := v3.connect(&packet.Connect{ClientID: "d3", CleanStart: true}); ack.ReasonCode != packet.CodeServerUnavailable {
		t.Fatalf("3.1.1 CONNACK %v, want server unavailable", ack.ReasonCode)
	}
	v3.waitClose(5 * time.Second) // [MQTT-3.2.2-5]

	mem.SetFault(".", nil)
	waitFor(t, 10*time.Second, "the node to resume", func() bool { return tb.node.Applying() == nil })
	rawConnect(t, tb.addr, &packet.Connect{ClientID: "d5", CleanStart: true})
}
