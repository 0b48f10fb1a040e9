package bench

import (
	"context"
	"testing"
	"time"

	"github.com/stratamq/strata/topic"
)

// TestScaleScenarios runs idle, retained and wildcards against a real node:
// every connection held, every retained message delivered once, every
// publish routed to its one matching subscription.
func TestScaleScenarios(t *testing.T) {
	url, _ := startStrata(t)
	ctx := context.Background()
	for _, engine := range Engines {
		for _, sc := range []Config{
			{Scenario: "idle", Subscribers: 300, Duration: 200 * time.Millisecond},
			{Scenario: "retained", Messages: 3000, QoS: 1, Inflight: 50},
			{Scenario: "retained", Messages: 3000, QoS: 0, Inflight: 50},
			{Scenario: "wildcards", Subscribers: 6, Filters: 600, Messages: 1200, QoS: 1},
		} {
			sc.Broker, sc.Drain, sc.Client = url, 5*time.Second, engine
			res, err := Run(ctx, sc, nil)
			if err != nil {
				t.Fatalf("%s %s: %v", engine, sc.Scenario, err)
			}
			want := sc.Messages
			if sc.Scenario == "idle" {
				want = sc.Subscribers
			}
			if res.Received != want || res.Expected != want || !res.OK() {
				t.Fatalf("%s %s: %+v, want %d", engine, sc.Scenario, res, want)
			}
		}
	}
}

// TestWildcardFiltersMatchOne: each wildcards topic matches its own filter
// and no other (the scenario's accounting depends on it).
func TestWildcardFiltersMatchOne(t *testing.T) {
	cfg := Config{Topic: "b"}
	for c := range 3 {
		for k := range 7 {
			matches := 0
			for c2 := range 3 {
				for k2 := range 7 {
					if topic.Match(wildFilter(&cfg, "r", c2, k2), wildTopic(&cfg, "r", c, k)) {
						matches++
					}
				}
			}
			if matches != 1 {
				t.Fatalf("topic (%d,%d) matches %d filters", c, k, matches)
			}
		}
	}
}

// TestSubBrokers: subscribers connect where SubBrokers say. Pointed at
// another (unclustered) broker they receive nothing of what is published on
// the first, and the run reports every message lost.
func TestSubBrokers(t *testing.T) {
	url, _ := startStrata(t)
	other, _ := startStrata(t)
	cfg := Config{Broker: url, SubBrokers: []string{other}, Client: "lean", Scenario: "fanin", Publishers: 1, Subscribers: 2,
		Messages: 100, QoS: 1, Inflight: 10, Drain: 300 * time.Millisecond}
	res, err := Run(context.Background(), cfg, nil)
	if res.Received != 0 || res.Lost != 200 || err == nil {
		t.Fatalf("subscribers on another broker: %+v %v, want all 200 lost", res, err)
	}
	cfg.SubBrokers = []string{url}
	if res, err := Run(context.Background(), cfg, nil); err != nil || res.Received != 200 {
		t.Fatalf("subscribers on the same broker: %+v %v", res, err)
	}
}
