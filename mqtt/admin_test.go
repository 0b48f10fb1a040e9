package mqtt_test

import (
	"testing"
	"time"

	"github.com/stratamq/strata/mqtt/packet"
)

// TestConnectionsList: Connections lists (and Connection finds) the accepted connections, read
// while clients connect and leave (under -race: no field is read before
// CONNECT wrote it), with the address, keep alive and version each has;
// the counters follow.
func TestConnectionsList(t *testing.T) {
	tb := startBroker(t, nil)
	done := make(chan struct{})
	go func() { // a reader racing the connects
		defer close(done)
		for range 200 {
			tb.broker.Connections()
			time.Sleep(time.Millisecond) // spread the reads over the connects
		}
	}()
	a, _ := rawConnect(t, tb.addr, &packet.Connect{ClientID: "a", CleanStart: true, KeepAliveSeconds: 17})
	b := dialRaw(t, tb.addr, packet.Version311)
	b.connect(&packet.Connect{ClientID: "b", CleanStart: true, KeepAliveSeconds: 40})
	<-done
	cs := tb.broker.Connections()
	if len(cs) != 2 || cs[0].ClientID != "a" || cs[1].ClientID != "b" {
		t.Fatalf("connections %+v, want a and b", cs)
	}
	if cs[0].Remote != a.nc.LocalAddr().String() || cs[0].KeepAlive != 17*time.Second || cs[0].ProtocolVersion != 5 ||
		cs[0].Listener != "tcp" || cs[0].Name == "" {
		t.Errorf("a: %+v", cs[0])
	}
	if cs[1].KeepAlive != 40*time.Second || cs[1].ProtocolVersion != 4 {
		t.Errorf("b: %+v", cs[1])
	}
	if c, ok := tb.broker.Connection(cs[1].Name); !ok || c != cs[1] {
		t.Errorf("Connection(%q): %+v %v, want %+v", cs[1].Name, c, ok, cs[1])
	}
	if _, ok := tb.broker.Connection("n1/nosuch-1"); ok {
		t.Error("Connection of an unknown name found one")
	}
	if c := tb.broker.Stats().Counters(); c["connections"] != 2 || c["connects_total"] < 2 {
		t.Errorf("counters %v", c)
	}
	a.close()
	waitFor(t, 5*time.Second, "a to leave the list", func() bool { return len(tb.broker.Connections()) == 1 })
}
