package bench

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"github.com/stratamq/strata/auth"
	"github.com/stratamq/strata/httpapi"
	"github.com/stratamq/strata/mqtt"
	"github.com/stratamq/strata/replication"
)

// startStrata runs a real single-node Strata (Raft, log files, MQTT on a
// loopback port) and returns its broker URL.
func startStrata(t *testing.T) (mqttURL, httpAddr string) {
	t.Helper()
	return startStrataWith(t, nil, true)
}

// startStrataWith also sets the broker's options and whether its listener
// admits clients without credentials.
func startStrataWith(t *testing.T, tune func(*mqtt.Options), anonymous bool) (mqttURL, httpAddr string) {
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
	if tune != nil {
		tune(&mo)
	}
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
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go b.ServeConn(nc, mqtt.Listener{Name: "tcp", Anonymous: anonymous})
		}
	}()
	t.Cleanup(func() {
		ln.Close()
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

// TestRunWithCredentials: against a broker that admits no anonymous client,
// a run with the user's name and password passes with both engines, and one
// without credentials fails at CONNECT.
func TestRunWithCredentials(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(path, []byte("bench:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pw, err := auth.LoadPasswordFile(path)
	if err != nil {
		t.Fatal(err)
	}
	url, _ := startStrataWith(t, func(o *mqtt.Options) { o.Auth = pw }, false)
	for _, engine := range Engines {
		cfg := Config{Broker: url, Client: engine, Scenario: "fanin", Publishers: 1, Messages: 200, QoS: 1, Inflight: 20,
			Drain: 5 * time.Second, Username: "bench", Password: "s3cret"}
		if res, err := Run(context.Background(), cfg, nil); err != nil || res.Received != 200 {
			t.Fatalf("%s with credentials: %+v %v", engine, res, err)
		}
		cfg.Username, cfg.Password = "", ""
		if _, err := Run(context.Background(), cfg, nil); err == nil {
			t.Fatalf("%s without credentials: the run passed against a broker that refuses anonymous clients", engine)
		}
	}
}
