package bench

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/stratamq/strata/httpapi"
	"github.com/stratamq/strata/mqtt"
	"github.com/stratamq/strata/replication"
)

// startStrata runs a real single-node Strata (Raft, log files, MQTT on a
// loopback port) and returns its broker URL.
func startStrata(t *testing.T) (mqttURL, httpAddr string) {
	t.Helper()
	o := replication.DefaultOptions()
	o.NodeID, o.DataDir, o.RaftAddr, o.Bootstrap = "n1", t.TempDir(), "127.0.0.1:0", true
	m := replication.NewFSMMachine()
	var hook mqtt.ApplyHook
	m.OnApply = hook.Apply
	o.Machine = m
	n, err := replication.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	mo := mqtt.DefaultOptions()
	mo.NodeID, mo.Cluster, mo.Log, mo.Views, mo.SysInterval = "n1", n, n.Reader(), m, 0
	mo.Logger = zerolog.Nop()
	b, err := mqtt.New(mo)
	if err != nil {
		t.Fatal(err)
	}
	hook.Set(b)
	b.Start()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go b.Serve(ln, "tcp")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		b.Close(ctx)
		n.Close()
	})
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: httpapi.Handler(n, httpapi.DefaultOptions())}
	go hs.Serve(hl)
	t.Cleanup(func() { hs.Close() })
	return "tcp://" + ln.Addr().String(), hl.Addr().String()
}

// TestRunVerifies: a clean run reports every delivery; a run whose
// subscribers drop known messages reports exactly those as lost and fails.
func TestRunVerifies(t *testing.T) {
	url, httpAddr := startStrata(t)
	ctx := context.Background()
	for _, engine := range Engines {
		for _, sc := range []Config{
			{Scenario: "fanin", Publishers: 3, Subscribers: 2, Messages: 3000, QoS: 1, Inflight: 50},
			{Scenario: "fanout", Subscribers: 3, Messages: 1000, QoS: 2, Inflight: 20},
			{Scenario: "latency", QoS: 1, Rate: 500, Duration: time.Second},
			{Scenario: "connections", Subscribers: 40, QoS: 1, Rate: 20, Duration: time.Second},
		} {
			sc.Broker, sc.Drain, sc.Client = url, 5*time.Second, engine
			res, err := Run(ctx, sc, nil)
			if err != nil {
				t.Fatalf("%s %s: %v", engine, sc.Scenario, err)
			}
			if want := res.Sent * max(sc.Subscribers, 1); res.Received != want || res.Expected != want || !res.OK() {
				t.Fatalf("%s %s: %+v, want %d deliveries", engine, sc.Scenario, res, want)
			}
			if res.P50 <= 0 || res.Max < res.P99 || res.Throughput <= 0 || res.ConnectRate <= 0 {
				t.Fatalf("%s %s: implausible measurements %+v", engine, sc.Scenario, res)
			}
		}
	}
	// Reads of stored messages (Strata only): MQTT replay and HTTP history.
	for _, sc := range []string{"replay", "history"} {
		res, err := Run(ctx, Config{Broker: url, HTTP: httpAddr, Client: "lean", Scenario: sc, Messages: 500, QoS: 1, Inflight: 50, Drain: 5 * time.Second}, nil)
		if err != nil || res.Received != 500 || !res.OK() || res.Throughput <= 0 {
			t.Fatalf("%s: %+v %v", sc, res, err)
		}
	}
	// Injected loss: every 10th message of publisher 1 is ignored by each
	// subscriber, so lost = subscribers * (messages of publisher 1) / 10.
	cfg := Config{Broker: url, Client: "lean", Scenario: "fanin", Publishers: 2, Subscribers: 2, Messages: 2000, QoS: 1, Inflight: 50,
		Drain: 2 * time.Second, Drop: func(pub, seq int) bool { return pub == 1 && seq%10 == 0 }}
	res, err := Run(ctx, cfg, nil)
	if !errors.Is(err, ErrLoss) {
		t.Fatalf("injected loss not reported: %v", err)
	}
	if res.Lost != 2*100 || res.Duplicated != 0 || res.OutOfOrder != 0 {
		t.Fatalf("lost %d duplicated %d out of order %d, want 200/0/0", res.Lost, res.Duplicated, res.OutOfOrder)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{{Scenario: "nope", Messages: 1}, {Scenario: "fanin"}, {Scenario: "latency"}, {Scenario: "fanin", Messages: 1, QoS: 3}} {
		if _, err := Run(context.Background(), c, nil); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}
